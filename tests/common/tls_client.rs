//! A rustls client for data-plane tests: TLS 1.3 or 1.2 (aws-lc-rs), the fixture's server CA as
//! the only trust anchor, an optional client certificate, ALPN h2 / http/1.1, SNI as a name or
//! none, an optional resumption store, and a recording certificate resolver that tells whether a
//! CertificateRequest arrived and which CA names it carried. Requests go over hyper's client
//! connection API (or raw bytes for HTTP/1.1) so a test chooses Host, `:authority`, the request
//! target and every extra header.
//!
//! Errors keep the TLS alert: in TLS 1.3 the client finishes its handshake before the server has
//! judged the client certificate, so a refusal shows up on the first request, not in `connect`.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::{HeaderName, HeaderValue, Method, Request, Version as HttpVersion};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mtls_proxy::devpki::{Ca, Issued};
use rustls::client::{
    ClientSessionMemoryCache, ClientSessionStore, ResolvesClientCert, WebPkiServerVerifier,
};
use rustls::crypto::aws_lc_rs;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::sign::CertifiedKey;
use rustls::{
    AlertDescription, ClientConfig, HandshakeKind, NamedGroup, ProtocolVersion, RootCertStore,
    SignatureScheme,
};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::Reply;

/// The TLS version a client offers (only that one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    V13,
    V12,
}

/// Both versions, for tests that loop over them.
pub const BOTH: [Tls; 2] = [Tls::V13, Tls::V12];

/// The HTTP protocol a client offers in ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    H1,
    H2,
}

/// Both protocols, for tests that loop over them.
pub const PROTOS: [Proto; 2] = [Proto::H1, Proto::H2];

/// Why a connection or request failed. `Tls` is chosen whenever a rustls error (such as a
/// received alert) is anywhere in the cause chain.
#[derive(Debug)]
pub enum ClientError {
    /// rustls failed, e.g. with the alert the server sent.
    Tls(rustls::Error),
    /// The network failed.
    Io(std::io::Error),
    /// HTTP failed for another reason (the cause chain as text).
    Http(String),
}

impl ClientError {
    /// The alert the server sent, if that is why it failed.
    pub fn alert(&self) -> Option<AlertDescription> {
        match self {
            ClientError::Tls(rustls::Error::AlertReceived(a)) => Some(*a),
            _ => None,
        }
    }

    fn from_chain(err: &(dyn StdError + 'static)) -> ClientError {
        match find_tls(err) {
            Some(tls) => ClientError::Tls(tls),
            None => ClientError::Http(chain_text(err)),
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Tls(e) => write!(f, "tls: {e:?}"),
            ClientError::Io(e) => write!(f, "io: {e}"),
            ClientError::Http(e) => write!(f, "http: {e}"),
        }
    }
}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> Self {
        match e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(tls) => ClientError::Tls(tls.clone()),
            None => ClientError::Io(e),
        }
    }
}

/// The first rustls error in a cause chain. `io::Error::source` skips its own payload, so the
/// payload is looked at explicitly.
fn find_tls(err: &(dyn StdError + 'static)) -> Option<rustls::Error> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls.clone());
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(tls) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Some(tls.clone());
            }
        }
        cur = e.source();
    }
    None
}

fn chain_text(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}

/// A client-certificate resolver that records each CertificateRequest's CA names (DER
/// distinguished names, outer SEQUENCE included) and answers with its certificate, if any.
/// rustls resumes only under the very resolver (and verifier) that made the session, so a
/// [`Sessions`] keeps one and the certificate it offers is set per connection.
#[derive(Debug, Default)]
pub struct Recorder {
    key: Mutex<Option<Arc<CertifiedKey>>>,
    requests: Mutex<Vec<Vec<Vec<u8>>>>,
}

impl Recorder {
    /// Offer `key` from now on and forget earlier CertificateRequests.
    fn reset(&self, key: Option<Arc<CertifiedKey>>) {
        *self.key.lock().unwrap() = key;
        self.requests.lock().unwrap().clear();
    }

