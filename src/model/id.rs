//! Resource identifiers: 22-character base62 strings, as Fastly issues them.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// Length of every generated id (Fastly's ids are 22 base62 characters).
pub const ID_LEN: usize = 22;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A fresh random id. Rejection sampling keeps the distribution uniform over the alphabet.
pub fn new_id() -> String {
    let rng = SystemRandom::new();
    let mut out = String::with_capacity(ID_LEN);
    let mut buf = [0u8; 64];
    while out.len() < ID_LEN {
        // The system RNG failing is not recoverable input; fall back to a time-derived buffer
        // would weaken ids, so retry instead (it does not fail on Linux in practice).
        if rng.fill(&mut buf).is_err() {
            continue;
        }
        for b in buf {
            // 248 = 4 * 62: values at or above it would bias the first characters.
            if b < 248 && out.len() < ID_LEN {
                if let Some(&c) = ALPHABET.get(usize::from(b % 62)) {
                    out.push(char::from(c));
                }
            }
        }
    }
    out
}

/// A random secret of `bytes` bytes, hex-encoded (used for the generated admin token).
pub fn random_hex(bytes: usize) -> String {
    let rng = SystemRandom::new();
    let mut buf = vec![0u8; bytes];
    while rng.fill(&mut buf).is_err() {}
    crate::hex::encode(&buf, crate::hex::Case::Lower)
}

/// Whether `s` could be an id we issued: used to answer 404 early for junk in paths.
pub fn looks_like_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_22_base62_and_distinct() {
        let a = new_id();
        let b = new_id();
        assert_eq!(a.len(), ID_LEN);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
        assert!(looks_like_id(&a));
        assert!(!looks_like_id("a/b"));
        assert!(!looks_like_id(""));
    }

    #[test]
    fn random_hex_has_requested_length() {
        assert_eq!(random_hex(32).len(), 64);
    }
}
