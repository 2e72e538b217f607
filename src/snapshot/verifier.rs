//! Client-certificate verification for one mutual authentication: the rustls verifier a
//! `ServerConfig` uses during the handshake, and the verdict computed once it completed.
//! Revocation lists are part of the policy: every certificate of the chain whose issuer has a
//! CRL is checked against it, in the handshake, in the fail-open verdict and in `rejudge`
//! alike (rule 5, docs/architecture.md).

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::aws_lc_rs;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{VerifierBuilderError, WebPkiClientVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme,
};

use super::verdict::{verdict_for_error, Verdict};
use crate::identity::cache::IdentityCache;
use crate::identity::{ClientIdentity, TrustAnchors};

/// Errors from building a [`ClientAuth`].
#[derive(Debug, thiserror::Error)]
pub enum VerifierError {
    /// The bundle holds no certificate.
    #[error("the CA bundle is empty")]
    EmptyBundle,
    /// The bundle's revocation lists revoke every certificate of the bundle.
    #[error("the revocation lists revoke every certificate of the CA bundle")]
    EveryAnchorRevoked,
    /// A bundle certificate could not be used as a trust anchor.
    #[error("CA bundle certificate #{index} is not a usable trust anchor: {source}")]
    BadCa {
        /// Position of the certificate in the bundle (0-based).
        index: usize,
        /// Why rustls rejected it.
        #[source]
        source: rustls::Error,
    },
    /// rustls refused to build the verifier.
    #[error("cannot build the client verifier: {0}")]
    Build(#[from] VerifierBuilderError),
}

/// Client-certificate policy of one mutual authentication (CA bundle + `enforced`), built once
/// and shared by every domain that uses it.
#[derive(Debug, Clone)]
pub struct ClientAuth {
    mode: Mode,
    /// The bundle's names, to tell which presented certificates form the verified path.
    anchors: Arc<TrustAnchors>,
    /// Identities of chains this policy judged `ok` (see `identity::cache`).
    identities: Arc<IdentityCache>,
}

#[derive(Debug, Clone)]
enum Mode {
    /// rustls' own verifier with client auth mandatory: a handshake completes only with a
    /// verified chain.
    Enforced(Arc<dyn ClientCertVerifier>),
    /// Certificate requested but optional; the chain is judged after the handshake.
    FailOpen(Arc<FailOpenVerifier>),
}

/// The revocation lists of a policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Revocation<'a> {
    /// DER CRLs (at most one per issuer: control refuses a second list for an issuer).
    pub crls: &'a [Vec<u8>],
    /// `[revocation] require_fresh`: a CRL past its nextUpdate fails the chains it covers like
    /// a revocation, instead of still applying its revocations only.
    pub require_fresh: bool,
}

impl ClientAuth {
    /// Builds the policy for a bundle of DER CA certificates, without revocation lists.
    pub fn new(bundle_der: &[Vec<u8>], enforced: bool) -> Result<ClientAuth, VerifierError> {
        Self::with_revocation(bundle_der, enforced, Revocation::default())
    }

