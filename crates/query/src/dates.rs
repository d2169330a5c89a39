//! Date values: ISO 8601 text in `date(…)` and relative offsets from now, as epoch milliseconds.

use crate::ast::DateExpr;

/// Parses `YYYY`, `YYYY-MM`, `YYYY-MM-DD` or `YYYY-MM-DDThh[:mm[:ss[.s]]]` with an optional
/// zone (`Z` or `±hh:mm`; none means UTC) into epoch milliseconds.
pub(crate) fn parse_iso_date(text: &str) -> Option<i64> {
    let (date, time) = match text.split_once(['T', 't']) {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let days = parse_day(date)?;
    let millis_of_day = match time {
        Some(time) => parse_time(time)?,
        None => 0,
    };
    days.checked_mul(86_400_000)?.checked_add(millis_of_day)
}

fn parse_day(date: &str) -> Option<i64> {
    let mut parts = date.split('-');
    let year = parse_digits(parts.next()?, 4)?;
    let month = parts.next().map_or(Some(1), |m| parse_digits(m, 2))?;
    let day = parts.next().map_or(Some(1), |d| parse_digits(d, 2))?;
    if parts.next().is_some() || !(1..=12).contains(&month) {
        return None;
    }
    if day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

/// Parses the time and zone part; returns milliseconds from midnight UTC (may be negative).
fn parse_time(time: &str) -> Option<i64> {
    let (clock, offset_minutes) = split_zone(time)?;
    let mut parts = clock.split(':');
    let hours = parse_digits(parts.next()?, 2)?;
    let minutes = parts.next().map_or(Some(0), |m| parse_digits(m, 2))?;
    let seconds_text = parts.next().unwrap_or("0");
    if parts.next().is_some() || hours > 23 || minutes > 59 {
        return None;
    }
    let (whole, fraction) = seconds_text.split_once('.').unwrap_or((seconds_text, ""));
    let seconds = if whole == "0" {
        0
    } else {
        parse_digits(whole, 2)?
    };
    if seconds > 60 || !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let millis = fraction
        .chars()
        .chain("000".chars())
        .take(3)
        .collect::<String>()
        .parse::<i64>()
        .ok()?;
    Some(((hours * 60 + minutes - offset_minutes) * 60 + seconds) * 1000 + millis)
}

/// Splits `hh:mm:ss±hh:mm` or `…Z` into the clock and the zone offset in minutes.
fn split_zone(time: &str) -> Option<(&str, i64)> {
    if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        return Some((clock, 0));
    }
    match time.find(['+', '-']) {
        Some(at) => {
            let (clock, zone) = time.split_at(at);
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let zone = zone.get(1..)?;
            let (h, m) = zone.split_once(':').unwrap_or((zone, "00"));
            let (hours, minutes) = (parse_digits(h, 2)?, parse_digits(m, 2)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let minutes = hours * 60 + minutes;
            Some((clock, sign * minutes))
        }
        None => Some((time, 0)),
    }
}

fn parse_digits(text: &str, width: usize) -> Option<i64> {
    if text.len() != width || !text.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Counts days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Evaluates a date expression against `now_millis`.
pub fn date_millis(date: &DateExpr, now_millis: i64) -> i64 {
    match date {
        DateExpr::Absolute { millis, .. } => *millis,
        DateExpr::Now { offset: None } => now_millis,
        DateExpr::Now {
            offset: Some(offset),
        } => {
            // The parser rejects offsets whose product overflows, so saturation never bites on parsed input.
            let delta = offset.amount.saturating_mul(offset.unit.millis());
            if offset.negative {
                now_millis.saturating_sub(delta)
            } else {
                now_millis.saturating_add(delta)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_iso_date;

    #[test]
    fn iso_dates_in_every_form() {
        assert_eq!(parse_iso_date("1970"), Some(0));
        assert_eq!(parse_iso_date("2000-01-01"), Some(946_684_800_000));
        assert_eq!(parse_iso_date("2024-02"), Some(1_706_745_600_000));
        assert_eq!(parse_iso_date("2024-01-31T10Z"), Some(1_706_695_200_000));
        assert_eq!(parse_iso_date("2024-01-31T10:30Z"), Some(1_706_697_000_000));
        assert_eq!(
            parse_iso_date("2024-01-31T10:30:15.5+01:00"),
            Some(1_706_693_415_500)
        );
    }

    #[test]
    fn iso_dates_rejected() {
        assert_eq!(parse_iso_date("2023-02-29"), None);
        assert_eq!(parse_iso_date("2024-13-01"), None);
        assert_eq!(parse_iso_date("24-01-01"), None);
        assert_eq!(parse_iso_date("2024-01-01T25Z"), None);
        assert_eq!(parse_iso_date(""), None);
    }
}
