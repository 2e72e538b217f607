//! Which of the certificates a client presented form the path its certificate was verified
//! along, and when that path stops being valid, derived from names without verifying a
//! signature again (a full handshake must not pay for a second verification).
//!
//! webpki (the verifier rustls runs in the handshake) builds the path upwards from the leaf: at
//! each certificate it looks for an issuer whose subject is byte-for-byte the certificate's
//! issuer name, trying the bundle's trust anchors first and then the presented certificates,
//! and it checks the validity period of every certificate on the path except the trust anchor
//! (a trust anchor has no validity period to check). The handshake does not say which path it
//! found. Names pin it down exactly in every ordinary chain; where they do not (two presented
//! certificates with one subject, or a trust anchor and a presented certificate with one
//! subject: cross-signing, key rollover), the two answers are chosen to be safe either way:
//!
//! - **Candidates** are the presented certificates that lie on some name path from the leaf to
//!   a trust anchor. Any path webpki accepts consists of candidates, so the earliest notAfter
//!   among the leaf and the candidates is never later than that of the path actually verified.
//! - **The forwarded path** follows the leaf's issuers while exactly one step is possible (one
//!   candidate and no trust anchor with that name, or a trust anchor and no candidate) and
//!   stops at the first ambiguity. Every accepted path passes through these certificates, so a
//!   certificate that was not verified is never forwarded; at worst the tail of the path after
//!   an ambiguity is left out.
//!
//! A presented copy of a trust anchor (the same DER) is never a candidate: webpki tries the
//! anchor first, with the same name and key, so the copy can never complete a path the anchor
//! did not. Without this, a client that sends its (long expired) root along would be judged
//! by the root's dates, which the handshake ignores.

use std::collections::{HashMap, HashSet};

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

/// The names of a mutual authentication's trust anchors (its CA bundle), for path tracing.
#[derive(Debug, Clone, Default)]
pub struct TrustAnchors {
    /// DER subject names (outer SEQUENCE included) of the bundle's certificates.
    subjects: HashSet<Vec<u8>>,
    /// SHA-256 of the bundle's certificates (DER): enough to recognise a presented copy,
    /// without keeping a second copy of a large bundle.
    certs: HashSet<[u8; 32]>,
}

impl TrustAnchors {
    /// From the bundle's DER certificates; one that does not parse names nothing (rustls
    /// refuses such a bundle anyway).
    pub fn from_bundle(bundle_der: &[Vec<u8>]) -> TrustAnchors {
        let mut anchors = TrustAnchors::default();
        for der in bundle_der {
            if let Ok((_, cert)) = X509Certificate::from_der(der) {
                anchors.subjects.insert(cert.subject().as_raw().to_vec());
                anchors.certs.insert(sha256(der));
            }
        }
        anchors
    }

    fn names(&self, subject: &[u8]) -> bool {
        self.subjects.contains(subject)
    }

    /// A presented certificate that is a trust anchor itself.
    fn is_anchor(&self, names: &Names<'_>, der: &[u8]) -> bool {
        // Only a self-issued certificate named like an anchor can be one: the set lookup on
        // the whole DER is then paid only for such certificates.
        names.subject == names.issuer
            && self.names(names.subject)
            && self.certs.contains(&sha256(der))
    }
}

fn sha256(der: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    // SHA-256 is 32 bytes; the fallback is never taken.
    digest.as_ref().try_into().unwrap_or([0u8; 32])
}

/// What path tracing reads from one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Names<'a> {
    /// DER subject name.
    pub subject: &'a [u8],
    /// DER issuer name.
    pub issuer: &'a [u8],
    /// notBefore, unix seconds.
    pub not_before: i64,
    /// notAfter, unix seconds.
    pub not_after: i64,
}

