//! The control case of `benches/compare-nginx.sh`: the least a Rust mTLS server can do per
//! connection, so that mtls-proxy's own cost can be read against it. tokio + tokio-rustls +
//! hyper (HTTP/1.1), rustls with aws-lc-rs and its defaults, a client certificate required and
//! verified by webpki against `--client-ca`, one TLS 1.3 session ticket per full handshake,
//! and `200 ok` to every request. No SNI routing, no policy, no headers, no logs, no metrics.
//! With `--plain` it serves the same answer over plain HTTP/1.1 (an origin for keep-alive
//! measurements).
//!
//!   cargo build --release --example minimal_server
//!   target/release/examples/minimal_server --listen 127.0.0.1:19600 \
//!       --cert server.pem --key server-key.pem --client-ca client-ca.pem

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::crypto::aws_lc_rs;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:19600")]
    listen: String,
    /// PEM certificate chain of the server.
    #[arg(long, required_unless_present = "plain")]
    cert: Option<PathBuf>,
    /// PEM private key of --cert.
    #[arg(long, required_unless_present = "plain")]
    key: Option<PathBuf>,
    /// PEM CA bundle that client certificates must chain to; without it no client
    /// certificate is asked for.
    #[arg(long)]
    client_ca: Option<PathBuf>,
    /// TLS 1.3 session tickets sent after each full handshake.
    #[arg(long, default_value_t = 1)]
    tickets: usize,
    /// Plain HTTP/1.1, no TLS.
    #[arg(long, conflicts_with_all = ["cert", "key", "client_ca"])]
    plain: bool,
}

fn config(args: &Args, cert: &Path, key: &Path) -> anyhow::Result<Arc<ServerConfig>> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let chain = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match &args.client_ca {
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for ca in CertificateDer::pem_file_iter(path)? {
                roots.add(ca?)?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.ticketer = aws_lc_rs::Ticketer::new()?;
    config.send_tls13_tickets = args.tickets;
    Ok(Arc::new(config))
}

async fn ok(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"ok\n"))))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let acceptor = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) if !args.plain => {
            Some(TlsAcceptor::from(config(&args, cert, key)?))
        }
        _ => None,
    };
    let listener = TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    eprintln!("minimal_server listening on {}", listener.local_addr()?);
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("accept: {e}");
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let http = hyper::server::conn::http1::Builder::new();
            match acceptor {
                Some(acceptor) => {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        let _ = http
                            .serve_connection(TokioIo::new(tls), service_fn(ok))
                            .await;
                    }
                }
                None => {
                    let _ = http
                        .serve_connection(TokioIo::new(tcp), service_fn(ok))
                        .await;
                }
            }
        });
    }
}
