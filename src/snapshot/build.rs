//! Builds the data-plane snapshot and keeps it current. [`Served`] holds the snapshot's parts
//! and everything they were built from in persistent maps; [`Served::apply`] makes its
//! successor from a delta by rebuilding only the entries the delta touched (the activations of
//! a changed mutual authentication, certificate, key or configuration, of a mutual
//! authentication whose revocation lists changed, and changed activations), so a change costs
//! what it touches and never O(n); the successor shares every
//! other entry with its predecessor. [`Served::build`] builds from a whole state (start-up,
//! reload), reusing a predecessor's TLS objects whose inputs are unchanged. Both place entries
//! with the same code, and a property test checks that any sequence of deltas yields what a
//! build from scratch yields.
//!
//! TLS objects are shared and reused by the content versions of their inputs (resource id +
//! `updated_at`, which control makes strictly increasing per resource): one client verifier per
//! policy (a mutual authentication version with its revocation list versions), one loaded key
//! pair per certificate version and key, one server config per (certificate, key,
//! configuration, policy) versions, counted by the entries using it and dropped with the last
//! one. A new server config has fresh resumption state, so a changed policy (a new CRL
//! included) never honours a session made under the old one (rule 2, docs/architecture.md).
//!
//! Under `[revocation] require_fresh` a policy also depends on the clock: which of its lists
//! are past their nextUpdate. [`Served`] keeps the lists still fresh ordered by nextUpdate, and
//! every successor re-places the policies whose lists went stale since (an empty delta is how
//! control asks for that when nothing else changed).

use std::collections::BTreeSet;
use std::sync::Arc;

use imbl::{HashMap, OrdSet};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use super::entry::{DomainEntry, Snapshot};
use super::lookup::DomainTable;
use super::route::{HostRoutes, Route};
use super::server_config::{load_certified_key, server_config_for, TlsParams, TlsVersion};
use super::tickets::TicketKeys;
use super::verifier::{ClientAuth, Revocation};
use crate::metrics::crl::CrlSample;
use crate::metrics::{labels::OTHER_DOMAIN, DomainMetrics, Metrics};
use crate::model::origin::OriginRoute;
use crate::model::{
    pki, Activation, Certificate, Delta, PrivateKey, RevocationList, State, Tables, Touched,
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
    /// The session-ticket secrets (shared through the store); every server config derives its
    /// own policy's ticket key from them.
    pub tickets: TicketKeys,
}

/// A content version: resource id and its strictly increasing `updated_at`.
pub type Version = (String, i64);

/// What a client policy is made of: the mutual authentication, its revocation lists (by id)
/// and whether stale lists fail chains. A new CRL makes a new policy, and so new server configs
/// with their own session caches and ticket keys: no session resumes across it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AuthKey {
    pub mutual_authentication: Version,
    pub crls: Vec<Version>,
    pub require_fresh: bool,
    /// Under `require_fresh`, the lists stale when the policy was placed: a list going stale
    /// changes the policy, so open connections are judged again (their chains now fail).
    pub stale: Vec<String>,
}

/// What a server config is made of.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConfigKey {
    pub certificate: Version,
    /// The private key's id.
    pub key: String,
    pub configuration: Version,
    pub client_auth: Option<AuthKey>,
}

impl ConfigKey {
    /// The policy's identity for its ticket key: every input at its content version, from
    /// stored data only, so every node of a fleet derives the same bytes for the same policy
    /// (and different bytes for any other). Each field is length-prefixed: no two keys encode
    /// alike.
    pub fn policy_id(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut field = |bytes: &[u8]| {
            out.extend_from_slice(&u64::try_from(bytes.len()).unwrap_or(u64::MAX).to_be_bytes());
            out.extend_from_slice(bytes);
        };
        let (cert, cert_at) = &self.certificate;
        field(cert.as_bytes());
        field(&cert_at.to_be_bytes());
        field(self.key.as_bytes());
        let (conf, conf_at) = &self.configuration;
        field(conf.as_bytes());
        field(&conf_at.to_be_bytes());
        match &self.client_auth {
            Some(auth) => {
                let (ma, ma_at) = &auth.mutual_authentication;
                field(b"mutual authentication");
                field(ma.as_bytes());
                field(&ma_at.to_be_bytes());
                for (list, list_at) in &auth.crls {
                    field(b"revocation list");
                    field(list.as_bytes());
                    field(&list_at.to_be_bytes());
                }
                if auth.require_fresh {
                    field(b"fresh lists required");
                    for list in &auth.stale {
                        field(b"stale");
                        field(list.as_bytes());
                    }
                }
            }
            None => field(b"no mutual authentication"),
        }
        out
    }
}

