//! Session tickets that resume across nodes but never across policies (rule 2,
//! docs/architecture.md; nginx CVE-2025-23419, Apache CVE-2025-23048).
//!
//! rustls' own ticketer makes random keys that cannot be given, so each node would encrypt
//! tickets no other node can read. Here every node holds the same secrets ([`TicketKeys`], fed
//! from the store's shared key generations), and each `ServerConfig` gets a [`PolicyTicketer`]
//! whose AEAD key is derived from the secret with HKDF-SHA256 and the config's policy identity
//! (certificate, key, TLS configuration and mutual authentication, each at its content version).
//! The same policy on two nodes derives the same key, so a client resumes on any node; another
//! policy, or the same mutual authentication after any change, derives another key, under which
//! the ticket does not even decrypt.
//!
//! A ticket is `version (1) ‖ key id (8) ‖ nonce (12) ‖ AES-256-GCM ciphertext and tag`; the
//! version and key id are authenticated. Tickets are issued under the current generation and
//! accepted under any held one (the previous one for a grace period), so a rotation never ends
//! sessions abruptly and a retired key decrypts nothing. Secrets never appear in `Debug` output
//! or logs.

use std::sync::Arc;

use arc_swap::ArcSwap;
use aws_lc_rs::aead::{Aad, Nonce, RandomizedNonceKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::{digest, hkdf};
use rustls::server::ProducesTickets;

/// The ticket format version.
const FORMAT: u8 = 1;
const HEADER: usize = 1 + 8;
/// HKDF salt: names the purpose, so these keys can never collide with another use of a secret.
const SALT: &[u8] = b"mtls-proxy session ticket key v1";
/// Key ids of node-local secrets have the top bit set; shared generations never do.
pub const LOCAL_KEY: u64 = 1 << 63;

/// One secret generation as the data plane holds it.
#[derive(Clone)]
pub struct SecretKey {
    /// Its generation in the store, or a random id with [`LOCAL_KEY`] set.
    pub id: u64,
    secret: [u8; 32],
}

impl SecretKey {
    pub fn new(id: u64, secret: [u8; 32]) -> SecretKey {
        SecretKey { id, secret }
    }

    /// A random node-local secret (before the shared ones are known, or with the store down).
    pub fn local() -> Option<SecretKey> {
        let mut bytes = [0u8; 40];
        aws_lc_rs::rand::fill(&mut bytes).ok()?;
        let (id, secret) = bytes.split_at(8);
        Some(SecretKey {
            id: u64::from_be_bytes(id.try_into().ok()?) | LOCAL_KEY,
            secret: secret.try_into().ok()?,
        })
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({:#x}, ..)", self.id)
    }
}

/// The secrets in force: tickets are issued under `current` and accepted under any of
/// `accepted` (which holds `current`).
#[derive(Debug, Clone)]
struct KeySet {
    /// Bumped by every install, so ticketers re-derive exactly when needed.
    version: u64,
    current: Option<SecretKey>,
    accepted: Vec<SecretKey>,
    lifetime_secs: u32,
}

/// The node's ticket secrets, shared by every ticketer it builds. Cheap to clone (one handle).
#[derive(Clone)]
pub struct TicketKeys(Arc<ArcSwap<KeySet>>);

impl std::fmt::Debug for TicketKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = self.0.load();
        let ids: Vec<String> = set
            .accepted
            .iter()
            .map(|k| format!("{:#x}", k.id))
            .collect();
        write!(f, "TicketKeys(accepted: [{}])", ids.join(", "))
    }
}

impl Default for TicketKeys {
    /// One random local secret (tests, benches, and a node before it reached its store).
    fn default() -> Self {
        let local = SecretKey::local();
        TicketKeys(Arc::new(ArcSwap::from_pointee(KeySet {
            version: 0,
            accepted: local.iter().cloned().collect(),
            current: local,
            lifetime_secs: 3600,
        })))
    }
}

impl TicketKeys {
    /// Replace the secrets: issue under `current`, accept under it and `previous`. Tickets
    /// under any other secret stop decrypting now.
    pub fn install(&self, current: SecretKey, previous: Vec<SecretKey>, lifetime_secs: u32) {
        let version = self.0.load().version.wrapping_add(1);
        let mut accepted = vec![current.clone()];
        accepted.extend(previous.into_iter().filter(|k| k.id != current.id));
        self.0.store(Arc::new(KeySet {
            version,
            current: Some(current),
            accepted,
            lifetime_secs,
        }));
    }

    /// The id of the secret tickets are issued under now.
    pub fn current_id(&self) -> Option<u64> {
        self.0.load().current.as_ref().map(|k| k.id)
    }

    /// The secret tickets are issued under now.
    pub fn current(&self) -> Option<SecretKey> {
        self.0.load().current.clone()
    }

    /// A ticketer for one policy, identified by `policy` (any bytes that differ between
    /// policies and agree between nodes).
    pub fn ticketer(&self, policy: &[u8]) -> Arc<PolicyTicketer> {
        Arc::new(PolicyTicketer {
            keys: self.clone(),
            policy: digest::digest(&digest::SHA256, policy).as_ref().to_vec(),
            derived: ArcSwap::from_pointee(Derived::default()),
        })
    }
}

/// The AEAD keys of one policy under the secrets of one key-set version.
#[derive(Default)]
struct Derived {
    version: Option<u64>,
    encrypt: Option<(u64, RandomizedNonceKey)>,
    decrypt: Vec<(u64, RandomizedNonceKey)>,
}

/// Derive the AES-256-GCM key of `policy` from `secret`.
fn derive(secret: &SecretKey, policy: &[u8]) -> Option<RandomizedNonceKey> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, SALT).extract(&secret.secret);
    let info = [policy];
    let okm = prk.expand(&info, hkdf::HKDF_SHA256).ok()?;
    let mut key = [0u8; 32];
    okm.fill(&mut key).ok()?;
    RandomizedNonceKey::new(&AES_256_GCM, &key).ok()
}

