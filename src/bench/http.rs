//! The HTTP part of a benchmark connection: GET requests over HTTP/1.1 or HTTP/2 with hyper's
//! connection-level client, each answer read to its end and judged by its status (2xx only).

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::{http1, http2};
use hyper::header::{CONNECTION, HOST};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::client::TlsStream;

use super::failure::{classify, Failure};

/// How long a failed request waits for the connection driver to report why.
const DRIVER_GRACE: Duration = Duration::from_secs(1);

/// What each request asks for.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    /// Request path ("/").
    pub path: String,
    /// Host header (HTTP/1.1) or :authority (HTTP/2).
    pub authority: String,
}

enum Sender {
    H1(http1::SendRequest<Empty<Bytes>>),
    H2(http2::SendRequest<Empty<Bytes>>),
}

/// An HTTP client connection over an established TLS stream.
pub struct HttpConn {
    sender: Sender,
    /// The task driving the connection; aborted if this value is dropped early (timeout).
    driver: Option<JoinHandle<Result<(), hyper::Error>>>,
}

impl Drop for HttpConn {
    fn drop(&mut self) {
        if let Some(driver) = self.driver.take() {
            driver.abort();
        }
    }
}

impl HttpConn {
    /// Starts HTTP/1.1 or HTTP/2 on `tls`.
    pub async fn start(tls: TlsStream<TcpStream>, http2: bool) -> Result<HttpConn, Failure> {
        let io = TokioIo::new(tls);
        let (sender, driver) = if http2 {
            let (s, c) = http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(|e| classify(&e))?;
            (Sender::H2(s), tokio::spawn(c))
        } else {
            let (s, c) = http1::handshake(io).await.map_err(|e| classify(&e))?;
            (Sender::H1(s), tokio::spawn(c))
        };
        Ok(HttpConn {
            sender,
            driver: Some(driver),
        })
    }

    /// One GET, its body read to the end. `last`: the connection's last request (HTTP/1.1
    /// sends `Connection: close`, so the server closes cleanly after answering).
    pub async fn get(&mut self, spec: &RequestSpec, last: bool) -> Result<(), Failure> {
        match self.exchange(spec, last).await {
            Ok(()) => Ok(()),
            // A request cut short by the connection dying says little ("closed"); the driver
            // holds the real cause, e.g. the TLS alert the server sent.
            Err(failure @ (Failure::Closed | Failure::Http(_))) => {
                Err(self.driver_failure().await.unwrap_or(failure))
            }
            Err(failure) => Err(failure),
        }
    }

    /// Lets the connection close (the server closes after `Connection: close`; HTTP/2 sends
    /// GOAWAY when the sender is dropped) and waits for it.
    pub async fn finish(mut self) {
        let driver = self.driver.take();
        drop(self);
        if let Some(driver) = driver {
            let _ = driver.await;
        }
    }

    async fn exchange(&mut self, spec: &RequestSpec, last: bool) -> Result<(), Failure> {
        let response = match &mut self.sender {
            Sender::H1(s) => {
                let mut req = Request::get(spec.path.as_str()).header(HOST, &spec.authority);
                if last {
                    req = req.header(CONNECTION, "close");
                }
                let req = req.body(Empty::new()).map_err(http_error)?;
                s.ready().await.map_err(|e| classify(&e))?;
                s.send_request(req).await.map_err(|e| classify(&e))?
            }
            Sender::H2(s) => {
                let uri = format!("https://{}{}", spec.authority, spec.path);
                let req = Request::get(uri).body(Empty::new()).map_err(http_error)?;
                s.ready().await.map_err(|e| classify(&e))?;
                s.send_request(req).await.map_err(|e| classify(&e))?
            }
        };
        read_response(response).await
    }

    /// The driver's error, once it has ended (it ends soon after the connection failed).
    async fn driver_failure(&mut self) -> Option<Failure> {
        let driver = self.driver.take()?;
        match tokio::time::timeout(DRIVER_GRACE, driver).await {
            Ok(Ok(Err(e))) => Some(classify(&e)),
            _ => None,
        }
    }
}

async fn read_response(response: Response<hyper::body::Incoming>) -> Result<(), Failure> {
    let status = response.status();
    response
        .into_body()
        .collect()
        .await
        .map_err(|e| classify(&e))?;
    if status.is_success() {
        Ok(())
    } else {
        Err(Failure::Status(status.as_u16()))
    }
}

fn http_error(e: http::Error) -> Failure {
    Failure::Http(e.to_string())
}
