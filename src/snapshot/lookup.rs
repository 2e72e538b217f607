//! Host-name canonicalisation and the exact + one-label-wildcard domain table. The SNI lookup and
//! the per-request Host / `:authority` check both go through exactly these functions (rule 1,
//! docs/architecture.md): every known SNI/Host bypass came from two lookups that disagreed on case,
//! a trailing dot or wildcards (Traefik CVE-2022-23632, CVE-2026-48491, CVE-2026-53622; Emissary
//! 1.x).

use std::borrow::Cow;
use std::net::Ipv6Addr;

use imbl::HashMap;

/// Longest DNS name accepted, without the trailing dot (RFC 1035 §2.3.4).
const MAX_NAME_LEN: usize = 253;
/// Longest DNS label accepted (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;

/// Canonical form of a host name from SNI, Host, :authority or an absolute-form URI authority:
/// lower-case ASCII, port removed ("a.com:443"), IPv6 brackets handled ("[::1]:8443" → "::1"),
/// one trailing dot removed, userinfo ("user@host") rejected. Returns None for anything that is
/// not a syntactically valid host (empty, spaces, control chars, non-ASCII bytes, bad port, "..").
///
/// IPv6 literals are rewritten to their RFC 5952 text ("[0:0::1]" → "::1") so that every
/// spelling of one address is one key. A bare (unbracketed) IPv6 literal is accepted too, so
/// that the function is idempotent on its own output.
pub fn canonical_host(raw: &str) -> Option<String> {
    canonical_host_cow(raw).map(Cow::into_owned)
}

/// [`canonical_host`] without allocating when the canonical form is a slice of the input
/// (already lower-case; a port or trailing dot is cut off by slicing). For the per-request path.
pub fn canonical_host_cow(raw: &str) -> Option<Cow<'_, str>> {
    // Userinfo has no business in a Host header and in an absolute-form target it is a classic
    // way to make two parsers see different hosts ("http://a.com@b.com/"): refuse it outright.
    if raw.contains('@') {
        return None;
    }
    if let Some(rest) = raw.strip_prefix('[') {
        return bracketed_ipv6(rest).map(Cow::Owned);
    }
    if raw.bytes().filter(|&b| b == b':').count() > 1 {
        return raw
            .parse::<Ipv6Addr>()
            .ok()
            .map(|addr| Cow::Owned(addr.to_string()));
    }
    let name = match raw.split_once(':') {
        Some((name, port)) if valid_port(port) => name,
        Some(_) => return None,
        None => raw,
    };
    // Exactly one trailing dot: "a.com." is the FQDN spelling of "a.com" (CVE-2022-23632).
    let name = name.strip_suffix('.').unwrap_or(name);
    dns_name(name)
}

/// The part after "[" of a bracketed IPv6 authority, with an optional ":port" after "]".
fn bracketed_ipv6(rest: &str) -> Option<String> {
    let (inner, after) = rest.split_once(']')?;
    if !after.is_empty() {
        let port = after.strip_prefix(':')?;
        if !valid_port(port) {
            return None;
        }
    }
    // std rejects zone identifiers ("fe80::1%eth0"), which never name a virtual host.
    inner.parse::<Ipv6Addr>().ok().map(|addr| addr.to_string())
}

/// A decimal port 0–65535, one to five digits. An empty port ("a.com:") is refused: strictness
/// costs nothing here because SNI and Host share this function.
fn valid_port(port: &str) -> bool {
    (1..=5).contains(&port.len())
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u32>().is_ok_and(|p| p <= u32::from(u16::MAX))
}

/// Validates a DNS name (no trailing dot) and lower-cases it, borrowing when already lower-case.
/// Letters, digits, '-' and '_' (seen in real internal names) only; '*' is refused so that a
/// request for the literal name "*.example.com" can never reach a wildcard entry.
fn dns_name(name: &str) -> Option<Cow<'_, str>> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return None;
    }
    let mut has_upper = false;
    for label in name.split('.') {
        if label.is_empty() || label.len() > MAX_LABEL_LEN {
            return None;
        }
        for b in label.bytes() {
            match b {
                b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => {}
                b'A'..=b'Z' => has_upper = true,
                _ => return None,
            }
        }
    }
    Some(if has_upper {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    })
}

