//! Builds a `Snapshot` from the stored state and the static inputs. Incremental: client
//! verifiers and server configs are cached by the content versions of their inputs
//! (resource id + `updated_at`, which control makes strictly increasing per resource), so a
//! change to one of 10,000 domains rebuilds one domain's TLS objects and reuses the rest.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::ServerConfig;

use super::entry::{DomainEntry, Snapshot};
use super::lookup::DomainTable;
use super::route::{HostRoutes, Route};
use super::server_config::{build_server_config, TlsParams, TlsVersion};
use super::verifier::{ClientAuth, Revocation};
use crate::metrics::{labels::OTHER_DOMAIN, DomainMetrics, Metrics};
use crate::model::origin::OriginRoute;
use crate::model::{
    pki, Activation, Certificate, Configuration, MutualAuthentication, PrivateKey, RevocationList,
    State,
};

/// Why a snapshot could not be built; names the resource at fault.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{resource}: {problem}")]
pub struct BuildError {
    pub resource: String,
    pub problem: String,
}

fn err(resource: impl Into<String>, problem: impl std::fmt::Display) -> BuildError {
    BuildError {
        resource: resource.into(),
        problem: problem.to_string(),
    }
}

/// Static inputs of a build that do not live in the store (hot-reloadable settings).
#[derive(Debug, Clone, Default)]
pub struct BuildInputs {
    /// `[[routes]]` as (domain, route).
    pub routes: Vec<(String, Arc<Route>)>,
    /// `[proxy] default_origin`.
    pub default_origin: OriginRoute,
    /// `[proxy] default_domain`: an activated domain whose certificate serves handshakes
    /// without a known SNI.
    pub default_domain: Option<String>,
    /// `[proxy] preserve_host`.
    pub preserve_host: bool,
    /// `[proxy] xfcc`.
    pub xfcc: bool,
    /// `[revocation] require_fresh`: a stale CRL fails the chains it covers.
    pub require_fresh: bool,
}

/// A content version: resource id and its strictly increasing `updated_at`.
type Version = (String, i64);

/// What a client policy is made of: the mutual authentication, its revocation lists and
/// whether stale lists fail chains. A new CRL makes a new policy (and so new server configs
/// with their own session caches and ticket keys: no session resumes across it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct AuthKey {
    mutual_authentication: Version,
    crls: Vec<Version>,
    require_fresh: bool,
    /// Under `require_fresh`, the lists stale at build time: a list going stale then changes
    /// the policy, so that a rebuild judges open connections again (their chains now fail).
    stale: Vec<String>,
}

/// What a server config is made of.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ConfigKey {
    certificate: Version,
    key: String,
    configuration: Version,
    client_auth: Option<AuthKey>,
}

/// TLS objects kept between builds, keyed by the versions of their inputs.
#[derive(Debug, Default)]
pub struct BuildCache {
    auths: HashMap<AuthKey, Arc<ClientAuth>>,
    configs: HashMap<ConfigKey, Arc<ServerConfig>>,
    /// Revocation list versions the verifier has accepted (see [`Builder::check_lists`]).
    lists_checked: std::collections::HashSet<Version>,
}

/// How much a build reused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildStats {
    pub server_configs_built: usize,
    pub server_configs_reused: usize,
}

/// Build a snapshot, reusing what `cache` holds; returns the snapshot and the cache to keep
/// (only the entries this snapshot uses, so the cache never outgrows the configuration).
/// Its domains record into detached metric handles (see [`build_metered`]).
pub fn build(
    state: &State,
    inputs: &BuildInputs,
    cache: &BuildCache,
) -> Result<(Snapshot, BuildCache, BuildStats), BuildError> {
    build_metered(state, inputs, cache, None)
}

