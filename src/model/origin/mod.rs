//! Where requests go: origin specs (`echo`, `http://`, `h2c://`, `https://`), the HTTP version
//! spoken to them, and the client certificate presented to `https://` origins. Pure data and
//! parsing, shared by the settings, the snapshot and the origin client.

mod identity;
mod spec;

use std::fmt;
use std::sync::Arc;

use serde::Deserialize;

pub use identity::OriginIdentity;
pub use spec::{OriginSpec, OriginSpecError};

/// `origin_http`: which HTTP version requests take to an origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OriginHttp {
    /// `https://`: HTTP/2 when the origin offers `h2` by ALPN, else HTTP/1.1. `http://`:
    /// HTTP/1.1. `h2c://`: HTTP/2.
    #[default]
    Auto,
    /// HTTP/1.1 only (`https://` offers only `http/1.1` by ALPN).
    H1,
    /// HTTP/2 only: prior knowledge over `http://` (as `h2c://`), `h2` by ALPN over `https://`.
    H2,
}

impl OriginHttp {
    /// As written in the settings.
    pub fn as_str(self) -> &'static str {
        match self {
            OriginHttp::Auto => "auto",
            OriginHttp::H1 => "h1",
            OriginHttp::H2 => "h2",
        }
    }
}

/// An origin and how to reach it: what a route (or `default_origin`) resolves to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OriginRoute {
    pub spec: OriginSpec,
    pub http: OriginHttp,
    /// The certificate presented to an `https://` origin that asks for one; None: none.
    pub identity: Option<Arc<OriginIdentity>>,
}

impl OriginRoute {
    /// A route to `spec` with the defaults: `auto`, no client certificate.
    pub fn new(spec: OriginSpec) -> OriginRoute {
        OriginRoute {
            spec,
            http: OriginHttp::Auto,
            identity: None,
        }
    }

    /// Why this combination cannot be served, if it cannot: `h1` towards an `h2c://` origin,
    /// or a client certificate for an origin without TLS (it would never be presented).
    pub fn problem(&self) -> Option<String> {
        let tls = matches!(self.spec, OriginSpec::Https { .. });
        if matches!(self.spec, OriginSpec::H2c { .. }) && self.http == OriginHttp::H1 {
            return Some(format!(
                "origin_http = \"h1\" contradicts the h2c:// origin {}",
                self.spec
            ));
        }
        if self.identity.is_some() && !tls {
            return Some(format!(
                "a client certificate is only presented to https:// origins, not {}",
                self.spec
            ));
        }
        None
    }

    /// Whether requests take HTTP/2 with prior knowledge over plain TCP.
    pub fn is_h2c(&self) -> bool {
        match self.spec {
            OriginSpec::H2c { .. } => true,
            OriginSpec::Http { .. } => self.http == OriginHttp::H2,
            OriginSpec::Echo | OriginSpec::Https { .. } => false,
        }
    }
}

impl From<OriginSpec> for OriginRoute {
    fn from(spec: OriginSpec) -> OriginRoute {
        OriginRoute::new(spec)
    }
}

impl fmt::Display for OriginRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.spec.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(spec: &str, http: OriginHttp) -> OriginRoute {
        OriginRoute {
            spec: spec.parse().unwrap(),
            http,
            identity: None,
        }
    }

    #[test]
    fn h2c_is_prior_knowledge_from_the_scheme_or_the_mode() {
        assert!(route("h2c://a:1", OriginHttp::Auto).is_h2c());
        assert!(route("h2c://a:1", OriginHttp::H2).is_h2c());
        assert!(route("http://a:1", OriginHttp::H2).is_h2c());
        assert!(!route("http://a:1", OriginHttp::Auto).is_h2c());
        assert!(!route("https://a:1", OriginHttp::H2).is_h2c());
        assert!(!route("echo", OriginHttp::H2).is_h2c());
    }

    #[test]
    fn contradictions_are_named() {
        let p = route("h2c://a:1", OriginHttp::H1).problem().unwrap();
        assert!(p.contains("h2c://a:1"), "{p}");
        assert!(route("https://a:1", OriginHttp::H1).problem().is_none());
        let cert = rcgen::generate_simple_self_signed(vec!["c".into()]).unwrap();
        let identity = Arc::new(OriginIdentity::new(
            vec![cert.cert.der().clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into()),
            "c.pem".into(),
        ));
        let mut r = route("http://a:1", OriginHttp::Auto);
        r.identity = Some(identity.clone());
        assert!(r.problem().unwrap().contains("only presented to https://"));
        r.spec = "https://a:1".parse().unwrap();
        assert!(r.problem().is_none());
    }

    #[test]
    fn origin_http_parses_lowercase_only() {
        #[derive(Deserialize)]
        struct T {
            v: OriginHttp,
        }
        let t: T = toml::from_str("v = \"h2\"").unwrap();
        assert_eq!(t.v, OriginHttp::H2);
        assert!(toml::from_str::<T>("v = \"H2\"").is_err());
        assert!(toml::from_str::<T>("v = \"http2\"").is_err());
    }
}