/// An IP literal in canonical form: IPv6 (has ':') or a name whose last label is all digits
/// (no top-level domain is numeric, so "10.0.0.1" and odd spellings like "1.2.3.010" count).
fn is_ip_like(host: &str) -> bool {
    host.contains(':')
        || host
            .rsplit('.')
            .next()
            .is_some_and(|last| !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()))
}

/// True when `raw` carries a port, which a table entry name must not.
fn has_port(raw: &str) -> bool {
    match raw.strip_prefix('[') {
        Some(rest) => rest
            .split_once(']')
            .is_some_and(|(_, after)| !after.is_empty()),
        None => raw.bytes().filter(|&b| b == b':').count() == 1,
    }
}

/// A table entry name, parsed.
enum EntryName {
    /// A canonical host.
    Exact(String),
    /// The canonical suffix of "*.suffix".
    Wildcard(String),
}

fn parse_entry_name(raw: &str) -> Option<EntryName> {
    match raw.strip_prefix("*.") {
        Some(suffix) => {
            let suffix = suffix.strip_suffix('.').unwrap_or(suffix);
            let suffix = dns_name(suffix)?;
            // Lookups never try wildcards for IP hosts, so such an entry could never match.
            (!is_ip_like(&suffix)).then(|| EntryName::Wildcard(suffix.into_owned()))
        }
        None if has_port(raw) => None,
        None => canonical_host(raw).map(EntryName::Exact),
    }
}

/// Canonical form of a table entry name: a host as [`canonical_host`] gives it but without a
/// port, or "*." followed by a canonical DNS name ("*.Example.COM." → "*.example.com").
/// Partial wildcards ("a*.b.com"), nested ones ("*.*.b.com") and wildcards over IP addresses
/// are not names.
pub fn canonical_name(raw: &str) -> Option<String> {
    match parse_entry_name(raw)? {
        EntryName::Exact(host) => Some(host),
        EntryName::Wildcard(suffix) => Some(format!("*.{suffix}")),
    }
}

/// A name given to [`DomainTable::try_insert`] that [`canonical_name`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid domain name or one-label wildcard: {0:?}")]
pub struct InvalidName(pub String);

/// A table from domain names to values: exact names and one-label wildcards ("*.example.com").
///
/// The table does not judge public suffixes: "*.com" is accepted and matches "example.com".
/// Refusing such names is the API's job, not the data plane's.
///
/// The maps are persistent (hash array mapped tries): a clone costs O(1) and shares every entry,
/// and an insert or removal copies only the O(log n) path to its entry, so a snapshot that
/// changes one domain of 100,000 shares the rest with its predecessor.
#[derive(Debug, Clone)]
pub struct DomainTable<T: Clone> {
    exact: HashMap<String, T>,
    /// Keyed by the suffix after "*." so that a lookup can use a slice of the host without
    /// allocating; the value keeps the full "*.suffix" name for `lookup_entry` and `iter`.
    wildcard: HashMap<String, (String, T)>,
}

impl<T: Clone> Default for DomainTable<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Clone> DomainTable<T> {
    /// An empty table.
    pub fn new() -> Self {
        DomainTable {
            exact: HashMap::new(),
            wildcard: HashMap::new(),
        }
    }

    /// Insert under a canonical name (exact, or "*.suffix"); returns the previous value.
    ///
    /// The name is canonicalised first ([`canonical_name`]), so "Example.COM." and "example.com"
    /// are one entry. A name that is not valid is not inserted (the table only ever holds names
    /// a canonical host can match); use [`DomainTable::try_insert`] to be told.
    pub fn insert(&mut self, name: &str, value: T) -> Option<T> {
        self.try_insert(name, value).unwrap_or(None)
    }

    /// Like [`DomainTable::insert`], but an invalid name is an error.
    pub fn try_insert(&mut self, name: &str, value: T) -> Result<Option<T>, InvalidName> {
        match parse_entry_name(name) {
            Some(EntryName::Exact(host)) => Ok(self.exact.insert(host, value)),
            Some(EntryName::Wildcard(suffix)) => {
                let full = format!("*.{suffix}");
                Ok(self.wildcard.insert(suffix, (full, value)).map(|(_, v)| v))
            }
            None => Err(InvalidName(name.to_owned())),
        }
    }