impl<'a> Names<'a> {
    /// The names of a parsed certificate.
    pub fn of(cert: &X509Certificate<'a>) -> Names<'a> {
        Names {
            subject: cert.tbs_certificate.subject.as_raw(),
            issuer: cert.tbs_certificate.issuer.as_raw(),
            not_before: cert.tbs_certificate.validity.not_before.timestamp(),
            not_after: cert.tbs_certificate.validity.not_after.timestamp(),
        }
    }
}

/// The result of tracing a presented chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traced {
    /// Positions among the presented certificates (after the leaf) of the forwarded path, the
    /// leaf's issuer first.
    pub path: Vec<usize>,
    /// The distinct notAfter times (unix seconds, ascending) of the leaf and every candidate.
    pub expiries: Vec<i64>,
    /// The latest notBefore (unix seconds) of the leaf and every candidate: never earlier than
    /// that of the path actually verified.
    pub valid_from: i64,
}

/// Traces `leaf`'s path through `presented` (the certificates sent after it, None where one
/// does not parse, with their DER) to `anchors`.
pub fn trace(
    leaf: &Names<'_>,
    presented: &[(Option<Names<'_>>, &[u8])],
    anchors: &TrustAnchors,
) -> Traced {
    let usable: Vec<Option<&Names<'_>>> = presented
        .iter()
        .map(|(names, der)| names.as_ref().filter(|n| !anchors.is_anchor(n, der)))
        .collect();
    let candidates = candidates(leaf, &usable, anchors);
    let on_some_path = || {
        std::iter::once(leaf).chain(
            usable
                .iter()
                .zip(&candidates)
                .filter_map(|(n, &c)| n.filter(|_| c)),
        )
    };
    let mut expiries: Vec<i64> = on_some_path().map(|n| n.not_after).collect();
    expiries.sort_unstable();
    expiries.dedup();
    let valid_from = on_some_path()
        .map(|n| n.not_before)
        .max()
        .unwrap_or(leaf.not_before);
    Traced {
        path: forced_path(leaf, &usable, &candidates, anchors),
        expiries,
        valid_from,
    }
}

/// Positions by subject name.
fn by_subject<'n>(usable: &[Option<&Names<'n>>]) -> HashMap<&'n [u8], Vec<usize>> {
    let mut map: HashMap<&[u8], Vec<usize>> = HashMap::new();
    for (i, names) in usable.iter().enumerate() {
        if let Some(n) = names {
            map.entry(n.subject).or_default().push(i);
        }
    }
    map
}

