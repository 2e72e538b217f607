//! Properties every host name must have, whether it arrived as SNI, Host or `:authority`:
//! the two lookups of rule 1, docs/architecture.md must agree on every spelling of one name.

use std::sync::OnceLock;

use mtls_proxy::snapshot::lookup::{
    canonical_host, canonical_host_cow, canonical_name, DomainTable,
};

/// A table like a snapshot's: exact names, wildcards, an IP literal.
fn table() -> &'static DomainTable<&'static str> {
    static TABLE: OnceLock<DomainTable<&'static str>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = DomainTable::new();
        for name in [
            "a.example.com",
            "*.example.com",
            "*.b.example.com",
            "xn--bcher-kva.example",
            "127.0.0.1",
            "::1",
            "_svc.internal",
        ] {
            t.try_insert(name, name).expect("a valid table name");
        }
        t
    })
}

/// Checks `raw` as a client-supplied host; returns its canonical form.
pub fn check(raw: &str) -> Option<String> {
    let canonical = canonical_host(raw);
    let cow = canonical_host_cow(raw).map(|c| c.into_owned());
    assert_eq!(
        canonical, cow,
        "canonical_host and canonical_host_cow disagree on {raw:?}"
    );
    let c = canonical?;
    assert!(
        !c.is_empty()
            && c.bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b':')),
        "{raw:?} canonicalised to {c:?}"
    );
    assert_eq!(
        canonical_host(&c).as_deref(),
        Some(c.as_str()),
        "not idempotent on {raw:?}"
    );
    // Every other spelling of the name reaches the same key (case, port, trailing dot,
    // brackets): CVE-2022-23632, CVE-2026-48491, CVE-2026-53622.
    let spellings = if c.contains(':') {
        vec![
            format!("[{c}]"),
            format!("[{c}]:443"),
            c.to_ascii_uppercase(),
        ]
    } else {
        vec![
            format!("{c}:443"),
            format!("{c}."),
            format!("{c}.:8443"),
            c.to_ascii_uppercase(),
        ]
    };
    for s in &spellings {
        assert_eq!(
            canonical_host(s).as_deref(),
            Some(c.as_str()),
            "{s:?} vs {c:?}"
        );
    }
    // The table: an exact hit is the name itself; a wildcard hit covers exactly one label.
    match table().lookup_entry(&c) {
        Some((name, _)) if name.starts_with("*.") => {
            let suffix = &name[1..];
            let label = c
                .strip_suffix(suffix)
                .unwrap_or_else(|| panic!("{c:?} under {name:?}"));
            assert!(
                !label.is_empty() && !label.contains('.'),
                "{c:?} under {name:?}"
            );
        }
        Some((name, _)) => assert_eq!(name, c),
        None => {}
    }
    // A literal "*" never reaches a wildcard entry.
    assert!(!c.starts_with('*'));
    Some(c)
}

/// Checks `raw` as a table entry name (an activation's domain).
pub fn check_entry_name(raw: &str) {
    let Some(n) = canonical_name(raw) else { return };
    assert_eq!(
        canonical_name(&n).as_deref(),
        Some(n.as_str()),
        "not idempotent on {raw:?}"
    );
    match n.strip_prefix("*.") {
        Some(suffix) => {
            assert_eq!(
                canonical_host(&n),
                None,
                "a wildcard name is not a host: {n:?}"
            );
            assert_eq!(canonical_host(suffix).as_deref(), Some(suffix));
        }
        None => assert_eq!(canonical_host(&n).as_deref(), Some(n.as_str())),
    }
}