    /// The entry stored under a name (exact, or "*.suffix"), without wildcard matching.
    pub fn get(&self, name: &str) -> Option<&T> {
        match parse_entry_name(name)? {
            EntryName::Exact(host) => self.exact.get(&host),
            EntryName::Wildcard(suffix) => self.wildcard.get(&suffix).map(|(_, v)| v),
        }
    }

    /// Remove the entry of a canonical name (exact, or "*.suffix"); returns its value.
    pub fn remove(&mut self, name: &str) -> Option<T> {
        match parse_entry_name(name)? {
            EntryName::Exact(host) => self.exact.remove(&host),
            EntryName::Wildcard(suffix) => self.wildcard.remove(&suffix).map(|(_, v)| v),
        }
    }

    /// Look up a canonical host: exact match first, then the wildcard for its parent
    /// ("a.example.com" → "*.example.com"; never "a.b.example.com" → "*.example.com", never
    /// "example.com" → "*.example.com"). An IP-address host never matches a wildcard.
    ///
    /// `host` must come from [`canonical_host`]; a non-canonical string simply misses.
    /// Does not allocate.
    pub fn lookup(&self, host: &str) -> Option<&T> {
        self.lookup_entry(host).map(|(_, value)| value)
    }

    /// Same as [`DomainTable::lookup`], plus the name of the entry that matched.
    pub fn lookup_entry(&self, host: &str) -> Option<(&str, &T)> {
        if let Some((name, value)) = self.exact.get_key_value(host) {
            return Some((name.as_str(), value));
        }
        let (first, parent) = host.split_once('.')?;
        // A wildcard covers exactly one real label; "*" itself is never a label of a host.
        if first.is_empty() || first == "*" || is_ip_like(host) {
            return None;
        }
        self.wildcard
            .get(parent)
            .map(|(name, value)| (name.as_str(), value))
    }

    /// Number of entries, exact and wildcard.
    pub fn len(&self) -> usize {
        self.exact.len() + self.wildcard.len()
    }

    /// True when the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry as (canonical name, value), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        let exact = self.exact.iter().map(|(name, v)| (name.as_str(), v));
        let wild = self.wildcard.values().map(|(name, v)| (name.as_str(), v));
        exact.chain(wild)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(raw: &str) -> Option<String> {
        canonical_host(raw)
    }

    #[test]
    fn canonicalises_case_port_and_trailing_dot() {
        assert_eq!(ch("Example.COM").as_deref(), Some("example.com"));
        assert_eq!(ch("a.com:443").as_deref(), Some("a.com"));
        assert_eq!(ch("A.Com.:8443").as_deref(), Some("a.com"));
        assert_eq!(ch("a.com.").as_deref(), Some("a.com"));
        assert_eq!(ch("a.com:0").as_deref(), Some("a.com"));
        assert_eq!(ch("a.com:65535").as_deref(), Some("a.com"));
        assert_eq!(ch("localhost").as_deref(), Some("localhost"));
        assert_eq!(
            ch("under_score.example").as_deref(),
            Some("under_score.example")
        );
        assert_eq!(ch("10.0.0.1:80").as_deref(), Some("10.0.0.1"));
        let longest = format!("{}.com", ["abcdefghi"; 25].join("."));
        assert_eq!(longest.len(), MAX_NAME_LEN);
        assert_eq!(ch(&format!("{longest}.:443")), Some(longest));
        let label = "a".repeat(MAX_LABEL_LEN);
        assert_eq!(ch(&label), Some(label));
    }

    #[test]
    fn canonicalises_ipv6() {
        assert_eq!(ch("[::1]:8443").as_deref(), Some("::1"));
        assert_eq!(ch("[::1]").as_deref(), Some("::1"));
        assert_eq!(ch("[0:0:0:0:0:0:0:1]").as_deref(), Some("::1"));
        assert_eq!(
            ch("[2001:DB8::ABCD]:443").as_deref(),
            Some("2001:db8::abcd")
        );
        assert_eq!(ch("::1").as_deref(), Some("::1"));
        assert_eq!(ch("2001:db8:0::1").as_deref(), Some("2001:db8::1"));
    }