/// Encrypts and decrypts the tickets of one policy with keys derived from the node's secrets.
pub struct PolicyTicketer {
    keys: TicketKeys,
    /// SHA-256 of the policy identity: the HKDF info.
    policy: Vec<u8>,
    derived: ArcSwap<Derived>,
}

impl std::fmt::Debug for PolicyTicketer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PolicyTicketer(..)")
    }
}

impl PolicyTicketer {
    /// The keys for the key set in force, derived once per key-set version.
    fn keys(&self) -> (Arc<Derived>, u32) {
        let set = self.keys.0.load();
        let derived = self.derived.load_full();
        if derived.version == Some(set.version) {
            return (derived, set.lifetime_secs);
        }
        let pair = |k: &SecretKey| derive(k, &self.policy).map(|d| (k.id, d));
        let fresh = Arc::new(Derived {
            version: Some(set.version),
            encrypt: set.current.as_ref().and_then(pair),
            decrypt: set.accepted.iter().filter_map(pair).collect(),
        });
        self.derived.store(fresh.clone());
        (fresh, set.lifetime_secs)
    }
}

impl ProducesTickets for PolicyTicketer {
    fn enabled(&self) -> bool {
        true
    }

    /// The rotation period: a ticket stays accepted between one and two periods (issued under
    /// the current generation, accepted while it is current or previous).
    fn lifetime(&self) -> u32 {
        self.keys().1
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let (derived, _) = self.keys();
        let (id, key) = derived.encrypt.as_ref()?;
        let mut header = Vec::with_capacity(HEADER);
        header.push(FORMAT);
        header.extend_from_slice(&id.to_be_bytes());
        let mut body = plain.to_vec();
        let nonce = key
            .seal_in_place_append_tag(Aad::from(header.as_slice()), &mut body)
            .ok()?;
        let mut ticket = Vec::with_capacity(HEADER + NONCE_LEN + body.len());
        ticket.extend_from_slice(&header);
        ticket.extend_from_slice(nonce.as_ref());
        ticket.extend_from_slice(&body);
        Some(ticket)
    }

