//! The shared, pooled origin client: one http and one https client (keep-alive pools) for
//! all origins, with connect and response timeouts.

use std::time::Duration;

use http::uri::Scheme;
use http::{Request, Response};
use hyper::body::{Body, Bytes};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::client::legacy::{Builder, Client};
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::body::{boxed, BoxError, ProxyBody};
use super::classify::classify;
use super::connector::TimeoutConnector;
use super::echo;
use super::error::OriginError;
use super::headers::{strip_hop_by_hop, to_origin};
use super::options::OriginOptions;
use super::spec::OriginSpec;
use super::tls::client_config;

type HttpClient = Client<TimeoutConnector<HttpConnector>, ProxyBody>;
type HttpsClient = Client<TimeoutConnector<HttpsConnector<HttpConnector>>, ProxyBody>;

/// Shared, pooled clients (one http and one https client for all origins; keep-alive pooling).
/// Cloning is cheap and shares the pools.
#[derive(Clone)]
pub struct OriginClient {
    http: HttpClient,
    https: HttpsClient,
    response_timeout: Duration,
}

impl std::fmt::Debug for OriginClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginClient")
            .field("response_timeout", &self.response_timeout)
            .finish_non_exhaustive()
    }
}

impl OriginClient {
    /// Builds both clients. Spawns nothing, so it works inside or outside a tokio runtime;
    /// `send` must run inside one. Fails only on an unusable `ca_file`.
    pub fn new(opts: &OriginOptions) -> Result<OriginClient, OriginError> {
        let tls = client_config(opts.ca_file.as_deref())?;
        // HTTP/1.1 only towards origins: Host then means exactly what the origin sees (with
        // HTTP/2, `:authority` would name the origin while a preserved Host named the
        // client's host, a mismatch RFC 9113 §8.3.1 lets servers reject).
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .wrap_connector(tcp_connector(true));
        Ok(OriginClient {
            http: pool(opts).build(TimeoutConnector::new(
                tcp_connector(false),
                opts.connect_timeout,
            )),
            https: pool(opts).build(TimeoutConnector::new(https, opts.connect_timeout)),
            response_timeout: opts.response_timeout,
        })
    }

    /// Forward: rewrite the request URI to the origin (scheme + authority from the spec,
    /// path+query kept), keep the method, headers and streaming body; set Host to the origin
    /// authority unless `preserve_host` (then keep the incoming Host, if any). Echo answers
    /// locally. Hop-by-hop headers are removed from the origin's response.
    pub async fn send<B>(
        &self,
        spec: &OriginSpec,
        req: Request<B>,
        preserve_host: bool,
    ) -> Result<Response<ProxyBody>, OriginError>
    where
        B: Body<Data = Bytes> + Send + Sync + 'static,
        B::Error: Into<BoxError>,
    {
        match spec {
            OriginSpec::Echo => Ok(echo::answer(req).await),
            OriginSpec::Http { authority } => {
                let req = to_origin(req, Scheme::HTTP, authority, preserve_host)?;
                self.forward(&self.http, req).await
            }
            OriginSpec::Https { authority, .. } => {
                let req = to_origin(req, Scheme::HTTPS, authority, preserve_host)?;
                self.forward(&self.https, req).await
            }
        }
    }

    async fn forward<C>(
        &self,
        client: &Client<C, ProxyBody>,
        req: Request<ProxyBody>,
    ) -> Result<Response<ProxyBody>, OriginError>
    where
        C: Connect + Clone + Send + Sync + 'static,
    {
        let response = tokio::time::timeout(self.response_timeout, client.request(req))
            .await
            .map_err(|_| OriginError::Timeout)?
            .map_err(|e| classify(&e))?;
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(parts, boxed(body)))
    }
}

/// A TCP connector; `tls` lets https URIs through (the TLS layer wraps it).
fn tcp_connector(tls: bool) -> HttpConnector {
    let mut connector = HttpConnector::new();
    connector.enforce_http(!tls);
    // Proxied requests are latency-sensitive and already buffered by hyper.
    connector.set_nodelay(true);
    connector
}

fn pool(opts: &OriginOptions) -> Builder {
    let mut builder = Client::builder(TokioExecutor::new());
    builder
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(opts.pool_idle_timeout)
        .pool_max_idle_per_host(opts.pool_max_idle_per_host);
    builder
}
