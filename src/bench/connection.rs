//! One benchmark connection: TCP connect, TLS handshake, then what the mode asks for (close,
//! one request, or many requests), under one timeout. Everything is recorded; nothing panics.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, HandshakeKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::error::BenchError;
use super::failure::{classify, connect_failure, Failure};
use super::http::{HttpConn, RequestSpec};
use super::options::{Mode, Options};
use super::recorder::Recorder;

/// Everything a connection needs, shared by all of them.
pub struct Client {
    addr: SocketAddr,
    server_name: ServerName<'static>,
    connector: TlsConnector,
    mode: Mode,
    http2: bool,
    spec: RequestSpec,
    requests_per_conn: u32,
    timeout: Duration,
}

impl Client {
    /// A client for `opts` using `config`.
    pub fn new(opts: &Options, config: Arc<ClientConfig>) -> Result<Client, BenchError> {
        let server_name = ServerName::try_from(opts.server_name.clone()).map_err(|_| {
            BenchError::Option(format!("{:?} is not a server name", opts.server_name))
        })?;
        Ok(Client {
            addr: opts.addr,
            server_name,
            connector: TlsConnector::from(config),
            mode: opts.mode,
            http2: opts.http2,
            spec: RequestSpec {
                path: opts.path.clone(),
                authority: opts.authority(),
            },
            requests_per_conn: opts.requests_per_conn,
            timeout: opts.timeout,
        })
    }

    /// Runs one connection, recording its outcome; latency counts from `scheduled` (the
    /// planned start, which in open-loop mode may be earlier than the actual start). Returns
    /// how many operations it completed.
    pub async fn run(&self, rec: &Recorder, scheduled: Instant) -> u64 {
        let mut done = 0;
        let outcome =
            tokio::time::timeout(self.timeout, self.connection(rec, scheduled, &mut done)).await;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(failure)) => rec.failed(&failure),
            Err(_) => rec.failed(&Failure::Timeout),
        }
        done
    }

    async fn connection(
        &self,
        rec: &Recorder,
        scheduled: Instant,
        done: &mut u64,
    ) -> Result<(), Failure> {
        let tls = self.handshake(rec).await?;
        match self.mode {
            Mode::Handshake => {
                close(tls).await?;
                rec.completed(scheduled.elapsed());
                *done += 1;
            }
            Mode::Request => {
                let mut http = HttpConn::start(tls, self.http2).await?;
                http.get(&self.spec, true).await?;
                rec.completed(scheduled.elapsed());
                *done += 1;
                http.finish().await;
            }
            Mode::Keepalive => {
                let mut http = HttpConn::start(tls, self.http2).await?;
                for i in 1..=self.requests_per_conn {
                    let sent = Instant::now();
                    http.get(&self.spec, i == self.requests_per_conn).await?;
                    rec.completed(sent.elapsed());
                    *done += 1;
                }
                http.finish().await;
            }
        }
        Ok(())
    }

    async fn handshake(&self, rec: &Recorder) -> Result<TlsStream<TcpStream>, Failure> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|e| connect_failure(&e))?;
        // Small records both ways: without this, Nagle delays the client's second flight.
        let _ = tcp.set_nodelay(true);
        let tls = self
            .connector
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| classify(&e))?;
        let conn = tls.get_ref().1;
        rec.connected(conn.handshake_kind() == Some(HandshakeKind::Resumed));
        if self.http2 && conn.alpn_protocol() != Some(b"h2") {
            return Err(Failure::NoH2);
        }
        Ok(tls)
    }
}

/// Handshake mode: send close_notify and read until the server closes. In TLS 1.3 the client
/// finishes before the server has judged its certificate, so a refusal only shows up here (as
/// the alert), and session tickets, sent after the handshake, are stored on the way.
async fn close(mut tls: TlsStream<TcpStream>) -> Result<(), Failure> {
    // A failed close_notify (the server may already have closed after its alert) is reported
    // only if reading finds nothing more telling.
    let shutdown = tls.shutdown().await;
    let mut buf = [0u8; 4096];
    loop {
        match tls.read(&mut buf).await {
            Ok(0) => break,
            Ok(_) => {}
            // Many servers close without their own close_notify; that is still a clean end.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(classify(&e)),
        }
    }
    shutdown.map_err(|e| classify(&e))
}