    /// The CA names of the CertificateRequest, or None when none arrived.
    pub fn hints(&self) -> Option<Vec<Vec<u8>>> {
        self.requests.lock().unwrap().last().cloned()
    }
}

impl ResolvesClientCert for Recorder {
    fn resolve(&self, hints: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        let hints = hints.iter().map(|h| h.to_vec()).collect();
        self.requests.lock().unwrap().push(hints);
        self.key.lock().unwrap().clone()
    }

    fn has_certs(&self) -> bool {
        self.key.lock().unwrap().is_some()
    }
}

/// What a client keeps between connections to resume: the session store plus the one verifier
/// and certificate resolver rustls insists the sessions were made with. Use one per scenario
/// and connect sequentially with it.
#[derive(Debug)]
pub struct Sessions {
    store: Arc<Store>,
    verifier: Arc<WebPkiServerVerifier>,
    recorder: Arc<Recorder>,
}

impl Sessions {
    /// Sessions filed by server name, as a well-behaved client keeps them.
    pub fn per_name(server_ca: &Ca) -> Arc<Sessions> {
        Self::with_store(server_ca, false)
    }

    /// Every session in one bucket: a ticket from one domain is offered to every other
    /// domain, which is the cross-domain resumption attack.
    pub fn one_bucket(server_ca: &Ca) -> Arc<Sessions> {
        Self::with_store(server_ca, true)
    }

    fn with_store(server_ca: &Ca, one_bucket: bool) -> Arc<Sessions> {
        let store = Store {
            inner: ClientSessionMemoryCache::new(32),
            one_bucket,
            offered: AtomicUsize::new(0),
        };
        Arc::new(Sessions {
            store: Arc::new(store),
            verifier: verifier(&roots(server_ca)),
            recorder: Arc::new(Recorder::default()),
        })
    }

    /// How many times a stored session was handed to rustls to offer to a server.
    pub fn offered(&self) -> usize {
        self.store.offered.load(Ordering::SeqCst)
    }
}

fn roots(server_ca: &Ca) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(server_ca.cert().cert_der.clone()))
        .unwrap();
    Arc::new(roots)
}

fn verifier(roots: &Arc<RootCertStore>) -> Arc<WebPkiServerVerifier> {
    WebPkiServerVerifier::builder_with_provider(
        roots.clone(),
        Arc::new(aws_lc_rs::default_provider()),
    )
    .build()
    .unwrap()
}

/// A session store that counts the sessions it hands out for resumption and can file every
/// session under one name whatever server it came from — so that a ticket from one domain is
/// offered to another, the cross-domain resumption attack.
#[derive(Debug)]
struct Store {
    inner: ClientSessionMemoryCache,
    one_bucket: bool,
    offered: AtomicUsize,
}

impl Store {
    fn key(&self, name: &ServerName<'_>) -> ServerName<'static> {
        match self.one_bucket {
            true => ServerName::try_from("bucket.invalid").unwrap(),
            false => name.to_owned(),
        }
    }

    fn count<T>(&self, found: Option<T>) -> Option<T> {
        if found.is_some() {
            self.offered.fetch_add(1, Ordering::SeqCst);
        }
        found
    }
}

impl ClientSessionStore for Store {
    fn set_kx_hint(&self, name: ServerName<'static>, group: NamedGroup) {
        self.inner.set_kx_hint(self.key(&name), group)
    }
    fn kx_hint(&self, name: &ServerName<'_>) -> Option<NamedGroup> {
        self.inner.kx_hint(&self.key(name))
    }
    fn set_tls12_session(
        &self,
        name: ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        self.inner.set_tls12_session(self.key(&name), value)
    }
    fn tls12_session(
        &self,
        name: &ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.count(self.inner.tls12_session(&self.key(name)))
    }
    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.inner.remove_tls12_session(&self.key(name))
    }
    fn insert_tls13_ticket(
        &self,
        name: ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        self.inner.insert_tls13_ticket(self.key(&name), value)
    }
    fn take_tls13_ticket(
        &self,
        name: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        self.count(self.inner.take_tls13_ticket(&self.key(name)))
    }
}

