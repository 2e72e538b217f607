//! Identity patterns of a route's `allow` list: which verified client certificates a route
//! admits, by SAN URI, SAN DNS name, SAN email, subject CN, public-key pin or certificate
//! fingerprint. Parsed once from the config file; matched per request against the facts the
//! proxy extracted from the leaf at the handshake (never by re-parsing the certificate).
//!
//! Matching is exact unless a pattern says otherwise, and ambiguity never matches: a SAN that
//! itself holds `*` matches no pattern, and a subject with several CNs matches no `cn:` pattern
//! (which CN would a reader of the certificate pick?).

use base64::Engine as _;

use super::pki::canonical_domain;

/// What a pattern is matched against: the leaf certificate's identity facts.
pub trait Presented {
    /// uniformResourceIdentifier SANs, as encoded.
    fn uri_sans(&self) -> &[String];
    /// dNSName SANs, as encoded.
    fn dns_sans(&self) -> &[String];
    /// rfc822Name SANs, as encoded.
    fn email_sans(&self) -> &[String];
    /// The subject's common name when it has exactly one.
    fn common_name(&self) -> Option<&str>;
    /// SHA-256 of the SubjectPublicKeyInfo DER, when the leaf parsed.
    fn spki_sha256(&self) -> Option<&[u8; 32]>;
    /// Lower-case hex SHA-256 of the leaf DER.
    fn cert_sha256_hex(&self) -> &str;
}

/// Why a pattern was refused; the text follows the pattern in config errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("has no kind; write kind:value (uri, dns, email, cn, spki-sha256 or sha256)")]
    NoKind,
    #[error("has an unknown kind {0:?} (expected uri, dns, email, cn, spki-sha256 or sha256)")]
    UnknownKind(String),
    #[error("has an empty value")]
    Empty,
    #[error("holds whitespace or a control character")]
    Whitespace,
    #[error("is not an absolute URI (scheme:…)")]
    NotAbsoluteUri,
    #[error("may hold * only as its whole last path segment (…/*)")]
    MisplacedStar,
    #[error("is not a DNS name or one-label wildcard (*.example.org): {0}")]
    BadDnsName(String),
    #[error("is not an email address (local@domain)")]
    BadEmail,
    #[error("is not the base64 of a 32-byte SHA-256 digest")]
    BadSpkiPin,
    #[error("is not 64 hex digits (colons allowed)")]
    BadFingerprint,
}

/// One pattern of an `allow` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityPattern {
    /// `uri:…`: a SAN URI, exactly or (ending in `/*`) under a path.
    Uri(UriPattern),
    /// `dns:…`: a SAN DNS name, exactly or as one label under a `*.` suffix (case-insensitive).
    Dns(DnsPattern),
    /// `email:local@domain`: a SAN email; the domain compared case-insensitively.
    Email { local: String, domain: String },
    /// `cn:…`: the subject CN, exactly.
    Cn(String),
    /// `spki-sha256:<base64>`: SHA-256 of the SubjectPublicKeyInfo (Envoy's and HPKP's pin).
    SpkiSha256([u8; 32]),
    /// `sha256:<hex>`: SHA-256 of the certificate, lower-case hex.
    Sha256(String),
}

/// A `uri:` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UriPattern {
    /// The whole URI.
    Exact(String),
    /// Everything strictly under this base (which ends in `/`): one or more further non-empty
    /// path segments, none of them `.` or `..`, no query or fragment.
    Under(String),
}

/// A `dns:` pattern, canonical (lower case, no trailing dot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsPattern {
    Exact(String),
    /// The suffix after `*.`: matches exactly one more label in front of it.
    Wildcard(String),
}

