//! UTC timestamps as Qualys writes them (`2020-09-11T23:00:30Z`), to and from
//! epoch milliseconds.

const MS_PER_DAY: i64 = 86_400_000;

/// Formats epoch milliseconds as `YYYY-MM-DDTHH:MM:SSZ`, dropping the
/// milliseconds because Qualys rejects date filters that carry them (HTTP 400).
pub fn format_iso_seconds(epoch_ms: i64) -> String {
    let days = epoch_ms.div_euclid(MS_PER_DAY);
    let ms_of_day = epoch_ms.rem_euclid(MS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let secs = ms_of_day / 1000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (or `+00:00`) into epoch milliseconds.
/// Returns `None` for anything else, so a malformed date leaves its property
/// unset instead of failing the record.
pub fn parse_iso(text: &str) -> Option<i64> {
    let text = text.trim();
    let bytes = text.as_bytes();
    if bytes.len() < 19 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' {
        return None;
    }
    if !matches!(bytes[10], b'T' | b' ') || bytes[16] != b':' {
        return None;
    }
    let year = number(text, 0..4)?;
    let month = number(text, 5..7)?;
    let day = number(text, 8..10)?;
    let hour = number(text, 11..13)?;
    let minute = number(text, 14..16)?;
    let second = number(text, 17..19)?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }

    let (millis, zone) = split_fraction(&text[19..])?;
    if !matches!(zone, "" | "Z" | "+00:00" | "+0000") {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * MS_PER_DAY + (hour * 3600 + minute * 60 + second) * 1000 + millis)
}

fn number(text: &str, range: std::ops::Range<usize>) -> Option<i64> {
    let part = text.get(range)?;
    if !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

/// Splits an optional `.fff` fraction from the zone suffix.
fn split_fraction(rest: &str) -> Option<(i64, &str)> {
    let Some(fraction) = rest.strip_prefix('.') else {
        return Some((0, rest));
    };
    let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let first_three: String = fraction[..digits]
        .chars()
        .chain("00".chars())
        .take(3)
        .collect();
    Some((first_three.parse().ok()?, &fraction[digits..]))
}

/// Converts a day count since 1970-01-01 to a proleptic Gregorian date
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Converts a proleptic Gregorian date to a day count since 1970-01-01.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * month_index + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::{format_iso_seconds, parse_iso};

    #[test]
    fn format_drops_milliseconds() {
        assert_eq!(format_iso_seconds(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_iso_seconds(1_599_865_230_999),
            "2020-09-11T23:00:30Z"
        );
        assert_eq!(format_iso_seconds(951_782_400_000), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn parse_accepts_qualys_forms() {
        assert_eq!(parse_iso("2020-09-11T23:00:30Z"), Some(1_599_865_230_000));
        assert_eq!(
            parse_iso(" 2020-09-11T23:00:30.5Z\n"),
            Some(1_599_865_230_500)
        );
        assert_eq!(
            parse_iso("2020-09-11T23:00:30+00:00"),
            Some(1_599_865_230_000)
        );
        assert_eq!(parse_iso("1969-12-31T23:59:59Z"), Some(-1000));
    }

    #[test]
    fn parse_rejects_malformed_dates() {
        for text in [
            "",
            "2020-09-11",
            "2020-13-11T23:00:30Z",
            "2020-09-11T23:00:30+02:00",
            "abcd-09-11T23:00:30Z",
            "2020-09-11T23:00:30.Z",
        ] {
            assert_eq!(parse_iso(text), None, "{text:?}");
        }
    }

    #[test]
    fn format_and_parse_round_trip() {
        for ms in [0_i64, 86_399_000, 1_700_000_000_000, 4_102_444_800_000] {
            assert_eq!(parse_iso(&format_iso_seconds(ms)), Some(ms));
        }
    }
}
