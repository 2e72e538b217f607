//! Canonical DNS names for TLS domains and certificate SAN matching.
//!
//! Decisions: a wildcard is only a whole leftmost label ("*.example.com") and must be followed by
//! at least two labels, so "*.com" is refused like "com" is (no certificate authority issues a
//! wildcard for a public suffix, and serving one would capture a whole TLD). A name whose last
//! label is all digits is refused, which keeps IPv4 literals out. Internationalised names are
//! accepted only in punycode ("xn--...").

use super::{DomainProblem, PkiError};

/// Longest name in presentation form, without the trailing dot (RFC 1035 section 2.3.4).
const MAX_NAME: usize = 253;
/// The single-label name allowed (RFC 6761 §6.3: always loopback).
const LOCALHOST: &str = "localhost";
/// Longest label (RFC 1035 section 2.3.4).
const MAX_LABEL: usize = 63;

/// Lower-case, strip one trailing dot, validate as a DNS name (LDH labels 1..=63 bytes,
/// total <= 253, at least two labels) with an optional leading "*." wildcard label. Errors name
/// the problem. See the module documentation for the wildcard and numeric-TLD decisions.
pub fn canonical_domain(name: &str) -> Result<String, PkiError> {
    validate(name).map_err(PkiError::InvalidDomain)
}

fn validate(name: &str) -> Result<String, DomainProblem> {
    if !name.is_ascii() {
        return Err(DomainProblem::NotAscii);
    }
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    if name.is_empty() {
        return Err(DomainProblem::Empty);
    }
    if name.len() > MAX_NAME {
        return Err(DomainProblem::TooLong { len: name.len() });
    }
    let base = name.strip_prefix("*.").unwrap_or(&name);
    let mut labels = 0;
    for label in base.split('.') {
        check_label(label)?;
        labels += 1;
    }
    // `localhost` and `*.localhost` are the one exception to "two labels": RFC 6761 reserves
    // the name for loopback, so it can never be a public suffix, and local mTLS testing (the
    // demo) needs it.
    if labels < 2 && base != LOCALHOST {
        return Err(DomainProblem::TooFewLabels);
    }
    if base
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(DomainProblem::NumericTld);
    }
    Ok(name)
}

fn check_label(label: &str) -> Result<(), DomainProblem> {
    if label.is_empty() {
        return Err(DomainProblem::EmptyLabel);
    }
    if label.len() > MAX_LABEL {
        return Err(DomainProblem::LabelTooLong { len: label.len() });
    }
    if label.contains('*') {
        return Err(DomainProblem::MisplacedWildcard);
    }
    if let Some(bad) = label
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(DomainProblem::BadCharacter(bad));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(DomainProblem::HyphenAtEdge);
    }
    Ok(())
}

