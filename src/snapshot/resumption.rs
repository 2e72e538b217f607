//! Each `ServerConfig`'s resumption state (ticketer and session-ID cache), wrapped so that the
//! acceptor can refuse resumption for the rest of one handshake.
//!
//! Why: a resumed handshake must be judged again against the current time and policy (rule 5,
//! docs/architecture.md) before the server sends its flight, so that a refusal is a plain alert.
//! The acceptor does that right after rustls processed the ClientHello (`acceptor::handshake`). A
//! TLS 1.3 client whose first ClientHello carries no usable key share gets a HelloRetryRequest
//! instead, and rustls decides on resumption only while processing the second ClientHello, inside
//! the handshake future, with no point at which the chain could be judged before the server's
//! flight leaves. For such handshakes on an enforced domain the acceptor polls the handshake inside
//! [`refusing_resumption`]: ticket decryption and session lookups then find nothing, rustls falls
//! back to a full handshake, and the client's chain is verified by the handshake's own verifier
//! with its usual alert.
//!
//! The switch is a thread-local set only for the duration of one synchronous `poll` of one
//! handshake, during which rustls calls these stores on that same thread and nothing else runs
//! there, so it cannot leak into another connection.

use std::cell::Cell;
use std::sync::Arc;

use rustls::server::{ProducesTickets, StoresServerSessions};

thread_local! {
    static REFUSING: Cell<bool> = const { Cell::new(false) };
}

fn refusing() -> bool {
    REFUSING.with(Cell::get)
}

/// Runs `f` (one poll of a handshake) with session resumption refused on this thread.
pub fn refusing_resumption<T>(f: impl FnOnce() -> T) -> T {
    /// Clears the switch however `f` ends.
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            REFUSING.with(|r| r.set(self.0));
        }
    }
    let _reset = Reset(REFUSING.with(|r| r.replace(true)));
    f()
}

/// A ticketer whose tickets cannot be redeemed while resumption is refused.
#[derive(Debug)]
pub struct GatedTicketer(pub Arc<dyn ProducesTickets>);

impl ProducesTickets for GatedTicketer {
    fn enabled(&self) -> bool {
        self.0.enabled()
    }

    fn lifetime(&self) -> u32 {
        self.0.lifetime()
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.0.encrypt(plain)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        match refusing() {
            true => None,
            false => self.0.decrypt(cipher),
        }
    }
}

/// A session-ID cache whose sessions cannot be found while resumption is refused (they stay
/// cached for a later handshake that may resume them after being judged).
#[derive(Debug)]
pub struct GatedSessions(pub Arc<dyn StoresServerSessions>);

impl StoresServerSessions for GatedSessions {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.0.put(key, value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        match refusing() {
            true => None,
            false => self.0.get(key),
        }
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        match refusing() {
            true => None,
            false => self.0.take(key),
        }
    }

    fn can_cache(&self) -> bool {
        self.0.can_cache()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::server::ServerSessionMemoryCache;

    #[test]
    fn refused_only_inside_the_scope() {
        let ticketer = GatedTicketer(rustls::crypto::aws_lc_rs::Ticketer::new().unwrap());
        let ticket = ticketer.encrypt(b"session").unwrap();
        let sessions = GatedSessions(ServerSessionMemoryCache::new(4));
        assert!(sessions.put(b"id".to_vec(), b"value".to_vec()));

        refusing_resumption(|| {
            assert_eq!(ticketer.decrypt(&ticket), None);
            assert_eq!(sessions.get(b"id"), None);
            assert_eq!(sessions.take(b"id"), None);
            // New sessions are still issued and kept.
            assert!(ticketer.encrypt(b"new").is_some());
        });
        assert_eq!(ticketer.decrypt(&ticket).as_deref(), Some(&b"session"[..]));
        assert_eq!(sessions.get(b"id").as_deref(), Some(&b"value"[..]));
    }

    #[test]
    fn the_switch_is_reset_even_when_the_poll_panics() {
        let caught = std::panic::catch_unwind(|| refusing_resumption(|| panic!("poll")));
        assert!(caught.is_err());
        assert!(!refusing());
        // Nested scopes restore the outer state.
        refusing_resumption(|| {
            refusing_resumption(|| assert!(refusing()));
            assert!(refusing());
        });
        assert!(!refusing());
    }
}
