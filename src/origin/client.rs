//! The shared, pooled origin client: HTTP/1.1 and h2c over TCP, and TLS clients per client
//! identity (see `pools`), with connect and response timeouts. Bodies and trailers stream
//! both ways; nothing is buffered.

use std::time::Duration;

use http::uri::Scheme;
use http::{Request, Response};
use hyper::body::{Body, Bytes};
use hyper_util::client::legacy::connect::Connect;
use hyper_util::client::legacy::Client;

use super::body::{boxed, BoxError, ProxyBody};
use super::classify::classify;
use super::echo;
use super::error::OriginError;
use super::headers::{strip_hop_by_hop, to_origin};
use super::options::OriginOptions;
use super::pools::{plain, PlainClient, TlsPools};
use super::tls::roots;
use crate::model::origin::{OriginHttp, OriginRoute, OriginSpec};

/// Shared, pooled clients for all origins. Cloning is cheap and shares the pools.
#[derive(Clone)]
pub struct OriginClient {
    h1: PlainClient,
    h2c: PlainClient,
    tls: TlsPools,
    response_timeout: Duration,
}

impl std::fmt::Debug for OriginClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginClient")
            .field("response_timeout", &self.response_timeout)
            .finish_non_exhaustive()
    }
}

/// Whether a request may use HTTP/2 or must be an HTTP/1.1 upgrade.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Leg {
    /// As the route says.
    Route,
    /// HTTP/1.1 whatever the route says: WebSocket handshakes are HTTP/1.1 upgrades.
    Upgrade,
}

impl OriginClient {
    /// Builds the clients. Spawns nothing, so it works inside or outside a tokio runtime;
    /// `send` must run inside one. Fails only on an unusable `ca_file`.
    pub fn new(opts: &OriginOptions) -> Result<OriginClient, OriginError> {
        Ok(OriginClient {
            h1: plain(opts, false),
            h2c: plain(opts, true),
            tls: TlsPools::new(roots(opts.ca_file.as_deref())?, opts)?,
            response_timeout: opts.response_timeout,
        })
    }

    /// Forward: rewrite the request URI to the origin (scheme + authority from the spec,
    /// path+query kept), keep the method, headers (`te: trailers` included), streaming body
    /// and trailers; set Host to the origin authority unless `preserve_host` (then keep the
    /// incoming Host, if any). The version follows the route: HTTP/1.1, h2c, or what ALPN
    /// gives for `https://`. Echo answers locally. Hop-by-hop headers are removed from the
    /// origin's response.
    pub async fn send<B>(
        &self,
        route: &OriginRoute,
        req: Request<B>,
        preserve_host: bool,
    ) -> Result<Response<ProxyBody>, OriginError>
    where
        B: Body<Data = Bytes> + Send + Sync + 'static,
        B::Error: Into<BoxError>,
    {
        let mut response = self.dispatch(route, req, preserve_host, Leg::Route).await?;
        strip_hop_by_hop(response.headers_mut());
        Ok(response)
    }

    /// An HTTP/1.1 upgrade request (WebSocket) to the route's origin: always HTTP/1.1 (ALPN
    /// `http/1.1` for `https://`; plain HTTP/1.1 to the address of an `h2c://` origin). The
    /// response comes back as the origin sent it, hop-by-hop headers included, so the caller
    /// can judge the switch; on 101 its extensions hold the origin's upgraded connection.
    pub async fn upgrade<B>(
        &self,
        route: &OriginRoute,
        req: Request<B>,
        preserve_host: bool,
    ) -> Result<Response<ProxyBody>, OriginError>
    where
        B: Body<Data = Bytes> + Send + Sync + 'static,
        B::Error: Into<BoxError>,
    {
        self.dispatch(route, req, preserve_host, Leg::Upgrade).await
    }

    async fn dispatch<B>(
        &self,
        route: &OriginRoute,
        req: Request<B>,
        preserve_host: bool,
        leg: Leg,
    ) -> Result<Response<ProxyBody>, OriginError>
    where
        B: Body<Data = Bytes> + Send + Sync + 'static,
        B::Error: Into<BoxError>,
    {
        match &route.spec {
            OriginSpec::Echo => Ok(echo::answer(req).await),
            OriginSpec::Http { authority } | OriginSpec::H2c { authority } => {
                let req = to_origin(req, Scheme::HTTP, authority, preserve_host)?;
                let client = match leg == Leg::Route && route.is_h2c() {
                    true => &self.h2c,
                    false => &self.h1,
                };
                self.forward(client, req).await
            }
            OriginSpec::Https { authority, .. } => {
                let req = to_origin(req, Scheme::HTTPS, authority, preserve_host)?;
                let clients = self.tls.get(route.identity.as_ref())?;
                let http = match leg {
                    Leg::Route => route.http,
                    Leg::Upgrade => OriginHttp::H1,
                };
                self.forward(clients.pick(http), req).await
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
        let (parts, body) = response.into_parts();
        Ok(Response::from_parts(parts, boxed(body)))
    }

    /// How many client identities have their own pools (for tests).
    #[cfg(test)]
    pub(super) fn identity_pools(&self) -> usize {
        self.tls.identities()
    }
}
