//! Durations in the config file: `"10s"`, `"500ms"`, `"2m"`, `"1h"`, or a bare number of seconds.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Parse a duration string.
pub fn parse(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (examples: 10s, 500ms, 2m)"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        other => {
            return Err(format!(
                "unknown duration unit {other:?} (use ms, s, m or h)"
            ))
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is out of range"))
}

/// Serde adapter: a string such as "10s" or a number of seconds.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Secs(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Secs(n) => Ok(Duration::from_secs(n)),
        Raw::Text(t) => parse(&t).map_err(serde::de::Error::custom),
    }
}

/// Serde adapter for a duration that can be switched off: `"off"` (or 0) is None, anything
/// else as [`deserialize`].
pub fn deserialize_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Secs(u64),
        Text(String),
    }
    let duration = match Raw::deserialize(d)? {
        Raw::Text(t) if t.trim() == "off" => return Ok(None),
        Raw::Secs(n) => Duration::from_secs(n),
        Raw::Text(t) => parse(&t).map_err(serde::de::Error::custom)?,
    };
    Ok(Some(duration).filter(|d| !d.is_zero()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert!(parse("ten").is_err());
        assert!(parse("5d").is_err());
        assert!(parse("-1s").is_err());
    }

    #[test]
    fn optional_durations_switch_off() {
        #[derive(Deserialize)]
        struct T {
            #[serde(deserialize_with = "deserialize_opt")]
            d: Option<Duration>,
        }
        let parse = |text: &str| toml::from_str::<T>(text).map(|t| t.d);
        assert_eq!(parse("d = \"off\"").unwrap(), None);
        assert_eq!(parse("d = 0").unwrap(), None);
        assert_eq!(parse("d = \"0s\"").unwrap(), None);
        assert_eq!(
            parse("d = \"1h\"").unwrap(),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(parse("d = 5").unwrap(), Some(Duration::from_secs(5)));
        assert!(parse("d = \"never\"").is_err());
    }
}
