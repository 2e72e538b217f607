//! Timestamps: milliseconds since the Unix epoch, rendered as Fastly does
//! (`2023-06-01T13:40:13.000Z`, literal `Z`, which go-fastly requires).

use time::OffsetDateTime;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// The current time in milliseconds.
pub fn now_ms() -> Millis {
    let now = OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Render as `YYYY-MM-DDTHH:MM:SS.mmmZ`. Out-of-range values are clamped to the epoch.
pub fn format_ms(ms: Millis) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    let t = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Render a Unix time in seconds the same way.
pub fn format_secs(secs: i64) -> String {
    format_ms(secs.saturating_mul(1000))
}

/// Parse a filter date: `2020-05-05` or a full RFC 3339 timestamp. Returns milliseconds.
pub fn parse_filter_date(s: &str) -> Option<Millis> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok();
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s, &fmt).ok()?;
    Some(d.midnight().assume_utc().unix_timestamp() * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_literal_z_and_millis() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ms(1_685_626_813_042), "2023-06-01T13:40:13.042Z");
        assert_eq!(format_secs(1_685_626_813), "2023-06-01T13:40:13.000Z");
    }

    #[test]
    fn parses_filter_dates() {
        assert_eq!(parse_filter_date("1970-01-02"), Some(86_400_000));
        assert_eq!(
            parse_filter_date("2023-06-01T13:40:13Z"),
            Some(1_685_626_813_000)
        );
        assert_eq!(parse_filter_date("yesterday"), None);
    }
}
