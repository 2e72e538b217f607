//! Snapshot build cost: a full build of 1, 1,000 and 10,000 activations (each with its own
//! certificate and key, ten mutual authentications shared round-robin), and a rebuild of the
//! 10,000 table after one activation changed (the incremental path every API change takes).
//! Also prints resident memory per activation of a built snapshot.

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
use mtls_proxy::devpki::Ca;
use mtls_proxy::model::{
    pki, Activation, Certificate, Configuration, MutualAuthentication, PrivateKey, State,
};
use mtls_proxy::snapshot::build::{build, BuildCache, BuildInputs};

fn configuration() -> Configuration {
    Configuration {
        id: "conf".into(),
        name: "default".into(),
        default: true,
        tls_protocols: vec!["1.2".into(), "1.3".into()],
        http_protocols: vec!["http/1.1".into(), "http/2".into()],
        created_at: 0,
        updated_at: 0,
    }
}

fn mutual_authentications(ca: &Ca) -> Vec<MutualAuthentication> {
    (0..10)
        .map(|i| MutualAuthentication {
            id: format!("ma{i}"),
            name: format!("ma{i}"),
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
        mutual_authentication_id: Some(format!("ma{}", i % 10)),
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
        configurations: vec![configuration()],
        ..State::default()
    };
    for i in 0..n {
        domain(&server_ca, i, &mut s);
    }
    s
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

/// Resident memory a built snapshot holds, per activation (printed, for BENCHMARKS.md).
fn report_memory(state: &State) {
    let before = rss_kib();
    let built = build(state, &BuildInputs::default(), &BuildCache::default()).expect("build");
    let after = rss_kib();
    let grown = after.saturating_sub(before);
    let per = grown * 1024 / state.activations.len().max(1) as u64;
    eprintln!(
        "snapshot of {} activations: resident memory +{grown} KiB ({per} bytes per activation)",
        state.activations.len()
    );
    drop(built);
}

fn full_builds(c: &mut Criterion) {
    let mut group = c.benchmark_group("snapshot_full_build");
    group.sample_size(10);
    for n in [1usize, 1_000, 10_000] {
        let st = state(n);
        if n == 10_000 {
            report_memory(&st);
        }
        group.bench_function(format!("{n}_activations"), |b| {
            b.iter(|| {
                build(
                    black_box(&st),
                    &BuildInputs::default(),
                    &BuildCache::default(),
                )
                .expect("build")
            })
        });
    }
    group.finish();
}

fn one_change(c: &mut Criterion) {
    let st = state(10_000);
    let (_, cache, _) = build(&st, &BuildInputs::default(), &BuildCache::default()).expect("build");
    let mut changed = st.clone();
    changed.revision += 1;
    // Activation 5000 moves to another mutual authentication: one new server config.
    changed.activations[5_000].mutual_authentication_id = Some("ma3".into());
    changed.activations[5_000].updated_at = 1;
    let mut group = c.benchmark_group("snapshot_incremental");
    group.sample_size(20);
    group.bench_function("one_change_in_10000", |b| {
        b.iter(|| {
            let (_, _, stats) =
                build(black_box(&changed), &BuildInputs::default(), &cache).expect("build");
            assert_eq!(stats.server_configs_built, 1);
            stats
        })
    });
    group.finish();
}

criterion_group!(benches, full_builds, one_change);
criterion_main!(benches);