/// A certificate and key (possibly not matching) as rustls signs with them.
pub fn certified(chain: &[&[u8]], key: &Issued) -> Arc<CertifiedKey> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.key_der.clone()));
    let signer = aws_lc_rs::default_provider()
        .key_provider
        .load_private_key(key)
        .unwrap();
    let chain = chain
        .iter()
        .map(|c| CertificateDer::from(c.to_vec()))
        .collect();
    // CertifiedKey::new does not check the key against the certificate: that is what lets a
    // test sign CertificateVerify with the wrong key.
    Arc::new(CertifiedKey::new(chain, signer))
}

/// How to connect: built with chained setters, then `connect` or `fetch`.
#[derive(Clone)]
pub struct TlsClient {
    roots: Arc<RootCertStore>,
    name: ServerName<'static>,
    tls: Tls,
    proto: Proto,
    key: Option<Arc<CertifiedKey>>,
    sessions: Option<Arc<Sessions>>,
}

impl TlsClient {
    /// TLS 1.3, HTTP/1.1, SNI `sni`, no client certificate, no resumption; trusts `server_ca`.
    pub fn new(server_ca: &Ca, sni: &str) -> TlsClient {
        TlsClient {
            roots: roots(server_ca),
            name: ServerName::try_from(sni.to_string()).unwrap(),
            tls: Tls::V13,
            proto: Proto::H1,
            key: None,
            sessions: None,
        }
    }

    /// No SNI at all: connects to 127.0.0.1 by IP (the fixture's certificate has that SAN).
    pub fn no_sni(server_ca: &Ca) -> TlsClient {
        let mut c = TlsClient::new(server_ca, "placeholder.invalid");
        c.name = ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into());
        c
    }

    /// Offer only `tls`.
    pub fn tls(mut self, tls: Tls) -> TlsClient {
        self.tls = tls;
        self
    }

    /// Offer only `proto` in ALPN.
    pub fn proto(mut self, proto: Proto) -> TlsClient {
        self.proto = proto;
        self
    }

    /// Offer only h2 in ALPN.
    pub fn h2(self) -> TlsClient {
        self.proto(Proto::H2)
    }

    /// Present `issued` (with its own key).
    pub fn cert(self, issued: &Issued) -> TlsClient {
        self.certified(certified(&[&issued.cert_der], issued))
    }

    /// Present a prepared certificate chain and key.
    pub fn certified(mut self, key: Arc<CertifiedKey>) -> TlsClient {
        self.key = Some(key);
        self
    }

    /// Resume from (and save to) `sessions`.
    pub fn sessions(mut self, sessions: &Arc<Sessions>) -> TlsClient {
        self.sessions = Some(sessions.clone());
        self
    }

    /// The config for one connection and the resolver that records its CertificateRequest.
    fn config(&self) -> (ClientConfig, Arc<Recorder>) {
        let versions: &[&'static rustls::SupportedProtocolVersion] = match self.tls {
            Tls::V13 => &[&rustls::version::TLS13],
            Tls::V12 => &[&rustls::version::TLS12],
        };
        let (verifier, recorder) = match &self.sessions {
            Some(s) => (s.verifier.clone(), s.recorder.clone()),
            None => (verifier(&self.roots), Arc::new(Recorder::default())),
        };
        recorder.reset(self.key.clone());
        let mut config =
            ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
                .with_protocol_versions(versions)
                .unwrap()
                .with_webpki_verifier(verifier)
                .with_client_cert_resolver(recorder.clone());
        config.alpn_protocols = match self.proto {
            Proto::H1 => vec![b"http/1.1".to_vec()],
            Proto::H2 => vec![b"h2".to_vec()],
        };
        config.resumption = match &self.sessions {
            Some(s) => rustls::client::Resumption::store(s.store.clone()),
            None => rustls::client::Resumption::disabled(),
        };
        (config, recorder)
    }

    /// The TLS handshake only. The future owns what it needs, so it may outlive `self`.
    pub fn handshake(
        &self,
        addr: SocketAddr,
    ) -> impl std::future::Future<Output = Result<Handshaken, ClientError>> + 'static {
        let (config, recorder) = self.config();
        let connector = TlsConnector::from(Arc::new(config));
        let name = self.name.clone();
        async move {
            let tcp = TcpStream::connect(addr).await?;
            let stream = connector.connect(name, tcp).await?;
            Ok(Handshaken { stream, recorder })
        }
    }

    /// The TLS handshake over a TCP connection opened earlier.
    pub async fn handshake_over(&self, tcp: TcpStream) -> Result<Handshaken, ClientError> {
        let (config, recorder) = self.config();
        let connector = TlsConnector::from(Arc::new(config));
        let stream = connector.connect(self.name.clone(), tcp).await?;
        Ok(Handshaken { stream, recorder })
    }

    /// Handshake over a TCP connection opened earlier and send one request.
    pub async fn fetch_over(&self, tcp: TcpStream, req: &Req) -> Result<Reply, ClientError> {
        self.handshake_over(tcp)
            .await?
            .http()
            .await?
            .send(req)
            .await
    }

    /// The CA names of the CertificateRequest the server sends (None: it sent none), whether
    /// or not the handshake then succeeds.
    pub async fn cert_request(&self, addr: SocketAddr) -> Option<Vec<Vec<u8>>> {
        let (config, recorder) = self.config();
        let connector = TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(addr).await.unwrap();
        let _ = connector.connect(self.name.clone(), tcp).await;
        recorder.hints()
    }

    /// TLS handshake, then an HTTP connection per the negotiated ALPN.
    pub async fn connect(&self, addr: SocketAddr) -> Result<Conn, ClientError> {
        self.handshake(addr).await?.http().await
    }

    /// Connect and send one request.
    /// Handshake facts (None when the handshake failed) and the outcome of one GET of `host`
    /// on the connection.
    pub async fn attempt(
        &self,
        addr: SocketAddr,
        host: &str,
    ) -> (Option<HandshakeFacts>, Result<Reply, ClientError>) {
        let shaken = match self.handshake(addr).await {
            Ok(s) => s,
            Err(e) => return (None, Err(e)),
        };
        let facts = shaken.facts();
        let result = match shaken.http().await {
            Ok(mut conn) => conn.send(&Req::get(host)).await,
            Err(e) => Err(e),
        };
        (Some(facts), result)
    }

    pub async fn fetch(&self, addr: SocketAddr, req: &Req) -> Result<Reply, ClientError> {
        self.connect(addr).await?.send(req).await
    }
}

