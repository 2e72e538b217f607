//! Local test origins: a recording hyper origin (plain or TLS) and raw TCP misbehavers.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

/// A request as the origin received it.
#[derive(Debug)]
pub(super) struct Seen {
    pub method: String,
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A hyper origin that records each request and answers 200 "origin says hi" with some
/// hop-by-hop headers the client must strip.
pub(super) struct RecordingOrigin {
    pub addr: SocketAddr,
    pub accepted: Arc<AtomicUsize>,
    pub seen: mpsc::UnboundedReceiver<Seen>,
}

impl RecordingOrigin {
    pub(super) fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

pub(super) async fn recording_origin(tls: Option<TlsAcceptor>) -> RecordingOrigin {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let (tx, seen) = mpsc::unbounded_channel();
    let counter = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            let (tx, tls) = (tx.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    None => serve(stream, tx).await,
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            serve(stream, tx).await;
                        }
                    }
                }
            });
        }
    });
    RecordingOrigin {
        addr,
        accepted,
        seen,
    }
}

async fn serve<S>(stream: S, tx: mpsc::UnboundedSender<Seen>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| record(req, tx.clone()));
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn record(
    req: Request<Incoming>,
    tx: mpsc::UnboundedSender<Seen>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let _ = tx.send(Seen {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        headers: parts.headers,
        body,
    });
    let response = Response::builder()
        .header("connection", "x-hop")
        .header("x-hop", "1")
        .header("keep-alive", "timeout=5")
        .header("x-origin", "yes")
        .body(Full::new(Bytes::from_static(b"origin says hi")))
        .unwrap();
    Ok(response)
}

/// A TCP origin that runs `behave` on every accepted connection.
pub(super) async fn raw_origin<F, Fut>(behave: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(behave(stream));
        }
    });
    addr
}

/// An address nothing listens on: bound, then released.
pub(super) async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}
