//! Per-connection and per-request work outside TLS: the SNI/Host lookup in a table of 10,000
//! exact names and 100 wildcards (`snapshot::lookup`), parsing the client certificate into the
//! identity (once per connection), building the client-certificate headers (once per
//! connection) and applying them to a request (once per request).

// A benchmark's setup failure aborts the run with its message (criterion functions cannot
// return errors); only the benchmark's own fixed data reaches this code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use http::HeaderMap;
use mtls_proxy::devpki::{Ca, Validity};
use mtls_proxy::identity::{ClientIdentity, TrustAnchors};
use mtls_proxy::proxy::cert_headers::{CertHeaderOptions, PrebuiltCertHeaders};
use mtls_proxy::snapshot::lookup::{canonical_host, canonical_host_cow, DomainTable};
use rustls::pki_types::CertificateDer;

fn table() -> DomainTable<usize> {
    let mut t = DomainTable::new();
    for i in 0..10_000 {
        t.insert(&format!("d{i}.example.com"), i);
    }
    for i in 0..100 {
        t.insert(&format!("*.w{i}.example.com"), 10_000 + i);
    }
    t
}

fn lookups(c: &mut Criterion) {
    let t = table();
    let mut g = c.benchmark_group("lookup");
    // The SNI path: canonical_host (owned, kept in the connection's facts) then the table.
    g.bench_function("sni_exact", |b| {
        b.iter(|| canonical_host(black_box("d5000.example.com")).map(|h| t.lookup(&h).copied()))
    });
    g.bench_function("sni_wildcard", |b| {
        b.iter(|| canonical_host(black_box("api.w50.example.com")).map(|h| t.lookup(&h).copied()))
    });
    g.bench_function("sni_miss", |b| {
        b.iter(|| canonical_host(black_box("nope.example.org")).map(|h| t.lookup(&h).copied()))
    });
    // The per-request Host check: borrowed canonical form when already lower-case.
    g.bench_function("host_header_with_port", |b| {
        b.iter(|| {
            canonical_host_cow(black_box("d5000.example.com:8443")).map(|h| t.lookup(&h).copied())
        })
    });
    g.bench_function("host_header_mixed_case", |b| {
        b.iter(|| canonical_host_cow(black_box("D5000.Example.COM")).map(|h| t.lookup(&h).copied()))
    });
    g.finish();
}

fn headers(c: &mut Criterion) {
    let ca = Ca::new("bench client CA").expect("ca");
    let client = ca
        .issue_client("bench-client", Validity::Current)
        .expect("client");
    let chain = [CertificateDer::from(client.cert_der.clone())];
    let anchors = TrustAnchors::from_bundle(&[ca.cert().cert_der.clone()]);
    let identity = ClientIdentity::from_chain(&chain, &anchors).expect("identity");
    let plain = CertHeaderOptions { xfcc: false };
    let xfcc = CertHeaderOptions { xfcc: true };
    let mut g = c.benchmark_group("cert_headers");
    g.bench_function("identity_from_chain", |b| {
        b.iter(|| ClientIdentity::from_chain(black_box(&chain), &anchors))
    });
    g.bench_function("prebuild_per_connection", |b| {
        b.iter(|| {
            PrebuiltCertHeaders::new(Some("ma1"), "ok", Some(black_box(&identity)), &plain, None)
        })
    });
    g.bench_function("prebuild_per_connection_xfcc", |b| {
        b.iter(|| {
            PrebuiltCertHeaders::new(Some("ma1"), "ok", Some(black_box(&identity)), &xfcc, None)
        })
    });
    let prebuilt = PrebuiltCertHeaders::new(Some("ma1"), "ok", Some(&identity), &plain, None);
    g.bench_function("apply_per_request", |b| {
        b.iter(|| {
            let mut h = HeaderMap::with_capacity(16);
            prebuilt.apply(&mut h).expect("apply");
            h
        })
    });
    g.finish();
}

criterion_group!(benches, lookups, headers);
criterion_main!(benches);