/// Whether a certificate SAN (canonical) covers a domain (canonical): exact match, or SAN
/// "*.example.com" covering exactly one extra label ("a.example.com", not "example.com" nor
/// "a.b.example.com"). A domain "*.example.com" is covered only by the SAN "*.example.com".
pub fn san_covers(san: &str, domain: &str) -> bool {
    if san == domain {
        return true;
    }
    if domain.starts_with('*') {
        return false;
    }
    let Some(base) = san.strip_prefix("*.") else {
        return false;
    };
    domain
        .strip_suffix(base)
        .and_then(|head| head.strip_suffix('.'))
        .is_some_and(|label| !label.is_empty() && !label.contains('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(name: &str) -> DomainProblem {
        match canonical_domain(name) {
            Err(PkiError::InvalidDomain(p)) => p,
            other => panic!("{name:?}: unexpected {other:?}"),
        }
    }

    #[test]
    fn canonicalises_case_and_one_trailing_dot() {
        assert_eq!(
            canonical_domain("WWW.Example.COM.").unwrap(),
            "www.example.com"
        );
        assert_eq!(canonical_domain("*.Example.com").unwrap(), "*.example.com");
        assert_eq!(problem("example.com.."), DomainProblem::EmptyLabel);
    }

    #[test]
    fn accepts_punycode_and_hyphens_inside_labels() {
        assert_eq!(
            canonical_domain("xn--bcher-kva.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert!(canonical_domain("a-b.c-d.example").is_ok());
        assert!(canonical_domain("3com.example").is_ok());
    }

    #[test]
    fn refuses_bad_names_with_the_reason() {
        assert_eq!(problem(""), DomainProblem::Empty);
        assert_eq!(problem("."), DomainProblem::Empty);
        assert_eq!(problem("bücher.example"), DomainProblem::NotAscii);
        assert_eq!(problem("a..example.com"), DomainProblem::EmptyLabel);
        assert_eq!(problem(".example.com"), DomainProblem::EmptyLabel);
        assert_eq!(
            problem("foo_bar.example.com"),
            DomainProblem::BadCharacter('_')
        );
        assert_eq!(problem("a b.example.com"), DomainProblem::BadCharacter(' '));
        assert_eq!(problem("-a.example.com"), DomainProblem::HyphenAtEdge);
        assert_eq!(problem("a-.example.com"), DomainProblem::HyphenAtEdge);
        assert_eq!(problem("intranet"), DomainProblem::TooFewLabels);
        assert_eq!(canonical_domain("LocalHost.").unwrap(), "localhost");
        assert_eq!(canonical_domain("*.localhost").unwrap(), "*.localhost");
        assert_eq!(problem("10.0.0.1"), DomainProblem::NumericTld);
    }

    #[test]
    fn length_limits() {
        let label63 = "a".repeat(63);
        assert!(canonical_domain(&format!("{label63}.example")).is_ok());
        assert_eq!(
            problem(&format!("{}.example", "a".repeat(64))),
            DomainProblem::LabelTooLong { len: 64 }
        );
        // 4 * 63 + 3 dots = 255 > 253.
        let long = [label63.as_str(); 4].join(".");
        assert_eq!(problem(&long), DomainProblem::TooLong { len: 255 });
        let fits = format!("{}.{}", [label63.as_str(); 3].join("."), "a".repeat(61));
        assert_eq!(fits.len(), 253);
        assert!(canonical_domain(&format!("{fits}.")).is_ok());
    }

    #[test]
    fn wildcard_rules() {
        assert_eq!(problem("*"), DomainProblem::MisplacedWildcard);
        assert_eq!(problem("*."), DomainProblem::MisplacedWildcard);
        assert_eq!(problem("*.com"), DomainProblem::TooFewLabels);
        assert_eq!(problem("*.intranet"), DomainProblem::TooFewLabels);
        assert_eq!(problem("a.*.example.com"), DomainProblem::MisplacedWildcard);
        assert_eq!(problem("f*.example.com"), DomainProblem::MisplacedWildcard);
        assert_eq!(problem("*.*.example.com"), DomainProblem::MisplacedWildcard);
        assert!(canonical_domain("*.example.com").is_ok());
    }

    #[test]
    fn error_text_follows_a_field_name() {
        let err = canonical_domain("foo_bar.example").unwrap_err();
        assert_eq!(
            err.to_string(),
            "holds the character '_'; only letters, digits and hyphens are allowed"
        );
    }

    #[test]
    fn san_coverage() {
        assert!(san_covers("example.com", "example.com"));
        assert!(!san_covers("example.com", "www.example.com"));
        assert!(san_covers("*.example.com", "a.example.com"));
        assert!(!san_covers("*.example.com", "example.com"));
        assert!(!san_covers("*.example.com", "a.b.example.com"));
        assert!(!san_covers("*.example.com", "aexample.com"));
        assert!(!san_covers("*.example.com", ".example.com"));
        assert!(san_covers("*.example.com", "*.example.com"));
        assert!(!san_covers("a.example.com", "*.example.com"));
        assert!(!san_covers("*.b.example.com", "*.example.com"));
        assert!(!san_covers("*.example.com", "*.a.example.com"));
    }
}