    #[test]
    fn rejects_invalid_hosts() {
        let long_label = format!("{}.com", "a".repeat(64));
        let long_name = format!("{}.com", ["abcdefghi"; 26].join("."));
        let bad = [
            "",
            ".",
            "..",
            "a..b",
            ".a.com",
            "a.com..",
            "a b.com",
            " a.com",
            "a.com ",
            "a\tb",
            "a\0b",
            "a\r\nb",
            "é.com",
            "日本.jp",
            "user@a.com",
            "@a.com",
            "a.com:",
            "a.com:99999",
            "a.com:65536",
            "a.com:8x",
            "a.com:-1",
            "a.com:+1",
            "a.com:443:1",
            "a.com:000443",
            "[::1",
            "[::1]x",
            "[::1]:",
            "[::1]:99999",
            "[fe80::1%25eth0]",
            "[a.com]",
            "*.a.com",
            "*",
            "a*.b.com",
            "a.com/x",
            "%61.com",
            "a.com\\",
            "a;b",
            "a,b",
            ":443",
            "1:2:3",
            "::g",
            &long_label,
            &long_name,
        ];
        for raw in bad {
            assert_eq!(ch(raw), None, "{raw:?} must be refused");
        }
    }

    #[test]
    fn borrows_when_already_canonical() {
        for raw in ["a.example.com", "a.example.com:443", "a.example.com."] {
            let cow = canonical_host_cow(raw);
            assert!(
                matches!(cow, Some(Cow::Borrowed("a.example.com"))),
                "{raw:?}: {cow:?}"
            );
        }
        assert!(matches!(
            canonical_host_cow("A.example.com"),
            Some(Cow::Owned(_))
        ));
    }

    #[test]
    fn canonical_name_handles_wildcards() {
        assert_eq!(
            canonical_name("*.Example.COM.").as_deref(),
            Some("*.example.com")
        );
        assert_eq!(
            canonical_name("Example.COM").as_deref(),
            Some("example.com")
        );
        assert_eq!(canonical_name("[::1]").as_deref(), Some("::1"));
        for bad in [
            "*",
            "*.",
            "*.*.a.com",
            "a.*.com",
            "a*.com",
            "*.10.0.0.1",
            "*.[::1]",
        ] {
            assert_eq!(canonical_name(bad), None, "{bad:?}");
        }
        for with_port in ["a.com:443", "[::1]:443", "*.a.com:443"] {
            assert_eq!(canonical_name(with_port), None, "{with_port:?}");
        }
    }

    fn table(names: &[&str]) -> DomainTable<String> {
        let mut t = DomainTable::new();
        for name in names {
            assert!(t.try_insert(name, name.to_string()).is_ok(), "{name}");
        }
        t
    }

    fn hit(t: &DomainTable<String>, host: &str) -> Option<String> {
        t.lookup(host).cloned()
    }

    #[test]
    fn exact_beats_wildcard() {
        let t = table(&["*.example.com", "a.example.com"]);
        assert_eq!(hit(&t, "a.example.com").as_deref(), Some("a.example.com"));
        assert_eq!(hit(&t, "b.example.com").as_deref(), Some("*.example.com"));
        assert_eq!(
            t.lookup_entry("b.example.com").map(|(n, _)| n),
            Some("*.example.com")
        );
        assert_eq!(
            t.lookup_entry("a.example.com").map(|(n, _)| n),
            Some("a.example.com")
        );
    }

    #[test]
    fn wildcard_covers_exactly_one_label() {
        let t = table(&["*.example.com"]);
        assert_eq!(hit(&t, "a.b.example.com"), None);
        assert_eq!(hit(&t, "example.com"), None);
        assert_eq!(hit(&t, "com"), None);
        assert_eq!(hit(&t, "xexample.com"), None);
        assert_eq!(hit(&t, ".example.com"), None);
        assert_eq!(hit(&t, "*.example.com"), None);
        assert_eq!(hit(&t, "a.example.com.evil"), None);
    }

    #[test]
    fn get_and_remove_take_entry_names_and_clones_are_independent() {
        let mut t = table(&["*.example.com", "a.example.com"]);
        let before = t.clone();
        assert_eq!(
            t.get("*.Example.com.").map(String::as_str),
            Some("*.example.com")
        );
        assert_eq!(t.get("b.example.com"), None, "get does not match wildcards");
        assert_eq!(t.remove("*.example.com").as_deref(), Some("*.example.com"));
        assert_eq!(t.remove("A.example.com").as_deref(), Some("a.example.com"));
        assert!(t.is_empty() && t.remove("a.example.com").is_none());
        assert_eq!(
            hit(&before, "b.example.com").as_deref(),
            Some("*.example.com")
        );
        assert_eq!(before.len(), 2);
    }

