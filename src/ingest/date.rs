//! Dates as exports write them: RFC 3339, ISO dates with or without time or
//! zone (taken as UTC), slashes, and Unix seconds or milliseconds.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::Value;

/// Parses a date value into Unix seconds (UTC). `None` when it cannot be read.
pub fn parse_date_value(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_f64().and_then(unix_number),
        Value::String(s) => parse_date_str(s),
        _ => None,
    }
}

fn unix_number(n: f64) -> Option<i64> {
    if !n.is_finite() || n <= 0.0 {
        return None;
    }
    // 13 digits: milliseconds; 9-10 digits: seconds.
    let secs = if n >= 1e11 { n / 1000.0 } else { n };
    // Accept 1990..2100.
    (631_152_000.0..4_102_444_800.0)
        .contains(&secs)
        .then_some(secs as i64)
}

/// Parses a date string into Unix seconds (UTC).
pub fn parse_date_str(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return s.parse::<f64>().ok().and_then(unix_number);
    }
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Some(ts.as_second());
    }
    let normalized = s.replace('/', "-");
    let normalized = normalized.trim_end_matches(" UTC").trim_end_matches(" GMT");
    if let Ok(ts) = normalized.parse::<Timestamp>() {
        return Some(ts.as_second());
    }
    // "2026-09-03 14:22:05 +0800", "2026-09-03T14:22:05+08:00" with odd spacing.
    if let Ok(zoned) =
        jiff::fmt::strtime::parse("%Y-%m-%d %H:%M:%S %z", normalized).and_then(|t| t.to_timestamp())
    {
        return Some(zoned.as_second());
    }
    if let Ok(dt) = normalized.parse::<DateTime>() {
        return dt
            .to_zoned(TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp().as_second());
    }
    if let Ok(date) = normalized.parse::<Date>() {
        return date
            .to_zoned(TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp().as_second());
    }
    None
}

/// Parses a date string with a strftime-style format (`%d/%m/%Y %H:%M`, as
/// jiff's `strtime` reads it). Without an offset in the format the time is
/// taken as UTC; a format without a time gives midnight UTC.
pub fn parse_date_with_format(s: &str, format: &str) -> Option<i64> {
    let parsed = jiff::fmt::strtime::parse(format, s.trim()).ok()?;
    if let Ok(ts) = parsed.to_timestamp() {
        return Some(ts.as_second());
    }
    if let Ok(dt) = parsed.to_datetime() {
        return dt
            .to_zoned(TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp().as_second());
    }
    let date = parsed.to_date().ok()?;
    date.to_zoned(TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_second())
}

/// Whether a strftime-style format can be used to parse dates: it must
/// contain at least a day-of-month, month and year directive (or `%s`/`%F`/`%D`).
pub fn check_date_format(format: &str) -> Result<(), String> {
    let has = |d: &str| format.contains(d);
    let full_date = has("%F") || has("%D") || has("%s") || has("%c");
    let year = has("%Y") || has("%y");
    let month = has("%m") || has("%b") || has("%B") || has("%h");
    if full_date || (year && month && (has("%d") || has("%e"))) {
        Ok(())
    } else {
        Err(format!(
            "date_format `{format}` needs a year, a month and a day (e.g. \"%d/%m/%Y %H:%M\")"
        ))
    }
}

/// Formats Unix seconds as RFC 3339 UTC (`2026-09-03T14:22:05Z`).
pub fn format_rfc3339(secs: i64) -> String {
    Timestamp::from_second(secs)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Formats Unix seconds as a date (`2026-09-03`).
pub fn format_date(secs: i64) -> String {
    Timestamp::from_second(secs)
        .map(|t| t.to_zoned(TimeZone::UTC).date().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn common_formats_parse() {
        let want = parse_date_str("2026-09-03T14:22:05Z").unwrap();
        assert_eq!(format_rfc3339(want), "2026-09-03T14:22:05Z");
        assert_eq!(parse_date_str("2026-09-03 14:22:05"), Some(want));
        assert_eq!(parse_date_str("2026-09-03T14:22:05"), Some(want));
        assert_eq!(parse_date_str("2026-09-03T22:22:05+08:00"), Some(want));
        assert_eq!(parse_date_value(&json!(want)), Some(want));
        assert_eq!(parse_date_value(&json!(want * 1000)), Some(want));
        assert_eq!(parse_date_value(&json!(want.to_string())), Some(want));
        assert_eq!(parse_date_str("2026/09/03"), parse_date_str("2026-09-03"));
        assert_eq!(format_date(want), "2026-09-03");
    }

    #[test]
    fn explicit_formats_parse() {
        let want = parse_date_str("2026-09-03T14:22:00Z").unwrap();
        assert_eq!(
            parse_date_with_format("03/09/2026 14:22", "%d/%m/%Y %H:%M"),
            Some(want)
        );
        assert_eq!(
            parse_date_with_format("03.09.2026", "%d.%m.%Y"),
            parse_date_str("2026-09-03")
        );
        assert_eq!(parse_date_with_format("2026-09-03", "%d/%m/%Y"), None);
        assert!(check_date_format("%d/%m/%Y %H:%M").is_ok());
        assert!(check_date_format("%H:%M").is_err());
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(parse_date_str("yesterday-ish"), None);
        assert_eq!(parse_date_str(""), None);
        assert_eq!(parse_date_value(&json!(true)), None);
        assert_eq!(parse_date_value(&json!(-5)), None);
    }
}
