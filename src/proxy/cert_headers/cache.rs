//! Client-certificate headers built once per client certificate (and mutual authentication)
//! and shared by the connections of a client that reconnects: its identity comes from the
//! policy's identity cache, so each of its connections holds the same `Arc<ClientIdentity>`,
//! and building the headers (base64 of the certificate, dates, names) would otherwise be
//! repeated per connection. Only the `ok` verdict's headers are kept (the others are rare and
//! built per connection); at most [`CAPACITY`] sets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::PrebuiltCertHeaders;
use crate::identity::ClientIdentity;

/// Header sets kept; when full, an arbitrary one makes room.
pub const CAPACITY: usize = 256;

/// The cache, shared by every connection of the proxy.
#[derive(Debug, Default)]
pub struct HeaderCache {
    /// By the identity's address (valid as a key while the entry holds the identity) and the
    /// mutual authentication id.
    entries: Mutex<HashMap<(usize, Arc<str>), Entry>>,
}

#[derive(Debug)]
struct Entry {
    /// Keeps the identity, and so its address, alive while the entry exists.
    identity: Arc<ClientIdentity>,
    headers: PrebuiltCertHeaders,
}

impl HeaderCache {
    /// The `ok` headers of `identity` under mutual authentication `ma`: kept ones, else
    /// `build()`, kept for the next connection.
    pub fn ok_headers(
        &self,
        ma: &Arc<str>,
        identity: &Arc<ClientIdentity>,
        build: impl FnOnce() -> PrebuiltCertHeaders,
    ) -> PrebuiltCertHeaders {
        let key = (Arc::as_ptr(identity) as usize, ma.clone());
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = entries.get(&key) {
            if Arc::ptr_eq(&entry.identity, identity) {
                return entry.headers.clone();
            }
        }
        let headers = build();
        if entries.len() >= CAPACITY {
            if let Some(evicted) = entries.keys().next().cloned() {
                entries.remove(&evicted);
            }
        }
        let entry = Entry {
            identity: identity.clone(),
            headers: headers.clone(),
        };
        entries.insert(key, entry);
        headers
    }

    /// Header sets kept.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::cert_headers::CertHeaderOptions;

    fn identity(leaf: &[u8]) -> Arc<ClientIdentity> {
        Arc::new(ClientIdentity {
            leaf_der: leaf.to_vec(),
            sha256_hex: "ab".repeat(32),
            ..ClientIdentity::default()
        })
    }

    fn build(ma: &str, id: &ClientIdentity) -> PrebuiltCertHeaders {
        PrebuiltCertHeaders::new(
            Some(ma),
            "ok",
            Some(id),
            &CertHeaderOptions::default(),
            None,
        )
    }

    #[test]
    fn built_once_per_identity_and_mutual_authentication() {
        let cache = HeaderCache::default();
        let (a, b) = (identity(b"a"), identity(b"b"));
        let (m1, m2): (Arc<str>, Arc<str>) = ("ma1".into(), "ma2".into());
        let mut builds = 0;
        let mut get = |ma: &Arc<str>, id: &Arc<ClientIdentity>| {
            cache.ok_headers(ma, id, || {
                builds += 1;
                build(ma, id)
            })
        };
        let first = get(&m1, &a);
        let again = get(&m1, &a);
        assert_eq!(
            first.iter().collect::<Vec<_>>(),
            again.iter().collect::<Vec<_>>()
        );
        let other_ma = get(&m2, &a);
        assert!(other_ma.iter().any(|(_, v)| *v == "ma2"));
        get(&m1, &b);
        // An equal identity in another allocation is another key (never a stale hit).
        get(&m1, &identity(b"a"));
        assert_eq!(builds, 4);
        assert_eq!(cache.len(), 4);
    }

    #[test]
    fn stays_within_its_bound() {
        let cache = HeaderCache::default();
        let ma: Arc<str> = "ma".into();
        for i in 0..CAPACITY * 2 {
            let id = identity(format!("leaf {i}").as_bytes());
            cache.ok_headers(&ma, &id, || build("ma", &id));
        }
        assert_eq!(cache.len(), CAPACITY);
    }
}