    #[test]
    fn deeper_wildcard_and_bare_parent_are_separate_entries() {
        let t = table(&["*.example.com", "*.b.example.com", "example.com"]);
        assert_eq!(
            hit(&t, "a.b.example.com").as_deref(),
            Some("*.b.example.com")
        );
        assert_eq!(hit(&t, "b.example.com").as_deref(), Some("*.example.com"));
        assert_eq!(hit(&t, "example.com").as_deref(), Some("example.com"));
        assert_eq!(hit(&t, "x.a.b.example.com"), None);
    }

    #[test]
    fn lookup_is_case_and_form_sensitive_so_callers_canonicalise() {
        let t = table(&["a.example.com", "*.w.example.com"]);
        assert_eq!(hit(&t, "A.example.com"), None);
        assert_eq!(hit(&t, "a.example.com."), None);
        assert_eq!(hit(&t, "x.W.example.com"), None);
        let host = canonical_host("A.EXAMPLE.com.:443");
        assert_eq!(
            host.as_deref().and_then(|h| hit(&t, h)).as_deref(),
            Some("a.example.com")
        );
        let host = canonical_host("X.W.Example.Com.");
        assert_eq!(
            host.as_deref().and_then(|h| hit(&t, h)).as_deref(),
            Some("*.w.example.com")
        );
    }

    #[test]
    fn ip_hosts_never_match_wildcards() {
        let mut t = table(&["10.0.0.1", "::1"]);
        assert_eq!(
            t.try_insert("*.0.0.1", String::new()),
            Err(InvalidName("*.0.0.1".into()))
        );
        assert_eq!(hit(&t, "10.0.0.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(hit(&t, "::1").as_deref(), Some("::1"));
        assert_eq!(hit(&t, "10.0.0.2"), None);
        // The lookup refuses IP hosts on its own, even if such a wildcard got into the table.
        t.wildcard
            .insert("0.0.1".into(), ("*.0.0.1".into(), "planted".into()));
        t.wildcard
            .insert("2.3.4".into(), ("*.2.3.4".into(), "planted".into()));
        assert_eq!(hit(&t, "9.0.0.1"), None);
        assert_eq!(hit(&t, "::ffff:1.2.3.4"), None);
        assert_eq!(hit(&t, "1.2.3.4"), None);
        // A numeric first label is fine: only a numeric last label makes a host an address.
        t.insert("*.example", "*.example".into());
        assert_eq!(hit(&t, "1.example"), Some("*.example".into()));
        t.insert("*.1a.example", "*.1a.example".into());
        assert_eq!(hit(&t, "5.1a.example"), Some("*.1a.example".into()));
    }

    #[test]
    fn ipv6_entries_accept_any_spelling() {
        let t = table(&["[2001:DB8::1]"]);
        for raw in ["[2001:db8::1]:443", "[2001:0db8:0:0::1]", "2001:DB8::1"] {
            let host = canonical_host(raw);
            assert_eq!(
                host.as_deref().and_then(|h| hit(&t, h)).as_deref(),
                Some("[2001:DB8::1]"),
                "{raw}"
            );
        }
    }

    #[test]
    fn tld_wildcards_match_one_label_only() {
        let t = table(&["*.com"]);
        assert_eq!(hit(&t, "example.com").as_deref(), Some("*.com"));
        assert_eq!(hit(&t, "a.example.com"), None);
        assert_eq!(hit(&t, "com"), None);
        assert_eq!(hit(&t, "example.org"), None);
    }

    #[test]
    fn insert_canonicalises_and_replaces() {
        let mut t = DomainTable::new();
        assert_eq!(t.insert("Example.COM.", 1), None);
        assert_eq!(t.insert("example.com", 2), Some(1));
        assert_eq!(t.insert("*.Example.com", 3), None);
        assert_eq!(t.insert("*.example.com.", 4), Some(3));
        assert_eq!(t.len(), 2);
        assert_eq!(t.lookup("example.com"), Some(&2));
        assert_eq!(t.lookup("x.example.com"), Some(&4));
        let mut names: Vec<_> = t.iter().map(|(n, v)| (n.to_string(), *v)).collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                ("*.example.com".to_string(), 4),
                ("example.com".to_string(), 2)
            ]
        );
    }

