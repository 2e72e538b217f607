//! Validation of a mutual authentication's CA bundle (the trust anchors for client certificates).

use super::cert::{certificate_ders, dn_string, parse_der};
use super::pem::{read_sections, Input};
use super::PkiError;

/// A validated CA bundle.
#[derive(Debug, Clone)]
pub struct CaBundle {
    /// Certificate DER, in bundle order.
    pub certs_der: Vec<Vec<u8>>,
    /// RFC 4514-ish subject DN string per cert, for display.
    pub subjects: Vec<String>,
    /// Expiry (notAfter) per cert, in unix seconds.
    pub not_after: Vec<i64>,
}

/// Validates a PEM CA bundle: one or more `CERTIFICATE` sections, each a well-formed X.509
/// certificate, with comments allowed between sections. Refuses private keys of any kind (the
/// bundle is stored and must never hold key material), other section kinds, more than
/// [`super::MAX_BUNDLE_CERTS`] certificates and input over [`super::MAX_BUNDLE_BYTES`].
pub fn parse_ca_bundle(pem: &str) -> Result<CaBundle, PkiError> {
    let certs_der = certificate_ders(read_sections(pem, Input::Bundle)?);
    if certs_der.is_empty() {
        return Err(PkiError::NoCertificate);
    }
    let mut subjects = Vec::with_capacity(certs_der.len());
    let mut not_after = Vec::with_capacity(certs_der.len());
    for (i, der) in certs_der.iter().enumerate() {
        let cert = parse_der(der, i + 1)?;
        subjects.push(dn_string(cert.subject()));
        not_after.push(cert.validity().not_after.timestamp());
    }
    Ok(CaBundle {
        certs_der,
        subjects,
        not_after,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{ca, pem_block};
    use super::super::MAX_BUNDLE_CERTS;
    use super::*;

    #[test]
    fn accepts_certificates_with_comments_in_order() {
        let (a, b) = (ca("Alpha CA"), ca("Beta CA"));
        let text = format!("# first\n{}\nsome note\n{}", a.cert.pem(), b.cert.pem());
        let bundle = parse_ca_bundle(&text).unwrap();
        assert_eq!(
            bundle.certs_der,
            vec![a.cert.der().to_vec(), b.cert.der().to_vec()]
        );
        assert_eq!(bundle.subjects, vec!["CN=Alpha CA", "CN=Beta CA"]);
        assert_eq!(bundle.not_after, vec![a.not_after, b.not_after]);
    }

    #[test]
    fn blank_is_refused() {
        assert_eq!(parse_ca_bundle("  \n ").unwrap_err(), PkiError::Blank);
        assert_eq!(PkiError::Blank.to_string(), "can't be blank");
    }

    #[test]
    fn oversized_is_refused() {
        let pem = ca("Big CA").cert.pem();
        let text = format!("{pem}{}", "#".repeat(super::super::MAX_BUNDLE_BYTES));
        assert!(matches!(
            parse_ca_bundle(&text),
            Err(PkiError::TooLarge { .. })
        ));
    }

    #[test]
    fn private_keys_are_refused_in_every_format() {
        let issuer = ca("Key CA");
        let keys = [
            issuer.key.serialize_pem(),
            pem_block("ENCRYPTED PRIVATE KEY", &[1, 2, 3]),
            pem_block("RSA PRIVATE KEY", &[1, 2, 3]),
            pem_block("EC PRIVATE KEY", &[1, 2, 3]),
        ];
        for key in keys {
            for text in [
                format!("{}{key}", issuer.cert.pem()),
                format!("{key}{}", issuer.cert.pem()),
            ] {
                let err = parse_ca_bundle(&text).unwrap_err();
                assert_eq!(err, PkiError::PrivateKeyInBundle);
                assert_eq!(
                    err.to_string(),
                    "holds a private key; upload only CA certificates"
                );
            }
        }
    }

    #[test]
    fn text_without_certificate_is_refused() {
        assert_eq!(
            parse_ca_bundle("just some text\n").unwrap_err(),
            PkiError::NoCertificate
        );
    }

    #[test]
    fn unparseable_certificate_names_its_index() {
        let good = ca("Good CA").cert.pem();
        let text = format!("{good}{}", pem_block("CERTIFICATE", b"not a certificate"));
        match parse_ca_bundle(&text) {
            Err(PkiError::BadCertificate { index: 2, reason }) => assert!(!reason.is_empty()),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn trailing_der_garbage_names_its_index() {
        let good = ca("Good CA");
        let mut der = good.cert.der().to_vec();
        der.extend_from_slice(&[0, 0, 0]);
        let text = format!("{}{}", good.cert.pem(), pem_block("CERTIFICATE", &der));
        assert_eq!(
            parse_ca_bundle(&text).unwrap_err(),
            PkiError::TrailingData { index: 2, extra: 3 }
        );
    }

    #[test]
    fn too_many_certificates_are_refused() {
        let pem = ca("Many CA").cert.pem();
        let text = pem.repeat(MAX_BUNDLE_CERTS + 1);
        assert_eq!(
            parse_ca_bundle(&text).unwrap_err(),
            PkiError::TooManyCertificates {
                count: MAX_BUNDLE_CERTS + 1,
                limit: MAX_BUNDLE_CERTS
            }
        );
        assert!(parse_ca_bundle(&pem.repeat(3)).is_ok());
    }

    #[test]
    fn other_section_kinds_are_named() {
        let good = ca("Good CA").cert.pem();
        for label in ["X509 CRL", "CERTIFICATE REQUEST", "PUBLIC KEY"] {
            let text = format!("{good}{}", pem_block(label, &[1, 2]));
            let err = parse_ca_bundle(&text).unwrap_err();
            assert!(err.to_string().contains(&format!("\"{label}\"")), "{err}");
        }
    }
}
