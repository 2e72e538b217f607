//! The optional Envoy-style `x-forwarded-client-cert` element for mesh users: semicolon-separated
//! `Key=value` pairs, values quoted when they hold `,` `;` `=` (Envoy's rule), with `"` and `\`
//! backslash-escaped inside quotes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::identity::ClientIdentity;

/// One XFCC element: `By` (when given), `Hash`, `Cert`, `Chain` (leaf and intermediates, as
/// Envoy sends it), `Subject`, `URI` (the first URI SAN) and one `DNS` per DNS SAN.
pub(super) fn element(identity: &ClientIdentity, by_uri: Option<&str>) -> String {
    let mut parts = Vec::with_capacity(6 + identity.dns_sans.len());
    if let Some(by) = by_uri {
        parts.push(format!("By={}", value(by)));
    }
    parts.push(format!("Hash={}", identity.sha256_hex));
    parts.push(format!("Cert=\"{}\"", url_encode(&pem(&identity.leaf_der))));
    let mut chain = pem(&identity.leaf_der);
    for der in &identity.chain_der {
        chain.push_str(&pem(der));
    }
    parts.push(format!("Chain=\"{}\"", url_encode(&chain)));
    if !identity.subject.is_empty() {
        // Envoy always quotes Subject: a DN is full of ',' and '='.
        parts.push(format!("Subject={}", quoted(&identity.subject)));
    }
    if let Some(uri) = identity.uri_sans.first() {
        parts.push(format!("URI={}", value(uri)));
    }
    for dns in &identity.dns_sans {
        parts.push(format!("DNS={}", value(dns)));
    }
    parts.join(";")
}

/// A value as-is when it is a plain token, quoted otherwise. Certificate text may hold any
/// byte, so bytes outside printable ASCII are first percent-encoded: XFCC has no escape of its
/// own for them and a header value cannot carry them.
fn value(raw: &str) -> String {
    let safe = percent_encode_unprintable(raw);
    let plain = !safe.is_empty() && !safe.bytes().any(|b| b",;=\"\\ ".contains(&b));
    if plain {
        safe
    } else {
        quoted(&safe)
    }
}

fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn percent_encode_unprintable(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for &b in raw.as_bytes() {
        match b {
            0x20..=0x7e => out.push(char::from(b)),
            _ => push_percent(b, &mut out),
        }
    }
    out
}

/// Percent-encoding of everything but RFC 3986 unreserved characters, as Envoy does for PEM.
fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for &b in text.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b))
            }
            _ => push_percent(b, &mut out),
        }
    }
    out
}

fn push_percent(b: u8, out: &mut String) {
    out.push('%');
    crate::hex::push_byte(out, b, crate::hex::Case::Upper);
}

/// PEM "CERTIFICATE" block with 64-character lines.
fn pem(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = String::with_capacity(body.len() + body.len() / 64 + 60);
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    for (i, c) in body.chars().enumerate() {
        out.push(c);
        if i % 64 == 63 {
            out.push('\n');
        }
    }
    if body.len() % 64 != 0 {
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;

    #[test]
    fn pem_round_trips_through_a_pem_parser() {
        for len in [0usize, 1, 47, 48, 49, 96, 1000] {
            let der: Vec<u8> = (0..=u8::MAX).cycle().take(len).collect();
            let text = pem(&der);
            assert!(text
                .lines()
                .all(|l| l.len() <= 64 || l.starts_with("-----")));
            if len > 0 {
                let parsed = CertificateDer::from_pem_slice(text.as_bytes()).unwrap();
                assert_eq!(parsed.as_ref(), der.as_slice(), "len {len}");
            }
        }
    }

    #[test]
    fn url_encoding_keeps_only_unreserved() {
        assert_eq!(url_encode("a-B_.~ +/=\n"), "a-B_.~%20%2B%2F%3D%0A");
    }

    #[test]
    fn values_are_quoted_when_needed() {
        assert_eq!(value("spiffe://a/b"), "spiffe://a/b");
        assert_eq!(value("a,b"), "\"a,b\"");
        assert_eq!(value("a;b"), "\"a;b\"");
        assert_eq!(value("a=b"), "\"a=b\"");
        assert_eq!(value("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(value(""), "\"\"");
        assert_eq!(value("a\r\nb\0é"), "a%0D%0Ab%00%C3%A9");
    }
}
