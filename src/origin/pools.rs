//! The pooled hyper clients: plain HTTP/1.1, prior-knowledge h2c, and for each client identity
//! (none, or a client certificate) three TLS clients offering `h2` and `http/1.1`, `http/1.1`
//! only, or `h2` only by ALPN. Every client keeps its own keep-alive pool keyed by origin, so a
//! pooled connection is only reused for the same origin, version policy and client certificate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Builder, Client};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::{ClientConfig, RootCertStore};

use super::body::ProxyBody;
use super::connector::TimeoutConnector;
use super::error::OriginError;
use super::options::OriginOptions;
use super::tls::client_config;
use crate::model::origin::{OriginHttp, OriginIdentity};

pub(super) type PlainClient = Client<TimeoutConnector<HttpConnector>, ProxyBody>;
pub(super) type TlsClient = Client<TimeoutConnector<HttpsConnector<HttpConnector>>, ProxyBody>;

/// A plain-TCP client: HTTP/1.1, or HTTP/2 with prior knowledge (`h2c`).
pub(super) fn plain(opts: &OriginOptions, h2c: bool) -> PlainClient {
    let mut builder = pool(opts);
    builder.http2_only(h2c);
    builder.build(TimeoutConnector::new(
        tcp_connector(false),
        opts.connect_timeout,
    ))
}

/// The TLS clients of one client identity.
pub(super) struct TlsClients {
    /// ALPN `h2`, `http/1.1`: the origin picks.
    auto: TlsClient,
    /// ALPN `http/1.1` only.
    h1: TlsClient,
    /// ALPN `h2` only, and HTTP/2 even if the origin ignores ALPN.
    h2: TlsClient,
}

impl TlsClients {
    fn new(config: &ClientConfig, opts: &OriginOptions) -> TlsClients {
        let base = || {
            HttpsConnectorBuilder::new()
                .with_tls_config(config.clone())
                .https_only()
        };
        let auto = base()
            .enable_all_versions()
            .wrap_connector(tcp_connector(true));
        let h1 = base().enable_http1().wrap_connector(tcp_connector(true));
        let h2 = base().enable_http2().wrap_connector(tcp_connector(true));
        let client = |connector, h2_only: bool| {
            let mut builder = pool(opts);
            builder.http2_only(h2_only);
            builder.build(TimeoutConnector::new(connector, opts.connect_timeout))
        };
        TlsClients {
            auto: client(auto, false),
            h1: client(h1, false),
            h2: client(h2, true),
        }
    }

    /// The client for `http`.
    pub(super) fn pick(&self, http: OriginHttp) -> &TlsClient {
        match http {
            OriginHttp::Auto => &self.auto,
            OriginHttp::H1 => &self.h1,
            OriginHttp::H2 => &self.h2,
        }
    }
}

/// TLS clients per client identity: built on first use, shared by every route presenting the
/// same certificate chain, and dropped once no snapshot holds that identity any more.
#[derive(Clone)]
pub(super) struct TlsPools {
    roots: Arc<RootCertStore>,
    opts: OriginOptions,
    anonymous: Arc<TlsClients>,
    by_identity: Arc<Mutex<HashMap<[u8; 32], Held>>>,
}

struct Held {
    /// The identity the clients were built for (or one with the same chain).
    identity: Weak<OriginIdentity>,
    clients: Arc<TlsClients>,
}

impl TlsPools {
    pub(super) fn new(
        roots: Arc<RootCertStore>,
        opts: &OriginOptions,
    ) -> Result<TlsPools, OriginError> {
        let anonymous = Arc::new(TlsClients::new(&client_config(&roots, None)?, opts));
        Ok(TlsPools {
            roots,
            opts: opts.clone(),
            anonymous,
            by_identity: Arc::default(),
        })
    }

    /// The clients presenting `identity` (none: no client certificate).
    pub(super) fn get(
        &self,
        identity: Option<&Arc<OriginIdentity>>,
    ) -> Result<Arc<TlsClients>, OriginError> {
        let Some(identity) = identity else {
            return Ok(self.anonymous.clone());
        };
        let mut map = self.by_identity.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = map.get_mut(identity.fingerprint()) {
            if held.identity.strong_count() == 0 {
                // Reloaded from the same files: the same chain keeps its pools.
                held.identity = Arc::downgrade(identity);
            }
            return Ok(held.clients.clone());
        }
        let config = client_config(&self.roots, Some(identity))?;
        let clients = Arc::new(TlsClients::new(&config, &self.opts));
        // Identities no snapshot holds any more (replaced by a reload) take their pools along.
        map.retain(|_, held| held.identity.strong_count() > 0);
        map.insert(
            *identity.fingerprint(),
            Held {
                identity: Arc::downgrade(identity),
                clients: clients.clone(),
            },
        );
        Ok(clients)
    }

    /// How many identities have clients (for tests).
    #[cfg(test)]
    pub(super) fn identities(&self) -> usize {
        self.by_identity.lock().map(|m| m.len()).unwrap_or(0)
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
