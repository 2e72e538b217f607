//! In-memory TLS 1.3 handshakes through the project's own per-domain `ServerConfig` (built by
//! `snapshot::server_config::build_server_config` with a `snapshot::verifier::ClientAuth`): the
//! floor a proxy handshake cannot go below on this machine. No sockets: a rustls client and
//! server are pumped through buffers, and, as rustls-bench does, each side is timed on its own
//! (only the calls into that side's connection count), so the server figure is server CPU.
//!
//! Cases: mTLS (enforced client auth), no client auth, mTLS resumed with a TLS 1.3 ticket; each
//! with X25519 forced (what the nginx comparison uses) and with X25519MLKEM768. The client
//! offers rustls's default suites, so TLS_AES_256_GCM_SHA384 is negotiated (the server follows
//! the client's order, as do nginx and mtls-proxy); the `aes128` cases offer only
//! TLS_AES_128_GCM_SHA256, to show what the SHA-384 key schedule costs on this CPU.

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
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use mtls_proxy::devpki::{Ca, Validity};
use mtls_proxy::snapshot::server_config::{build_server_config, TlsParams};
use mtls_proxy::snapshot::verifier::ClientAuth;
use rustls::client::Resumption;
use rustls::crypto::{aws_lc_rs, SupportedKxGroup};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{
    ClientConfig, ClientConnection, HandshakeKind, RootCertStore, ServerConfig,
    SupportedCipherSuite,
};
use rustls::{ConnectionCommon, ServerConnection};

const NAME: &str = "bench.example.com";

/// Which side's calls are timed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

/// Certificates and both configs for one case.
struct Case {
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
}

struct Pki {
    server_ca: Ca,
    client_ca: Ca,
}

impl Pki {
    fn new() -> Pki {
        Pki {
            server_ca: Ca::new("bench server CA").expect("ca"),
            client_ca: Ca::new("bench client CA").expect("ca"),
        }
    }

    /// The server config exactly as a snapshot builds it for an activated domain with the
    /// default configuration (TLS 1.2 + 1.3, ALPN h2 + http/1.1, its own ticketer), with an
    /// enforced mutual authentication or none. The client offers TLS 1.3 only.
    fn server(&self, mtls: bool) -> Arc<ServerConfig> {
        let issued = self
            .server_ca
            .issue_server(&[NAME], &[])
            .expect("server cert");
        let auth = mtls.then(|| {
            ClientAuth::new(&[self.client_ca.cert().cert_der.clone()], true).expect("verifier")
        });
        let params = TlsParams::default();
        let tickets = mtls_proxy::snapshot::tickets::TicketKeys::default().ticketer(b"bench");
        build_server_config(
            &[issued.cert_der],
            &issued.key_der,
            &params,
            auth.as_ref(),
            tickets,
        )
        .expect("server config")
    }

    fn client(
        &self,
        kx: &'static dyn SupportedKxGroup,
        mtls: bool,
        resume: bool,
    ) -> Arc<ClientConfig> {
        self.client_with(kx, None, mtls, resume)
    }

    fn client_with(
        &self,
        kx: &'static dyn SupportedKxGroup,
        suite: Option<SupportedCipherSuite>,
        mtls: bool,
        resume: bool,
    ) -> Arc<ClientConfig> {
        let mut provider = aws_lc_rs::default_provider();
        provider.kx_groups = vec![kx];
        if let Some(suite) = suite {
            provider.cipher_suites = vec![suite];
        }
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.server_ca.cert().cert_der.clone()))
            .expect("root");
        let builder = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("versions")
            .with_root_certificates(roots);
        let mut config = if mtls {
            let c = self
                .client_ca
                .issue_client("bench-client", Validity::Current)
                .expect("client");
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key_der));
            builder
                .with_client_auth_cert(vec![CertificateDer::from(c.cert_der)], key)
                .expect("client cert")
        } else {
            builder.with_no_client_auth()
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.resumption = if resume {
            Resumption::in_memory_sessions(64)
        } else {
            Resumption::disabled()
        };
        Arc::new(config)
    }
}

/// Runs `f`, adding its time to `acc` when `on`.
fn timed<T>(on: bool, acc: &mut Duration, f: impl FnOnce() -> T) -> T {
    if !on {
        return f();
    }
    let start = Instant::now();
    let out = f();
    *acc += start.elapsed();
    out
}

