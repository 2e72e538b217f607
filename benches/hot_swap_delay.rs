//! Hot-swap delay: how long an API change takes to answer and to reach the data plane. The
//! proxy runs in-process on loopback (the integration-test harness); a fail-open domain's
//! mutual authentication is flipped to `enforced` and back, 60 times quiet and 60 times while
//! four clients load another domain. Each round times the API request to its 2xx, then the
//! first handshake + request after the 2xx (which must see the change: the API swaps the
//! snapshot before it answers), then the same handshake + request again with no change before
//! it, the baseline the second figure costs anyway.
//!
//!   cargo bench --bench hot_swap_delay
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it does 3 rounds of each, to
//! prove it still works.

// A benchmark's setup failure aborts the run with its message; only the benchmark's own fixed
// data reaches this code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fixture::Fixture;
use common::flows::set_enforced;
use common::tls_client::{seen, Req, TlsClient, BOTH, PROTOS};
use mtls_proxy::devpki::{Issued, Validity};
use rustls::AlertDescription;

const A: &str = "a.example.com";
const B: &str = "b.example.com";
/// One API call or request gets this long before the run fails as stuck.
const STUCK: Duration = Duration::from_secs(10);

/// Rounds per case under `cargo bench`, and as a smoke test.
const ROUNDS: usize = 60;
const SMOKE_ROUNDS: usize = 3;

fn main() {
    let rounds = if std::env::args().any(|a| a == "--bench") {
        ROUNDS
    } else {
        SMOKE_ROUNDS
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run(rounds));
}

async fn run(rounds: usize) {
    let f = Fixture::new(&[A, B]).await;
    let ma = f.ma(&f.client_ca.cert().cert_pem, false).await;
    f.activate(A, Some(&ma)).await;
    let ma_b = f.ma(&f.client_ca.cert().cert_pem, true).await;
    f.activate(B, Some(&ma_b)).await;
    for loaded in [false, true] {
        let load = loaded.then(|| Load::start(&f, B, &f.client(Validity::Current)));
        if let Some(load) = &load {
            load.busy().await;
        }
        let delays = measure(&f, &ma, rounds).await;
        if let Some(load) = load {
            let (done, failures) = load.stop().await;
            assert!(failures.is_empty(), "load failures: {failures:?}");
            eprintln!("load on {B}: {done} handshakes + requests, none failed");
        }
        let label = if loaded {
            "under load on another domain"
        } else {
            "quiet"
        };
        delays.print(label);
    }
    f.h.running
        .expect("running")
        .shutdown()
        .await
        .expect("shutdown");
}

/// The three series of one case, in the order the rounds ran.
#[derive(Default)]
struct Delays {
    api: Vec<Duration>,
    effect: Vec<Duration>,
    baseline: Vec<Duration>,
}

impl Delays {
    fn print(mut self, label: &str) {
        println!("hot-swap delay ({label}, {} changes):", self.api.len());
        println!(
            "  API request to 2xx (build + commit + swap): {}",
            summary(&mut self.api)
        );
        println!(
            "  2xx to first request that sees the change:  {}",
            summary(&mut self.effect)
        );
        println!(
            "  same handshake + request, no change before: {}",
            summary(&mut self.baseline)
        );
    }
}

/// Flips `ma` `rounds` times; every first handshake after the 2xx must see the flip.
async fn measure(f: &Fixture, ma: &str, rounds: usize) -> Delays {
    let bare = TlsClient::new(&f.server_ca, A);
    let mut d = Delays::default();
    for i in 0..rounds {
        let enforce = i % 2 == 0;
        let sent = Instant::now();
        let r = tokio::time::timeout(STUCK, set_enforced(&f.h, ma, enforce))
            .await
            .expect("API stuck");
        assert!((200..300).contains(&r.status), "API: {}", r.status);
        let answered = Instant::now();
        let first = tokio::time::timeout(STUCK, bare.fetch(f.proxy(), &Req::get(A)))
            .await
            .expect("request stuck");
        let seen_at = Instant::now();
        match (enforce, first) {
            (true, Err(e)) => assert_eq!(e.alert(), Some(AlertDescription::CertificateRequired)),
            (false, Ok(r)) => assert_eq!(seen(&r)["client-cert-verdict"], "missing"),
            (_, other) => panic!(
                "round {i}: the first handshake missed the change: {:?}",
                other.map(|r| r.status)
            ),
        }
        let again = Instant::now();
        let r = tokio::time::timeout(STUCK, bare.fetch(f.proxy(), &Req::get(A))).await;
        assert_eq!(r.expect("request stuck").is_ok(), !enforce);
        d.baseline.push(again.elapsed());
        d.api.push(answered - sent);
        d.effect.push(seen_at - answered);
    }
    d
}

/// p50 / p99 / max in milliseconds (nearest rank).
fn summary(v: &mut [Duration]) -> String {
    v.sort();
    let at = |percent: usize| v[((v.len() - 1) * percent).div_ceil(100)];
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        at(50).as_secs_f64() * 1e3,
        at(99).as_secs_f64() * 1e3,
        at(100).as_secs_f64() * 1e3
    )
}

/// Four clients (both TLS versions, both protocols), each in a loop of full handshake with a
/// client certificate, one request, close; until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<Vec<String>>>,
}

impl Load {
    fn start(f: &Fixture, host: &str, cert: &Issued) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for tls in BOTH {
            for proto in PROTOS {
                let c = TlsClient::new(&f.server_ca, host)
                    .tls(tls)
                    .proto(proto)
                    .cert(cert);
                let (stop, done) = (stop.clone(), done.clone());
                let (addr, host) = (f.proxy(), host.to_string());
                tasks.push(tokio::spawn(async move {
                    let mut failures = Vec::new();
                    while !stop.load(Ordering::SeqCst) {
                        match tokio::time::timeout(STUCK, c.fetch(addr, &Req::get(&host))).await {
                            Ok(Ok(r)) if r.status == 200 => done.fetch_add(1, Ordering::SeqCst),
                            other => {
                                failures.push(format!("{proto:?}: {other:?}"));
                                0
                            }
                        };
                    }
                    failures
                }));
            }
        }
        Load { stop, done, tasks }
    }

    /// Returns once the clients completed a few requests, so the flips happen under load.
    async fn busy(&self) {
        let started = Instant::now();
        while self.done.load(Ordering::SeqCst) < 4 {
            assert!(started.elapsed() < STUCK, "the load made no progress");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Stops the clients; returns the completed count and every failure.
    async fn stop(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        let mut failures = Vec::new();
        for t in self.tasks {
            failures.extend(t.await.expect("load task"));
        }
        (self.done.load(Ordering::SeqCst), failures)
    }
}
