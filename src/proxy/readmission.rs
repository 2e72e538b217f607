//! Whether an established connection may carry on under a newer snapshot: its TLS
//! configuration still allows what it negotiated, and its policy object is unchanged, or its
//! mutual authentication changed version (bundle rotated, `enforced` flipped) and still admits
//! the client's certificate with the verdict the connection has now. Anything else (domain
//! deactivated, mutual authentication attached, detached or replaced, the client no longer
//! trusted, a protocol turned off) ends the connection after its in-flight requests, and
//! nothing new is served on it meanwhile (rule 5, docs/architecture.md).

use crate::acceptor::ConnInfo;
use crate::snapshot::entry::Snapshot;
use crate::snapshot::verdict::Verdict;

/// True when `snapshot` admits the connection `info` describes, whose verdict is `verdict`
/// (the handshake's, or a later one after its certificate expired on a fail-open domain).
pub fn readmits(snapshot: &Snapshot, info: &ConnInfo, verdict: Option<Verdict>) -> bool {
    let sni = info.sni.as_deref();
    let Some(current) = snapshot.serving(sni, info.fallback) else {
        return false;
    };
    if !current.tls.admits(info.version, info.alpn) {
        return false;
    }
    if snapshot.keeps_policy(&info.entry, sni, info.fallback) {
        return true;
    }
    // Another mutual authentication, or one attached or detached: the certificate headers name the
    // old one and the SNI/Host binding compares ids (rule 1, docs/architecture.md), so the
    // connection cannot carry on under it.
    if current.mutual_authentication_id != info.entry.mutual_authentication_id {
        return false;
    }
    let (Some(auth), Some(verdict)) = (&current.client_auth, verdict) else {
        return false;
    };
    // The new version is judged on the certificate itself, never on the old handshake: a
    // rotation that dropped the client's CA, or `enforced` turned on for a client without a
    // good certificate, must not keep admitting it. Requiring the same verdict keeps the
    // headers already prepared for this connection true.
    let chain = info.identity.as_ref().map(|id| id.chain());
    let now = auth.rejudge(chain.as_deref());
    now == verdict && auth.admits(now)
}