    /// Attacker-controlled input: every length is checked, nothing panics, and a ticket under
    /// an unknown key, another policy or with any byte changed yields None.
    fn decrypt(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        let header = ticket.get(..HEADER)?;
        if header.first() != Some(&FORMAT) {
            return None;
        }
        let id = u64::from_be_bytes(header.get(1..HEADER)?.try_into().ok()?);
        let nonce = ticket.get(HEADER..HEADER + NONCE_LEN)?;
        let sealed = ticket.get(HEADER + NONCE_LEN..)?;
        let (derived, _) = self.keys();
        let (_, key) = derived.decrypt.iter().find(|(kid, _)| *kid == id)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = sealed.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(header), &mut body)
            .ok()?;
        Some(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(ids: &[(u64, u8)]) -> TicketKeys {
        let keys = TicketKeys::default();
        let mut all: Vec<SecretKey> = ids
            .iter()
            .map(|(id, b)| SecretKey::new(*id, [*b; 32]))
            .collect();
        let current = all.remove(0);
        keys.install(current, all, 600);
        keys
    }

    #[test]
    fn the_same_policy_and_secret_decrypt_on_another_node() {
        let a = keys(&[(7, 1)]).ticketer(b"policy P");
        let b = keys(&[(7, 1)]).ticketer(b"policy P");
        let ticket = a.encrypt(b"session state").unwrap();
        assert_eq!(b.decrypt(&ticket).unwrap(), b"session state");
        assert_eq!(a.lifetime(), 600);
        assert!(
            !ticket.windows(13).any(|w| w == b"session state"),
            "encrypted"
        );
    }

    #[test]
    fn another_policy_or_another_secret_cannot_decrypt() {
        let node = keys(&[(7, 1)]);
        let ticket = node.ticketer(b"policy P").encrypt(b"state").unwrap();
        assert!(node.ticketer(b"policy Q").decrypt(&ticket).is_none());
        assert!(keys(&[(7, 2)])
            .ticketer(b"policy P")
            .decrypt(&ticket)
            .is_none());
        // A key id the node does not hold.
        assert!(keys(&[(8, 1)])
            .ticketer(b"policy P")
            .decrypt(&ticket)
            .is_none());
    }

    #[test]
    fn rotation_accepts_the_previous_secret_and_retires_older_ones() {
        let node = keys(&[(1, 1)]);
        let ticketer = node.ticketer(b"P");
        let old = ticketer.encrypt(b"g1").unwrap();
        node.install(
            SecretKey::new(2, [2; 32]),
            vec![SecretKey::new(1, [1; 32])],
            600,
        );
        assert_eq!(ticketer.decrypt(&old).unwrap(), b"g1", "grace period");
        let new = ticketer.encrypt(b"g2").unwrap();
        assert_eq!(
            new.get(1..9).unwrap(),
            2u64.to_be_bytes(),
            "issued under the new one"
        );
        node.install(
            SecretKey::new(3, [3; 32]),
            vec![SecretKey::new(2, [2; 32])],
            600,
        );
        assert!(ticketer.decrypt(&old).is_none(), "retired");
        assert_eq!(ticketer.decrypt(&new).unwrap(), b"g2");
    }

    #[test]
    fn every_altered_or_truncated_ticket_is_refused() {
        let t = keys(&[(7, 1)]).ticketer(b"P");
        let ticket = t.encrypt(b"state").unwrap();
        for i in 0..ticket.len() {
            let mut bad = ticket.clone();
            bad[i] ^= 0x01;
            assert!(t.decrypt(&bad).is_none(), "byte {i} flipped");
        }
        for len in 0..ticket.len() {
            assert!(t.decrypt(&ticket[..len]).is_none(), "truncated to {len}");
        }
        assert!(t.decrypt(&[]).is_none());
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let node = keys(&[(7, 0xAB)]);
        let shown = format!(
            "{node:?} {:?} {:?}",
            SecretKey::new(7, [0xAB; 32]),
            node.ticketer(b"P")
        );
        assert!(!shown.to_lowercase().contains("abab"), "{shown}");
        assert!(!shown.contains("171, 171"), "{shown}");
    }

    #[test]
    fn local_secrets_are_random_and_marked_local() {
        let (a, b) = (SecretKey::local().unwrap(), SecretKey::local().unwrap());
        assert_ne!(a.secret, b.secret);
        assert_ne!(a.id & LOCAL_KEY, 0);
        let t1 = TicketKeys::default().ticketer(b"P");
        let t2 = TicketKeys::default().ticketer(b"P");
        assert!(
            t2.decrypt(&t1.encrypt(b"x").unwrap()).is_none(),
            "two processes' local keys differ"
        );
    }
}