/// [`build`], with each domain's metric handles taken from `metrics` (the live process does
/// this; the handles are looked up here, once per domain and build, never per handshake).
pub fn build_metered(
    state: &State,
    inputs: &BuildInputs,
    cache: &BuildCache,
    metrics: Option<&Metrics>,
) -> Result<(Snapshot, BuildCache, BuildStats), BuildError> {
    let mut b = Builder {
        index: Index::new(state),
        state,
        require_fresh: inputs.require_fresh,
        now: crate::model::timestamp::now_ms().div_euclid(1000),
        old: cache,
        new: BuildCache::default(),
        stats: BuildStats::default(),
        meters: Meters::new(metrics),
    };
    let mut domains = DomainTable::new();
    for a in &state.activations {
        let entry = b.entry(a)?;
        domains.insert(&a.domain, Arc::new(entry));
    }
    b.check_lists()?;
    let fallback = match &inputs.default_domain {
        Some(name) => b.fallback(name)?.map(Arc::new),
        None => None,
    };
    let routes = route_table(&inputs.routes);
    let snapshot = Snapshot {
        revision: state.revision,
        domains,
        fallback,
        routes,
        default_origin: Arc::new(inputs.default_origin.clone()),
        preserve_host: inputs.preserve_host,
        xfcc: inputs.xfcc,
    };
    Ok((snapshot, b.new, b.stats))
}

/// The routes grouped by domain (canonicalised by the table, so `A.example.com` and
/// `a.example.com` are one host).
fn route_table(routes: &[(String, Arc<Route>)]) -> DomainTable<Arc<HostRoutes>> {
    let mut grouped: HashMap<String, HostRoutes> = HashMap::new();
    for (domain, route) in routes {
        // Settings validated every domain; a name the table would refuse is left out as the
        // table itself would.
        if let Some(name) = super::lookup::canonical_name(domain) {
            grouped.entry(name).or_default().push(route.clone());
        }
    }
    let mut table = DomainTable::new();
    for (name, host) in grouped {
        table.insert(&name, Arc::new(host));
    }
    table
}

/// Lookups by id, so a build is linear in the number of resources (not quadratic).
struct Index<'a> {
    certificates: HashMap<&'a str, &'a Certificate>,
    keys: HashMap<&'a str, &'a PrivateKey>,
    configurations: HashMap<&'a str, &'a Configuration>,
    mutual_authentications: HashMap<&'a str, &'a MutualAuthentication>,
    /// Revocation lists by mutual authentication id.
    revocation_lists: HashMap<&'a str, Vec<&'a RevocationList>>,
}

impl<'a> Index<'a> {
    fn new(s: &'a State) -> Index<'a> {
        Index {
            certificates: s.certificates.iter().map(|c| (c.id.as_str(), c)).collect(),
            keys: s
                .private_keys
                .iter()
                .map(|k| (k.public_key_sha1.as_str(), k))
                .collect(),
            configurations: s
                .configurations
                .iter()
                .map(|c| (c.id.as_str(), c))
                .collect(),
            mutual_authentications: s
                .mutual_authentications
                .iter()
                .map(|m| (m.id.as_str(), m))
                .collect(),
            revocation_lists: s.revocation_lists.iter().fold(HashMap::new(), |mut by, l| {
                by.entry(l.mutual_authentication_id.as_str())
                    .or_insert_with(Vec::new)
                    .push(l);
                by
            }),
        }
    }
}

/// Where domain entries get their metric handles.
struct Meters<'a> {
    metrics: Option<&'a Metrics>,
    /// Shared by every entry of an unmetered build.
    detached: Arc<DomainMetrics>,
}

impl<'a> Meters<'a> {
    fn new(metrics: Option<&'a Metrics>) -> Meters<'a> {
        Meters {
            metrics,
            detached: Arc::new(DomainMetrics::detached(OTHER_DOMAIN)),
        }
    }

    fn domain(&self, name: &str) -> Arc<DomainMetrics> {
        match self.metrics {
            Some(m) => m.domain(name),
            None => self.detached.clone(),
        }
    }

    /// Fallback handshakes were not asked for a configured name: labelled `other`.
    fn other(&self) -> Arc<DomainMetrics> {
        match self.metrics {
            Some(m) => m.other().clone(),
            None => self.detached.clone(),
        }
    }
}

struct Builder<'a> {
    index: Index<'a>,
    state: &'a State,
    require_fresh: bool,
    /// Unix seconds, for list staleness.
    now: i64,
    old: &'a BuildCache,
    new: BuildCache,
    stats: BuildStats,
    meters: Meters<'a>,
}