    /// Builds the policy for a bundle of DER CA certificates and its revocation lists.
    ///
    /// The trust anchors are exactly the bundle: an empty bundle is an error, never "no
    /// restriction". Caddy CVE-2026-27586 accepted any publicly issued client certificate when its
    /// CA file failed to load, because Go then fell back to the system roots; rustls has no such
    /// fallback and we never add one (no native/webpki roots anywhere in this crate).
    ///
    /// Revocation: every certificate of a client chain (leaf and intermediates) whose issuer has
    /// a CRL is checked; a certificate whose issuer has none is not failed for it (unknown status
    /// allowed), since lists are uploaded per issuer and most issuers may have none. A stale CRL
    /// still applies its revocations; with `require_fresh` it fails the chain instead.
    pub fn with_revocation(
        bundle_der: &[Vec<u8>],
        enforced: bool,
        revocation: Revocation<'_>,
    ) -> Result<ClientAuth, VerifierError> {
        // A bundle certificate revoked by a CRL of the bundle (an intermediate by its root's
        // list) is no trust anchor: webpki never checks an anchor for revocation, so left in
        // it would keep every chain through it trusted (rule 5, docs/architecture.md).
        let revoked = crate::model::pki::revoked_among(bundle_der, revocation.crls);
        let anchors: Vec<Vec<u8>> = bundle_der
            .iter()
            .zip(&revoked)
            .filter(|(_, &revoked)| !revoked)
            .map(|(der, _)| der.clone())
            .collect();
        if anchors.is_empty() && !bundle_der.is_empty() {
            return Err(VerifierError::EveryAnchorRevoked);
        }
        let bundle_der = anchors.as_slice();
        let roots = Arc::new(root_store(bundle_der)?);
        let mut builder = WebPkiClientVerifier::builder_with_provider(
            roots,
            Arc::new(aws_lc_rs::default_provider()),
        );
        if !revocation.crls.is_empty() {
            let crls = revocation
                .crls
                .iter()
                .map(|der| CertificateRevocationListDer::from(der.clone()));
            builder = builder.with_crls(crls).allow_unknown_revocation_status();
            if revocation.require_fresh {
                builder = builder.enforce_revocation_expiration();
            }
        }
        let mode = if enforced {
            let verifier = builder.build()?;
            Mode::Enforced(
                match revocation.require_fresh && !revocation.crls.is_empty() {
                    true => Arc::new(StaleAsRevoked { inner: verifier }),
                    false => verifier,
                },
            )
        } else {
            let inner = builder.allow_unauthenticated().build()?;
            Mode::FailOpen(Arc::new(FailOpenVerifier { inner }))
        };
        Ok(ClientAuth {
            mode,
            anchors: Arc::new(TrustAnchors::from_bundle(bundle_der)),
            identities: Arc::default(),
        })
    }