/// Which presented certificates are on some name path from the leaf to an anchor: reachable
/// from the leaf by issuer names, and leading to an anchor by issuer names. Linear in the
/// number of certificates (hash lookups), whatever a client sends.
fn candidates(
    leaf: &Names<'_>,
    usable: &[Option<&Names<'_>>],
    anchors: &TrustAnchors,
) -> Vec<bool> {
    let subjects = by_subject(usable);
    let mut by_issuer: HashMap<&[u8], Vec<usize>> = HashMap::new();
    for (i, names) in usable.iter().enumerate() {
        if let Some(n) = names {
            by_issuer.entry(n.issuer).or_default().push(i);
        }
    }
    // Leading to an anchor: issued under an anchor's name, or under a certificate that is.
    let mut leads = vec![false; usable.len()];
    let mut queue: Vec<usize> = Vec::new();
    for (i, names) in usable.iter().enumerate() {
        if names.is_some_and(|n| anchors.names(n.issuer)) {
            mark(&mut leads, i, &mut queue);
        }
    }
    while let Some(i) = queue.pop() {
        let Some(n) = usable.get(i).copied().flatten() else {
            continue;
        };
        for &j in by_issuer.get(n.subject).into_iter().flatten() {
            mark(&mut leads, j, &mut queue);
        }
    }
    // Reachable from the leaf through certificates that lead to an anchor.
    let mut reached = vec![false; usable.len()];
    let mut issuers = vec![leaf.issuer];
    while let Some(issuer) = issuers.pop() {
        for &i in subjects.get(issuer).into_iter().flatten() {
            let leading = leads.get(i).copied().unwrap_or(false);
            if leading && !reached.get(i).copied().unwrap_or(true) {
                if let Some(r) = reached.get_mut(i) {
                    *r = true;
                }
                if let Some(n) = usable.get(i).copied().flatten() {
                    issuers.push(n.issuer);
                }
            }
        }
    }
    reached
}

fn mark(set: &mut [bool], i: usize, queue: &mut Vec<usize>) {
    if let Some(seen) = set.get_mut(i) {
        if !*seen {
            *seen = true;
            queue.push(i);
        }
    }
}

/// The leaf's issuers while exactly one step is possible (see module docs).
fn forced_path(
    leaf: &Names<'_>,
    usable: &[Option<&Names<'_>>],
    candidates: &[bool],
    anchors: &TrustAnchors,
) -> Vec<usize> {
    let subjects = by_subject(usable);
    let mut path = Vec::new();
    let mut issuer = leaf.issuer;
    loop {
        let mut next = subjects
            .get(issuer)
            .into_iter()
            .flatten()
            .copied()
            .filter(|&i| candidates.get(i).copied().unwrap_or(false) && !path.contains(&i));
        let (first, second) = (next.next(), next.next());
        match (anchors.names(issuer), first, second) {
            (false, Some(only), None) => {
                path.push(only);
                match usable.get(only).copied().flatten() {
                    Some(n) => issuer = n.issuer,
                    None => break,
                }
            }
            // Complete (an anchor and nothing else), ambiguous, or no path at all.
            _ => break,
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A certificate described by names only: `subject` issued by `issuer`, expiring at
    /// `not_after`; its "DER" is its subject plus a tag, unique per test certificate.
    struct Fake {
        subject: Vec<u8>,
        issuer: Vec<u8>,
        not_before: i64,
        not_after: i64,
        der: Vec<u8>,
    }

    fn fake(subject: &str, issuer: &str, not_after: i64) -> Fake {
        Fake {
            subject: subject.as_bytes().to_vec(),
            issuer: issuer.as_bytes().to_vec(),
            not_before: 0,
            not_after,
            der: format!("{subject}<-{issuer}@{not_after}").into_bytes(),
        }
    }

    fn starting(mut fake: Fake, not_before: i64) -> Fake {
        fake.not_before = not_before;
        fake
    }

    impl Fake {
        fn names(&self) -> Names<'_> {
            Names {
                subject: &self.subject,
                issuer: &self.issuer,
                not_before: self.not_before,
                not_after: self.not_after,
            }
        }
    }

    fn anchors(certs: &[&Fake]) -> TrustAnchors {
        TrustAnchors {
            subjects: certs.iter().map(|c| c.subject.clone()).collect(),
            certs: certs.iter().map(|c| sha256(&c.der)).collect(),
        }
    }

    fn run(leaf: &Fake, presented: &[&Fake], anchors: &TrustAnchors) -> Traced {
        let presented: Vec<(Option<Names<'_>>, &[u8])> = presented
            .iter()
            .map(|c| (Some(c.names()), c.der.as_slice()))
            .collect();
        trace(&leaf.names(), &presented, anchors)
    }

    #[test]
    fn a_plain_chain_is_exact() {
        let root = fake("root", "root", 900);
        let mid = fake("mid", "root", 500);
        let leaf = fake("leaf", "mid", 700);
        let t = run(&leaf, &[&mid], &anchors(&[&root]));
        assert_eq!(t.path, vec![0]);
        assert_eq!(t.expiries, vec![500, 700]);
        // The leaf directly under an anchor: no intermediate.
        let direct = fake("leaf", "root", 300);
        let t = run(&direct, &[], &anchors(&[&root]));
        assert_eq!(t.path, Vec::<usize>::new());
        assert_eq!(t.expiries, vec![300]);
    }

    #[test]
    fn extra_certificates_are_neither_forwarded_nor_counted() {
        let root = fake("root", "root", 900);
        let mid = fake("mid", "root", 500);
        let leaf = fake("leaf", "mid", 700);
        let stranger = fake("stranger", "elsewhere", 10);
        let orphan = fake("mid2", "unknown-root", 20);
        let t = run(&leaf, &[&stranger, &mid, &orphan], &anchors(&[&root]));
        assert_eq!(t.path, vec![1]);
        assert_eq!(t.expiries, vec![500, 700]);
    }

    #[test]
    fn a_presented_copy_of_the_anchor_is_ignored() {
        let root = fake("root", "root", 5);
        let mid = fake("mid", "root", 500);
        let leaf = fake("leaf", "mid", 700);
        let copy = fake("root", "root", 5);
        let t = run(&leaf, &[&mid, &copy], &anchors(&[&root]));
        assert_eq!(t.path, vec![0]);
        assert_eq!(t.expiries, vec![500, 700], "the anchor's dates never count");
    }

    #[test]
    fn ambiguity_forwards_only_the_common_prefix_and_counts_every_candidate() {
        // Cross-signing: mid is issued by "root2", which is both an anchor and a presented
        // certificate signed by the anchor "root1".
        let root1 = fake("root1", "root1", 900);
        let root2 = fake("root2", "root2", 900);
        let cross = fake("root2", "root1", 100);
        let mid = fake("mid", "root2", 500);
        let leaf = fake("leaf", "mid", 700);
        let t = run(&leaf, &[&mid, &cross], &anchors(&[&root1, &root2]));
        assert_eq!(t.path, vec![0]);
        assert_eq!(t.expiries, vec![100, 500, 700]);
        // Key rollover: two presented intermediates with one name.
        let old = fake("mid", "root1", 50);
        let new = fake("mid", "root1", 600);
        let t = run(&leaf, &[&old, &new], &anchors(&[&root1]));
        assert_eq!(t.path, Vec::<usize>::new());
        assert_eq!(t.expiries, vec![50, 600, 700]);
    }

    #[test]
    fn valid_from_is_the_latest_not_before_on_any_path() {
        let root = starting(fake("root", "root", 900), 400);
        let mid = starting(fake("mid", "root", 500), 30);
        let leaf = starting(fake("leaf", "mid", 700), 20);
        let stranger = starting(fake("stranger", "elsewhere", 800), 600);
        let t = run(&leaf, &[&mid, &stranger], &anchors(&[&root]));
        // The anchor's and the stranger's dates never count.
        assert_eq!(t.valid_from, 30);
        let late_leaf = starting(fake("leaf", "mid", 700), 50);
        assert_eq!(run(&late_leaf, &[&mid], &anchors(&[&root])).valid_from, 50);
        // Both rollover intermediates may be on the path: the later start counts.
        let new = starting(fake("mid", "root", 600), 45);
        assert_eq!(run(&leaf, &[&mid, &new], &anchors(&[&root])).valid_from, 45);
    }

    #[test]
    fn no_path_means_nothing_forwarded() {
        let root = fake("root", "root", 900);
        let mid = fake("mid", "other-root", 500);
        let leaf = fake("leaf", "mid", 700);
        let t = run(&leaf, &[&mid], &anchors(&[&root]));
        assert_eq!(t.path, Vec::<usize>::new());
        assert_eq!(t.expiries, vec![700]);
    }

    #[test]
    fn loops_and_long_chains_terminate() {
        let root = fake("root", "root", 900);
        let a = fake("a", "b", 10);
        let b = fake("b", "a", 20);
        let leaf = fake("leaf", "a", 700);
        let t = run(&leaf, &[&a, &b], &anchors(&[&root]));
        assert_eq!(t.path, Vec::<usize>::new());
        assert_eq!(t.expiries, vec![700]);
        // A ring that also reaches the anchor: every member is a candidate, and the forced
        // path never repeats a certificate.
        let c = fake("c", "root", 30);
        let b2 = fake("b", "c", 40);
        let t = run(&leaf, &[&a, &b, &c, &b2], &anchors(&[&root]));
        assert_eq!(t.path, vec![0]);
        assert_eq!(t.expiries, vec![10, 20, 30, 40, 700]);
        // Many same-named certificates: linear work, a result all the same.
        let many: Vec<Fake> = (0..2000).map(|i| fake("mid", "root", 1000 + i)).collect();
        let refs: Vec<&Fake> = many.iter().collect();
        let leaf = fake("leaf", "mid", 700);
        let t = run(&leaf, &refs, &anchors(&[&root]));
        assert!(t.path.is_empty());
        assert_eq!(t.expiries.len(), 2001);
        assert_eq!(t.expiries.first(), Some(&700));
    }
}
