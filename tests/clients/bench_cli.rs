//! `mtls-proxy bench` (the binary) against an in-process proxy: with a valid client certificate
//! every handshake and request completes; with a refused certificate or none, every connection
//! fails and is counted under the TLS alert's name; resumption is counted.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::path::{Path, PathBuf};

use common::fixture::Fixture;
use mtls_proxy::devpki::{Issued, Validity};
use serde_json::Value;

const DOMAIN: &str = "bench.example.com";

/// A proxy serving DOMAIN with an enforced mutual authentication over the fixture's client CA.
async fn enforced() -> Fixture {
    let f = Fixture::new(&[DOMAIN]).await;
    let ma = f.ma(&f.client_ca.cert().cert_pem, true).await;
    f.activate(DOMAIN, Some(&ma)).await;
    f
}

/// Writes the server CA and, if given, a client certificate and key; returns the file args.
fn files(dir: &Path, f: &Fixture, client: Option<&Issued>) -> Vec<String> {
    let write = |name: &str, text: &str| -> String {
        let p: PathBuf = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let mut args = vec![
        "--ca".to_string(),
        write("ca.pem", &f.server_ca.cert().cert_pem),
    ];
    if let Some(c) = client {
        args.extend([
            "--cert".to_string(),
            write("client.pem", &c.cert_pem),
            "--key".to_string(),
            write("client-key.pem", &c.key_pem),
        ]);
    }
    args
}

/// Runs the binary with --json and returns the summary; --count 50 and --concurrency 4 unless
/// `extra` says otherwise.
async fn bench(f: &Fixture, files: &[String], extra: &[&str]) -> Value {
    let target = f.proxy().to_string();
    let mut defaults = vec![];
    for (flag, value) in [
        ("--count", "50"),
        ("--concurrency", "4"),
        ("--workers", "1"),
    ] {
        if !extra.contains(&flag) {
            defaults.extend([flag, value]);
        }
    }
    let (summary, _) = bench_with_stderr(&target, files, &defaults, extra).await;
    summary
}

/// Runs the binary with --json against `target`; the summary and what it wrote on stderr.
async fn bench_with_stderr(
    target: &str,
    files: &[String],
    defaults: &[&str],
    extra: &[&str],
) -> (Value, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_mtls-proxy"))
        .args(["bench", "--target", target, "--sni", DOMAIN, "--json"])
        .args(defaults)
        .args(files)
        .args(extra)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let summary = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    (summary, stderr)
}

fn assert_all_completed(s: &Value, mode: &str) {
    assert_eq!(s["mode"], mode, "{s:#}");
    assert_eq!(s["completed"], 50, "{s:#}");
    assert_eq!(s["connections"], 50, "{s:#}");
    assert_eq!(s["errors"]["total"], 0, "{s:#}");
    assert!(s["per_second"].as_f64().unwrap() > 0.0, "{s:#}");
    let lat = &s["latency_us"];
    assert!(lat["p50"].as_u64().unwrap() > 0, "{s:#}");
    assert!(lat["p50"].as_u64() <= lat["p99"].as_u64(), "{s:#}");
    assert!(lat["p99"].as_u64() <= lat["max"].as_u64(), "{s:#}");
    assert!(s["client_cpu_s"].as_f64().is_some(), "{s:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_client_certificate_completes_every_handshake_and_request() {
    let f = enforced().await;
    let dir = tempfile::tempdir().unwrap();
    let args = files(dir.path(), &f, Some(&f.client(Validity::Current)));
    let s = bench(&f, &args, &["--mode", "handshake", "--kx", "x25519"]).await;
    assert_all_completed(&s, "handshake");
    assert_eq!(s["kx"], "x25519");
    let s = bench(&f, &args, &["--mode", "request"]).await;
    assert_all_completed(&s, "request");
    assert_eq!(s["resumed"], 0, "no resumption unless asked for");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_and_http2_requests_complete() {
    let f = enforced().await;
    let dir = tempfile::tempdir().unwrap();
    let args = files(dir.path(), &f, Some(&f.client(Validity::Current)));
    let s = bench(
        &f,
        &args,
        &[
            "--mode",
            "keepalive",
            "--requests-per-conn",
            "3",
            "--count",
            "10",
        ],
    )
    .await;
    assert_eq!(
        (s["completed"].as_u64(), s["connections"].as_u64()),
        (Some(30), Some(10)),
        "{s:#}"
    );
    assert_eq!(s["errors"]["total"], 0, "{s:#}");
    let s = bench(&f, &args, &["--mode", "request", "--http2"]).await;
    assert_all_completed(&s, "request");
    assert_eq!(s["http2"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_runs_on_schedule() {
    let f = enforced().await;
    let dir = tempfile::tempdir().unwrap();
    let args = files(dir.path(), &f, Some(&f.client(Validity::Current)));
    let started = std::time::Instant::now();
    let s = bench(
        &f,
        &args,
        &["--mode", "request", "--rate", "100", "--count", "20"],
    )
    .await;
    assert_eq!(
        (s["completed"].as_u64(), s["rate"].as_f64()),
        (Some(20), Some(100.0)),
        "{s:#}"
    );
    assert_eq!(s["errors"]["total"], 0, "{s:#}");
    // 20 connections at 100/s are spread over at least 190 ms, whatever the server's speed.
    assert!(s["elapsed_s"].as_f64().unwrap() >= 0.18, "{s:#}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(180));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumed_handshakes_are_counted() {
    let f = enforced().await;
    let dir = tempfile::tempdir().unwrap();
    let args = files(dir.path(), &f, Some(&f.client(Validity::Current)));
    // Handshake mode sends no request: the ticket held back for the first response must
    // still reach the client, at the close.
    for mode in ["request", "handshake"] {
        let s = bench(
            &f,
            &args,
            &["--mode", mode, "--resume", "--concurrency", "1"],
        )
        .await;
        assert_all_completed(&s, mode);
        // One connection at a time: every connection after the first finds a ticket.
        assert_eq!(s["resumed"], 49, "{mode}: {s:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_certificates_are_counted_by_alert_name() {
    let f = enforced().await;
    let dir = tempfile::tempdir().unwrap();
    let unknown = f
        .other_ca
        .issue_client("stranger", Validity::Current)
        .unwrap();
    let args = files(dir.path(), &f, Some(&unknown));
    for mode in ["handshake", "request"] {
        let s = bench(&f, &args, &["--mode", mode]).await;
        assert_eq!(s["completed"], 0, "{s:#}");
        assert_eq!(s["errors"]["total"], 50, "{s:#}");
        assert_eq!(s["errors"]["by_kind"]["tls alert: unknown_ca"], 50, "{s:#}");
    }
    let none = files(dir.path(), &f, None);
    let s = bench(&f, &none, &["--mode", "request"]).await;
    assert_eq!(
        s["errors"]["by_kind"]["tls alert: certificate_required"], 50,
        "{s:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_summary_and_svg() {
    let f = enforced().await;
    let dir = tempfile::tempdir().unwrap();
    let args = files(dir.path(), &f, Some(&f.client(Validity::Current)));
    let svg = dir.path().join("plot.svg");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_mtls-proxy"))
        .args(["bench", "--target", &f.proxy().to_string(), "--sni", DOMAIN])
        .args(["--count", "20", "--mode", "request", "--histogram"])
        .arg(&svg)
        .args(&args)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("completed    20 in"), "{text}");
    assert!(text.contains("errors       0"), "{text}");
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(
        plot.starts_with("<svg") && plot.contains("Latency of 20 completed"),
        "{plot}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_workers_share_the_connections_and_complete_all_of_them() {
    let f = enforced().await;
    let dir = tempfile::tempdir().unwrap();
    let args = files(dir.path(), &f, Some(&f.client(Validity::Current)));
    let s = bench(
        &f,
        &args,
        &[
            "--mode",
            "request",
            "--workers",
            "3",
            "--count",
            "61",
            "--concurrency",
            "6",
        ],
    )
    .await;
    assert_eq!(
        (s["completed"].as_u64(), s["workers"].as_u64()),
        (Some(61), Some(3)),
        "{s:#}"
    );
    assert_eq!(s["errors"]["total"], 0, "{s:#}");
    // --count is split between the workers: 21 + 20 + 20.
    assert_eq!(
        s["completed_per_worker"],
        serde_json::json!([21, 20, 20]),
        "{s:#}"
    );
    // Keep-alive: each worker's connections carry their requests.
    let s = bench(
        &f,
        &args,
        &[
            "--mode",
            "keepalive",
            "--requests-per-conn",
            "4",
            "--workers",
            "2",
            "--count",
            "6",
        ],
    )
    .await;
    assert_eq!(
        s["completed_per_worker"],
        serde_json::json!([12, 12]),
        "{s:#}"
    );
    // The open loop keeps its overall rate when split: 20 at 100/s take at least 190 ms.
    let s = bench(
        &f,
        &args,
        &[
            "--mode",
            "request",
            "--workers",
            "2",
            "--rate",
            "100",
            "--count",
            "20",
        ],
    )
    .await;
    assert_eq!(
        s["completed_per_worker"],
        serde_json::json!([10, 10]),
        "{s:#}"
    );
    assert!(s["elapsed_s"].as_f64().unwrap() >= 0.18, "{s:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_skips_the_server_certificate_check_and_says_so() {
    let f = enforced().await;
    let dir = tempfile::tempdir().unwrap();
    let client = f.client(Validity::Current);
    let target = f.proxy().to_string();
    // Trusting another CA than the one that issued the server's certificate: every
    // connection fails, and the report says why.
    let mut untrusting = files(dir.path(), &f, Some(&client));
    let other = dir.path().join("other-ca.pem");
    std::fs::write(&other, &f.other_ca.cert().cert_pem).unwrap();
    untrusting[1] = other.to_str().unwrap().to_string();
    let (s, _) = bench_with_stderr(&target, &untrusting, &["--count", "5"], &[]).await;
    assert_eq!(
        (s["completed"].as_u64(), s["errors"]["total"].as_u64()),
        (Some(0), Some(5)),
        "{s:#}"
    );
    assert_eq!(
        s["errors"]["by_kind"]["tls: invalid peer certificate: UnknownIssuer"], 5,
        "{s:#}"
    );
    assert_eq!(s["server_certificate_verified"], true, "{s:#}");
    // The text report names the cause and the way out.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_mtls-proxy"))
        .args([
            "bench", "--target", &target, "--sni", DOMAIN, "--count", "2",
        ])
        .args(&untrusting)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("invalid peer certificate: UnknownIssuer"),
        "{text}"
    );
    assert!(text.contains("failed verification against --ca"), "{text}");
    // --insecure instead of --ca: the same untrusted server is measured, labelled as such.
    let insecure: Vec<String> = untrusting[2..].to_vec();
    let (s, stderr) = bench_with_stderr(
        &target,
        &insecure,
        &["--count", "5", "--mode", "request"],
        &["--insecure"],
    )
    .await;
    assert_eq!(
        (s["completed"].as_u64(), s["errors"]["total"].as_u64()),
        (Some(5), Some(0)),
        "{s:#}"
    );
    assert_eq!(s["server_certificate_verified"], false, "{s:#}");
    assert!(
        stderr.contains("--insecure: the server's certificate is not verified"),
        "{stderr}"
    );
}
