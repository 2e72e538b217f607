//! The client-certificate verdict (Fastly's set) and its derivation from rustls errors.

use rustls::{CertificateError, Error};

/// Outcome of client-certificate verification for one connection, as forwarded to the origin.
///
/// The partition is Fastly's (`tls.client.certificate.is_*`, Compute's
/// `ClientCertVerifyResult`), so origins written against Fastly read the same values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The chain verified against the mutual authentication's bundle.
    Ok,
    /// No certificate was presented.
    Missing,
    /// The certificate is corrupt: unparseable, or a signature in the chain does not verify.
    Bad,
    /// Expired or not yet valid.
    Expired,
    /// Revoked by its issuer.
    Revoked,
    /// The chain does not lead to a CA in the bundle.
    UnknownCa,
    /// Any other verification failure.
    Unknown,
}

impl Verdict {
    /// The wire form: `ok`, `missing`, `bad`, `expired`, `revoked`, `unknown_ca`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Missing => "missing",
            Verdict::Bad => "bad",
            Verdict::Expired => "expired",
            Verdict::Revoked => "revoked",
            Verdict::UnknownCa => "unknown_ca",
            Verdict::Unknown => "unknown",
        }
    }

    /// Position in `metrics::labels::VERDICTS`, whose last slot is `not_requested`.
    pub fn index(self) -> usize {
        match self {
            Verdict::Ok => 0,
            Verdict::Missing => 1,
            Verdict::Bad => 2,
            Verdict::Expired => 3,
            Verdict::Revoked => 4,
            Verdict::UnknownCa => 5,
            Verdict::Unknown => 6,
        }
    }

    /// The metrics slot of a connection's verdict: None (no mutual authentication, so no
    /// certificate was requested) is `not_requested`.
    pub fn slot(verdict: Option<Verdict>) -> usize {
        verdict.map_or(crate::metrics::labels::NOT_REQUESTED, Verdict::index)
    }
}

/// Maps a verification error to a verdict.
///
/// | rustls error | verdict |
/// |---|---|
/// | `InvalidCertificate(Expired \| ExpiredContext \| NotValidYet \| NotValidYetContext)` | `Expired` |
/// | `InvalidCertificate(UnknownIssuer)` | `UnknownCa` |
/// | `InvalidCertificate(Revoked)` | `Revoked` |
/// | `InvalidCertificate(ExpiredRevocationList*)` (only with `[revocation] require_fresh`) | `Revoked` |
/// | `InvalidCertificate(BadEncoding \| BadSignature \| UnsupportedSignatureAlgorithm* \| UnhandledCriticalExtension)` | `Bad` |
/// | `NoCertificatesPresented` | `Missing` |
/// | anything else (wrong EKU, unknown revocation status, CRL problems, `Other`, …) | `Unknown` |
///
/// `Bad` is kept for certificates that are corrupt or cannot be checked at all (Fastly: "signature
/// doesn't verify"); a well-formed certificate rejected for policy reasons, such as a missing
/// clientAuth extended key usage, is `Unknown`.
pub fn verdict_for_error(err: &Error) -> Verdict {
    match err {
        Error::InvalidCertificate(cert_err) => verdict_for_cert_error(cert_err),
        Error::NoCertificatesPresented => Verdict::Missing,
        _ => Verdict::Unknown,
    }
}

#[allow(deprecated)] // UnsupportedSignatureAlgorithm is deprecated but still produced by webpki.
fn verdict_for_cert_error(err: &CertificateError) -> Verdict {
    use CertificateError as E;
    match err {
        E::Expired | E::ExpiredContext { .. } | E::NotValidYet | E::NotValidYetContext { .. } => {
            Verdict::Expired
        }
        E::UnknownIssuer => Verdict::UnknownCa,
        // A stale CRL only fails a chain under `require_fresh`, where it counts as revoked.
        E::Revoked | E::ExpiredRevocationList | E::ExpiredRevocationListContext { .. } => {
            Verdict::Revoked
        }
        E::BadEncoding
        | E::BadSignature
        | E::UnsupportedSignatureAlgorithm
        | E::UnsupportedSignatureAlgorithmContext { .. }
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext { .. }
        | E::UnhandledCriticalExtension => Verdict::Bad,
        _ => Verdict::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::UnixTime;
    use std::time::Duration;

    fn cert(e: CertificateError) -> Verdict {
        verdict_for_error(&Error::InvalidCertificate(e))
    }

    #[test]
    fn wire_strings_are_fastlys() {
        let all = [
            (Verdict::Ok, "ok"),
            (Verdict::Missing, "missing"),
            (Verdict::Bad, "bad"),
            (Verdict::Expired, "expired"),
            (Verdict::Revoked, "revoked"),
            (Verdict::UnknownCa, "unknown_ca"),
            (Verdict::Unknown, "unknown"),
        ];
        for (v, s) in all {
            assert_eq!(v.as_str(), s);
            assert_eq!(crate::metrics::labels::VERDICTS[Verdict::slot(Some(v))], s);
        }
        assert_eq!(
            crate::metrics::labels::VERDICTS[Verdict::slot(None)],
            "not_requested"
        );
    }

    #[test]
    fn validity_errors_are_expired() {
        let t = UnixTime::since_unix_epoch(Duration::from_secs(1_000));
        assert_eq!(cert(CertificateError::Expired), Verdict::Expired);
        assert_eq!(cert(CertificateError::NotValidYet), Verdict::Expired);
        let ctx = CertificateError::ExpiredContext {
            time: t,
            not_after: t,
        };
        assert_eq!(cert(ctx), Verdict::Expired);
        let ctx = CertificateError::NotValidYetContext {
            time: t,
            not_before: t,
        };
        assert_eq!(cert(ctx), Verdict::Expired);
    }

    #[test]
    #[allow(deprecated)]
    fn issuer_revocation_and_corruption() {
        assert_eq!(cert(CertificateError::UnknownIssuer), Verdict::UnknownCa);
        assert_eq!(cert(CertificateError::Revoked), Verdict::Revoked);
        assert_eq!(
            cert(CertificateError::ExpiredRevocationList),
            Verdict::Revoked
        );
        assert_eq!(cert(CertificateError::BadEncoding), Verdict::Bad);
        assert_eq!(cert(CertificateError::BadSignature), Verdict::Bad);
        assert_eq!(
            cert(CertificateError::UnsupportedSignatureAlgorithm),
            Verdict::Bad
        );
        assert_eq!(
            cert(CertificateError::UnhandledCriticalExtension),
            Verdict::Bad
        );
    }

    #[test]
    fn everything_else_is_unknown() {
        assert_eq!(cert(CertificateError::InvalidPurpose), Verdict::Unknown);
        assert_eq!(
            cert(CertificateError::UnknownRevocationStatus),
            Verdict::Unknown
        );
        assert_eq!(
            cert(CertificateError::ApplicationVerificationFailure),
            Verdict::Unknown
        );
        assert_eq!(verdict_for_error(&Error::DecryptError), Verdict::Unknown);
        assert_eq!(
            verdict_for_error(&Error::NoCertificatesPresented),
            Verdict::Missing
        );
    }
}
