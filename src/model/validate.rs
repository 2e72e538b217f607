//! Validation of plain attributes (names, protocol lists) shared by the API and config import.

/// Longest accepted resource name, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// TLS versions a configuration may list.
pub const TLS_PROTOCOLS: &[&str] = &["1.2", "1.3"];
/// HTTP protocols a configuration may list.
pub const HTTP_PROTOCOLS: &[&str] = &["http/1.1", "http/2"];

/// Why an attribute was refused; the text follows the field name in API errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidateError {
    #[error("is too long ({0} bytes; at most {MAX_NAME_BYTES})")]
    TooLong(usize),
    #[error("must not contain control characters")]
    ControlChar,
    #[error("must list at least one of {0}")]
    EmptyList(String),
    #[error("has an unsupported value {0:?} (expected one of {1})")]
    Unsupported(String, String),
    #[error("contains a control character (byte {0:#04x} at offset {1}); PEM is plain text")]
    ControlInPem(u8, usize),
    #[error("is too long ({0} bytes; at most {MAX_URL_BYTES})")]
    TooLongUrl(usize),
    #[error("{0}")]
    BadUrl(&'static str),
}

/// A resource name: at most 255 bytes, no control characters (they end up in logs and pages).
/// An empty name means "generate one" and is handled by the caller.
pub fn name(s: &str) -> Result<(), ValidateError> {
    if s.len() > MAX_NAME_BYTES {
        return Err(ValidateError::TooLong(s.len()));
    }
    if s.chars().any(char::is_control) {
        return Err(ValidateError::ControlChar);
    }
    Ok(())
}

/// PEM input is text: tabs and line breaks only among control characters. A NUL or escape
/// byte hidden in an upload would survive into storage and logs, and different PEM readers
/// disagree on where such a section ends.
pub fn pem_text(s: &str) -> Result<(), ValidateError> {
    match s
        .bytes()
        .enumerate()
        .find(|(_, b)| b.is_ascii_control() && !matches!(b, b'\n' | b'\r' | b'\t'))
    {
        Some((i, b)) => Err(ValidateError::ControlInPem(b, i)),
        None => Ok(()),
    }
}

/// Longest accepted URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

/// A URL the proxy fetches from: `http://` or `https://`, a host, no credentials (they would be
/// shown in API responses and logs), no whitespace or control characters.
pub fn fetch_url(s: &str) -> Result<(), ValidateError> {
    if s.len() > MAX_URL_BYTES {
        return Err(ValidateError::TooLongUrl(s.len()));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ValidateError::BadUrl(
            "holds whitespace or a control character",
        ));
    }
    let lower = s.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
        .ok_or(ValidateError::BadUrl("must start with http:// or https://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(ValidateError::BadUrl(
            "must not carry credentials (user@host)",
        ));
    }
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    if host.is_empty() || host == "[" {
        return Err(ValidateError::BadUrl("has no host"));
    }
    Ok(())
}

/// A protocol list against its allowed values; duplicates are removed, order kept.
pub fn protocol_list(values: &[String], allowed: &[&str]) -> Result<Vec<String>, ValidateError> {
    let expected = allowed.join(", ");
    if values.is_empty() {
        return Err(ValidateError::EmptyList(expected));
    }
    let mut out: Vec<String> = Vec::new();
    for v in values {
        if !allowed.contains(&v.as_str()) {
            return Err(ValidateError::Unsupported(v.clone(), expected));
        }
        if !out.contains(v) {
            out.push(v.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(name("My mutual authentication").is_ok());
        assert!(name(&"x".repeat(255)).is_ok());
        assert_eq!(name(&"x".repeat(256)), Err(ValidateError::TooLong(256)));
        assert_eq!(name("a\0b"), Err(ValidateError::ControlChar));
        assert_eq!(name("a\nb"), Err(ValidateError::ControlChar));
    }

    #[test]
    fn pem_text_allows_only_line_breaks_and_tabs() {
        assert!(pem_text("-----BEGIN X-----\r\n\tabc\n").is_ok());
        assert_eq!(pem_text("ab\0c"), Err(ValidateError::ControlInPem(0, 2)));
        assert_eq!(
            pem_text("\x1b[31m"),
            Err(ValidateError::ControlInPem(0x1b, 0))
        );
    }

    #[test]
    fn fetch_urls() {
        for ok in [
            "http://crl.example.org/root.crl",
            "HTTPS://crl.example.org:8443/a?b",
            "http://127.0.0.1:8080",
            "http://[::1]:80/x",
        ] {
            assert_eq!(fetch_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "ftp://crl.example.org/x",
            "file:///etc/passwd",
            "crl.example.org/x",
            "http://",
            "http:///x",
            "http://user:pw@crl.example.org/x",
            "http://crl.example.org/a b",
            "http://crl.example.org/\n",
        ] {
            assert!(fetch_url(bad).is_err(), "{bad}");
        }
        assert!(fetch_url(&format!("http://a/{}", "x".repeat(3000))).is_err());
    }

    #[test]
    fn protocols() {
        let v = vec!["1.3".to_string(), "1.3".to_string(), "1.2".to_string()];
        assert_eq!(
            protocol_list(&v, TLS_PROTOCOLS).unwrap(),
            vec!["1.3", "1.2"]
        );
        assert!(protocol_list(&[], TLS_PROTOCOLS).is_err());
        assert!(protocol_list(&["1.1".to_string()], TLS_PROTOCOLS).is_err());
    }
}