/// How much a build reused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildStats {
    /// Domain entries placed.
    pub entries_placed: usize,
    pub server_configs_built: usize,
    /// Server configs taken over from the predecessor of a whole build.
    pub server_configs_reused: usize,
}

/// A server config and how many entries use it.
#[derive(Debug, Clone)]
struct Counted {
    config: Arc<ServerConfig>,
    users: usize,
}

/// The verifier of one policy.
#[derive(Debug, Clone)]
struct Auth {
    key: AuthKey,
    auth: Arc<ClientAuth>,
}

/// The loaded key pair of one certificate version and key.
#[derive(Debug, Clone)]
struct Certified {
    version: i64,
    key: String,
    certified: Arc<CertifiedKey>,
}

/// One served entry and the inputs it was built from.
#[derive(Debug, Clone)]
pub struct Placed {
    pub key: ConfigKey,
    pub entry: Arc<DomainEntry>,
}

/// The served configuration: the stored resources, the snapshot's parts and the TLS objects
/// they share, all in persistent maps (O(1) clone; a successor shares every unchanged entry).
#[derive(Debug, Clone)]
pub struct Served {
    tables: Tables,
    inputs: Arc<BuildInputs>,
    routes: DomainTable<Arc<HostRoutes>>,
    default_origin: Arc<OriginRoute>,
    /// Per mutual authentication id, its current policy's verifier (only while attached).
    auths: HashMap<String, Auth>,
    /// Per revocation list id, the version the verifier accepted (see
    /// [`Builder::check_list`]).
    lists_checked: HashMap<String, i64>,
    /// Under `require_fresh`: (nextUpdate, list id) of the lists fresh when last placed, so a
    /// successor finds the ones gone stale since without looking at the others.
    fresh_until: OrdSet<(i64, String)>,
    /// Per certificate id, its current version's key pair (only while activated).
    certified: HashMap<String, Certified>,
    configs: HashMap<ConfigKey, Counted>,
    /// Per activation id.
    placed: HashMap<String, Placed>,
    domains: DomainTable<Arc<DomainEntry>>,
    fallback: Option<Placed>,
}

/// What publishing a successor must do besides swapping it in: the metrics that follow the
/// configuration, for exactly what changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// Domains no longer served: their metric series go.
    pub retired_domains: Vec<String>,
    /// Certificate-expiry label sets (certificate id, domain) no longer served.
    pub expiry_removed: Vec<(String, String)>,
    /// Certificate-expiry label sets served now: (certificate id, domain, notAfter).
    pub expiry_set: Vec<(String, String, i64)>,
    /// Mutual authentications whose client-CA expiry series are replaced by these
    /// (subject, notAfter); empty when no longer attached.
    pub client_cas: Vec<(String, Vec<(String, i64)>)>,
    /// Revocation lists whose series go: (list id, mutual authentication id).
    pub crl_removed: Vec<(String, String)>,
    /// Revocation lists whose series are set.
    pub crl_set: Vec<CrlSample>,
}

impl Served {
    /// Nothing served yet, with `inputs`.
    pub fn new(inputs: Arc<BuildInputs>) -> Served {
        Served::empty(inputs, Tables::default())
    }