impl std::str::FromStr for IdentityPattern {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<IdentityPattern, PatternError> {
        let (kind, value) = text.split_once(':').ok_or(PatternError::NoKind)?;
        if value.is_empty() {
            return Err(PatternError::Empty);
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(PatternError::Whitespace);
        }
        match kind {
            "uri" => uri(value).map(IdentityPattern::Uri),
            "dns" => dns(value).map(IdentityPattern::Dns),
            "email" => email(value),
            "cn" => Ok(IdentityPattern::Cn(value.to_owned())),
            "spki-sha256" => spki(value).map(IdentityPattern::SpkiSha256),
            "sha256" => fingerprint(value).map(IdentityPattern::Sha256),
            other => Err(PatternError::UnknownKind(other.to_owned())),
        }
    }
}

fn uri(value: &str) -> Result<UriPattern, PatternError> {
    let scheme = value.split_once(':').map_or("", |(s, _)| s);
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok {
        return Err(PatternError::NotAbsoluteUri);
    }
    match value.strip_suffix("/*") {
        Some(base) if !base.contains('*') => Ok(UriPattern::Under(format!("{base}/"))),
        Some(_) => Err(PatternError::MisplacedStar),
        None if value.contains('*') => Err(PatternError::MisplacedStar),
        None => Ok(UriPattern::Exact(value.to_owned())),
    }
}

fn dns(value: &str) -> Result<DnsPattern, PatternError> {
    let name = canonical_domain(value).map_err(|e| PatternError::BadDnsName(e.to_string()))?;
    Ok(match name.strip_prefix("*.") {
        Some(suffix) => DnsPattern::Wildcard(suffix.to_owned()),
        None => DnsPattern::Exact(name),
    })
}

fn email(value: &str) -> Result<IdentityPattern, PatternError> {
    match value.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(IdentityPattern::Email {
                local: local.to_owned(),
                domain: domain.to_ascii_lowercase(),
            })
        }
        _ => Err(PatternError::BadEmail),
    }
}

fn spki(value: &str) -> Result<[u8; 32], PatternError> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    let bytes = STANDARD
        .decode(value)
        .or_else(|_| STANDARD_NO_PAD.decode(value))
        .map_err(|_| PatternError::BadSpkiPin)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| PatternError::BadSpkiPin)
}

fn fingerprint(value: &str) -> Result<String, PatternError> {
    let hex: String = value.chars().filter(|c| *c != ':').collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(PatternError::BadFingerprint);
    }
    Ok(hex.to_ascii_lowercase())
}

impl IdentityPattern {
    /// Whether the presented certificate matches this pattern.
    pub fn matches(&self, id: &dyn Presented) -> bool {
        match self {
            IdentityPattern::Uri(p) => id.uri_sans().iter().any(|san| p.matches(san)),
            IdentityPattern::Dns(p) => id.dns_sans().iter().any(|san| p.matches(san)),
            IdentityPattern::Email { local, domain } => id.email_sans().iter().any(|san| {
                san.rsplit_once('@')
                    .is_some_and(|(l, d)| l == local && d.eq_ignore_ascii_case(domain))
            }),
            IdentityPattern::Cn(cn) => id.common_name() == Some(cn.as_str()),
            IdentityPattern::SpkiSha256(pin) => id.spki_sha256() == Some(pin),
            IdentityPattern::Sha256(hex) => id.cert_sha256_hex() == hex,
        }
    }
}

impl UriPattern {
    fn matches(&self, san: &str) -> bool {
        match self {
            UriPattern::Exact(uri) => san == uri,
            UriPattern::Under(base) => san.strip_prefix(base.as_str()).is_some_and(|rest| {
                !rest.is_empty()
                    && !rest.contains(['?', '#'])
                    && rest
                        .split('/')
                        .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
            }),
        }
    }
}

impl DnsPattern {
    fn matches(&self, san: &str) -> bool {
        if san.contains('*') {
            return false;
        }
        let san = san.strip_suffix('.').unwrap_or(san);
        match self {
            DnsPattern::Exact(name) => san.eq_ignore_ascii_case(name),
            DnsPattern::Wildcard(suffix) => san.split_once('.').is_some_and(|(first, rest)| {
                !first.is_empty() && rest.eq_ignore_ascii_case(suffix)
            }),
        }
    }
}

