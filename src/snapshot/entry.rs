//! The immutable snapshot the data plane reads: per-domain TLS entries, the SNI/Host table, and
//! routes to origins. A connection takes one snapshot at accept and keeps it.

use std::sync::Arc;

use rustls::ServerConfig;

use super::lookup::DomainTable;
use super::route::{HostRoutes, Rewritten, Routing};
use super::server_config::TlsParams;
use super::verifier::ClientAuth;
use crate::metrics::DomainMetrics;
use crate::model::origin::OriginRoute;

/// One activated domain as the data plane serves it.
#[derive(Debug)]
pub struct DomainEntry {
    /// The activation's domain (canonical; may be a `*.` wildcard).
    pub name: String,
    /// Shared by domains with the same certificate, configuration and mutual authentication.
    pub server_config: Arc<ServerConfig>,
    /// The client-certificate policy; None when the domain has no mutual authentication (no
    /// CertificateRequest is ever sent).
    pub client_auth: Option<Arc<ClientAuth>>,
    /// The mutual authentication id: the policy identity compared by the SNI/Host check.
    pub mutual_authentication_id: Option<Arc<str>>,
    /// The TLS configuration's protocol versions and HTTP protocols.
    pub tls: TlsParams,
    /// This domain's metric handles, resolved when the snapshot was built so handshakes and
    /// requests only bump atomics (`other` for the fallback entry).
    pub metrics: Arc<DomainMetrics>,
}

impl DomainEntry {
    /// Whether a request for `other` may be served on a connection established under `self`
    /// (both entries of one snapshot): the whole connection policy must be the same, that is
    /// the same mutual authentication in the same version (or none on both) and the same TLS
    /// configuration (protocol versions and HTTP protocols). A connection made under one
    /// domain's TLS settings must not carry requests for a domain that forbids them (rule 1,
    /// docs/architecture.md).
    pub fn same_policy(&self, other: &DomainEntry) -> bool {
        let same_auth = match (&self.client_auth, &other.client_auth) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        same_auth
            && self.mutual_authentication_id == other.mutual_authentication_id
            && self.tls == other.tls
    }
}

/// Everything the data plane reads, at one store revision.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The store revision this snapshot was built from.
    pub revision: u64,
    /// SNI and Host lookup: exact names and one-label wildcards.
    pub domains: DomainTable<Arc<DomainEntry>>,
    /// Serves handshakes without SNI or with an unknown SNI, when configured. Built without
    /// client authentication: such a connection can never reach an mTLS domain.
    pub fallback: Option<Arc<DomainEntry>>,
    /// `[[routes]]`: request host → its routes by path prefix.
    pub routes: DomainTable<Arc<HostRoutes>>,
    /// Origin for hosts without a route.
    pub default_origin: Arc<OriginRoute>,
    /// Forward the client's Host to origins.
    pub preserve_host: bool,
    /// Add `x-forwarded-client-cert` for verified certificates.
    pub xfcc: bool,
}

impl Snapshot {
    /// The entry for a canonical SNI name, if activated.
    pub fn domain(&self, sni: &str) -> Option<&Arc<DomainEntry>> {
        self.domains.lookup(sni)
    }

    /// Whether a connection established under `entry` (for `sni`, or as a fallback) is still
    /// governed by the same client-certificate policy in this newer snapshot. False when its
    /// domain was deactivated, or its mutual authentication was attached, detached, replaced,
    /// rotated or had `enforced` flipped: verifiers are shared between builds only while their
    /// inputs are unchanged, so pointer identity is policy identity.
    pub fn keeps_policy(&self, entry: &DomainEntry, sni: Option<&str>, fallback: bool) -> bool {
        let Some(current) = self.serving(sni, fallback) else {
            return false;
        };
        match (&current.client_auth, &entry.client_auth) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    /// The entry that now serves a connection established for `sni` (or as a fallback).
    pub fn serving(&self, sni: Option<&str>, fallback: bool) -> Option<&Arc<DomainEntry>> {
        match (fallback, sni) {
            (true, _) => self.fallback.as_ref(),
            (false, Some(name)) => self.domain(name),
            (false, None) => None,
        }
    }

    /// The route for a canonical request host and its path (origin-form, no query), with the
    /// normalised path to forward when path rules needed it and it differs.
    pub fn routing(
        &self,
        host: &str,
        path: &str,
    ) -> Result<(Routing<'_>, Option<Rewritten>), crate::model::request_path::PathError> {
        match self.routes.lookup(host) {
            Some(routes) => routes.pick(path),
            None => Ok((Routing { route: None }, None)),
        }
    }

    /// The origin a routing decision sends to.
    pub fn origin_of<'a>(&'a self, routing: &Routing<'a>) -> &'a Arc<OriginRoute> {
        routing.route.map_or(&self.default_origin, |r| &r.origin)
    }
}
