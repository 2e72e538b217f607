//! The stored resources held in memory as persistent maps, with the reverse indexes a change
//! needs to find what it affects (the activations of a mutual authentication, of a certificate,
//! of a configuration; the certificates of a key; the revocation lists of a mutual
//! authentication). Cloning is O(1) and a clone shares every
//! unchanged entry, so a dry run can apply a delta to a copy and drop it if the result does
//! not build. Applying a delta costs O(rows changed × log n), never O(n).

use std::collections::BTreeSet;
use std::sync::Arc;

use imbl::{HashMap, HashSet, OrdMap};

use super::delta::{Delta, Kind, Record, RowChange};
use super::resources::{
    Activation, Certificate, Configuration, MutualAuthentication, PrivateKey, RevocationList, State,
};

/// Ids of activations using one resource.
type Users = HashSet<String>;

/// Every stored resource at one revision, indexed.
#[derive(Debug, Clone, Default)]
pub struct Tables {
    revision: u64,
    mutual_authentications: HashMap<String, Arc<MutualAuthentication>>,
    private_keys: HashMap<String, Arc<PrivateKey>>,
    /// Public-key SHA-1 → key id (the store keeps it unique).
    keys_by_public_key: HashMap<String, String>,
    certificates: HashMap<String, Arc<Certificate>>,
    /// Public-key SHA-1 → ids of certificates with that key.
    certificates_by_public_key: HashMap<String, HashSet<String>>,
    configurations: HashMap<String, Arc<Configuration>>,
    activations: HashMap<String, Arc<Activation>>,
    /// Domain → activation id, ordered (the status page lists activations by domain).
    domains: OrdMap<String, String>,
    by_mutual_authentication: HashMap<String, Users>,
    by_certificate: HashMap<String, Users>,
    by_configuration: HashMap<String, Users>,
    revocation_lists: HashMap<String, Arc<RevocationList>>,
    /// Mutual authentication id → ids of its revocation lists.
    lists_by_mutual_authentication: HashMap<String, HashSet<String>>,
}

/// What a delta affected, for whoever derives data from the tables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touched {
    /// Activations whose served form may have changed (present or removed now).
    pub activations: BTreeSet<String>,
    /// Mutual authentications changed or removed (their activations are touched too).
    pub mutual_authentications: BTreeSet<String>,
    /// Mutual authentications attached to or detached from an activation (their own
    /// activations are not touched: only whether they are in use may have changed).
    pub attachments: BTreeSet<String>,
    /// Certificates changed or removed, or whose key changed.
    pub certificates: BTreeSet<String>,
    /// Revocation lists changed or removed.
    pub revocation_lists: BTreeSet<String>,
    /// Mutual authentications whose revocation lists changed: their policy changed with them,
    /// so their activations are touched too (the mutual authentication itself did not change).
    pub policies: BTreeSet<String>,
}

fn add_user(index: &mut HashMap<String, Users>, key: &str, user: &str) {
    index
        .entry(key.to_string())
        .or_default()
        .insert(user.to_string());
}

fn remove_user(index: &mut HashMap<String, Users>, key: &str, user: &str) {
    if let Some(users) = index.get_mut(key) {
        users.remove(user);
        if users.is_empty() {
            index.remove(key);
        }
    }
}

impl Tables {
    /// The tables of a whole state.
    pub fn from_state(state: &State) -> Tables {
        let mut t = Tables {
            revision: state.revision,
            ..Tables::default()
        };
        let records = state.records();
        let mut ignored = Touched::default();
        for record in records {
            t.put(record, &mut ignored);
        }
        t
    }

    /// The revision these tables are at.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Apply a delta (its rows in order) and say what it affected. The revision becomes the
    /// delta's `to`.
    pub fn apply(&mut self, delta: &Delta) -> Touched {
        let mut touched = Touched::default();
        for row in &delta.rows {
            match row {
                RowChange::Put(record) => self.put(record.clone(), &mut touched),
                RowChange::Removed(kind, id) => self.remove(*kind, id, &mut touched),
            }
        }
        self.revision = delta.to;
        self.expand(&mut touched);
        touched
    }

    /// Add the activations that use a touched mutual authentication, policy or certificate.
    fn expand(&self, touched: &mut Touched) {
        for id in touched
            .mutual_authentications
            .iter()
            .chain(&touched.policies)
        {
            if let Some(users) = self.by_mutual_authentication.get(id) {
                touched.activations.extend(users.iter().cloned());
            }
        }
        for id in &touched.certificates {
            if let Some(users) = self.by_certificate.get(id) {
                touched.activations.extend(users.iter().cloned());
            }
        }
    }