/// What the client learnt from the handshake.
#[derive(Debug, Clone)]
pub struct HandshakeFacts {
    /// Full or resumed (from the client's side).
    pub kind: Option<HandshakeKind>,
    /// The negotiated TLS version.
    pub version: Option<ProtocolVersion>,
    /// The ALPN protocol the server chose.
    pub alpn: Option<Vec<u8>>,
    /// CA names of the CertificateRequest; None when the server sent none.
    pub cert_request: Option<Vec<Vec<u8>>>,
}

impl HandshakeFacts {
    /// The session was resumed (no full handshake).
    pub fn resumed(&self) -> bool {
        self.kind == Some(HandshakeKind::Resumed)
    }
}

/// A completed TLS handshake, before any HTTP.
pub struct Handshaken {
    /// The TLS stream, ready for application data.
    pub stream: TlsStream<TcpStream>,
    /// The resolver that saw this handshake's CertificateRequest, if any.
    pub recorder: Arc<Recorder>,
}

impl Handshaken {
    /// What the handshake negotiated and whether a CertificateRequest came.
    pub fn facts(&self) -> HandshakeFacts {
        let conn = self.stream.get_ref().1;
        HandshakeFacts {
            kind: conn.handshake_kind(),
            version: conn.protocol_version(),
            alpn: conn.alpn_protocol().map(|p| p.to_vec()),
            cert_request: self.recorder.hints(),
        }
    }

