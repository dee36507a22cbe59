//! Deadlines: parsing RFC 3339 / Unix-millisecond input and rendering the
//! stored value the way Go's `time.RFC3339Nano` does (trailing fractional
//! zeros removed, `Z` for a zero offset, else the producer's `±hh:mm`).

use chrono::{DateTime, FixedOffset, Local, TimeZone, Timelike, Utc};

/// A parsed deadline: the instant to check and the text to store and echo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadline {
    /// The instant (checked once, at produce).
    pub at: DateTime<Utc>,
    /// Go's RFC 3339 rendering, as consumers will see it.
    pub rendered: String,
}

/// Parses an RFC 3339 timestamp; the error text imitates Go's time parser.
pub fn parse_rfc3339(s: &str) -> Result<Deadline, String> {
    let dt = DateTime::parse_from_rfc3339(s)
        .map_err(|e| format!("parsing time {s:?} as \"2006-01-02T15:04:05Z07:00\": {e}"))?;
    Ok(Deadline {
        at: dt.with_timezone(&Utc),
        rendered: render(&dt),
    })
}

/// A Unix time in milliseconds, rendered in the broker's local time zone (Q22).
pub fn from_unix_ms(ms: i64) -> Option<Deadline> {
    let local = Local.timestamp_millis_opt(ms).single()?;
    let fixed = local.fixed_offset();
    Some(Deadline {
        at: local.with_timezone(&Utc),
        rendered: render(&fixed),
    })
}

/// Go's `RFC3339Nano` rendering.
pub fn render(dt: &DateTime<FixedOffset>) -> String {
    let mut out = dt.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = dt.nanosecond() % 1_000_000_000;
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    let offset = dt.offset().local_minus_utc();
    if offset == 0 {
        out.push('Z');
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let abs = offset.unsigned_abs();
        out.push_str(&format!("{sign}{:02}:{:02}", abs / 3600, (abs % 3600) / 60));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_go() {
        let d = parse_rfc3339("2099-01-02T03:04:05.250+02:00")
            .ok()
            .map(|d| d.rendered);
        assert_eq!(d.as_deref(), Some("2099-01-02T03:04:05.25+02:00"));
        let d = parse_rfc3339("2099-01-02T03:04:05.000Z")
            .ok()
            .map(|d| d.rendered);
        assert_eq!(d.as_deref(), Some("2099-01-02T03:04:05Z"));
        assert!(parse_rfc3339("tomorrow").is_err());
    }
}
