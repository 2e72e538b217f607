//! Property tests (proptest) for every parser of untrusted input: PEM validation, JSON:API
//! request bodies and query strings, Host/SNI canonicalisation and lookup, and header
//! construction from certificate fields. They run in the normal suite.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use http::HeaderMap;
use mtls_proxy::admin::query::Query;
use mtls_proxy::admin::request;
use mtls_proxy::devpki::Ca;
use mtls_proxy::identity::{ClientIdentity, TrustAnchors};
use mtls_proxy::model::pki;
use mtls_proxy::proxy::cert_headers::{CertHeaderOptions, PrebuiltCertHeaders};
use mtls_proxy::snapshot::lookup::{canonical_host, DomainTable};
use proptest::prelude::*;
use rustls::pki_types::CertificateDer;

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?"
}

/// A DNS name whose last label is alphabetic (an all-digit last label reads as an IP address,
/// which never matches wildcards by design).
fn domain() -> impl Strategy<Value = String> {
    (prop::collection::vec(label(), 1..4), "[a-z]{2,6}")
        .prop_map(|(l, tld)| format!("{}.{tld}", l.join(".")))
}

/// The same host as a client might spell it: random case, trailing dot, port.
fn spelling(host: String) -> impl Strategy<Value = String> {
    (any::<u64>(), any::<bool>(), prop::option::of(1u16..)).prop_map(move |(mask, dot, port)| {
        let mut s: String = host
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if mask >> (i % 64) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        if dot {
            s.push('.');
        }
        if let Some(p) = port {
            s.push_str(&format!(":{p}"));
        }
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn canonical_host_never_panics_and_is_idempotent(raw in ".{0,300}") {
        if let Some(h) = canonical_host(&raw) {
            prop_assert_eq!(canonical_host(&h), Some(h.clone()));
            prop_assert!(!h.bytes().any(|b| b.is_ascii_uppercase() || b.is_ascii_control()));
        }
    }

    #[test]
    fn every_spelling_of_a_host_finds_the_same_entry(
        (base, variant) in domain().prop_flat_map(|d| (Just(d.clone()), spelling(d))),
    ) {
        let mut table = DomainTable::new();
        table.insert(&base, 1);
        let wildcard = format!("*.{base}");
        table.insert(&wildcard, 2);
        let canonical = canonical_host(&variant);
        prop_assert_eq!(canonical.as_deref(), Some(base.as_str()));
        prop_assert_eq!(table.lookup(&base), Some(&1));
        let sub = canonical_host(&format!("X.{variant}")).unwrap();
        prop_assert_eq!(table.lookup(&sub), Some(&2));
        let deeper = canonical_host(&format!("a.b.{variant}")).unwrap();
        prop_assert_eq!(table.lookup(&deeper), None);
    }

    #[test]
    fn pem_parsers_never_panic(text in ".{0,2000}") {
        let _ = pki::parse_ca_bundle(&text);
        let _ = pki::parse_private_key(&text);
        let _ = pki::parse_certificate_chain(&text);
        let _ = pki::canonical_domain(&text);
    }

    #[test]
    fn mutated_pem_never_panics(cut in 0usize..2000, flip in 0usize..2000, byte in any::<u8>()) {
        let ca = Ca::new("prop").unwrap();
        let mut bytes = format!("{}{}", ca.cert().cert_pem, ca.cert().key_pem).into_bytes();
        let at = flip % bytes.len().max(1);
        if let Some(b) = bytes.get_mut(at) {
            *b = byte;
        }
        bytes.truncate(cut.min(bytes.len()));
        let text = String::from_utf8_lossy(&bytes);
        let _ = pki::parse_ca_bundle(&text);
        let _ = pki::parse_private_key(&text);
        let _ = pki::parse_certificate_chain(&text);
    }

    #[test]
    fn request_documents_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(r) = request::parse(&body, "mutual_authentication", Some("id")) {
            let _ = r.string("cert_bundle");
            let _ = r.boolean("enforced");
            let _ = r.string_list("tls_protocols");
            let _ = r.relationship("tls_certificate", "tls_certificate");
        }
    }

    #[test]
    fn json_shaped_documents_give_answers_not_panics(
        attrs in prop::collection::btree_map("[a-z_]{1,12}", any::<Option<String>>(), 0..6),
        kind in prop::option::of("[a-z_]{0,24}"),
        id in prop::option::of("[A-Za-z0-9]{0,24}"),
    ) {
        let doc = serde_json::json!({"data": {"type": kind, "id": id, "attributes": attrs}});
        let body = doc.to_string();
        match request::parse(body.as_bytes(), "mutual_authentication", Some("ID")) {
            Ok(r) => { let _ = r.string("name"); }
            Err(e) => prop_assert!(e.status == 400 || e.status == 409),
        }
    }

    #[test]
    fn query_strings_never_panic(raw in ".{0,400}") {
        let q = Query::parse(Some(&raw));
        if let Err(e) = q.page(20) {
            prop_assert_eq!(e.status, 400);
        }
        let _ = q.includes(&["tls_activations"], &[]);
        let _ = q.bool_filter("filter[in_use]");
    }
}

proptest! {
    // Certificate generation is slower: fewer cases.
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn header_values_are_safe_for_any_subject(cn in ".{1,200}", verdict in "[a-z_]{0,12}") {
        let ca = Ca::new(&cn).unwrap();
        let der = CertificateDer::from(ca.cert().cert_der.clone());
        let identity = ClientIdentity::from_chain(&[der], &TrustAnchors::default()).unwrap();
        let opts = CertHeaderOptions { xfcc: true };
        let built = PrebuiltCertHeaders::new(Some("ma\r\nid"), &verdict, Some(&identity), &opts, None);
        let mut headers = HeaderMap::new();
        built.apply(&mut headers).unwrap();
        prop_assert!(!headers.is_empty());
        for (name, value) in headers.iter() {
            let text = value.to_str();
            prop_assert!(text.is_ok(), "{name} is not visible ASCII");
            prop_assert!(!value.as_bytes().iter().any(|b| *b == b'\r' || *b == b'\n' || *b == 0));
        }
    }
}
