//! UTC timestamps as seconds since the Unix epoch, formatted the way Qualys writes them.

/// Seconds in one day.
pub(crate) const DAY_SECS: i64 = 86_400;

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Appends `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn push_timestamp(out: &mut Vec<u8>, secs: i64) {
    let (year, month, day) = civil_from_days(secs.div_euclid(DAY_SECS));
    let tod = secs.rem_euclid(DAY_SECS);
    push_digits(out, year.clamp(0, 9999) as u64, 4);
    out.push(b'-');
    push_digits(out, u64::from(month), 2);
    out.push(b'-');
    push_digits(out, u64::from(day), 2);
    out.push(b'T');
    push_digits(out, (tod / 3600) as u64, 2);
    out.push(b':');
    push_digits(out, (tod / 60 % 60) as u64, 2);
    out.push(b':');
    push_digits(out, (tod % 60) as u64, 2);
    out.push(b'Z');
}

/// Formats a timestamp as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_timestamp(secs: i64) -> String {
    let mut out = Vec::with_capacity(20);
    push_timestamp(&mut out, secs);
    String::from_utf8_lossy(&out).into_owned()
}

fn push_digits(out: &mut Vec<u8>, value: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut v = value;
    for slot in buf[..width].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&buf[..width]);
}

/// Parses `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS` or the same with a trailing `Z`, as Qualys accepts
/// them in date filters. Returns `None` for anything else.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    let text = text.strip_suffix('Z').unwrap_or(text);
    let (date, time) = match text.split_once('T') {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let mut date_parts = date.split('-');
    let year: i64 = parse_field(date_parts.next(), 4)?;
    let month: u32 = parse_field(date_parts.next(), 2)?;
    let day: u32 = parse_field(date_parts.next(), 2)?;
    if date_parts.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut secs = days_from_civil(year, month, day) * DAY_SECS;
    if let Some(time) = time {
        let mut time_parts = time.split(':');
        let hour: i64 = parse_field(time_parts.next(), 2)?;
        let minute: i64 = parse_field(time_parts.next(), 2)?;
        let second: i64 = parse_field(time_parts.next(), 2)?;
        if time_parts.next().is_some() || hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        secs += hour * 3600 + minute * 60 + second;
    }
    Some(secs)
}

fn parse_field<T: std::str::FromStr>(part: Option<&str>, width: usize) -> Option<T> {
    let part = part?;
    if part.len() != width || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_round_trips() {
        for secs in [0, 951_782_400, 1_767_225_600 + 45_296, 4_102_444_799] {
            let text = format_timestamp(secs);
            assert_eq!(parse_timestamp(&text), Some(secs), "{text}");
        }
        assert_eq!(format_timestamp(1_767_225_600), "2026-01-01T00:00:00Z");
    }

    #[test]
    fn timestamp_rejects_garbage() {
        for text in [
            "",
            "2026",
            "2026-13-01",
            "2026-01-01T25:00:00Z",
            "abc",
            "2026-1-01",
        ] {
            assert_eq!(parse_timestamp(text), None, "{text}");
        }
        assert_eq!(parse_timestamp("2026-01-02"), Some(1_767_312_000));
    }
}