    fn empty(inputs: Arc<BuildInputs>, tables: Tables) -> Served {
        Served {
            tables,
            default_origin: Arc::new(inputs.default_origin.clone()),
            routes: route_table(&inputs.routes),
            inputs,
            auths: HashMap::new(),
            lists_checked: HashMap::new(),
            fresh_until: OrdSet::new(),
            certified: HashMap::new(),
            configs: HashMap::new(),
            placed: HashMap::new(),
            domains: DomainTable::new(),
            fallback: None,
        }
    }

    /// Build from a whole state, reusing the TLS objects of `donor` whose inputs are
    /// unchanged. Domain entries record into `metrics` (detached handles without).
    pub fn build(
        state: &State,
        inputs: Arc<BuildInputs>,
        donor: Option<&Served>,
        metrics: Option<&Metrics>,
    ) -> Result<(Served, BuildStats), BuildError> {
        Served::build_at(state, inputs, donor, metrics, now_secs())
    }

    /// [`Served::build`] at `now` (Unix seconds: what revocation list staleness is judged at).
    fn build_at(
        state: &State,
        inputs: Arc<BuildInputs>,
        donor: Option<&Served>,
        metrics: Option<&Metrics>,
        now: i64,
    ) -> Result<(Served, BuildStats), BuildError> {
        let tables = Tables::from_state(state);
        let mut b = Builder::new(Served::empty(inputs, tables), donor, metrics, now);
        // In the store's order, so the first failure named is the same on every build.
        for a in &state.activations {
            b.place(a)?;
        }
        // Every list, attached or not, must be one the verifier can use (in the store's order).
        for list in &state.revocation_lists {
            b.check_list(list)?;
            b.watch(list);
        }
        b.refresh_fallback(true)?;
        Ok(b.finish())
    }

    /// The successor after `delta`: only the entries it touched are rebuilt. On error (the
    /// change would not build) nothing changes.
    pub fn apply(
        &self,
        delta: &Delta,
        metrics: Option<&Metrics>,
    ) -> Result<(Served, BuildStats, Effects), BuildError> {
        self.apply_at(delta, metrics, now_secs())
    }

    /// [`Served::apply`] at `now` (Unix seconds).
    fn apply_at(
        &self,
        delta: &Delta,
        metrics: Option<&Metrics>,
        now: i64,
    ) -> Result<(Served, BuildStats, Effects), BuildError> {
        let mut b = Builder::new(self.clone(), None, metrics, now);
        let mut touched = b.next.tables.apply(delta);
        b.unwatch_changed(&touched, &self.tables);
        b.touch_gone_stale(&mut touched);
        match b
            .update(&touched)
            .and_then(|old| b.lists(&touched).map(|()| old))
        {
            Ok(old) => {
                let effects = b.effects(&old, &touched, &self.tables);
                let (served, stats) = b.finish();
                Ok((served, stats, effects))
            }
            Err(e) => {
                b.meters.retire_unserved(&self.domains);
                Err(e)
            }
        }
    }

    /// The revocation list versions the verifier accepted, by id (tests compare incremental
    /// and whole builds with it).
    pub fn lists_checked(&self) -> Vec<(String, i64)> {
        let mut all: Vec<(String, i64)> = self
            .lists_checked
            .iter()
            .map(|(id, v)| (id.clone(), *v))
            .collect();
        all.sort();
        all
    }

    /// The snapshot of this configuration: O(1), sharing every entry.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            revision: self.tables.revision(),
            domains: self.domains.clone(),
            fallback: self.fallback.as_ref().map(|p| p.entry.clone()),
            routes: self.routes.clone(),
            default_origin: self.default_origin.clone(),
            preserve_host: self.inputs.preserve_host,
            xfcc: self.inputs.xfcc,
        }
    }

    /// The stored resources this was built from.
    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// The inputs this was built with.
    pub fn inputs(&self) -> &Arc<BuildInputs> {
        &self.inputs
    }

    /// Every placed entry by activation id, and the fallback: what a comparison of two
    /// configurations looks at (tests compare incremental and whole builds with it).
    pub fn placed(&self) -> (Vec<(String, Placed)>, Option<Placed>) {
        let mut all: Vec<(String, Placed)> = self
            .placed
            .iter()
            .map(|(id, p)| (id.clone(), p.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        (all, self.fallback.clone())
    }

    /// How many distinct server configs are in use.
    pub fn server_config_count(&self) -> usize {
        self.configs.len()
    }
}

/// Where domain entries get their metric handles.
struct Meters<'a> {
    metrics: Option<&'a Metrics>,
    /// Shared by every entry of an unmetered build.
    detached: Arc<DomainMetrics>,
    /// Names handed out by this build.
    handed: Vec<String>,
}

