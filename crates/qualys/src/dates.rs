//! ISO-8601 timestamps as Qualys sends and expects them, converted to and from epoch milliseconds.

use crate::records::EpochMillis;

/// Parses an ISO-8601 UTC or offset timestamp (`2020-04-17T18:55:20Z`,
/// `2020-04-17T18:55:20.123+02:00`) into epoch milliseconds.
///
/// Returns `None` for anything else, because Qualys leaves some date elements
/// empty or fills them with text such as `N/A`.
pub fn parse_iso8601(text: &str) -> Option<EpochMillis> {
    let text = text.trim();
    let bytes = text.as_bytes();
    if bytes.len() < 19 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' {
        return None;
    }
    if !matches!(bytes[10], b'T' | b't' | b' ') || bytes[16] != b':' {
        return None;
    }
    let year = digits(&bytes[0..4])?;
    let month = digits(&bytes[5..7])?;
    let day = digits(&bytes[8..10])?;
    let hour = digits(&bytes[11..13])?;
    let minute = digits(&bytes[14..16])?;
    let second = digits(&bytes[17..19])?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }

    let (millis, rest) = fraction_millis(&bytes[19..])?;
    let offset_secs = offset_seconds(rest)?;
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_secs;
    Some(secs * 1_000 + millis)
}

/// Formats epoch milliseconds as ISO-8601 UTC without milliseconds
/// (`2020-03-05T23:00:30Z`), the form Qualys filters accept.
pub fn format_iso8601(millis: EpochMillis) -> String {
    let secs = millis.div_euclid(1_000);
    let days = secs.div_euclid(86_400);
    let second_of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3_600,
        (second_of_day / 60) % 60,
        second_of_day % 60
    )
}

fn digits(bytes: &[u8]) -> Option<i64> {
    bytes.iter().try_fold(0_i64, |acc, byte| {
        byte.is_ascii_digit()
            .then(|| acc * 10 + i64::from(byte - b'0'))
    })
}

/// Splits an optional `.fff…` fraction off the front, returning milliseconds and the rest.
fn fraction_millis(bytes: &[u8]) -> Option<(i64, &[u8])> {
    let Some((b'.', after)) = bytes.split_first() else {
        return Some((0, bytes));
    };
    let count = after
        .iter()
        .take_while(|byte| byte.is_ascii_digit())
        .count();
    if count == 0 {
        return None;
    }
    let mut millis = 0;
    for position in 0..3 {
        let digit = after
            .get(position)
            .filter(|_| position < count)
            .map_or(0, |d| i64::from(d - b'0'));
        millis = millis * 10 + digit;
    }
    Some((millis, &after[count..]))
}

fn offset_seconds(bytes: &[u8]) -> Option<i64> {
    match bytes {
        [] | [b'Z' | b'z'] => Some(0),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] | [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
            let hours = digits(&[*h1, *h2])?;
            let minutes = digits(&[*m1, *m2])?;
            let magnitude = hours * 3_600 + minutes * 60;
            Some(if *sign == b'-' { -magnitude } else { magnitude })
        }
        _ => None,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_seconds() {
        assert_eq!(
            parse_iso8601("2020-04-17T18:55:20Z"),
            Some(1_587_149_720_000)
        );
    }

    #[test]
    fn parses_fraction_and_offset() {
        assert_eq!(
            parse_iso8601("2020-04-17T20:55:20.5+02:00"),
            Some(1_587_149_720_500)
        );
        assert_eq!(
            parse_iso8601(" \n 2020-04-17T18:55:20Z\n"),
            Some(1_587_149_720_000)
        );
    }

    #[test]
    fn rejects_text() {
        assert_eq!(parse_iso8601("N/A"), None);
        assert_eq!(parse_iso8601("2020-13-17T18:55:20Z"), None);
        assert_eq!(parse_iso8601("2020-04-17T18:55:20Q"), None);
        assert_eq!(parse_iso8601("2020-04-17T18:55:2"), None);
    }

    #[test]
    fn formats_without_millis() {
        assert_eq!(format_iso8601(1_587_149_720_999), "2020-04-17T18:55:20Z");
        assert_eq!(format_iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_iso8601(-1_000), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn round_trips_leap_day() {
        let millis = parse_iso8601("2024-02-29T12:00:00Z").unwrap_or_default();
        assert_eq!(format_iso8601(millis), "2024-02-29T12:00:00Z");
    }
}
