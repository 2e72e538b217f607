//! Whether an established connection may carry on under a newer snapshot: its TLS
//! configuration still allows what it negotiated, and its policy object is unchanged, or its
//! mutual authentication changed version (bundle rotated, `enforced` flipped, a revocation list
//! added, replaced, refreshed or gone stale) and still admits the client's certificate.
//! Anything else (domain deactivated, mutual authentication attached, detached or replaced,
//! the client no longer trusted or now revoked under an enforced policy, a protocol turned
//! off) ends the connection after its in-flight requests, and nothing new is served on it
//! meanwhile. A fail-open connection whose verdict changes (its certificate was revoked, say)
//! carries on with the new verdict (rule 5, docs/architecture.md).

use crate::acceptor::ConnInfo;
use crate::snapshot::entry::Snapshot;
use crate::snapshot::verdict::Verdict;

/// What a newer snapshot makes of an open connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readmission {
    /// Admitted with the verdict it has.
    Same,
    /// Admitted, with another verdict from now on (fail-open: `revoked` after a new CRL).
    Rejudged(Verdict),
    /// Not admitted: drain and close.
    Refused,
}

/// How `snapshot` admits the connection `info` describes, whose verdict is `verdict` (the
/// handshake's, or a later one).
pub fn readmit(snapshot: &Snapshot, info: &ConnInfo, verdict: Option<Verdict>) -> Readmission {
    let sni = info.sni.as_deref();
    let Some(current) = snapshot.serving(sni, info.fallback) else {
        return Readmission::Refused;
    };
    if !current.tls.admits(info.version, info.alpn) {
        return Readmission::Refused;
    }
    if snapshot.keeps_policy(&info.entry, sni, info.fallback) {
        return Readmission::Same;
    }
    // Another mutual authentication, or one attached or detached: the certificate headers name the
    // old one and the SNI/Host binding compares ids (rule 1, docs/architecture.md), so the
    // connection cannot carry on under it.
    if current.mutual_authentication_id != info.entry.mutual_authentication_id {
        return Readmission::Refused;
    }
    let (Some(auth), Some(verdict)) = (&current.client_auth, verdict) else {
        return Readmission::Refused;
    };
    // The new version is judged on the certificate itself, never on the old handshake: a
    // rotation that dropped the client's CA, a CRL that revokes it, or `enforced` turned on
    // for a client without a good certificate must not keep admitting it.
    let chain = info.identity.as_ref().map(|id| id.chain());
    let now = auth.rejudge(chain.as_deref());
    match (auth.admits(now), now == verdict) {
        (false, _) => Readmission::Refused,
        (true, true) => Readmission::Same,
        (true, false) => Readmission::Rejudged(now),
    }
}
