//! A web server standing in for a CRL distribution point: it answers every request with one
//! status and body (DER, `application/pkix-crl`) that the test changes, and counts requests.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A web server whose one answer (status, body) the test changes; counts requests.
#[derive(Clone)]
pub struct CrlServer {
    pub addr: SocketAddr,
    answer: Arc<Mutex<(u16, Vec<u8>)>>,
    hits: Arc<Mutex<usize>>,
}

impl CrlServer {
    pub async fn start(body: Vec<u8>) -> CrlServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = CrlServer {
            addr: listener.local_addr().unwrap(),
            answer: Arc::new(Mutex::new((200, body))),
            hits: Arc::new(Mutex::new(0)),
        };
        let s = server.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |_req: http::Request<hyper::body::Incoming>| {
                        let s = s.clone();
                        async move {
                            *s.hits.lock().unwrap() += 1;
                            let (status, body) = s.answer.lock().unwrap().clone();
                            let resp = http::Response::builder()
                                .status(status)
                                .header("content-type", "application/pkix-crl")
                                .body(Full::new(Bytes::from(body)))
                                .unwrap();
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        server
    }

    pub fn serve(&self, status: u16, body: Vec<u8>) {
        *self.answer.lock().unwrap() = (status, body);
    }

    pub fn hits(&self) -> usize {
        *self.hits.lock().unwrap()
    }
}
