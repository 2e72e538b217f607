//! What the status page shows about the served configuration, read from its tables when the
//! page asks (never maintained per change): the first activations by domain with their
//! certificate and policy, and the first revocation lists with their freshness. No secrets: ids, names, domains, flags and dates only (never key
//! material, bundles or certificates).

use std::collections::HashMap;
use std::sync::Arc;

use crate::model::{RevocationList, Tables};

/// The first activations being served, by domain, and how many there are in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Sorted by domain; at most the limit asked for.
    pub activations: Vec<ActivationInfo>,
    /// Every served activation.
    pub total: usize,
    /// By mutual authentication, then oldest first; at most the limit asked for.
    pub revocation_lists: Vec<RevocationListInfo>,
    /// Every revocation list.
    pub revocation_lists_total: usize,
}

/// One revocation list as the status page shows it.
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

impl RevocationListInfo {
    fn of(l: &RevocationList) -> RevocationListInfo {
        RevocationListInfo {
            id: l.id.clone(),
            name: l.name.clone(),
            mutual_authentication_id: l.mutual_authentication_id.clone(),
            issuer: l.issuer.clone(),
            this_update: l.this_update,
            next_update: l.next_update,
            revoked_count: l.revoked_count,
            refreshed: l.url.is_some(),
            last_fetch_error: l.last_fetch_error.clone(),
        }
    }
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

/// The first `limit` activations of `tables` by domain: O(limit · log n).
pub fn list(tables: &Tables, limit: usize) -> Inventory {
    let mut policies: HashMap<&str, Arc<MutualAuthInfo>> = HashMap::new();
    let mut activations = Vec::new();
    for a in tables.activations_by_domain().take(limit) {
        let cert = tables.certificate(&a.certificate_id);
        let policy = a.mutual_authentication_id.as_deref().and_then(|id| {
            let ma = tables.mutual_authentication(id)?;
            let info = policies.entry(id).or_insert_with(|| {
                Arc::new(MutualAuthInfo {
                    id: ma.id.clone(),
                    name: ma.name.clone(),
                    enforced: ma.enforced,
                })
            });
            Some(info.clone())
        });
        activations.push(ActivationInfo {
            id: a.id.clone(),
            domain: a.domain.clone(),
            certificate_id: a.certificate_id.clone(),
            certificate_name: cert.map(|c| c.name.clone()).unwrap_or_default(),
            certificate_not_after: cert.map_or(0, |c| c.not_after),
            mutual_authentication: policy,
        });
    }
    // Lists are few (one per issuer of a bundle): sorting them all per page view is cheap.
    let mut lists: Vec<&Arc<RevocationList>> = tables.revocation_lists().collect();
    let revocation_lists_total = lists.len();
    lists.sort_by(|x, y| {
        (&x.mutual_authentication_id, x.created_at, &x.id).cmp(&(
            &y.mutual_authentication_id,
            y.created_at,
            &y.id,
        ))
    });
    Inventory {
        activations,
        total: tables.activation_count(),
        revocation_lists: lists
            .into_iter()
            .take(limit)
            .map(|l| RevocationListInfo::of(l))
            .collect(),
        revocation_lists_total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Activation, Certificate, MutualAuthentication, State};

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

    fn tables() -> Tables {
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
        let ma = MutualAuthentication {
            id: "m1".into(),
            name: "m1 name".into(),
            enforced: true,
            cert_bundle: String::new(),
            created_at: 0,
            updated_at: 0,
        };
        Tables::from_state(&State {
            revision: 3,
            certificates: vec![cert],
            mutual_authentications: vec![ma],
            activations: vec![
                activation("a2", "z.example", None),
                activation("a1", "a.example", Some("m1")),
                activation("a3", "b.example", Some("m1")),
            ],
            ..State::default()
        })
    }

    #[test]
    fn lists_the_first_activations_by_domain_with_their_policy() {
        let inv = list(&tables(), 2);
        assert_eq!(inv.total, 3);
        let domains: Vec<_> = inv.activations.iter().map(|a| a.domain.as_str()).collect();
        assert_eq!(domains, ["a.example", "b.example"]);
        let first = &inv.activations[0];
        assert_eq!(first.certificate_name, "server");
        assert_eq!(first.certificate_not_after, 1_900_000_000);
        let m = first.mutual_authentication.as_ref().unwrap();
        assert_eq!(
            (m.id.as_str(), m.name.as_str(), m.enforced),
            ("m1", "m1 name", true)
        );
        let all = list(&tables(), 10);
        assert!(all.activations[2].mutual_authentication.is_none());
    }
}
