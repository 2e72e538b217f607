//! Snapshot build and update cost at N = 1,000, 10,000 and 100,000 activations, each with its own
//! certificate and key (the heaviest shape: nothing is shared between domains):
//! - `full_build`: a whole build (start-up, reload);
//! - `one_change`: one activation attached to another mutual authentication, applied as a delta
//!   (the path of every API change), including the O(1) snapshot of the result;
//! - `ma_patch`: a mutual authentication patched while k = 10 and k ≈ 1,000 activations use it
//!   (every one of them gets a new server config: O(k), independent of N).
//!
//! Also prints the resident memory per activation of a built configuration.
//!
//! `MTLS_PROXY_BENCH_SIZES=1000,10000` limits the sizes (the 100,000 case takes minutes and
//! about 3 GiB, most of it the generated certificates and keys of the input state).

// A benchmark's setup failure aborts the run with its message (criterion functions cannot
// return errors); only the benchmark's own fixed data reaches this code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use mtls_proxy::devpki::Ca;
use mtls_proxy::model::{
    pki, Activation, Certificate, Configuration, Delta, MutualAuthentication, PrivateKey, Record,
    RowChange, State,
};
use mtls_proxy::snapshot::build::{BuildInputs, Served};

/// Mutual authentications: "k10" (10 activations), "k1000" (up to 990), and eight more sharing
/// the rest round-robin.
fn mutual_authentication_of(i: usize) -> String {
    match i {
        0..10 => "k10".into(),
        10..1000 => "k1000".into(),
        _ => format!("ma{}", i % 8),
    }
}

fn mutual_authentications(ca: &Ca) -> Vec<MutualAuthentication> {
    let ids = ["k10".to_string(), "k1000".to_string()]
        .into_iter()
        .chain((0..8).map(|i| format!("ma{i}")));
    ids.enumerate()
        .map(|(i, id)| MutualAuthentication {
            name: id.clone(),
            id,
            enforced: i % 2 == 0,
            cert_bundle: ca.cert().cert_pem.clone(),
            created_at: 0,
            updated_at: 0,
        })
        .collect()
}

/// One certificate, key and activation for domain `i`.
fn domain(ca: &Ca, i: usize, state: &mut State) {
    let name = format!("d{i}.example.com");
    let issued = ca.issue_server(&[name.as_str()], &[]).expect("issue");
    let info = pki::parse_certificate_chain(&issued.cert_pem).expect("chain");
    state.private_keys.push(PrivateKey {
        id: format!("k{i}"),
        name: name.clone(),
        key_pem: issued.key_pem.clone(),
        key_type: "ECDSA".into(),
        key_length: 256,
        public_key_sha1: info.public_key_sha1.clone(),
        created_at: 0,
    });
    state.certificates.push(Certificate {
        id: format!("c{i}"),
        name: name.clone(),
        cert_blob: issued.cert_pem,
        issued_to: info.issued_to,
        issuer: info.issuer,
        serial_number: info.serial_number,
        signature_algorithm: info.signature_algorithm,
        not_before: info.not_before,
        not_after: info.not_after,
        dns_names: info.dns_names,
        public_key_sha1: info.public_key_sha1,
        created_at: 0,
        updated_at: 0,
    });
    state.activations.push(Activation {
        id: format!("a{i}"),
        domain: name,
        certificate_id: format!("c{i}"),
        configuration_id: "conf".into(),
        mutual_authentication_id: Some(mutual_authentication_of(i)),
        created_at: 0,
        updated_at: 0,
    });
}

fn state(n: usize) -> State {
    let server_ca = Ca::new("bench server CA").expect("ca");
    let client_ca = Ca::new("bench client CA").expect("ca");
    let mut s = State {
        revision: 1,
        mutual_authentications: mutual_authentications(&client_ca),
        configurations: vec![Configuration {
            id: "conf".into(),
            name: "default".into(),
            default: true,
            tls_protocols: vec!["1.2".into(), "1.3".into()],
            http_protocols: vec!["http/1.1".into(), "http/2".into()],
            created_at: 0,
            updated_at: 0,
        }],
        ..State::default()
    };
    for i in 0..n {
        domain(&server_ca, i, &mut s);
    }
    s
}

/// The sizes to measure; `cargo test` (which runs each benchmark once, without `--bench`)
/// only checks the smallest.
fn sizes() -> Vec<usize> {
    if !std::env::args().any(|a| a == "--bench") {
        return vec![1_000];
    }
    std::env::var("MTLS_PROXY_BENCH_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000])
}

fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4
}

fn build(state: &State) -> Served {
    Served::build(state, Arc::new(BuildInputs::default()), None, None)
        .expect("build")
        .0
}

/// Resident memory a built configuration holds, per activation (printed, for docs/benchmarking.md).
fn report_memory(state: &State) -> Served {
    let before = rss_kib();
    let served = build(state);
    let grown = rss_kib().saturating_sub(before);
    let n = u64::try_from(state.activations.len().max(1)).unwrap_or(1);
    eprintln!(
        "built configuration of {n} activations: resident memory +{grown} KiB ({} bytes per activation)",
        grown * 1024 / n
    );
    served
}

fn delta(served: &Served, rows: Vec<RowChange>) -> Delta {
    let from = served.tables().revision();
    Delta {
        from,
        to: from + 1,
        rows,
    }
}

fn benches(c: &mut Criterion) {
    for n in sizes() {
        let st = state(n);
        let served = report_memory(&st);

        let mut group = c.benchmark_group("full_build");
        group.sample_size(10);
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| build(black_box(&st)))
        });
        group.finish();

        // One activation in the middle moves to another mutual authentication.
        let mut moved = st.activations[n / 2].clone();
        moved.mutual_authentication_id = Some("ma3".into());
        moved.updated_at = 1;
        let one = delta(&served, vec![RowChange::Put(Record::Activation(moved))]);
        let mut group = c.benchmark_group("one_change");
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                let (next, stats, _) = served.apply(black_box(&one), None).expect("apply");
                assert_eq!(stats.server_configs_built, 1);
                next.snapshot()
            })
        });
        group.finish();

        let mut group = c.benchmark_group(format!("ma_patch_{n}"));
        group.sample_size(10);
        for (id, k) in [("k10", 10usize), ("k1000", 990)] {
            let mut ma = st
                .mutual_authentications
                .iter()
                .find(|m| m.id == id)
                .cloned()
                .expect("ma");
            ma.enforced = !ma.enforced;
            ma.updated_at = 1;
            let patch = delta(
                &served,
                vec![RowChange::Put(Record::MutualAuthentication(ma))],
            );
            group.bench_function(BenchmarkId::new("k", k), |b| {
                b.iter(|| {
                    let (next, stats, _) = served.apply(black_box(&patch), None).expect("apply");
                    assert_eq!(stats.entries_placed, k.min(n));
                    next.snapshot()
                })
            });
        }
        group.finish();
    }
}

criterion_group!(snapshot_build, benches);
criterion_main!(snapshot_build);
