//! What the status page and the expiry gauges show about a served configuration, derived from
//! the stored state with each build. No secrets: ids, names, domains, flags and dates only
//! (never key material, bundles or certificates).

use std::collections::HashMap;
use std::sync::Arc;

use crate::model::{pki, MutualAuthentication, State};

/// The activations being served and the client CAs they trust.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Sorted by domain.
    pub activations: Vec<ActivationInfo>,
    /// The CAs of every mutual authentication attached to an activation, in bundle order.
    pub client_cas: Vec<ClientCaInfo>,
    /// Every revocation list, by mutual authentication then age.
    pub revocation_lists: Vec<RevocationListInfo>,
}

/// One revocation list as the status page and the gauges show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationListInfo {
    pub id: String,
    pub name: String,
    pub mutual_authentication_id: String,
    /// The CRL issuer's DN.
    pub issuer: String,
    /// Unix seconds.
    pub this_update: i64,
    /// Unix seconds; past it the list is stale.
    pub next_update: i64,
    pub revoked_count: u64,
    /// Refreshed from a URL (the URL itself is not shown: it may name internal hosts).
    pub refreshed: bool,
    pub last_fetch_error: Option<String>,
}

/// One activation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationInfo {
    pub id: String,
    pub domain: String,
    pub certificate_id: String,
    pub certificate_name: String,
    /// The server certificate's notAfter, Unix seconds.
    pub certificate_not_after: i64,
    pub mutual_authentication: Option<Arc<MutualAuthInfo>>,
}

/// A mutual authentication as shown next to its activations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutualAuthInfo {
    pub id: String,
    pub name: String,
    pub enforced: bool,
}

/// One CA of a bundle in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCaInfo {
    pub mutual_authentication_id: String,
    /// Subject DN.
    pub subject: String,
    /// notAfter, Unix seconds.
    pub not_after: i64,
}

/// (subject, notAfter) per CA of a bundle version.
type Cas = Arc<[(String, i64)]>;

/// Parsed bundles kept between builds, keyed by (mutual authentication id, `updated_at`), so an
/// unrelated change does not re-parse every bundle.
#[derive(Debug, Default)]
pub struct InventoryCache {
    cas: HashMap<(String, i64), Cas>,
}

/// The inventory of `state`, and the cache to keep (only the bundles in use).
pub fn collect(state: &State, old: &InventoryCache) -> (Inventory, InventoryCache) {
    let mut c = Collector {
        by_id: state
            .mutual_authentications
            .iter()
            .map(|m| (m.id.as_str(), m))
            .collect(),
        seen: HashMap::new(),
        client_cas: Vec::new(),
        old,
        new: InventoryCache::default(),
    };
    let certificates: HashMap<&str, _> = state
        .certificates
        .iter()
        .map(|c| (c.id.as_str(), c))
        .collect();
    let mut activations = Vec::with_capacity(state.activations.len());
    for a in &state.activations {
        let cert = certificates.get(a.certificate_id.as_str());
        activations.push(ActivationInfo {
            id: a.id.clone(),
            domain: a.domain.clone(),
            certificate_id: a.certificate_id.clone(),
            certificate_name: cert.map(|c| c.name.clone()).unwrap_or_default(),
            certificate_not_after: cert.map_or(0, |c| c.not_after),
            mutual_authentication: a
                .mutual_authentication_id
                .as_deref()
                .and_then(|id| c.policy(id)),
        });
    }
    activations.sort_by(|x, y| x.domain.cmp(&y.domain));
    let mut revocation_lists: Vec<RevocationListInfo> = state
        .revocation_lists
        .iter()
        .map(|l| RevocationListInfo {
            id: l.id.clone(),
            name: l.name.clone(),
            mutual_authentication_id: l.mutual_authentication_id.clone(),
            issuer: l.issuer.clone(),
            this_update: l.this_update,
            next_update: l.next_update,
            revoked_count: l.revoked_count,
            refreshed: l.url.is_some(),
            last_fetch_error: l.last_fetch_error.clone(),
        })
        .collect();
    revocation_lists.sort_by(|x, y| x.mutual_authentication_id.cmp(&y.mutual_authentication_id));
    let inventory = Inventory {
        activations,
        client_cas: c.client_cas,
        revocation_lists,
    };
    (inventory, c.new)
}

struct Collector<'a> {
    by_id: HashMap<&'a str, &'a MutualAuthentication>,
    /// Policies already described (each is shared by its activations).
    seen: HashMap<&'a str, Arc<MutualAuthInfo>>,
    client_cas: Vec<ClientCaInfo>,
    old: &'a InventoryCache,
    new: InventoryCache,
}

