//! SNI/Host binding (rule 1, docs/architecture.md): each request's authority is canonicalised and
//! looked up with the same lookup as SNI; a request for a name whose connection policy (mutual
//! authentication and TLS configuration) differs from the connection's — or that this connection
//! does not serve — is misdirected (421). Bypasses elsewhere came from the two lookups disagreeing:
//! Traefik CVE-2022-23632 (trailing dot), CVE-2026-48491 (wildcards), CVE-2026-53622 (case);
//! Emissary 1.x (SNI vs Host).

use http::header::HOST;
use http::request::Parts;

use crate::acceptor::ConnInfo;
use crate::snapshot::entry::{DomainEntry, Snapshot};
use crate::snapshot::lookup::canonical_host;

/// What to do with a request. `domain` is the activated domain the request names (None: not
/// an activated name), borrowed from the connection's snapshot.
#[derive(Debug, Clone)]
pub enum Decision<'s> {
    /// Serve it; `host` is canonical, `authority` as the client sent it.
    Serve {
        host: String,
        authority: String,
        domain: Option<&'s DomainEntry>,
    },
    /// 421: not served under this connection's policy.
    Misdirected {
        detail: String,
        host: String,
        domain: Option<&'s DomainEntry>,
    },
    /// 400: no usable authority.
    BadRequest(&'static str),
}

/// The authority the request names: the URI's (HTTP/2 `:authority`, absolute-form target)
/// and the Host header must agree when both are present. Public as a fuzzing entry point.
pub fn authority(parts: &Parts) -> Result<String, &'static str> {
    let mut hosts = parts.headers.get_all(HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => return Err("more than one Host header"),
        (Some(h), None) => Some(
            h.to_str()
                .map_err(|_| "the Host header is not valid text")?,
        ),
        (None, _) => None,
    };
    let uri = parts.uri.authority().map(|a| a.as_str());
    match (uri, host) {
        (Some(u), Some(h)) if canonical_host(u) != canonical_host(h) => {
            Err("the request target's authority and the Host header disagree")
        }
        (Some(u), _) => Ok(u.to_string()),
        (None, Some(h)) => Ok(h.to_string()),
        (None, None) => Err("the request has no Host"),
    }
}

/// Decide whether this connection may serve the request, by the names `snapshot` serves
/// (the connection's current view: see `proxy::readmission`).
pub fn decide<'s>(parts: &Parts, conn: &ConnInfo, snapshot: &'s Snapshot) -> Decision<'s> {
    let authority = match authority(parts) {
        Ok(a) => a,
        Err(why) => return Decision::BadRequest(why),
    };
    let Some(host) = canonical_host(&authority) else {
        return Decision::BadRequest("the Host is not a valid host name");
    };
    // The connection's own domain as `snapshot` serves it (readmission keeps it equivalent to
    // the handshake's), so both sides of the comparison come from one snapshot.
    let own = snapshot
        .serving(conn.sni.as_deref(), conn.fallback)
        .map_or(&conn.entry, |e| e);
    match snapshot.domain(&host) {
        Some(entry) if entry.same_policy(own) => Decision::Serve {
            host,
            authority,
            domain: Some(entry),
        },
        Some(entry) => Decision::Misdirected {
            detail: format!(
                "{host} is not served under this connection's policy (mutual authentication and TLS configuration)"
            ),
            host,
            domain: Some(entry),
        },
        // Unknown names are served only on connections the default domain answered (no or
        // unknown SNI), which never carry client authentication.
        None if conn.fallback && own.client_auth.is_none() => Decision::Serve {
            host,
            authority,
            domain: None,
        },
        None => Decision::Misdirected {
            detail: format!("{host} is not served on this connection"),
            host,
            domain: None,
        },
    }
}