/// A route's `allow` list: a certificate is admitted when it matches at least one pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList {
    patterns: Vec<IdentityPattern>,
}

/// An `allow` entry that did not parse: its position and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pattern {pattern:?} {problem}")]
pub struct AllowListError {
    /// 0-based position in the list.
    pub index: usize,
    pub pattern: String,
    pub problem: PatternError,
}

impl AllowList {
    /// Parse every pattern; the first bad one is the error. An empty list is refused by the
    /// caller (it would admit nobody, which is never what an operator means to write).
    pub fn parse(patterns: &[String]) -> Result<AllowList, AllowListError> {
        let patterns = patterns
            .iter()
            .enumerate()
            .map(|(index, p)| {
                p.parse().map_err(|problem| AllowListError {
                    index,
                    pattern: p.clone(),
                    problem,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(AllowList { patterns })
    }

    /// Whether any pattern matches.
    pub fn admits(&self, id: &dyn Presented) -> bool {
        self.patterns.iter().any(|p| p.matches(id))
    }

    /// Number of patterns.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// True when the list holds no pattern.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Leaf {
        uris: Vec<String>,
        dns: Vec<String>,
        emails: Vec<String>,
        cn: Option<String>,
        spki: Option<[u8; 32]>,
        sha256: String,
    }

    impl Presented for Leaf {
        fn uri_sans(&self) -> &[String] {
            &self.uris
        }
        fn dns_sans(&self) -> &[String] {
            &self.dns
        }
        fn email_sans(&self) -> &[String] {
            &self.emails
        }
        fn common_name(&self) -> Option<&str> {
            self.cn.as_deref()
        }
        fn spki_sha256(&self) -> Option<&[u8; 32]> {
            self.spki.as_ref()
        }
        fn cert_sha256_hex(&self) -> &str {
            &self.sha256
        }
    }

    fn p(text: &str) -> IdentityPattern {
        text.parse().unwrap()
    }

    fn uri(u: &str) -> Leaf {
        Leaf {
            uris: vec![u.into()],
            ..Leaf::default()
        }
    }

    fn dns(d: &str) -> Leaf {
        Leaf {
            dns: vec![d.into()],
            ..Leaf::default()
        }
    }

    #[test]
    fn uri_exact_and_under() {
        let exact = p("uri:spiffe://example.org/ns/prod/sa/billing");
        assert!(exact.matches(&uri("spiffe://example.org/ns/prod/sa/billing")));
        assert!(!exact.matches(&uri("spiffe://example.org/ns/prod/sa/billing/x")));
        assert!(!exact.matches(&uri("spiffe://example.org/ns/prod/sa/Billing")));
        let under = p("uri:spiffe://example.org/ns/prod/*");
        for yes in [
            "spiffe://example.org/ns/prod/sa",
            "spiffe://example.org/ns/prod/sa/billing",
        ] {
            assert!(under.matches(&uri(yes)), "{yes}");
        }
        for no in [
            "spiffe://example.org/ns/prod",
            "spiffe://example.org/ns/prod/",
            "spiffe://example.org/ns/prod//x",
            "spiffe://example.org/ns/prod/../admin",
            "spiffe://example.org/ns/prod/./x",
            "spiffe://example.org/ns/prodx/sa",
            "spiffe://example.org/ns/prod/sa?x=1",
            "spiffe://example.org/ns/prod/sa#f",
            "spiffe://example.org/ns/staging/sa",
        ] {
            assert!(!under.matches(&uri(no)), "{no}");
        }
    }

    #[test]
    fn dns_exact_and_one_label_wildcard() {
        let exact = p("dns:Billing.SVC.example.org.");
        assert!(exact.matches(&dns("billing.svc.example.org")));
        assert!(exact.matches(&dns("BILLING.svc.example.org.")));
        assert!(!exact.matches(&dns("x.billing.svc.example.org")));
        let wild = p("dns:*.svc.example.org");
        assert!(wild.matches(&dns("billing.svc.example.org")));
        assert!(wild.matches(&dns("Billing.Svc.Example.Org")));
        for no in [
            "svc.example.org",
            "a.b.svc.example.org",
            "*.svc.example.org",
            ".svc.example.org",
            "billing.svc.example.org.evil",
        ] {
            assert!(!wild.matches(&dns(no)), "{no}");
        }
    }

    #[test]
    fn email_cn_pins() {
        let e = p("email:Alice@Example.org");
        let leaf = |m: &str| Leaf {
            emails: vec![m.into()],
            ..Leaf::default()
        };
        assert!(e.matches(&leaf("Alice@example.ORG")));
        assert!(
            !e.matches(&leaf("alice@example.org")),
            "local part is exact"
        );
        assert!(!e.matches(&leaf("Alice@example.org.evil")));

        let cn = p("cn:billing");
        let with_cn = |c: Option<&str>| Leaf {
            cn: c.map(str::to_owned),
            ..Leaf::default()
        };
        assert!(cn.matches(&with_cn(Some("billing"))));
        assert!(!cn.matches(&with_cn(Some("Billing"))));
        assert!(!cn.matches(&with_cn(None)));

        let digest = [7u8; 32];
        let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
        let pin = p(&format!("spki-sha256:{b64}"));
        let no_pad = p(&format!("spki-sha256:{}", b64.trim_end_matches('=')));
        assert_eq!(pin, no_pad);
        let with_pin = |d: [u8; 32]| Leaf {
            spki: Some(d),
            ..Leaf::default()
        };
        assert!(pin.matches(&with_pin(digest)));
        assert!(!pin.matches(&with_pin([8; 32])));
        assert!(!pin.matches(&Leaf::default()));

        let hex = "AB".repeat(32);
        let colons = vec!["ab"; 32].join(":");
        let fp = p(&format!("sha256:{hex}"));
        assert_eq!(fp, p(&format!("sha256:{colons}")));
        let with_fp = |h: &str| Leaf {
            sha256: h.into(),
            ..Leaf::default()
        };
        assert!(fp.matches(&with_fp(&"ab".repeat(32))));
        assert!(!fp.matches(&with_fp(&"ac".repeat(32))));
    }

    #[test]
    fn bad_patterns_say_why() {
        let cases = [
            ("billing", PatternError::NoKind),
            ("ip:10.0.0.1", PatternError::UnknownKind("ip".into())),
            ("cn:", PatternError::Empty),
            ("cn:a b", PatternError::Whitespace),
            ("uri:example.org/x", PatternError::NotAbsoluteUri),
            ("uri:spiffe://example.org/*/x", PatternError::MisplacedStar),
            ("uri:spiffe://example.org/a*", PatternError::MisplacedStar),
            ("uri:spiffe://*/a/*", PatternError::MisplacedStar),
            ("email:nobody", PatternError::BadEmail),
            ("email:a@b@c", PatternError::BadEmail),
            ("spki-sha256:AAAA", PatternError::BadSpkiPin),
            ("sha256:abcd", PatternError::BadFingerprint),
            (
                &format!("sha256:{}", "zz".repeat(32)),
                PatternError::BadFingerprint,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<IdentityPattern>(), Err(want), "{text}");
        }
        for bad_dns in ["dns:a*.example.org", "dns:*.*.example.org", "dns:*.org"] {
            assert!(
                matches!(
                    bad_dns.parse::<IdentityPattern>(),
                    Err(PatternError::BadDnsName(_))
                ),
                "{bad_dns}"
            );
        }
    }

    #[test]
    fn allow_list_admits_on_any_match_and_names_the_bad_entry() {
        let list = AllowList::parse(&["cn:a".into(), "dns:b.example.org".into()]).unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.admits(&dns("b.example.org")));
        assert!(!list.admits(&dns("c.example.org")));
        let err = AllowList::parse(&["cn:a".into(), "uri:x".into()]).unwrap_err();
        assert_eq!(err.index, 1);
        assert!(err.to_string().contains("\"uri:x\""), "{err}");
    }
}
