//! A hand-driven HTTP/2 client over TLS that behaves as an uncooperative client would: it
//! never acknowledges PING, ignores GOAWAY and keeps opening streams. It speaks just enough
//! HTTP/2 for that: the preface and SETTINGS (acknowledging the server's), GET requests as
//! HPACK literals, and per-stream outcomes (the response body, a RST_STREAM, or the connection
//! ending). Response headers are not decoded (HPACK's dynamic table is out of scope): the
//! proxy's and the echo origin's JSON bodies tell the answers apart.

use std::net::SocketAddr;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::tls_client::TlsClient;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;

/// HPACK static-table indexes of the pseudo-header names used here.
const AUTHORITY: u8 = 1;
const METHOD: u8 = 2;
const PATH: u8 = 4;

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// An HPACK literal header field without indexing, its name from the static table (4-bit
/// index) and its value a short raw string.
fn literal(block: &mut Vec<u8>, name_index: u8, value: &str) {
    block.push(name_index);
    block.push(u8::try_from(value.len()).expect("short value"));
    block.extend_from_slice(value.as_bytes());
}

/// How one stream ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A complete response whose body is JSON.
    Answered(Value),
    /// The server reset the stream with this error code (7 = REFUSED_STREAM).
    Reset(u32),
    /// The connection ended before the stream did.
    ConnectionEnded,
}

/// An HTTP/2 connection driven by hand.
pub struct RawH2 {
    tls: TlsStream<TcpStream>,
    next_stream: u32,
    /// PING frames received (none acknowledged).
    pub pings: usize,
    /// The last-stream-id of every GOAWAY received.
    pub goaways: Vec<u32>,
    /// Bodies of streams still open, by stream id.
    bodies: std::collections::HashMap<u32, Vec<u8>>,
}

impl RawH2 {
    /// Handshake with `client` (which must offer h2) and send the preface and SETTINGS.
    pub async fn connect(client: &TlsClient, addr: SocketAddr) -> RawH2 {
        let shaken = client.handshake(addr).await.expect("handshake");
        assert_eq!(shaken.facts().alpn.as_deref(), Some(&b"h2"[..]));
        let mut h2 = RawH2 {
            tls: shaken.stream,
            next_stream: 1,
            pings: 0,
            goaways: Vec::new(),
            bodies: Default::default(),
        };
        h2.tls.write_all(PREFACE).await.unwrap();
        h2.frame(SETTINGS, 0, 0, &[]).await.unwrap();
        h2
    }

    async fn frame(
        &mut self,
        kind: u8,
        flags: u8,
        stream: u32,
        payload: &[u8],
    ) -> std::io::Result<()> {
        let len = u32::try_from(payload.len()).unwrap();
        let mut out = Vec::with_capacity(9 + payload.len());
        out.extend_from_slice(&len.to_be_bytes()[1..]);
        out.push(kind);
        out.push(flags);
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
        self.tls.write_all(&out).await?;
        self.tls.flush().await
    }

    /// Open a stream with `GET https://{authority}{path}`; returns its id, or None when the
    /// connection can no longer be written to.
    pub async fn get(&mut self, authority: &str, path: &str) -> Option<u32> {
        // HPACK: indexed :method GET (2) and :scheme https (7).
        let mut block = vec![0x82, 0x87];
        literal(&mut block, PATH, path);
        literal(&mut block, AUTHORITY, authority);
        self.open(&block).await
    }

    /// Open a stream with `CONNECT {authority}` (no :scheme, no :path: RFC 9113 §8.5).
    pub async fn connect_method(&mut self, authority: &str) -> Option<u32> {
        let mut block = Vec::new();
        literal(&mut block, METHOD, "CONNECT");
        literal(&mut block, AUTHORITY, authority);
        self.open(&block).await
    }

    async fn open(&mut self, block: &[u8]) -> Option<u32> {
        let id = self.next_stream;
        self.next_stream += 2;
        self.frame(HEADERS, END_STREAM | END_HEADERS, id, block)
            .await
            .ok()?;
        self.bodies.insert(id, Vec::new());
        Some(id)
    }

    /// Read (never acknowledging a PING) until the server closes the connection.
    pub async fn until_closed(&mut self) {
        // No frame names stream 0 as its own: this returns only when the connection ends.
        let ended = self.outcome(0).await;
        assert_eq!(ended, Outcome::ConnectionEnded);
    }

    /// Read frames until stream `id` ends (or the connection does).
    pub async fn outcome(&mut self, id: u32) -> Outcome {
        loop {
            let Some((kind, flags, stream, payload)) = self.read_frame().await else {
                return Outcome::ConnectionEnded;
            };
            match kind {
                SETTINGS
                    if flags & ACK == 0 && self.frame(SETTINGS, ACK, 0, &[]).await.is_err() =>
                {
                    return Outcome::ConnectionEnded;
                }
                PING if flags & ACK == 0 => self.pings += 1,
                GOAWAY => {
                    let last = payload
                        .get(..4)
                        .map(|b| u32::from_be_bytes(b.try_into().unwrap()) & 0x7fff_ffff);
                    self.goaways.extend(last);
                }
                RST_STREAM if stream == id => {
                    let code = payload
                        .get(..4)
                        .map_or(0, |b| u32::from_be_bytes(b.try_into().unwrap()));
                    return Outcome::Reset(code);
                }
                DATA => {
                    if let Some(body) = self.bodies.get_mut(&stream) {
                        body.extend_from_slice(&payload);
                    }
                    if stream == id && flags & END_STREAM != 0 {
                        return self.answered(id);
                    }
                }
                HEADERS if stream == id && flags & END_STREAM != 0 => return self.answered(id),
                _ => {}
            }
        }
    }

    fn answered(&mut self, id: u32) -> Outcome {
        let body = self.bodies.remove(&id).unwrap_or_default();
        let doc = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("stream {id}: body is not JSON ({e}): {body:?}"));
        Outcome::Answered(doc)
    }

    /// One frame: (type, flags, stream id, payload); None at the end of the connection.
    async fn read_frame(&mut self) -> Option<(u8, u8, u32, Vec<u8>)> {
        let mut head = [0u8; 9];
        self.tls.read_exact(&mut head).await.ok()?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; usize::try_from(len).unwrap()];
        self.tls.read_exact(&mut payload).await.ok()?;
        Some((head[3], head[4], stream, payload))
    }
}