impl Builder<'_> {
    fn entry(&mut self, a: &Activation) -> Result<DomainEntry, BuildError> {
        let client_auth = match &a.mutual_authentication_id {
            Some(id) => Some(self.client_auth(id)?),
            None => None,
        };
        let server_config = self.server_config(a, client_auth.as_ref())?;
        Ok(DomainEntry {
            name: a.domain.clone(),
            server_config,
            client_auth: client_auth.map(|(_, auth)| auth),
            mutual_authentication_id: a.mutual_authentication_id.as_deref().map(Arc::from),
            tls: self.protocols(a),
            metrics: self.meters.domain(&a.domain),
        })
    }

    /// The entry for connections without a known SNI: the default domain's certificate, never
    /// with client authentication (DESIGN rule 1: no SNI never reaches an mTLS domain).
    ///
    /// None while the default domain is not activated: such handshakes are then refused with
    /// `unrecognized_name`, as without a default domain (fail closed). Failing the build instead
    /// would stop a proxy configured with a default domain from starting on an empty store and
    /// refuse every API change until that domain is activated, which needs API changes first.
    fn fallback(&mut self, name: &str) -> Result<Option<DomainEntry>, BuildError> {
        let what = format!("proxy.default_domain {name:?}");
        let canonical = pki::canonical_domain(name).map_err(|e| err(&what, e))?;
        let state = self.state;
        let Some(a) = state.activations.iter().find(|a| a.domain == canonical) else {
            tracing::warn!(domain = %canonical, "proxy.default_domain is not activated (yet)");
            return Ok(None);
        };
        Ok(Some(DomainEntry {
            name: a.domain.clone(),
            server_config: self.server_config(a, None)?,
            client_auth: None,
            mutual_authentication_id: None,
            tls: self.protocols(a),
            metrics: self.meters.other(),
        }))
    }

    /// The protocols of an activation's configuration (its server config is built first, so
    /// the configuration exists).
    fn protocols(&self, a: &Activation) -> TlsParams {
        self.index
            .configurations
            .get(a.configuration_id.as_str())
            .map(|c| tls_params(&c.tls_protocols, &c.http_protocols))
            .unwrap_or_default()
    }

    fn client_auth(&mut self, id: &str) -> Result<(AuthKey, Arc<ClientAuth>), BuildError> {
        // Error texts are built only on failure: this runs once per activation.
        let what = || format!("mutual authentication {id}");
        let ma = *self
            .index
            .mutual_authentications
            .get(id)
            .ok_or_else(|| err(what(), "does not exist"))?;
        let lists = self
            .index
            .revocation_lists
            .get(id)
            .map_or(&[][..], Vec::as_slice);
        let require_fresh = self.require_fresh && !lists.is_empty();
        let key = AuthKey {
            mutual_authentication: (ma.id.clone(), ma.updated_at),
            crls: lists.iter().map(|l| (l.id.clone(), l.updated_at)).collect(),
            require_fresh,
            stale: lists
                .iter()
                .filter(|l| require_fresh && l.next_update <= self.now)
                .map(|l| l.id.clone())
                .collect(),
        };
        if let Some(auth) = self.new.auths.get(&key) {
            return Ok((key, auth.clone()));
        }
        if let Some(auth) = self.old.auths.get(&key) {
            let auth = auth.clone();
            self.new.auths.insert(key.clone(), auth.clone());
            return Ok((key, auth));
        }
        let bundle = pki::parse_ca_bundle(&ma.cert_bundle).map_err(|e| err(what(), e))?;
        let crls = lists
            .iter()
            .map(|l| crl_der(l))
            .collect::<Result<Vec<_>, _>>()?;
        let revocation = Revocation {
            crls: &crls,
            require_fresh: key.require_fresh,
        };
        let auth = ClientAuth::with_revocation(&bundle.certs_der, ma.enforced, revocation)
            .map_err(|e| err(what(), e))?;
        let auth = Arc::new(auth);
        self.new.auths.insert(key.clone(), auth.clone());
        Ok((key, auth))
    }

    /// Every revocation list, attached to a served policy or not, must be one the handshake's
    /// verifier can use: its own parser judges it once per list version, so an unusable list
    /// is refused when it is uploaded rather than when its mutual authentication is attached.
    fn check_lists(&mut self) -> Result<(), BuildError> {
        for list in &self.state.revocation_lists {
            let version = (list.id.clone(), list.updated_at);
            if self.old.lists_checked.contains(&version) {
                self.new.lists_checked.insert(version);
                continue;
            }
            let what = || format!("revocation list {}", list.id);
            let ma = self
                .index
                .mutual_authentications
                .get(list.mutual_authentication_id.as_str())
                .ok_or_else(|| err(what(), "its mutual authentication does not exist"))?;
            let bundle = pki::parse_ca_bundle(&ma.cert_bundle).map_err(|e| err(what(), e))?;
            let crls = [crl_der(list)?];
            let revocation = Revocation {
                crls: &crls,
                require_fresh: false,
            };
            ClientAuth::with_revocation(&bundle.certs_der, true, revocation)
                .map_err(|e| err(what(), e))?;
            self.new.lists_checked.insert(version);
        }
        Ok(())
    }

    fn server_config(
        &mut self,
        a: &Activation,
        client_auth: Option<&(AuthKey, Arc<ClientAuth>)>,
    ) -> Result<Arc<ServerConfig>, BuildError> {
        let what = || format!("TLS activation {} ({})", a.id, a.domain);
        let index = &self.index;
        let cert = *index
            .certificates
            .get(a.certificate_id.as_str())
            .ok_or_else(|| err(what(), "its certificate does not exist"))?;
        let key = *index
            .keys
            .get(cert.public_key_sha1.as_str())
            .ok_or_else(|| err(what(), "no private key matches its certificate"))?;
        let conf = *index
            .configurations
            .get(a.configuration_id.as_str())
            .ok_or_else(|| err(what(), "its configuration does not exist"))?;
        let cache_key = ConfigKey {
            certificate: (cert.id.clone(), cert.updated_at),
            key: key.id.clone(),
            configuration: (conf.id.clone(), conf.updated_at),
            client_auth: client_auth.map(|(v, _)| v.clone()),
        };
        if let Some(c) = self.new.configs.get(&cache_key) {
            return Ok(c.clone());
        }
        if let Some(c) = self.old.configs.get(&cache_key) {
            self.stats.server_configs_reused += 1;
            self.new.configs.insert(cache_key, c.clone());
            return Ok(c.clone());
        }
        let chain = pki::parse_certificate_chain(&cert.cert_blob)
            .map_err(|e| err(format!("TLS certificate {}", cert.id), e))?;
        let parsed_key = pki::parse_private_key(&key.key_pem)
            .map_err(|e| err(format!("private key {}", key.id), e))?;
        let params = tls_params(&conf.tls_protocols, &conf.http_protocols);
        let auth = client_auth.map(|(_, a)| a.as_ref());
        let config = build_server_config(&chain.chain_der, &parsed_key.pkcs8_der, &params, auth)
            .map_err(|e| err(what(), e))?;
        self.stats.server_configs_built += 1;
        self.new.configs.insert(cache_key, config.clone());
        Ok(config)
    }
}

/// The DER of a stored list's CRL.
fn crl_der(list: &RevocationList) -> Result<Vec<u8>, BuildError> {
    pki::parse_crl(&list.crl_pem)
        .map(|info| info.der)
        .map_err(|e| err(format!("revocation list {}", list.id), e))
}

/// Protocol lists of a configuration as rustls parameters; h2 is preferred when offered.
pub fn tls_params(tls: &[String], http: &[String]) -> TlsParams {
    let mut versions = Vec::new();
    if tls.iter().any(|v| v == "1.3") {
        versions.push(TlsVersion::Tls13);
    }
    if tls.iter().any(|v| v == "1.2") {
        versions.push(TlsVersion::Tls12);
    }
    let mut alpn = Vec::new();
    if http.iter().any(|p| p == "http/2") {
        alpn.push(b"h2".to_vec());
    }
    if http.iter().any(|p| p == "http/1.1") {
        alpn.push(b"http/1.1".to_vec());
    }
    TlsParams { versions, alpn }
}

#[cfg(test)]
mod tests;
