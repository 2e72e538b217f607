//! Whether an established connection may carry on under a newer snapshot: its policy object
//! is unchanged, or its mutual authentication changed version (bundle rotated, `enforced`
//! flipped) and still admits the client's certificate with the verdict the handshake gave.
//! Anything else (domain deactivated, mutual authentication attached, detached or replaced,
//! the client no longer trusted) ends the connection after its in-flight requests.

use crate::acceptor::ConnInfo;
use crate::snapshot::entry::Snapshot;

/// True when `snapshot` admits the connection `info` describes just as its handshake did.
pub fn readmits(snapshot: &Snapshot, info: &ConnInfo) -> bool {
    let sni = info.sni.as_deref();
    if snapshot.keeps_policy(&info.entry, sni, info.fallback) {
        return true;
    }
    let Some(current) = snapshot.serving(sni, info.fallback) else {
        return false;
    };
    // Another mutual authentication, or one attached or detached: the certificate headers name
    // the old one and the SNI/Host binding compares ids (DESIGN rule 1), so the connection
    // cannot carry on under it.
    if current.mutual_authentication_id != info.entry.mutual_authentication_id {
        return false;
    }
    let (Some(auth), Some(verdict)) = (&current.client_auth, info.verdict) else {
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
