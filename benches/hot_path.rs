//! Cost of metrics recording on the hot path, next to what it is recorded for: what one
//! handshake and one request add (series handles resolved at snapshot build, one atomic add
//! each, one histogram observation), what prometheus' `with_label_values` would cost per
//! event instead (the lookup the design avoids), and a complete in-memory TLS 1.3 mTLS
//! handshake (server and client, ECDSA P-256) for scale.

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

use criterion::{criterion_group, criterion_main, Criterion};
use mtls_proxy::devpki::{Ca, Validity};
use mtls_proxy::metrics::labels::OK;
use mtls_proxy::metrics::Metrics;
use prometheus::{IntCounterVec, Opts};
use rustls::crypto::aws_lc_rs;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig, ServerConnection,
};

fn recording(c: &mut Criterion) {
    let metrics = Metrics::new().expect("metrics");
    let domain = metrics.domain("d.example.com");
    // Resolve the series once, as the first handshake of a domain does.
    domain.handshake(OK);
    domain.request(200);
    let mut g = c.benchmark_group("record");
    g.bench_function("per_handshake", |b| {
        b.iter(|| {
            domain.handshake(black_box(OK));
            metrics.handshake_duration.observe(black_box(0.000_2));
        })
    });
    g.bench_function("per_request", |b| {
        b.iter(|| {
            domain.request(black_box(200));
            metrics.request_duration.observe(black_box(0.000_3));
            metrics.origin_duration.observe(black_box(0.000_1));
        })
    });
    let vec = IntCounterVec::new(Opts::new("x_total", "x"), &["domain", "verdict"]).expect("vec");
    g.bench_function("with_label_values_avoided", |b| {
        b.iter(|| {
            vec.with_label_values(&[black_box("d.example.com"), black_box("ok")])
                .inc()
        })
    });
    g.finish();
}

struct Configs {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

fn der(d: &[u8]) -> CertificateDer<'static> {
    CertificateDer::from(d.to_vec())
}

fn key(d: &[u8]) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(d.to_vec()))
}

fn configs() -> Configs {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let server_ca = Ca::new("bench server CA").expect("ca");
    let client_ca = Ca::new("bench client CA").expect("ca");
    let server = server_ca
        .issue_server(&["d.example.com"], &[])
        .expect("cert");
    let client = client_ca
        .issue_client("bench client", Validity::Current)
        .expect("cert");
    let mut client_roots = RootCertStore::empty();
    client_roots
        .add(der(&client_ca.cert().cert_der))
        .expect("root");
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(client_roots), provider.clone())
            .build()
            .expect("verifier");
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![der(&server.cert_der)], key(&server.key_der))
        .expect("server config");
    let mut server_roots = RootCertStore::empty();
    server_roots
        .add(der(&server_ca.cert().cert_der))
        .expect("root");
    let client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("versions")
        .with_root_certificates(server_roots)
        .with_client_auth_cert(vec![der(&client.cert_der)], key(&client.key_der))
        .expect("client config");
    Configs {
        server: Arc::new(server),
        client: Arc::new(client),
    }
}

/// Move every pending TLS record from one side to the other.
fn transfer(from: &mut Connection, to: &mut Connection) {
    let mut buf = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut buf).expect("write");
    }
    let mut rd = buf.as_slice();
    while !rd.is_empty() {
        to.read_tls(&mut rd).expect("read");
    }
}

/// One full mTLS handshake in memory.
fn handshake(cfg: &Configs) {
    let name = ServerName::try_from("d.example.com").expect("name");
    let mut client =
        Connection::Client(ClientConnection::new(cfg.client.clone(), name).expect("client"));
    let mut server = Connection::Server(ServerConnection::new(cfg.server.clone()).expect("server"));
    while client.is_handshaking() || server.is_handshaking() {
        transfer(&mut client, &mut server);
        server.process_new_packets().expect("server");
        transfer(&mut server, &mut client);
        client.process_new_packets().expect("client");
    }
    black_box((client, server));
}

fn full_handshake(c: &mut Criterion) {
    let cfg = configs();
    c.bench_function("handshake/in_memory_mtls_tls13_both_sides", |b| {
        b.iter(|| handshake(&cfg))
    });
}

criterion_group!(benches, recording, full_handshake);
criterion_main!(benches);