impl<'a> Meters<'a> {
    fn new(metrics: Option<&'a Metrics>) -> Meters<'a> {
        Meters {
            metrics,
            detached: Arc::new(DomainMetrics::detached(OTHER_DOMAIN)),
            handed: Vec::new(),
        }
    }

    fn domain(&mut self, name: &str) -> Arc<DomainMetrics> {
        match self.metrics {
            Some(m) => {
                self.handed.push(name.to_string());
                m.domain(name)
            }
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

    /// After a failed build: drop the series this build created for names `served` does not
    /// serve, so a refused change leaves no metrics behind.
    fn retire_unserved(&self, served: &DomainTable<Arc<DomainEntry>>) {
        if let Some(m) = self.metrics {
            for name in self.handed.iter().filter(|n| served.get(n).is_none()) {
                m.retire_domain(name);
            }
        }
    }
}

struct Builder<'a> {
    next: Served,
    donor: Option<&'a Served>,
    meters: Meters<'a>,
    stats: BuildStats,
    /// Server configs whose last user went during this build: dropped at the end unless
    /// placed again (an entry rebuilt with the same inputs keeps its config and sessions).
    released: BTreeSet<ConfigKey>,
    /// Unix seconds, for revocation list staleness.
    now: i64,
}

impl<'a> Builder<'a> {
    fn new(
        next: Served,
        donor: Option<&'a Served>,
        metrics: Option<&'a Metrics>,
        now: i64,
    ) -> Self {
        Builder {
            next,
            donor,
            meters: Meters::new(metrics),
            stats: BuildStats::default(),
            released: BTreeSet::new(),
            now,
        }
    }

    /// Stop watching the old nextUpdate of every changed or removed list.
    fn unwatch_changed(&mut self, touched: &Touched, before: &Tables) {
        for id in &touched.revocation_lists {
            if let Some(old) = before.revocation_list(id) {
                self.next.fresh_until.remove(&(old.next_update, id.clone()));
            }
        }
    }

    /// Under `require_fresh`, watch a list until its nextUpdate.
    fn watch(&mut self, list: &RevocationList) {
        if self.next.inputs.require_fresh && list.next_update > self.now {
            self.next
                .fresh_until
                .insert((list.next_update, list.id.clone()));
        }
    }

    /// Touch the activations of every policy with a list gone stale since it was placed (only
    /// under `require_fresh`: otherwise staleness does not change a policy).
    fn touch_gone_stale(&mut self, touched: &mut Touched) {
        let bound = (self.now.saturating_add(1), String::new());
        let due: Vec<(i64, String)> = self.next.fresh_until.range(..bound).cloned().collect();
        for item in due {
            self.next.fresh_until.remove(&item);
            let tables = &self.next.tables;
            let Some(list) = tables.revocation_list(&item.1) else {
                continue;
            };
            let ma = &list.mutual_authentication_id;
            touched.policies.insert(ma.clone());
            let users = tables.activations_using_mutual_authentication(ma);
            touched.activations.extend(users.map(|a| a.id.clone()));
        }
    }

    /// Check and watch the lists a delta changed; forget the removed ones.
    fn lists(&mut self, touched: &Touched) -> Result<(), BuildError> {
        for id in &touched.revocation_lists {
            match self.next.tables.revocation_list(id).cloned() {
                Some(list) => {
                    self.check_list(&list)?;
                    self.watch(&list);
                }
                None => {
                    self.next.lists_checked.remove(id);
                }
            }
        }
        Ok(())
    }

    /// A revocation list must be one the handshake's verifier can use, whether or not its
    /// mutual authentication is attached: the verifier's own parser judges it once per list
    /// version, so an unusable list is refused when it is uploaded rather than when its mutual
    /// authentication is attached.
    fn check_list(&mut self, list: &RevocationList) -> Result<(), BuildError> {
        let checked = |all: &HashMap<String, i64>| all.get(&list.id) == Some(&list.updated_at);
        if checked(&self.next.lists_checked)
            || self.donor.is_some_and(|d| checked(&d.lists_checked))
        {
            self.next
                .lists_checked
                .insert(list.id.clone(), list.updated_at);
            return Ok(());
        }
        let what = || format!("revocation list {}", list.id);
        let ma = self
            .next
            .tables
            .mutual_authentication(&list.mutual_authentication_id)
            .ok_or_else(|| err(what(), "its mutual authentication does not exist"))?;
        let bundle = pki::parse_ca_bundle(&ma.cert_bundle).map_err(|e| err(what(), e))?;
        let crls = [crl_der(list)?];
        let revocation = Revocation {
            crls: &crls,
            require_fresh: false,
        };
        ClientAuth::with_revocation(&bundle.certs_der, true, revocation)
            .map_err(|e| err(what(), e))?;
        self.next
            .lists_checked
            .insert(list.id.clone(), list.updated_at);
        Ok(())
    }

    /// Re-place the touched activations; returns the placements they replaced.
    fn update(&mut self, touched: &Touched) -> Result<Vec<Placed>, BuildError> {
        // Every old entry goes first, so a name moving between activations is placed once.
        let old: Vec<Placed> = touched
            .activations
            .iter()
            .filter_map(|id| self.unplace(id))
            .collect();
        for id in &touched.activations {
            if let Some(a) = self.next.tables.activation(id).cloned() {
                self.place(&a)?;
            }
        }
        self.refresh_fallback(false)?;
        self.forget_unused(&old, touched);
        Ok(old)
    }

    fn finish(mut self) -> (Served, BuildStats) {
        for key in std::mem::take(&mut self.released) {
            if self.next.configs.get(&key).is_some_and(|c| c.users == 0) {
                self.next.configs.remove(&key);
            }
        }
        (self.next, self.stats)
    }

    /// Verifiers and key pairs of resources no longer in use are dropped (a whole build keeps
    /// only what it used; this keeps deltas to the same).
    fn forget_unused(&mut self, old: &[Placed], touched: &Touched) {
        let auths = old
            .iter()
            .filter_map(|p| {
                p.key
                    .client_auth
                    .as_ref()
                    .map(|v| &v.mutual_authentication.0)
            })
            .chain(&touched.mutual_authentications)
            .chain(&touched.attachments);
        for id in auths.cloned().collect::<Vec<_>>() {
            if !self.next.tables.mutual_authentication_in_use(&id) {
                self.next.auths.remove(&id);
            }
        }
        let certs = old
            .iter()
            .map(|p| &p.key.certificate.0)
            .chain(&touched.certificates);
        for id in certs.cloned().collect::<Vec<_>>() {
            if !self.next.tables.certificate_in_use(&id) {
                self.next.certified.remove(&id);
            }
        }
    }

    fn release(&mut self, key: &ConfigKey) {
        if let Some(c) = self.next.configs.get_mut(key) {
            c.users = c.users.saturating_sub(1);
            if c.users == 0 {
                self.released.insert(key.clone());
            }
        }
    }

    /// Take an activation's entry out of the table.
    fn unplace(&mut self, activation_id: &str) -> Option<Placed> {
        let placed = self.next.placed.remove(activation_id)?;
        let name = placed.entry.name.as_str();
        if self
            .next
            .domains
            .get(name)
            .is_some_and(|e| Arc::ptr_eq(e, &placed.entry))
        {
            self.next.domains.remove(name);
        }
        self.release(&placed.key);
        Some(placed)
    }

    /// Build an activation's entry and put it in the table.
    fn place(&mut self, a: &Activation) -> Result<(), BuildError> {
        let client_auth = match &a.mutual_authentication_id {
            Some(id) => Some(self.client_auth(id)?),
            None => None,
        };
        let (key, server_config) = self.server_config(a, client_auth.as_ref())?;
        let entry = Arc::new(DomainEntry {
            name: a.domain.clone(),
            server_config,
            client_auth: client_auth.map(|(_, auth)| auth),
            mutual_authentication_id: a.mutual_authentication_id.as_deref().map(Arc::from),
            tls: self.protocols(a),
            metrics: self.meters.domain(&a.domain),
        });
        self.next.domains.insert(&a.domain, entry.clone());
        self.next.placed.insert(a.id.clone(), Placed { key, entry });
        self.stats.entries_placed += 1;
        Ok(())
    }

    /// The entry for connections without a known SNI: the default domain's certificate, never with
    /// client authentication (rule 1, docs/architecture.md: no SNI never reaches an mTLS domain).
    ///
    /// None while the default domain is not activated: such handshakes are then refused with
    /// `unrecognized_name`, as without a default domain (fail closed). Failing the build instead
    /// would stop a proxy configured with a default domain from starting on an empty store and
    /// refuse every API change until that domain is activated, which needs API changes first.
    fn refresh_fallback(&mut self, whole: bool) -> Result<(), BuildError> {
        let old = self.next.fallback.take();
        let Some(name) = self.next.inputs.default_domain.clone() else {
            if let Some(p) = old {
                self.release(&p.key);
            }
            return Ok(());
        };
        let what = format!("proxy.default_domain {name:?}");
        let canonical = pki::canonical_domain(&name).map_err(|e| err(&what, e))?;
        let activation = self.next.tables.activation_by_domain(&canonical).cloned();
        let new = match activation {
            None => {
                if whole {
                    tracing::warn!(domain = %canonical, "proxy.default_domain is not activated (yet)");
                }
                None
            }
            Some(a) => {
                let (key, server_config) = self.server_config(&a, None)?;
                let unchanged = old
                    .as_ref()
                    .filter(|p| p.key == key && p.entry.name == a.domain);
                Some(match unchanged {
                    Some(p) => Placed {
                        key,
                        entry: p.entry.clone(),
                    },
                    None => Placed {
                        key,
                        entry: Arc::new(DomainEntry {
                            name: a.domain.clone(),
                            server_config,
                            client_auth: None,
                            mutual_authentication_id: None,
                            tls: self.protocols(&a),
                            metrics: self.meters.other(),
                        }),
                    },
                })
            }
        };
        if let Some(p) = old {
            self.release(&p.key);
        }
        self.next.fallback = new;
        Ok(())
    }

    /// The protocols of an activation's configuration (its server config is built first, so
    /// the configuration exists).
    fn protocols(&self, a: &Activation) -> TlsParams {
        self.next
            .tables
            .configuration(&a.configuration_id)
            .map(|c| tls_params(&c.tls_protocols, &c.http_protocols))
            .unwrap_or_default()
    }

    /// The policy of a mutual authentication as of now: O(its lists).
    fn auth_key(&self, ma: &crate::model::MutualAuthentication) -> AuthKey {
        let lists = self.next.tables.revocation_lists_of(&ma.id);
        let require_fresh = self.next.inputs.require_fresh && !lists.is_empty();
        AuthKey {
            mutual_authentication: (ma.id.clone(), ma.updated_at),
            crls: lists.iter().map(|l| (l.id.clone(), l.updated_at)).collect(),
            require_fresh,
            stale: lists
                .iter()
                .filter(|l| require_fresh && l.next_update <= self.now)
                .map(|l| l.id.clone())
                .collect(),
        }
    }

    fn client_auth(&mut self, id: &str) -> Result<(AuthKey, Arc<ClientAuth>), BuildError> {
        // Error texts are built only on failure: this runs once per placed entry.
        let what = || format!("mutual authentication {id}");
        let ma = self
            .next
            .tables
            .mutual_authentication(id)
            .cloned()
            .ok_or_else(|| err(what(), "does not exist"))?;
        let key = self.auth_key(&ma);
        let current = |auths: &HashMap<String, Auth>| {
            auths
                .get(id)
                .filter(|a| a.key == key)
                .map(|a| a.auth.clone())
        };
        if let Some(auth) = current(&self.next.auths) {
            return Ok((key, auth));
        }
        let auth = match self.donor.and_then(|d| current(&d.auths)) {
            Some(auth) => auth,
            None => {
                let bundle = pki::parse_ca_bundle(&ma.cert_bundle).map_err(|e| err(what(), e))?;
                let crls = self
                    .next
                    .tables
                    .revocation_lists_of(id)
                    .into_iter()
                    .map(|l| crl_der(l))
                    .collect::<Result<Vec<_>, _>>()?;
                let revocation = Revocation {
                    crls: &crls,
                    require_fresh: key.require_fresh,
                };
                let auth = ClientAuth::with_revocation(&bundle.certs_der, ma.enforced, revocation)
                    .map_err(|e| err(what(), e))?;
                Arc::new(auth)
            }
        };
        let entry = Auth {
            key: key.clone(),
            auth: auth.clone(),
        };
        self.next.auths.insert(ma.id.clone(), entry);
        Ok((key, auth))
    }

    fn certified(
        &mut self,
        cert: &Certificate,
        key: &PrivateKey,
    ) -> Result<Arc<CertifiedKey>, BuildError> {
        let current = |all: &HashMap<String, Certified>| {
            all.get(&cert.id)
                .filter(|c| c.version == cert.updated_at && c.key == key.id)
                .map(|c| c.certified.clone())
        };
        if let Some(c) = current(&self.next.certified) {
            return Ok(c);
        }
        let certified = match self.donor.and_then(|d| current(&d.certified)) {
            Some(c) => c,
            None => {
                let chain = pki::parse_certificate_chain(&cert.cert_blob)
                    .map_err(|e| err(format!("TLS certificate {}", cert.id), e))?;
                let parsed = pki::parse_private_key(&key.key_pem)
                    .map_err(|e| err(format!("private key {}", key.id), e))?;
                load_certified_key(&chain.chain_der, &parsed.pkcs8_der)
                    .map_err(|e| err(format!("TLS certificate {}", cert.id), e))?
            }
        };
        let entry = Certified {
            version: cert.updated_at,
            key: key.id.clone(),
            certified: certified.clone(),
        };
        self.next.certified.insert(cert.id.clone(), entry);
        Ok(certified)
    }

    fn server_config(
        &mut self,
        a: &Activation,
        client_auth: Option<&(AuthKey, Arc<ClientAuth>)>,
    ) -> Result<(ConfigKey, Arc<ServerConfig>), BuildError> {
        let what = || format!("TLS activation {} ({})", a.id, a.domain);
        let tables = &self.next.tables;
        let cert = tables
            .certificate(&a.certificate_id)
            .cloned()
            .ok_or_else(|| err(what(), "its certificate does not exist"))?;
        let key = tables
            .key_for(&cert)
            .cloned()
            .ok_or_else(|| err(what(), "no private key matches its certificate"))?;
        let conf = tables
            .configuration(&a.configuration_id)
            .cloned()
            .ok_or_else(|| err(what(), "its configuration does not exist"))?;
        let config_key = ConfigKey {
            certificate: (cert.id.clone(), cert.updated_at),
            key: key.id.clone(),
            configuration: (conf.id.clone(), conf.updated_at),
            client_auth: client_auth.map(|(v, _)| v.clone()),
        };
        if let Some(c) = self.next.configs.get_mut(&config_key) {
            c.users += 1;
            return Ok((config_key, c.config.clone()));
        }
        let donated = self
            .donor
            .and_then(|d| d.configs.get(&config_key))
            .map(|c| c.config.clone());
        let reused = donated.is_some();
        let config = match donated {
            Some(c) => {
                self.stats.server_configs_reused += 1;
                c
            }
            None => {
                let certified = self.certified(&cert, &key)?;
                let params = tls_params(&conf.tls_protocols, &conf.http_protocols);
                let auth = client_auth.map(|(_, a)| a.as_ref());
                let ticketer = self.next.inputs.tickets.ticketer(&config_key.policy_id());
                self.stats.server_configs_built += 1;
                server_config_for(certified, &params, auth, ticketer).map_err(|e| err(what(), e))?
            }
        };
        if reused {
            // Keep the key pair too, so a later delta that only changes the policy reuses it.
            self.certified(&cert, &key)?;
        }
        let counted = Counted {
            config: config.clone(),
            users: 1,
        };
        self.next.configs.insert(config_key.clone(), counted);
        Ok((config_key, config))
    }

    /// The metrics work of a delta: retired names, changed expiry series. `before` is the
    /// predecessor's tables.
    fn effects(&self, old: &[Placed], touched: &Touched, before: &Tables) -> Effects {
        let mut fx = Effects::default();
        let tables = &self.next.tables;
        for p in old {
            if self.next.domains.get(&p.entry.name).is_none() {
                fx.retired_domains.push(p.entry.name.clone());
            }
            fx.expiry_removed
                .push((p.key.certificate.0.clone(), p.entry.name.clone()));
        }
        for id in &touched.activations {
            let Some(a) = tables.activation(id) else {
                continue;
            };
            let not_after = tables
                .certificate(&a.certificate_id)
                .map_or(0, |c| c.not_after);
            fx.expiry_set
                .push((a.certificate_id.clone(), a.domain.clone(), not_after));
        }
        // A policy's CA series change with its bundle, or when it starts or stops being used
        // (not on every attach: that would parse a large bundle per activation).
        let flipped = touched.attachments.iter().filter(|id| {
            tables.mutual_authentication_in_use(id) != before.mutual_authentication_in_use(id)
        });
        let changed: BTreeSet<&String> = touched
            .mutual_authentications
            .iter()
            .chain(flipped)
            .collect();
        for id in changed {
            let cas = match tables.mutual_authentication(id) {
                Some(ma) if tables.mutual_authentication_in_use(id) => bundle_cas(&ma.cert_bundle),
                _ => Vec::new(),
            };
            fx.client_cas.push((id.clone(), cas));
        }
        for id in &touched.revocation_lists {
            match (tables.revocation_list(id), before.revocation_list(id)) {
                (Some(list), _) => fx.crl_set.push(crl_sample(list)),
                (None, Some(old)) => fx
                    .crl_removed
                    .push((id.clone(), old.mutual_authentication_id.clone())),
                (None, None) => {}
            }
        }
        fx
    }
}

fn now_secs() -> i64 {
    crate::model::timestamp::now_ms().div_euclid(1000)
}

/// A revocation list as its gauges describe it.
pub fn crl_sample(list: &RevocationList) -> CrlSample {
    CrlSample {
        id: list.id.clone(),
        mutual_authentication_id: list.mutual_authentication_id.clone(),
        next_update: list.next_update,
        revoked: i64::try_from(list.revoked_count).unwrap_or(i64::MAX),
    }
}

/// The DER of a stored list's CRL.
fn crl_der(list: &RevocationList) -> Result<Vec<u8>, BuildError> {
    pki::parse_crl(&list.crl_pem)
        .map(|info| info.der)
        .map_err(|e| err(format!("revocation list {}", list.id), e))
}

/// The routes grouped by domain (canonicalised by the table, so `A.example.com` and
/// `a.example.com` are one host).
fn route_table(routes: &[(String, Arc<Route>)]) -> DomainTable<Arc<HostRoutes>> {
    let mut grouped: std::collections::HashMap<String, HostRoutes> =
        std::collections::HashMap::new();
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

/// (subject, notAfter) of each CA in a bundle; a bundle that does not parse shows none (a
/// build refuses it anyway).
pub fn bundle_cas(bundle: &str) -> Vec<(String, i64)> {
    match pki::parse_ca_bundle(bundle) {
        Ok(b) => b.subjects.into_iter().zip(b.not_after).collect(),
        Err(_) => Vec::new(),
    }
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