    fn put(&mut self, record: Record, touched: &mut Touched) {
        match record {
            Record::MutualAuthentication(m) => {
                touched.mutual_authentications.insert(m.id.clone());
                self.mutual_authentications
                    .insert(m.id.clone(), Arc::new(m));
            }
            Record::PrivateKey(k) => {
                self.remove_key(&k.id, touched);
                self.touch_certificates_of(&k.public_key_sha1, touched);
                self.keys_by_public_key
                    .insert(k.public_key_sha1.clone(), k.id.clone());
                self.private_keys.insert(k.id.clone(), Arc::new(k));
            }
            Record::Certificate(c) => {
                self.remove_certificate(&c.id, touched);
                self.certificates_by_public_key
                    .entry(c.public_key_sha1.clone())
                    .or_default()
                    .insert(c.id.clone());
                self.certificates.insert(c.id.clone(), Arc::new(c));
            }
            Record::Configuration(c) => {
                if let Some(users) = self.by_configuration.get(&c.id) {
                    touched.activations.extend(users.iter().cloned());
                }
                self.configurations.insert(c.id.clone(), Arc::new(c));
            }
            Record::Activation(a) => {
                self.remove_activation(&a.id, touched);
                if let Some(m) = &a.mutual_authentication_id {
                    add_user(&mut self.by_mutual_authentication, m, &a.id);
                    touched.attachments.insert(m.clone());
                }
                add_user(&mut self.by_certificate, &a.certificate_id, &a.id);
                add_user(&mut self.by_configuration, &a.configuration_id, &a.id);
                self.domains.insert(a.domain.clone(), a.id.clone());
                self.activations.insert(a.id.clone(), Arc::new(a));
            }
            Record::RevocationList(l) => {
                self.remove_revocation_list(&l.id, touched);
                touched.policies.insert(l.mutual_authentication_id.clone());
                self.lists_by_mutual_authentication
                    .entry(l.mutual_authentication_id.clone())
                    .or_default()
                    .insert(l.id.clone());
                self.revocation_lists.insert(l.id.clone(), Arc::new(l));
            }
        }
    }

    fn remove(&mut self, kind: Kind, id: &str, touched: &mut Touched) {
        match kind {
            Kind::MutualAuthentication => {
                touched.mutual_authentications.insert(id.to_string());
                self.mutual_authentications.remove(id);
            }
            Kind::PrivateKey => self.remove_key(id, touched),
            Kind::Certificate => self.remove_certificate(id, touched),
            Kind::Configuration => {
                if let Some(users) = self.by_configuration.get(id) {
                    touched.activations.extend(users.iter().cloned());
                }
                self.configurations.remove(id);
            }
            Kind::Activation => self.remove_activation(id, touched),
            Kind::RevocationList => self.remove_revocation_list(id, touched),
        }
    }

    fn remove_revocation_list(&mut self, id: &str, touched: &mut Touched) {
        touched.revocation_lists.insert(id.to_string());
        let Some(old) = self.revocation_lists.remove(id) else {
            return;
        };
        touched
            .policies
            .insert(old.mutual_authentication_id.clone());
        let ma = &old.mutual_authentication_id;
        if let Some(lists) = self.lists_by_mutual_authentication.get_mut(ma) {
            lists.remove(id);
            if lists.is_empty() {
                self.lists_by_mutual_authentication.remove(ma);
            }
        }
    }

    fn touch_certificates_of(&self, public_key_sha1: &str, touched: &mut Touched) {
        if let Some(certs) = self.certificates_by_public_key.get(public_key_sha1) {
            touched.certificates.extend(certs.iter().cloned());
        }
    }

    fn remove_key(&mut self, id: &str, touched: &mut Touched) {
        let Some(old) = self.private_keys.remove(id) else {
            return;
        };
        self.touch_certificates_of(&old.public_key_sha1, touched);
        if self.keys_by_public_key.get(&old.public_key_sha1) == Some(&old.id) {
            self.keys_by_public_key.remove(&old.public_key_sha1);
        }
    }

    fn remove_certificate(&mut self, id: &str, touched: &mut Touched) {
        touched.certificates.insert(id.to_string());
        let Some(old) = self.certificates.remove(id) else {
            return;
        };
        if let Some(certs) = self
            .certificates_by_public_key
            .get_mut(&old.public_key_sha1)
        {
            certs.remove(id);
            if certs.is_empty() {
                self.certificates_by_public_key.remove(&old.public_key_sha1);
            }
        }
    }

    fn remove_activation(&mut self, id: &str, touched: &mut Touched) {
        touched.activations.insert(id.to_string());
        let Some(old) = self.activations.remove(id) else {
            return;
        };
        if let Some(m) = &old.mutual_authentication_id {
            remove_user(&mut self.by_mutual_authentication, m, id);
            touched.attachments.insert(m.clone());
        }
        remove_user(&mut self.by_certificate, &old.certificate_id, id);
        remove_user(&mut self.by_configuration, &old.configuration_id, id);
        if self.domains.get(&old.domain).map(String::as_str) == Some(id) {
            self.domains.remove(&old.domain);
        }
    }