    /// Start HTTP/2 when ALPN chose h2, else HTTP/1.1 (title-case header names on the wire).
    pub async fn http(self) -> Result<Conn, ClientError> {
        let facts = self.facts();
        let tls_error = Arc::new(Mutex::new(None));
        let io = TokioIo::new(Spy {
            inner: self.stream,
            tls_error: tls_error.clone(),
        });
        let started = if facts.alpn.as_deref() == Some(b"h2") {
            hyper::client::conn::http2::Builder::new(TokioExecutor::new())
                .handshake(io)
                .await
                .map(|(send, conn)| (Sender::H2(send), tokio::spawn(conn)))
        } else {
            hyper::client::conn::http1::Builder::new()
                .title_case_headers(true)
                .handshake(io)
                .await
                .map(|(send, conn)| (Sender::H1(send), tokio::spawn(conn)))
        };
        let mut conn = Conn {
            facts,
            sender: None,
            driver: None,
            tls_error,
        };
        match started {
            Ok((sender, driver)) => {
                conn.sender = Some(sender);
                conn.driver = Some(driver);
                Ok(conn)
            }
            Err(e) => Err(conn.failure(e).await),
        }
    }

    /// Write `bytes` as one raw HTTP/1.1 exchange and read until the server closes. Ask for
    /// `Connection: close` in the bytes.
    pub async fn raw(mut self, bytes: &[u8]) -> Result<Reply, ClientError> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await?;
        let mut out = Vec::new();
        match self.stream.read_to_end(&mut out).await {
            Ok(_) => {}
            // A peer that closes without close_notify still sent a whole response.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => {}
            Err(e) => return Err(e.into()),
        }
        parse_raw_response(&out)
    }
}

fn parse_raw_response(raw: &[u8]) -> Result<Reply, ClientError> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| ClientError::Http(format!("no complete response: {text:?}")))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ClientError::Http(format!("bad status line: {head:?}")))?;
    let mut headers = http::HeaderMap::new();
    for line in lines {
        if let Some((n, v)) = line.split_once(':') {
            headers.append(
                HeaderName::from_bytes(n.trim().as_bytes()).unwrap(),
                HeaderValue::from_str(v.trim()).unwrap(),
            );
        }
    }
    Ok(Reply {
        status,
        headers,
        body: body.as_bytes().to_vec(),
    })
}

/// Wraps the TLS stream under hyper and keeps the first rustls error seen on it: h2 keeps only
/// the text of an I/O error, so the alert would otherwise be lost on HTTP/2.
struct Spy {
    inner: TlsStream<TcpStream>,
    tls_error: Arc<Mutex<Option<rustls::Error>>>,
}

impl Spy {
    fn note<T>(&self, r: &std::io::Result<T>) {
        if let Err(e) = r {
            if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                self.tls_error
                    .lock()
                    .unwrap()
                    .get_or_insert_with(|| tls.clone());
            }
        }
    }
}

impl tokio::io::AsyncRead for Spy {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(r) = &r {
            self.note(r);
        }
        r
    }
}

impl tokio::io::AsyncWrite for Spy {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(r) = &r {
            self.note(r);
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        if let Poll::Ready(r) = &r {
            self.note(r);
        }
        r
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

type Driver = JoinHandle<Result<(), hyper::Error>>;

/// An HTTP connection over TLS; send several requests on it (keep-alive, HTTP/2 streams).
pub struct Conn {
    /// What the handshake negotiated.
    pub facts: HandshakeFacts,
    sender: Option<Sender>,
    driver: Option<Driver>,
    tls_error: Arc<Mutex<Option<rustls::Error>>>,
}

impl Conn {
    /// Send `req` and collect the whole answer.
    pub async fn send(&mut self, req: &Req) -> Result<Reply, ClientError> {
        let sent = match self.sender.as_mut() {
            Some(Sender::H1(s)) => match s.ready().await {
                Ok(()) => s.send_request(req.build(false)).await,
                Err(e) => Err(e),
            },
            Some(Sender::H2(s)) => match s.ready().await {
                Ok(()) => s.send_request(req.build(true)).await,
                Err(e) => Err(e),
            },
            None => return Err(ClientError::Http("connection not started".into())),
        };
        match sent {
            Ok(resp) => match collect(resp).await {
                Ok(reply) => Ok(reply),
                Err(e) => Err(self.tls_error().unwrap_or(e)),
            },
            Err(e) => Err(self.failure(e).await),
        }
    }