/// Moves everything `from` wants to send into `to`; returns the bytes moved.
fn transfer<A, B>(
    from: &mut ConnectionCommon<A>,
    to: &mut ConnectionCommon<B>,
    from_timed: bool,
    to_timed: bool,
    acc: &mut Duration,
) -> usize {
    let mut buf = Vec::with_capacity(8192);
    timed(from_timed, acc, || {
        while from.wants_write() {
            from.write_tls(&mut buf).expect("write_tls");
        }
    });
    timed(to_timed, acc, || {
        let mut rest = &buf[..];
        while !rest.is_empty() {
            to.read_tls(&mut rest).expect("read_tls");
            to.process_new_packets().expect("handshake");
        }
    });
    buf.len()
}

/// One complete handshake (session tickets included); returns the time spent in `side`'s
/// calls and whether the session was resumed.
fn handshake(case: &Case, side: Side) -> (Duration, bool) {
    let mut acc = Duration::ZERO;
    let (c, s) = (side == Side::Client, side == Side::Server);
    let name = ServerName::try_from(NAME).expect("name");
    let mut client = timed(c, &mut acc, || {
        ClientConnection::new(case.client.clone(), name).expect("client")
    });
    let mut server = timed(s, &mut acc, || {
        ServerConnection::new(case.server.clone()).expect("server")
    });
    loop {
        let sent = transfer(&mut client, &mut server, c, s, &mut acc);
        let received = transfer(&mut server, &mut client, s, c, &mut acc);
        if sent == 0 && received == 0 {
            break;
        }
    }
    assert!(!client.is_handshaking() && !server.is_handshaking());
    let resumed = client.handshake_kind() == Some(HandshakeKind::Resumed);
    black_box((&client, &server));
    (acc, resumed)
}

fn bench_case(c: &mut Criterion, group: &str, case: &Case, expect_resumed: bool) {
    // Prime the client's ticket store (resumed cases) and check the case is what it says.
    let (_, _) = handshake(case, Side::Server);
    let (_, resumed) = handshake(case, Side::Server);
    assert_eq!(resumed, expect_resumed, "{group}");
    let mut g = c.benchmark_group(group);
    g.measurement_time(Duration::from_secs(3));
    for (side, label) in [(Side::Server, "server"), (Side::Client, "client")] {
        g.bench_function(label, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| handshake(case, side).0).sum())
        });
    }
    g.finish();
}

fn handshakes(c: &mut Criterion) {
    let pki = Pki::new();
    let groups: [(&str, &'static dyn SupportedKxGroup); 2] = [
        ("x25519", aws_lc_rs::kx_group::X25519),
        ("x25519mlkem768", aws_lc_rs::kx_group::X25519MLKEM768),
    ];
    let (mtls_server, plain_server) = (pki.server(true), pki.server(false));
    for (kx_name, kx) in groups {
        let full = Case {
            client: pki.client(kx, true, false),
            server: mtls_server.clone(),
        };
        bench_case(c, &format!("handshake_mtls/{kx_name}"), &full, false);
        let plain = Case {
            client: pki.client(kx, false, false),
            server: plain_server.clone(),
        };
        bench_case(
            c,
            &format!("handshake_no_client_auth/{kx_name}"),
            &plain,
            false,
        );
        let resumed = Case {
            client: pki.client(kx, true, true),
            server: mtls_server.clone(),
        };
        bench_case(
            c,
            &format!("handshake_mtls_resumed/{kx_name}"),
            &resumed,
            true,
        );
    }
    let aes128 = Some(aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256);
    let x25519 = aws_lc_rs::kx_group::X25519;
    let full = Case {
        client: pki.client_with(x25519, aes128, true, false),
        server: mtls_server.clone(),
    };
    bench_case(c, "handshake_mtls/x25519_aes128", &full, false);
    let resumed = Case {
        client: pki.client_with(x25519, aes128, true, true),
        server: mtls_server,
    };
    bench_case(c, "handshake_mtls_resumed/x25519_aes128", &resumed, true);
}

criterion_group!(benches, handshakes);
criterion_main!(benches);