impl<'a> Collector<'a> {
    /// The description of mutual authentication `id`; its CAs are listed the first time.
    fn policy(&mut self, id: &str) -> Option<Arc<MutualAuthInfo>> {
        let ma = *self.by_id.get(id)?;
        if let Some(info) = self.seen.get(id) {
            return Some(info.clone());
        }
        let cas = bundle_cas(ma, self.old, &mut self.new);
        self.client_cas
            .extend(cas.iter().map(|(subject, not_after)| ClientCaInfo {
                mutual_authentication_id: ma.id.clone(),
                subject: subject.clone(),
                not_after: *not_after,
            }));
        let info = Arc::new(MutualAuthInfo {
            id: ma.id.clone(),
            name: ma.name.clone(),
            enforced: ma.enforced,
        });
        self.seen.insert(ma.id.as_str(), info.clone());
        Some(info)
    }
}

/// The CAs of a bundle version, parsed once per version. A bundle that does not parse shows no
/// CA (the snapshot build refuses it anyway).
fn bundle_cas(ma: &MutualAuthentication, old: &InventoryCache, new: &mut InventoryCache) -> Cas {
    let key = (ma.id.clone(), ma.updated_at);
    if let Some(cas) = old.cas.get(&key).or_else(|| new.cas.get(&key)) {
        let cas = cas.clone();
        new.cas.insert(key, cas.clone());
        return cas;
    }
    let cas: Cas = match pki::parse_ca_bundle(&ma.cert_bundle) {
        Ok(b) => b.subjects.into_iter().zip(b.not_after).collect(),
        Err(_) => Arc::from(Vec::new()),
    };
    new.cas.insert(key, cas.clone());
    cas
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devpki::Ca;
    use crate::model::{Activation, Certificate};

    fn ma(id: &str, bundle: String, updated_at: i64) -> MutualAuthentication {
        MutualAuthentication {
            id: id.into(),
            name: format!("{id} name"),
            enforced: true,
            cert_bundle: bundle,
            created_at: 0,
            updated_at,
        }
    }

    fn activation(id: &str, domain: &str, ma: Option<&str>) -> Activation {
        Activation {
            id: id.into(),
            domain: domain.into(),
            certificate_id: "c1".into(),
            configuration_id: "conf".into(),
            mutual_authentication_id: ma.map(Into::into),
            created_at: 0,
            updated_at: 0,
        }
    }

    fn state(bundle: String) -> State {
        let cert = Certificate {
            id: "c1".into(),
            name: "server".into(),
            cert_blob: String::new(),
            issued_to: String::new(),
            issuer: String::new(),
            serial_number: String::new(),
            signature_algorithm: String::new(),
            not_before: 0,
            not_after: 1_900_000_000,
            dns_names: vec![],
            public_key_sha1: String::new(),
            created_at: 0,
            updated_at: 0,
        };
        State {
            revision: 3,
            certificates: vec![cert],
            mutual_authentications: vec![ma("m1", bundle, 5), ma("unused", String::new(), 1)],
            activations: vec![
                activation("a2", "z.example", None),
                activation("a1", "a.example", Some("m1")),
                activation("a3", "b.example", Some("m1")),
            ],
            ..State::default()
        }
    }

    #[test]
    fn lists_activations_sorted_with_their_policy_and_cas_in_use_once() {
        let ca = Ca::new("Inventory CA").unwrap();
        let (inv, cache) = collect(
            &state(ca.cert().cert_pem.clone()),
            &InventoryCache::default(),
        );
        let domains: Vec<_> = inv.activations.iter().map(|a| a.domain.as_str()).collect();
        assert_eq!(domains, ["a.example", "b.example", "z.example"]);
        let first = &inv.activations[0];
        assert_eq!(first.certificate_name, "server");
        assert_eq!(first.certificate_not_after, 1_900_000_000);
        let m = first.mutual_authentication.as_ref().unwrap();
        assert_eq!(
            (m.id.as_str(), m.name.as_str(), m.enforced),
            ("m1", "m1 name", true)
        );
        assert!(inv.activations[2].mutual_authentication.is_none());
        assert_eq!(
            inv.client_cas.len(),
            1,
            "one CA, listed once: {:?}",
            inv.client_cas
        );
        assert!(inv.client_cas[0].subject.contains("Inventory CA"));
        assert_eq!(cache.cas.len(), 1, "unused bundles are not parsed or kept");
    }

    #[test]
    fn unchanged_bundles_come_from_the_cache() {
        let ca = Ca::new("Inventory CA").unwrap();
        let st = state(ca.cert().cert_pem.clone());
        let (_, cache) = collect(&st, &InventoryCache::default());
        // Same version, garbage text: only a cache hit can still show the CA.
        let mut changed = st.clone();
        changed.mutual_authentications[0].cert_bundle = "garbage".into();
        let (inv, _) = collect(&changed, &cache);
        assert_eq!(inv.client_cas.len(), 1);
        changed.mutual_authentications[0].updated_at = 6;
        let (inv, _) = collect(&changed, &cache);
        assert!(inv.client_cas.is_empty());
    }
}