    #[test]
    fn invalid_names_are_not_inserted() {
        let mut t = DomainTable::new();
        for bad in [
            "",
            "*",
            "a b",
            "a.com:443",
            "*.*.a.com",
            "é.com",
            "user@a.com",
        ] {
            assert_eq!(t.try_insert(bad, 1), Err(InvalidName(bad.to_string())));
            assert_eq!(t.insert(bad, 1), None);
        }
        assert!(t.is_empty());
        assert_eq!(t.len(), 0);
        assert_eq!(t.iter().count(), 0);
        assert_eq!(t.lookup(""), None);
    }

    /// Deterministic pseudo-random source for the property test (no extra crates).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-_";

    fn random_host(rng: &mut Lcg) -> String {
        let labels = 1 + rng.below(4);
        let mut parts: Vec<String> = (0..labels)
            .map(|_| {
                let len = 1 + rng.below(12);
                (0..len)
                    .map(|_| {
                        char::from(
                            ALPHABET[usize::try_from(rng.below(ALPHABET.len() as u64)).unwrap()],
                        )
                    })
                    .collect()
            })
            .collect();
        // A letter-only top label keeps the host a DNS name rather than IP-like.
        parts.push(
            ["com", "net", "example", "internal"][usize::try_from(rng.below(4)).unwrap()]
                .to_string(),
        );
        parts.join(".")
    }

    fn random_variant(rng: &mut Lcg, host: &str) -> String {
        let mut out: String = host
            .chars()
            .map(|c| {
                if rng.below(2) == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        if rng.below(2) == 0 {
            out.push('.');
        }
        if rng.below(2) == 0 {
            out.push_str(&format!(":{}", rng.below(65536)));
        }
        out
    }

    #[test]
    fn property_variants_of_one_host_share_one_key_and_entry() {
        let mut rng = Lcg(0x5eed_1234_abcd_0042);
        let mut t = DomainTable::new();
        let hosts: Vec<String> = (0..300).map(|_| random_host(&mut rng)).collect();
        for (i, host) in hosts.iter().enumerate() {
            // Every third host is served through a wildcard on its parent instead.
            match (i % 3, host.split_once('.')) {
                (0, Some((_, parent))) => t.insert(&format!("*.{parent}"), i),
                _ => t.insert(host, i),
            };
        }
        for host in &hosts {
            let expected = t.lookup_entry(host).map(|(n, v)| (n.to_string(), *v));
            assert!(expected.is_some(), "{host} must be served");
            assert_eq!(ch(host).as_deref(), Some(host.as_str()));
            for _ in 0..20 {
                let variant = random_variant(&mut rng, host);
                let key = ch(&variant);
                assert_eq!(key.as_deref(), Some(host.as_str()), "{variant}");
                let key = key.unwrap_or_default();
                assert_eq!(ch(&key), Some(key.clone()), "idempotent on {variant}");
                let got = t.lookup_entry(&key).map(|(n, v)| (n.to_string(), *v));
                assert_eq!(got, expected, "{variant}");
            }
        }
    }

    #[test]
    fn property_ipv6_spellings_share_one_key() {
        let mut rng = Lcg(7);
        for _ in 0..200 {
            let segs: Vec<u16> = (0..8)
                .map(|_| {
                    if rng.below(3) == 0 {
                        0
                    } else {
                        u16::try_from(rng.below(65536)).unwrap()
                    }
                })
                .collect();
            let long: Vec<String> = segs.iter().map(|s| format!("{s:04X}")).collect();
            let short: Vec<String> = segs.iter().map(|s| format!("{s:x}")).collect();
            let key = ch(&format!("[{}]", short.join(":")));
            assert!(key.is_some());
            assert_eq!(ch(&format!("[{}]:443", long.join(":"))), key);
            assert_eq!(ch(&long.join(":")), key);
            assert_eq!(key.as_deref().and_then(ch), key);
        }
    }
}