    /// Wait until the connection has ended: the server closed it (HTTP/1.1) or sent GOAWAY
    /// and closed it (HTTP/2). Returns at once when it already ended.
    pub async fn closed(&mut self) {
        if let Some(driver) = self.driver.take() {
            let _ = driver.await;
        }
    }

    fn tls_error(&self) -> Option<ClientError> {
        self.tls_error.lock().unwrap().clone().map(ClientError::Tls)
    }

    /// The most telling error: a TLS error seen on the stream (the server's alert) wins over
    /// whatever hyper made of it.
    async fn failure(&mut self, err: hyper::Error) -> ClientError {
        if let Some(driver) = self.driver.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), driver).await;
        }
        match self.tls_error() {
            Some(tls) => tls,
            None => ClientError::from_chain(&err),
        }
    }
}

async fn collect(resp: http::Response<hyper::body::Incoming>) -> Result<Reply, ClientError> {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| ClientError::from_chain(&e))?
        .to_bytes()
        .to_vec();
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// One request: method, target, the authority (Host in HTTP/1.1, `:authority` in HTTP/2) and
/// extra headers sent as given (a `host` among them is an extra Host header).
#[derive(Debug, Clone)]
pub struct Req {
    /// The request method.
    pub method: Method,
    /// Origin-form ("/path") or absolute-form ("https://host/path").
    pub target: String,
    /// HTTP/1.1: the Host header; HTTP/2: `:authority` when the target is origin-form. None:
    /// neither (HTTP/2 then sends no `:authority`).
    pub authority: Option<String>,
    /// Extra headers, in order; names may repeat.
    pub headers: Vec<(String, String)>,
}

impl Req {
    /// `GET /` for `authority`.
    pub fn get(authority: &str) -> Req {
        Req {
            method: Method::GET,
            target: "/".to_string(),
            authority: Some(authority.to_string()),
            headers: Vec::new(),
        }
    }

    /// `GET /` with no Host / `:authority` at all.
    pub fn without_authority() -> Req {
        Req {
            authority: None,
            ..Req::get("")
        }
    }

    /// Use `target` as the request target (origin-form or absolute-form).
    pub fn target(mut self, target: &str) -> Req {
        self.target = target.to_string();
        self
    }

    /// Add a header, in addition to any of the same name.
    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn build(&self, h2: bool) -> Request<Full<Bytes>> {
        let absolute = self.target.contains("://");
        let mut builder = Request::builder().method(self.method.clone());
        builder = match (&self.authority, h2, absolute) {
            (Some(a), true, false) => builder.uri(format!("https://{a}{}", self.target)),
            // h2 without scheme and authority is only allowed on a request marked as
            // forwarded HTTP/1.1: h2 then sends :scheme http and no :authority.
            (None, true, false) => builder.uri(&self.target).version(HttpVersion::HTTP_11),
            (Some(a), false, _) => builder.uri(&self.target).header("host", a),
            _ => builder.uri(&self.target),
        };
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder.body(Full::new(Bytes::new())).unwrap()
    }
}

/// The headers the echo origin reports it received, as name → value.
pub fn seen(reply: &Reply) -> HashMap<String, String> {
    let doc = reply.json();
    let headers = doc["headers"]
        .as_object()
        .unwrap_or_else(|| panic!("not an echo answer: {doc}"));
    headers
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

/// The echo document of a reply, asserting a 200 first.
pub fn ok_json(reply: &Reply) -> Value {
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply.json()
}

/// Lower-case hex SHA-256 of `der`, as `client-cert-sha256` carries it.
pub fn sha256_hex(der: &[u8]) -> String {
    let digest = ::aws_lc_rs::digest::digest(&::aws_lc_rs::digest::SHA256, der);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 9440 sf-binary of `der`: `:base64:`.
pub fn rfc9440(der: &[u8]) -> String {
    use base64::Engine as _;
    format!(
        ":{}:",
        base64::engine::general_purpose::STANDARD.encode(der)
    )
}
