//! JSON:API requests to the admin API: the query string (pagination, include, filters) and the
//! request document for every resource type, read exactly as the handlers read them. No input
//! may panic; every refusal is a 400 or 409 that says what is wrong; the strict parser never
//! accepts a document plain JSON refuses.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mtls_proxy::admin::error::ApiError;
use mtls_proxy::admin::pagination::{document, window, ListContext};
use mtls_proxy::admin::query::Query;
use mtls_proxy::admin::request::{parse, ResourceObject};

/// A resource type, with the attributes and relationships its handler reads.
struct Kind {
    name: &'static str,
    strings: &'static [&'static str],
    booleans: &'static [&'static str],
    relationships: &'static [(&'static str, &'static str)],
}

const KINDS: [Kind; 5] = [
    Kind {
        name: "mutual_authentication",
        strings: &["name", "cert_bundle"],
        booleans: &["enforced"],
        relationships: &[],
    },
    Kind {
        name: "tls_private_key",
        strings: &["name", "key"],
        booleans: &[],
        relationships: &[],
    },
    Kind {
        name: "tls_certificate",
        strings: &["name", "cert_blob"],
        booleans: &[],
        relationships: &[],
    },
    Kind {
        name: "tls_configuration",
        strings: &["name"],
        booleans: &[],
        relationships: &[],
    },
    Kind {
        name: "tls_activation",
        strings: &[],
        booleans: &[],
        relationships: &[
            ("tls_domain", "tls_domain"),
            ("tls_certificate", "tls_certificate"),
            ("tls_configuration", "tls_configuration"),
            ("mutual_authentication", "mutual_authentication"),
        ],
    },
];

fn refusal(e: &ApiError) {
    assert!(matches!(e.status.as_u16(), 400 | 409), "{e:?}");
    assert!(!e.detail.is_empty());
}

fn read(r: &ResourceObject, kind: &Kind) {
    for name in kind.strings {
        if let Err(e) = r.string(name) {
            refusal(&e);
            assert!(e.detail.contains(name), "{e:?}");
        }
    }
    for name in kind.booleans {
        if let Err(e) = r.boolean(name) {
            refusal(&e);
            assert!(e.detail.contains(name), "{e:?}");
        }
    }
    for list in ["tls_protocols", "http_protocols"] {
        if let Err(e) = r.string_list(list) {
            refusal(&e);
        }
    }
    for (name, resource) in kind.relationships {
        if let Err(e) = r.relationship(name, resource) {
            refusal(&e);
            assert!(e.detail.contains(name), "{e:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // Layout: selector byte (resource type, PATCH or POST), query length byte, query, body.
    let [selector, query_len, rest @ ..] = data else {
        return;
    };
    let (query, body) = rest.split_at(usize::from(*query_len).min(rest.len()));

    let q = Query::parse(std::str::from_utf8(query).ok());
    match q.page(20) {
        Ok(page) => {
            let total = u64::from(*selector) * 3;
            // The rows the store is asked for: never more than a page.
            let rows = window(page);
            assert!(rows.limit <= page.size);
            let ctx = ListContext {
                base_url: "http://127.0.0.1:8443",
                path: "/tls/activations",
                query: &q,
            };
            let doc = document(&ctx, page, total, Vec::new(), None);
            assert_eq!(doc["meta"]["per_page"], page.size);
        }
        Err(e) => refusal(&e),
    }
    if let Err(e) = q.includes(&["tls_certificate"], &["tls_domain"]) {
        refusal(&e);
    }
    if let Err(e) = q.bool_filter("filter[in_use]") {
        refusal(&e);
    }

    let kind = &KINDS[usize::from(*selector) % KINDS.len()];
    let path_id = (*selector & 0x80 != 0).then_some("5qHwZp7tqbYJmtzwVt0lWS");
    match parse(body, kind.name, path_id) {
        Ok(r) => {
            assert!(
                serde_json::from_slice::<serde_json::Value>(body).is_ok(),
                "the strict parser accepted what serde_json refuses"
            );
            read(&r, kind);
        }
        Err(e) => refusal(&e),
    }
});