    /// The mutual authentication with this id.
    pub fn mutual_authentication(&self, id: &str) -> Option<&Arc<MutualAuthentication>> {
        self.mutual_authentications.get(id)
    }

    /// The certificate with this id.
    pub fn certificate(&self, id: &str) -> Option<&Arc<Certificate>> {
        self.certificates.get(id)
    }

    /// The private key whose public key matches the certificate's.
    pub fn key_for(&self, cert: &Certificate) -> Option<&Arc<PrivateKey>> {
        let id = self.keys_by_public_key.get(&cert.public_key_sha1)?;
        self.private_keys.get(id)
    }

    /// The configuration with this id.
    pub fn configuration(&self, id: &str) -> Option<&Arc<Configuration>> {
        self.configurations.get(id)
    }

    /// The activation with this id.
    pub fn activation(&self, id: &str) -> Option<&Arc<Activation>> {
        self.activations.get(id)
    }

    /// The activation of a canonical domain.
    pub fn activation_by_domain(&self, domain: &str) -> Option<&Arc<Activation>> {
        self.domains
            .get(domain)
            .and_then(|id| self.activations.get(id))
    }

    /// Whether any activation uses this mutual authentication.
    pub fn mutual_authentication_in_use(&self, id: &str) -> bool {
        self.by_mutual_authentication.contains_key(id)
    }

    /// Whether any activation uses this certificate.
    pub fn certificate_in_use(&self, id: &str) -> bool {
        self.by_certificate.contains_key(id)
    }

    /// Every activation, in no particular order.
    pub fn activations(&self) -> impl Iterator<Item = &Arc<Activation>> {
        self.activations.values()
    }

    /// Activations in domain order.
    pub fn activations_by_domain(&self) -> impl Iterator<Item = &Arc<Activation>> {
        self.domains
            .values()
            .filter_map(|id| self.activations.get(id))
    }

    /// The activations using a mutual authentication, in no particular order: O(k).
    pub fn activations_using_mutual_authentication(
        &self,
        id: &str,
    ) -> impl Iterator<Item = &Arc<Activation>> {
        self.by_mutual_authentication
            .get(id)
            .into_iter()
            .flat_map(|users| users.iter())
            .filter_map(|a| self.activations.get(a))
    }

    /// The revocation list with this id.
    pub fn revocation_list(&self, id: &str) -> Option<&Arc<RevocationList>> {
        self.revocation_lists.get(id)
    }

    /// The revocation lists of a mutual authentication, by id.
    pub fn revocation_lists_of(&self, mutual_authentication_id: &str) -> Vec<&Arc<RevocationList>> {
        let mut lists: Vec<&Arc<RevocationList>> = self
            .lists_by_mutual_authentication
            .get(mutual_authentication_id)
            .into_iter()
            .flat_map(|ids| ids.iter())
            .filter_map(|id| self.revocation_lists.get(id))
            .collect();
        lists.sort_by(|a, b| a.id.cmp(&b.id));
        lists
    }

    /// Every revocation list, in no particular order.
    pub fn revocation_lists(&self) -> impl Iterator<Item = &Arc<RevocationList>> {
        self.revocation_lists.values()
    }

    /// Every mutual authentication, in no particular order.
    pub fn mutual_authentications(&self) -> impl Iterator<Item = &Arc<MutualAuthentication>> {
        self.mutual_authentications.values()
    }

    /// Number of activations.
    pub fn activation_count(&self) -> usize {
        self.activations.len()
    }

    /// The whole state, sorted as the store lists it (oldest first; the default configuration
    /// first). O(n): for full rebuilds and tests, never on the change path.
    pub fn to_state(&self) -> State {
        fn sorted<T: Clone>(
            map: &HashMap<String, Arc<T>>,
            key: impl Fn(&T) -> (bool, i64, String),
        ) -> Vec<T> {
            let mut v: Vec<T> = map.values().map(|r| T::clone(r)).collect();
            v.sort_by_key(|r| key(r));
            v
        }
        State {
            revision: self.revision,
            mutual_authentications: sorted(&self.mutual_authentications, |r| {
                (false, r.created_at, r.id.clone())
            }),
            private_keys: sorted(&self.private_keys, |r| (false, r.created_at, r.id.clone())),
            certificates: sorted(&self.certificates, |r| (false, r.created_at, r.id.clone())),
            configurations: sorted(&self.configurations, |r| {
                (!r.default, r.created_at, r.id.clone())
            }),
            activations: sorted(&self.activations, |r| (false, r.created_at, r.id.clone())),
            revocation_lists: sorted(&self.revocation_lists, |r| {
                (false, r.created_at, r.id.clone())
            }),
        }
    }
}

#[cfg(test)]
mod tests;
