//! Measures the proxy's resident memory per idle connection: starts `mtls-proxy serve` (release
//! build expected) on a fresh store, activates a fail-open mTLS domain through the API, opens N
//! idle TCP connections (no ClientHello) and N idle TLS connections with a client certificate,
//! and prints the server's RSS growth per connection from /proc/<pid>/status.
//!
//!   cargo build --release && cargo run --release --example idle_connections -- 2000

use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use mtls_proxy::devpki;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::net::TcpStream;

fn free_port() -> anyhow::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("no free port")
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn api(
    admin: SocketAddr,
    method: &str,
    path: &str,
    body: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let out = Command::new("curl")
        .args([
            "-s",
            "-X",
            method,
            "-H",
            "Fastly-Key: t",
            "-H",
            "Content-Type: application/vnd.api+json",
        ])
        .arg(format!("http://{admin}{path}"))
        .args(["-d", &body.to_string()])
        .output()
        .context("running curl")?;
    serde_json::from_slice(&out.stdout)
        .with_context(|| format!("{method} {path}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// The `data.id` of a created resource.
fn id_of(created: &serde_json::Value) -> anyhow::Result<&serde_json::Value> {
    created
        .pointer("/data/id")
        .with_context(|| format!("no data.id in {created}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().context("tempdir")?;
    let (admin, proxy) = (free_port()?, free_port()?);
    let config = dir.path().join("c.toml");
    let store = dir.path().join("store.db");
    std::fs::write(
        &config,
        format!(
            "[admin]\nlisten = \"{admin}\"\ntoken = \"t\"\n[store]\npath = \"{}\"\n[proxy]\nlisten = \"{proxy}\"\nhandshake_timeout = \"10m\"\nmax_connections = {}\n",
            store.display(),
            n * 2 + 100
        ),
    )
    .context("config")?;
    let bin =
        std::env::var("MTLS_PROXY_BIN").unwrap_or_else(|_| "target/release/mtls-proxy".into());
    let mut child = Command::new(bin)
        .args(["serve", "--config"])
        .arg(&config)
        .stderr(Stdio::null())
        .spawn()
        .context("starting mtls-proxy (cargo build --release first, or set MTLS_PROXY_BIN)")?;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let pki = devpki::generate().context("pki")?;
    api(
        admin,
        "POST",
        "/tls/private_keys",
        serde_json::json!({"data": {"attributes": {"key": pki.server.key_pem}}}),
    )
    .await?;
    let cert = api(
        admin,
        "POST",
        "/tls/certificates",
        serde_json::json!({"data": {"attributes": {"cert_blob": pki.server.cert_pem}}}),
    )
    .await?;
    let ma = api(admin, "POST", "/tls/mutual_authentications", serde_json::json!({"data": {"attributes": {"cert_bundle": pki.client_ca.cert().cert_pem, "enforced": false}}})).await?;
    let cert_id = id_of(&cert)?;
    let ma_id = id_of(&ma)?;
    let act = serde_json::json!({"data": {"relationships": {
        "tls_certificate": {"data": {"type": "tls_certificate", "id": cert_id}},
        "tls_domain": {"data": {"type": "tls_domain", "id": "localhost"}},
        "mutual_authentication": {"data": {"type": "mutual_authentication", "id": ma_id}}}}});
    api(admin, "POST", "/tls/activations", act).await?;

    let base = rss_kib(child.id());
    let mut tcp = Vec::with_capacity(n);
    for _ in 0..n {
        tcp.push(TcpStream::connect(proxy).await.context("connect")?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_tcp = rss_kib(child.id());

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(pki.server_ca.cert().cert_der.clone()))
        .context("root")?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.client.key_der.clone()));
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("versions")?
    .with_root_certificates(roots)
    .with_client_auth_cert(vec![CertificateDer::from(pki.client.cert_der.clone())], key)
    .context("client cert")?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let mut tls = Vec::with_capacity(n);
    for _ in 0..n {
        let stream = TcpStream::connect(proxy).await.context("connect")?;
        let name = ServerName::try_from("localhost").context("name")?;
        tls.push(connector.connect(name, stream).await.context("handshake")?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_tls = rss_kib(child.id());
    println!("idle connections: {n}");
    println!("server RSS: base {base} KiB, +{n} TCP {after_tcp} KiB, +{n} TLS {after_tls} KiB");
    println!(
        "per idle TCP connection (before the ClientHello): {:.1} KiB",
        after_tcp.saturating_sub(base) as f64 / n as f64
    );
    println!(
        "per idle mTLS connection (handshake done, HTTP/1.1 keep-alive): {:.1} KiB",
        after_tls.saturating_sub(after_tcp) as f64 / n as f64
    );
    drop((tcp, tls));
    let _ = child.kill();
    let _ = child.wait();
    Ok(())
}