    /// The identity of a presented chain (leaf first) under this policy: the one kept from an
    /// earlier connection with exactly this chain, else parsed now. None without a leaf.
    pub fn identity(&self, chain: &[CertificateDer<'_>]) -> Option<Arc<ClientIdentity>> {
        self.identities
            .get(chain)
            .or_else(|| ClientIdentity::from_chain(chain, &self.anchors).map(Arc::new))
    }

    /// Keep `identity` for the next connection presenting the same chain. Only for a chain
    /// this policy has judged `ok`.
    pub fn remember(&self, identity: &Arc<ClientIdentity>) {
        self.identities.insert(identity);
    }

    /// Judges a resumed session at `now` as a full handshake would (see [`ClientAuth::judge`]),
    /// given the identity of its chain.
    ///
    /// On an enforced domain the session's chain was verified by this very policy when the
    /// session was made: a ticket or session ID is honoured only by the `ServerConfig` (or, in
    /// a fleet, the policy) that issued it, and that config completes no handshake without a
    /// verified chain. The only input of that verification that has changed since is the time,
    /// so while every certificate that may be on the verified path is within its validity
    /// period, the answer is the same and the signatures are not checked again (they cost as
    /// much as the rest of a resumed handshake). Outside that window, and on a fail-open domain
    /// (whose sessions may carry any chain), the chain is verified in full.
    pub fn judge_resumed(
        &self,
        identity: Option<&ClientIdentity>,
        peer: Option<&[CertificateDer<'_>]>,
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let now_secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        if self.enforced() && identity.is_some_and(|id| id.path_valid_at(now_secs)) {
            return Ok(());
        }
        self.judge(peer, now)
    }

    /// The bundle's trust anchors by name (see `identity::path`).
    pub fn anchors(&self) -> &TrustAnchors {
        &self.anchors
    }

    /// The verifier to install in a `ServerConfig`.
    pub fn verifier(&self) -> Arc<dyn ClientCertVerifier> {
        match &self.mode {
            Mode::Enforced(v) => v.clone(),
            Mode::FailOpen(v) => v.clone(),
        }
    }

    /// Whether an invalid or missing certificate aborts the handshake.
    pub fn enforced(&self) -> bool {
        matches!(self.mode, Mode::Enforced(_))
    }

    /// The verdict for a completed handshake (fresh or resumed), given
    /// `conn.peer_certificates()`.
    ///
    /// Enforced: the handshake could only complete with a verified chain, so presence is
    /// enough and nothing is re-verified (the enforced path pays nothing for fail-open
    /// bookkeeping). Fail-open: the chain is verified here, once, against the bundle.
    pub fn verdict(&self, peer: Option<&[CertificateDer<'_>]>) -> Verdict {
        let Some((end_entity, intermediates)) = peer.and_then(|certs| certs.split_first()) else {
            return Verdict::Missing;
        };
        match &self.mode {
            Mode::Enforced(_) => Verdict::Ok,
            Mode::FailOpen(v) => v.judge(end_entity, intermediates),
        }
    }

    /// Judges `peer` as a full handshake under this policy would at `now`, verifying the chain in
    /// either mode with the same webpki verifier the handshake uses: `Ok` when it passes, else the
    /// error the handshake would have failed with (`NoCertificatesPresented` when no certificate
    /// was presented). Used where the handshake proves nothing about the chain today: a resumed
    /// session (made earlier, perhaps before the certificate expired), a connection re-judged after
    /// a swap or at its certificate's expiry (rule 5, docs/architecture.md).
    pub fn judge(
        &self,
        peer: Option<&[CertificateDer<'_>]>,
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let Some((end_entity, intermediates)) = peer.and_then(|certs| certs.split_first()) else {
            return Err(rustls::Error::NoCertificatesPresented);
        };
        let verifier = match &self.mode {
            Mode::Enforced(v) => v.as_ref(),
            Mode::FailOpen(v) => v.inner.as_ref(),
        };
        verifier
            .verify_client_cert(end_entity, intermediates, now)
            .map(|_| ())
    }

    /// The verdict this policy gives `peer` now, verifying the chain in either mode (see
    /// [`ClientAuth::judge`]).
    pub fn rejudge(&self, peer: Option<&[CertificateDer<'_>]>) -> Verdict {
        self.verdict_at(peer, UnixTime::now())
    }

    /// The verdict this policy gives `peer` at `now`.
    pub fn verdict_at(&self, peer: Option<&[CertificateDer<'_>]>, now: UnixTime) -> Verdict {
        match self.judge(peer, now) {
            Ok(()) => Verdict::Ok,
            Err(err) => verdict_for_error(&err),
        }
    }

    /// Whether a client with `verdict` gets in: fail-open admits every verdict, enforced only
    /// `ok`.
    pub fn admits(&self, verdict: Verdict) -> bool {
        !self.enforced() || verdict == Verdict::Ok
    }
}

fn root_store(bundle_der: &[Vec<u8>]) -> Result<RootCertStore, VerifierError> {
    if bundle_der.is_empty() {
        return Err(VerifierError::EmptyBundle);
    }
    let mut roots = RootCertStore::empty();
    for (index, der) in bundle_der.iter().enumerate() {
        roots
            .add(CertificateDer::from(der.as_slice()))
            .map_err(|source| VerifierError::BadCa { index, source })?;
    }
    Ok(roots)
}

/// Enforced with `require_fresh`: a chain refused because its issuer's CRL is stale fails as a
/// revoked one (alert `certificate_revoked`, verdict `revoked`) rather than as rustls' default
/// for that error (`unknown_ca`), which would send operators looking at the bundle.
#[derive(Debug)]
struct StaleAsRevoked {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for StaleAsRevoked {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.inner
            .verify_client_cert(end_entity, intermediates, now)
            .map_err(|e| match e {
                rustls::Error::InvalidCertificate(
                    CertificateError::ExpiredRevocationList
                    | CertificateError::ExpiredRevocationListContext { .. },
                ) => rustls::Error::InvalidCertificate(CertificateError::Revoked),
                other => other,
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Fail-open verifier: requests a certificate, accepts any chain during the handshake, but
/// still checks proof of possession.
///
/// Why this shape: a rustls verifier is shared by every connection of a `ServerConfig` and gets
/// no per-connection state, so it cannot record "this connection's chain was expired" for later.
/// Instead `verify_client_cert` lets every chain through, and [`ClientAuth::verdict`] verifies
/// the chain exactly once after the handshake, from `peer_certificates()` (which a resumed
/// session carries too). The CertificateVerify signature is delegated to the real webpki
/// verifier, so a client that presents someone else's certificate without its key still fails
/// the handshake: an invalid chain is tolerated, impersonation is not.
#[derive(Debug)]
struct FailOpenVerifier {
    /// webpki verifier over the bundle, built with `allow_unauthenticated()`.
    inner: Arc<dyn ClientCertVerifier>,
}

impl FailOpenVerifier {
    fn judge(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Verdict {
        match self
            .inner
            .verify_client_cert(end_entity, intermediates, UnixTime::now())
        {
            Ok(_) => Verdict::Ok,
            Err(err) => verdict_for_error(&err),
        }
    }
}

impl ClientCertVerifier for FailOpenVerifier {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    /// The bundle's CA names go into the CertificateRequest so clients pick the right cert.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    /// Accepts every chain; the verdict is computed after the handshake (see type docs).
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devpki::{Ca, Issued, Validity};

    fn der(ca: &Ca) -> Vec<Vec<u8>> {
        vec![ca.cert().cert_der.clone()]
    }

    fn chain(certs: &[&[u8]]) -> Vec<CertificateDer<'static>> {
        certs
            .iter()
            .map(|c| CertificateDer::from(c.to_vec()))
            .collect()
    }

    #[test]
    fn empty_bundle_is_rejected() {
        assert!(matches!(
            ClientAuth::new(&[], true),
            Err(VerifierError::EmptyBundle)
        ));
        assert!(matches!(
            ClientAuth::new(&[], false),
            Err(VerifierError::EmptyBundle)
        ));
    }

    #[test]
    fn garbage_ca_is_rejected_with_its_index() {
        let ca = Ca::new("ca").unwrap();
        let bundle = vec![ca.cert().cert_der.clone(), b"not a certificate".to_vec()];
        let err = ClientAuth::new(&bundle, false).unwrap_err();
        assert!(matches!(err, VerifierError::BadCa { index: 1, .. }));
    }

    #[test]
    fn modes_report_enforced_and_mandatory() {
        let ca = Ca::new("ca").unwrap();
        let enforced = ClientAuth::new(&der(&ca), true).unwrap();
        assert!(enforced.enforced());
        assert!(enforced.verifier().client_auth_mandatory());
        let open = ClientAuth::new(&der(&ca), false).unwrap();
        assert!(!open.enforced());
        assert!(open.verifier().offer_client_auth());
        assert!(!open.verifier().client_auth_mandatory());
        assert_eq!(open.verifier().root_hint_subjects().len(), 1);
    }

    #[test]
    fn fail_open_verdicts() {
        let ca = Ca::new("ca").unwrap();
        let other = Ca::new("other").unwrap();
        let auth = ClientAuth::new(&der(&ca), false).unwrap();
        let verdict = |der: &[u8]| auth.verdict(Some(&chain(&[der])));

        let good = ca.issue_client("good", Validity::Current).unwrap();
        assert_eq!(verdict(&good.cert_der), Verdict::Ok);
        let expired = ca.issue_client("old", Validity::Expired).unwrap();
        assert_eq!(verdict(&expired.cert_der), Verdict::Expired);
        let future = ca.issue_client("new", Validity::NotYetValid).unwrap();
        assert_eq!(verdict(&future.cert_der), Verdict::Expired);
        let stranger = other.issue_client("x", Validity::Current).unwrap();
        assert_eq!(verdict(&stranger.cert_der), Verdict::UnknownCa);
        assert_eq!(verdict(b"garbage"), Verdict::Bad);
        assert_eq!(auth.verdict(None), Verdict::Missing);
        assert_eq!(auth.verdict(Some(&[])), Verdict::Missing);
    }

    #[test]
    fn fail_open_wrong_purpose_is_unknown() {
        let ca = Ca::new("ca").unwrap();
        let auth = ClientAuth::new(&der(&ca), false).unwrap();
        let server = ca.issue_server(&["example.test"], &[]).unwrap();
        assert_eq!(
            auth.verdict(Some(&chain(&[&server.cert_der]))),
            Verdict::Unknown
        );
    }

    #[test]
    fn fail_open_uses_presented_intermediates() {
        let root = Ca::new("root").unwrap();
        let inter = root.issue_intermediate("inter").unwrap();
        let leaf = inter.issue_client("leaf", Validity::Current).unwrap();
        let auth = ClientAuth::new(&der(&root), false).unwrap();
        let full = chain(&[&leaf.cert_der, &inter.cert().cert_der]);
        assert_eq!(auth.verdict(Some(&full)), Verdict::Ok);
        let leaf_only = chain(&[&leaf.cert_der]);
        assert_eq!(auth.verdict(Some(&leaf_only)), Verdict::UnknownCa);
    }

    #[test]
    fn rejudge_verifies_in_both_modes() {
        let ca = Ca::new("ca").unwrap();
        let other = Ca::new("other").unwrap();
        let good = ca.issue_client("good", Validity::Current).unwrap();
        let expired = ca.issue_client("old", Validity::Expired).unwrap();
        for enforced in [true, false] {
            let auth = ClientAuth::new(&der(&ca), enforced).unwrap();
            let rejudge = |der: &[u8]| auth.rejudge(Some(&chain(&[der])));
            assert_eq!(rejudge(&good.cert_der), Verdict::Ok, "{enforced}");
            assert_eq!(rejudge(&expired.cert_der), Verdict::Expired, "{enforced}");
            assert_eq!(rejudge(b"garbage"), Verdict::Bad, "{enforced}");
            assert_eq!(auth.rejudge(None), Verdict::Missing, "{enforced}");
            let elsewhere = ClientAuth::new(&der(&other), enforced).unwrap();
            let verdict = elsewhere.rejudge(Some(&chain(&[&good.cert_der])));
            assert_eq!(verdict, Verdict::UnknownCa, "{enforced}");
            assert_eq!(elsewhere.admits(verdict), !enforced);
            assert!(elsewhere.admits(Verdict::Ok));
        }
    }

    fn crl_der(ca: &Ca, revoked: &[&[u8]], stale: bool) -> Vec<u8> {
        let now = time::OffsetDateTime::now_utc();
        let (this, next) = match stale {
            false => (
                now - time::Duration::hours(1),
                now + time::Duration::days(7),
            ),
            true => (now - time::Duration::days(8), now - time::Duration::days(1)),
        };
        let pem = ca.crl(revoked, 1, this, next).unwrap();
        crate::model::pki::parse_crl(&pem).unwrap().der
    }

    fn with_crls(ca: &Ca, crls: &[Vec<u8>], enforced: bool, fresh: bool) -> ClientAuth {
        let revocation = Revocation {
            crls,
            require_fresh: fresh,
        };
        ClientAuth::with_revocation(&der(ca), enforced, revocation).unwrap()
    }

    #[test]
    fn revoked_leaves_and_intermediates_in_every_judgement() {
        let root = Ca::new("root").unwrap();
        let inter = root.issue_intermediate("inter").unwrap();
        let sibling_inter = root.issue_intermediate("sibling inter").unwrap();
        let revoked = inter.issue_client("revoked", Validity::Current).unwrap();
        let sibling = inter.issue_client("sibling", Validity::Current).unwrap();
        let under_revoked_inter = sibling_inter.issue_client("x", Validity::Current).unwrap();
        // The root's CRL revokes the sibling intermediate; the intermediate's CRL one leaf.
        let crls = [
            crl_der(&root, &[&sibling_inter.cert().cert_der], false),
            crl_der(&inter, &[&revoked.cert_der], false),
        ];
        let via = |leaf: &Issued, ca: &Ca| chain(&[&leaf.cert_der, &ca.cert().cert_der]);
        for enforced in [true, false] {
            let auth = with_crls(&root, &crls, enforced, false);
            let judge = |c: &[CertificateDer<'_>]| {
                let by_handshake =
                    auth.verifier()
                        .verify_client_cert(&c[0], &c[1..], UnixTime::now());
                (
                    by_handshake.map_err(|e| verdict_for_error(&e)).err(),
                    auth.rejudge(Some(c)),
                )
            };
            assert_eq!(
                judge(&via(&revoked, &inter)),
                (enforced.then_some(Verdict::Revoked), Verdict::Revoked)
            );
            assert_eq!(judge(&via(&sibling, &inter)), (None, Verdict::Ok));
            let revoked_inter = via(&under_revoked_inter, &sibling_inter);
            assert_eq!(
                judge(&revoked_inter),
                (enforced.then_some(Verdict::Revoked), Verdict::Revoked)
            );
            if !enforced {
                assert_eq!(auth.verdict(Some(&via(&revoked, &inter))), Verdict::Revoked);
                assert_eq!(auth.verdict(Some(&revoked_inter)), Verdict::Revoked);
            }
        }
    }

    /// An intermediate in the bundle is a trust anchor, and webpki never checks an anchor
    /// for revocation: the root's CRL revoking it must still shut out every chain through it.
    #[test]
    fn a_bundle_intermediate_revoked_by_the_roots_crl_is_no_anchor() {
        let root = Ca::new("root").unwrap();
        let inter = root.issue_intermediate("inter").unwrap();
        let kept = root.issue_intermediate("kept").unwrap();
        let leaf = inter.issue_client("leaf", Validity::Current).unwrap();
        let other = kept.issue_client("other", Validity::Current).unwrap();
        let bundle = vec![
            root.cert().cert_der.clone(),
            inter.cert().cert_der.clone(),
            kept.cert().cert_der.clone(),
        ];
        let crls = [crl_der(&root, &[&inter.cert().cert_der], false)];
        for enforced in [true, false] {
            let revocation = Revocation {
                crls: &crls,
                require_fresh: false,
            };
            let auth = ClientAuth::with_revocation(&bundle, enforced, revocation).unwrap();
            let through = chain(&[&leaf.cert_der, &inter.cert().cert_der]);
            assert_eq!(auth.rejudge(Some(&through)), Verdict::Revoked, "{enforced}");
            if enforced {
                let err = auth
                    .verifier()
                    .verify_client_cert(&through[0], &through[1..], UnixTime::now())
                    .unwrap_err();
                assert_eq!(verdict_for_error(&err), Verdict::Revoked);
            } else {
                assert_eq!(auth.verdict(Some(&through)), Verdict::Revoked);
            }
            let leaf_only = chain(&[&leaf.cert_der]);
            assert_ne!(auth.rejudge(Some(&leaf_only)), Verdict::Ok, "{enforced}");
            // The bundle's other certificates still anchor their chains.
            assert_eq!(auth.rejudge(Some(&chain(&[&other.cert_der]))), Verdict::Ok);
        }
    }

    #[test]
    fn issuers_without_a_crl_are_not_failed_for_it() {
        let root = Ca::new("root").unwrap();
        let other_root = Ca::new("other root").unwrap();
        let leaf = other_root.issue_client("x", Validity::Current).unwrap();
        let bundle = vec![
            root.cert().cert_der.clone(),
            other_root.cert().cert_der.clone(),
        ];
        let crls = [crl_der(&root, &[], false)];
        let revocation = Revocation {
            crls: &crls,
            require_fresh: true,
        };
        let auth = ClientAuth::with_revocation(&bundle, true, revocation).unwrap();
        assert_eq!(auth.rejudge(Some(&chain(&[&leaf.cert_der]))), Verdict::Ok);
    }

    #[test]
    fn a_stale_crl_applies_and_fails_only_under_require_fresh() {
        let ca = Ca::new("ca").unwrap();
        let revoked = ca.issue_client("revoked", Validity::Current).unwrap();
        let good = ca.issue_client("good", Validity::Current).unwrap();
        let crls = [crl_der(&ca, &[&revoked.cert_der], true)];
        for enforced in [true, false] {
            let lax = with_crls(&ca, &crls, enforced, false);
            assert_eq!(
                lax.rejudge(Some(&chain(&[&revoked.cert_der]))),
                Verdict::Revoked
            );
            assert_eq!(lax.rejudge(Some(&chain(&[&good.cert_der]))), Verdict::Ok);
            let strict = with_crls(&ca, &crls, enforced, true);
            assert_eq!(
                strict.rejudge(Some(&chain(&[&good.cert_der]))),
                Verdict::Revoked
            );
        }
        // Enforced: the handshake error itself says revoked (alert certificate_revoked).
        let strict = with_crls(&ca, &crls, true, true);
        let err = strict
            .verifier()
            .verify_client_cert(
                &CertificateDer::from(good.cert_der.clone()),
                &[],
                UnixTime::now(),
            )
            .unwrap_err();
        assert_eq!(
            err,
            rustls::Error::InvalidCertificate(CertificateError::Revoked)
        );
    }

    #[test]
    fn a_crl_the_verifier_cannot_parse_fails_the_build() {
        let ca = Ca::new("ca").unwrap();
        let crls = [b"not a crl".to_vec()];
        let revocation = Revocation {
            crls: &crls,
            require_fresh: false,
        };
        assert!(matches!(
            ClientAuth::with_revocation(&der(&ca), true, revocation),
            Err(VerifierError::Build(_))
        ));
    }

    #[test]
    fn enforced_verdict_trusts_the_handshake() {
        let ca = Ca::new("ca").unwrap();
        let auth = ClientAuth::new(&der(&ca), true).unwrap();
        // Not re-verified: the handshake already did it (garbage could never get this far).
        assert_eq!(auth.verdict(Some(&chain(&[b"x"]))), Verdict::Ok);
        assert_eq!(auth.verdict(None), Verdict::Missing);
    }

    fn at(unix: i64) -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(unix.try_into().unwrap()))
    }

    #[test]
    fn resumed_sessions_are_judged_by_dates_on_enforced_domains_only() {
        let ca = Ca::new("ca").unwrap();
        let other = Ca::new("other").unwrap();
        let good = ca.issue_client("good", Validity::Current).unwrap();
        let stranger = other.issue_client("stranger", Validity::Current).unwrap();
        let enforced = ClientAuth::new(&der(&ca), true).unwrap();
        let open = ClientAuth::new(&der(&ca), false).unwrap();
        let judge = |auth: &ClientAuth, der: &[u8], now: UnixTime| {
            let peer = chain(&[der]);
            let identity = auth.identity(&peer).unwrap();
            auth.judge_resumed(Some(&identity), Some(&peer), now)
        };
        let now = UnixTime::now();
        assert!(judge(&enforced, &good.cert_der, now).is_ok());
        assert!(judge(&open, &good.cert_der, now).is_ok());
        // Past its notAfter, or before its notBefore: verified in full, with the error a full
        // handshake would give.
        let identity = enforced.identity(&chain(&[&good.cert_der])).unwrap();
        let expired = judge(&enforced, &good.cert_der, at(identity.not_after + 1));
        assert!(
            matches!(
                expired,
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::Expired
                        | rustls::CertificateError::ExpiredContext { .. }
                ))
            ),
            "{expired:?}"
        );
        let early = judge(&enforced, &good.cert_der, at(identity.not_before - 1));
        assert!(early.is_err(), "{early:?}");
        // A fail-open session may carry any chain: always verified.
        assert!(judge(&open, &stranger.cert_der, now).is_err());
        // No identity (nothing parsed): verified.
        let peer = chain(&[&stranger.cert_der]);
        assert!(enforced.judge_resumed(None, Some(&peer), now).is_err());
        assert!(enforced.judge_resumed(None, None, now).is_err());
    }

    #[test]
    fn remembered_identities_are_shared_by_later_connections() {
        let ca = Ca::new("ca").unwrap();
        let auth = ClientAuth::new(&der(&ca), true).unwrap();
        let a = ca.issue_client("a", Validity::Current).unwrap();
        let b = ca.issue_client("b", Validity::Current).unwrap();
        let first = auth.identity(&chain(&[&a.cert_der])).unwrap();
        let unremembered = auth.identity(&chain(&[&a.cert_der])).unwrap();
        assert!(
            !Arc::ptr_eq(&first, &unremembered),
            "nothing kept until judged ok"
        );
        auth.remember(&first);
        let again = auth.identity(&chain(&[&a.cert_der])).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        let other = auth.identity(&chain(&[&b.cert_der])).unwrap();
        assert_eq!(other.leaf_der, b.cert_der);
        // Another policy (even over the same bundle) keeps its own.
        let rebuilt = ClientAuth::new(&der(&ca), true).unwrap();
        let fresh = rebuilt.identity(&chain(&[&a.cert_der])).unwrap();
        assert!(!Arc::ptr_eq(&first, &fresh));
    }
}
