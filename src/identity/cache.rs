//! Identities of client certificates a mutual authentication has judged `ok`, kept so that a
//! client reconnecting with the same chain is not parsed again (x509 parsing, the SHA-256
//! fingerprint, DN formatting and path tracing are the proxy's largest per-connection cost
//! after the TLS handshake itself). One cache per policy (`ClientAuth`): an identity depends
//! on the policy's trust anchors, and a changed policy starts empty.
//!
//! Bounded: at most [`CAPACITY`] chains of at most [`MAX_CHAIN_BYTES`] each, and only chains
//! the policy verified, so a client can fill it only with certificates its CAs issued. A hit
//! requires the whole presented chain to be byte-for-byte the cached one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use rustls_pki_types::CertificateDer;

use super::ClientIdentity;

/// Chains kept per policy; when full, an arbitrary one makes room.
pub const CAPACITY: usize = 64;
/// Larger presented chains (leaf and intermediates together) are not kept.
pub const MAX_CHAIN_BYTES: usize = 16 * 1024;

/// Identities by leaf DER.
#[derive(Default)]
pub struct IdentityCache {
    entries: Mutex<HashMap<Vec<u8>, Arc<ClientIdentity>>>,
}

impl std::fmt::Debug for IdentityCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityCache")
            .field("entries", &self.lock().len())
            .finish()
    }
}

impl IdentityCache {
    fn lock(&self) -> MutexGuard<'_, HashMap<Vec<u8>, Arc<ClientIdentity>>> {
        // A panic while holding the lock cannot leave the map inconsistent (single inserts
        // and removals): keep using it.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The identity kept for exactly this presented chain (leaf first).
    pub fn get(&self, chain: &[CertificateDer<'_>]) -> Option<Arc<ClientIdentity>> {
        let (leaf, rest) = chain.split_first()?;
        let entries = self.lock();
        let identity = entries.get(leaf.as_ref())?;
        let same_rest = identity.presented_der.len() == rest.len()
            && identity
                .presented_der
                .iter()
                .zip(rest)
                .all(|(kept, sent)| kept.as_slice() == sent.as_ref());
        same_rest.then(|| identity.clone())
    }

    /// Keep `identity`; the caller has judged its chain `ok` under the cache's policy.
    pub fn insert(&self, identity: &Arc<ClientIdentity>) {
        let size =
            identity.leaf_der.len() + identity.presented_der.iter().map(Vec::len).sum::<usize>();
        if size > MAX_CHAIN_BYTES {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= CAPACITY && !entries.contains_key(&identity.leaf_der) {
            if let Some(evicted) = entries.keys().next().cloned() {
                entries.remove(&evicted);
            }
        }
        entries.insert(identity.leaf_der.clone(), identity.clone());
    }

    /// Chains kept.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::TrustAnchors;

    fn identity(leaf: &[u8], rest: &[&[u8]]) -> Arc<ClientIdentity> {
        let chain: Vec<CertificateDer<'_>> = std::iter::once(leaf)
            .chain(rest.iter().copied())
            .map(CertificateDer::from)
            .collect();
        Arc::new(ClientIdentity::from_chain(&chain, &TrustAnchors::default()).unwrap())
    }

    fn chain<'a>(parts: &[&'a [u8]]) -> Vec<CertificateDer<'a>> {
        parts.iter().map(|p| CertificateDer::from(*p)).collect()
    }

    #[test]
    fn hits_only_on_the_same_whole_chain() {
        let cache = IdentityCache::default();
        assert!(cache.get(&chain(&[b"leaf", b"mid"])).is_none());
        let kept = identity(b"leaf", &[b"mid"]);
        cache.insert(&kept);
        let hit = cache.get(&chain(&[b"leaf", b"mid"])).unwrap();
        assert!(Arc::ptr_eq(&hit, &kept));
        assert!(
            cache.get(&chain(&[b"leaf"])).is_none(),
            "intermediate missing"
        );
        assert!(cache.get(&chain(&[b"leaf", b"other"])).is_none());
        assert!(cache.get(&chain(&[b"leaf", b"mid", b"more"])).is_none());
        assert!(cache.get(&chain(&[b"leaF", b"mid"])).is_none());
        assert!(cache.get(&[]).is_none());
    }

    #[test]
    fn stays_within_its_bounds() {
        let cache = IdentityCache::default();
        for i in 0..CAPACITY * 3 {
            cache.insert(&identity(format!("leaf {i}").as_bytes(), &[]));
        }
        assert_eq!(cache.len(), CAPACITY);
        // The newest is always kept.
        let last = format!("leaf {}", CAPACITY * 3 - 1);
        assert!(cache.get(&chain(&[last.as_bytes()])).is_some());
        let big = vec![7u8; MAX_CHAIN_BYTES + 1];
        cache.insert(&identity(&big, &[]));
        assert!(cache.get(&chain(&[&big])).is_none(), "too large to keep");
    }
}
