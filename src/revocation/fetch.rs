//! Fetching a CRL from its URL, bounded: one deadline for the whole fetch (connect, TLS,
//! redirects, body), at most [`pki::MAX_CRL_DER_BYTES`] of body, at most [`MAX_REDIRECTS`]
//! redirects and never one to another scheme (an `https://` list must not be downgraded to
//! plain text by a redirect, nor an `http://` one sent to an unexpected TLS endpoint). The body
//! is DER (`application/pkix-crl`, as CRL distribution points serve it) or PEM.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http::{header, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::crypto::aws_lc_rs;
use rustls::ClientConfig;

use crate::model::pki;

/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 5;

/// Why a fetch failed; the text is what `last_fetch_error` shows.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    #[error("the fetch did not finish within {0:?}")]
    Timeout(Duration),
    #[error("{0} is not a usable http or https URL")]
    BadUrl(String),
    #[error("cannot fetch {url}: {reason}")]
    Request { url: String, reason: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} redirects to {to}, which changes the scheme; refused")]
    SchemeChange { url: String, to: String },
    #[error("{url} redirected more than {MAX_REDIRECTS} times")]
    TooManyRedirects { url: String },
    #[error("{url} redirects without a usable Location")]
    BadRedirect { url: String },
    #[error("the response from {url} is larger than {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("the response from {url} is neither a DER nor a PEM CRL")]
    NotACrl { url: String },
}

/// Why the fetcher could not be built.
#[derive(Debug, thiserror::Error)]
pub enum FetcherError {
    #[error("revocation.ca_file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("TLS client: {0}")]
    Tls(String),
}

type HttpsClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// Fetches CRLs over http and https.
#[derive(Clone)]
pub struct Fetcher {
    client: HttpsClient,
    timeout: Duration,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// A fetcher whose https connections trust `ca_file` (else the system roots) and whose
    /// fetches each end within `timeout`.
    pub fn new(timeout: Duration, ca_file: Option<&Path>) -> Result<Fetcher, FetcherError> {
        let roots = crate::tls_roots::load(ca_file, "revocation list URLs (revocation.ca_file)")
            .map_err(|e| FetcherError::CaFile {
                path: e.path.display().to_string(),
                reason: e.reason,
            })?;
        let tls = ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| FetcherError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Fetcher {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        })
    }

    /// The CRL at `url`, as PEM.
    pub async fn fetch(&self, url: &str) -> Result<String, FetchError> {
        tokio::time::timeout(self.timeout, self.fetch_unbounded(url))
            .await
            .map_err(|_| FetchError::Timeout(self.timeout))?
    }

    async fn fetch_unbounded(&self, url: &str) -> Result<String, FetchError> {
        let mut at: Uri = url
            .parse()
            .map_err(|_| FetchError::BadUrl(url.to_string()))?;
        let scheme = at.scheme().cloned();
        for _ in 0..=MAX_REDIRECTS {
            let shown = at.to_string();
            let req = Request::get(at.clone())
                .header(
                    header::ACCEPT,
                    "application/pkix-crl, application/x-pem-file, */*",
                )
                .body(Empty::new())
                .map_err(|_| FetchError::BadUrl(shown.clone()))?;
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| FetchError::Request {
                    url: shown.clone(),
                    reason: chain_text(&e),
                })?;
            let status = resp.status();
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let next = redirect_target(&at, resp.headers().get(header::LOCATION))
                    .ok_or_else(|| FetchError::BadRedirect { url: shown.clone() })?;
                if next.scheme() != scheme.as_ref() {
                    return Err(FetchError::SchemeChange {
                        url: shown,
                        to: next.to_string(),
                    });
                }
                at = next;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status {
                    url: shown,
                    status: status.as_u16(),
                });
            }
            let body = read_limited(resp.into_body(), &shown).await?;
            return to_pem(&body).ok_or(FetchError::NotACrl { url: shown });
        }
        Err(FetchError::TooManyRedirects {
            url: url.to_string(),
        })
    }
}

/// The body, refusing more than the CRL size limit without reading further.
async fn read_limited(body: hyper::body::Incoming, url: &str) -> Result<Bytes, FetchError> {
    let limit = pki::MAX_CRL_DER_BYTES;
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(FetchError::TooLarge {
            url: url.to_string(),
            limit,
        }),
        Err(e) => Err(FetchError::Request {
            url: url.to_string(),
            reason: e.to_string(),
        }),
    }
}

/// A fetched body as PEM text: PEM as it came, DER wrapped.
pub fn to_pem(body: &[u8]) -> Option<String> {
    let trimmed = body.trim_ascii_start();
    if trimmed.starts_with(b"-----BEGIN") {
        return std::str::from_utf8(body).ok().map(str::to_string);
    }
    // DER: a SEQUENCE. Anything else (an HTML error page served with 200) is not a CRL.
    if body.first() != Some(&0x30) {
        return None;
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(body);
    let mut pem = String::with_capacity(b64.len() + b64.len() / 64 + 64);
    pem.push_str("-----BEGIN X509 CRL-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END X509 CRL-----\n");
    Some(pem)
}

/// Where a redirect leads: an absolute URI, a network-path (`//host/p`), an absolute path
/// (`/p`) or a relative path, resolved against `base`.
fn redirect_target(base: &Uri, location: Option<&http::HeaderValue>) -> Option<Uri> {
    let location = location?.to_str().ok()?;
    let scheme = base.scheme_str()?;
    let authority = base.authority()?.as_str();
    let text = if location.contains("://") {
        location.to_string()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(d, _)| d);
        let path = remove_dot_segments(&format!("{dir}/{location}"));
        format!("{scheme}://{authority}{path}")
    };
    let uri: Uri = text.parse().ok()?;
    uri.authority()?;
    Some(uri)
}

/// RFC 3986 §5.2.4 for a relative redirect (`../x.crl`); the query, if any, is kept as is.
fn remove_dot_segments(reference: &str) -> String {
    let (path, query) = match reference.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (reference, None),
    };
    let mut out: Vec<&str> = Vec::new();
    for segment in path.split('/').skip(1) {
        match segment {
            "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut joined = format!("/{}", out.join("/"));
    if path.ends_with("/.") || path.ends_with("/..") {
        joined.push('/');
    }
    match query {
        Some(q) => format!("{joined}?{q}"),
        None => joined,
    }
}

fn chain_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}

#[cfg(test)]
mod tests;
