//! Validation of an uploaded certificate chain and the attributes the API derives from its leaf.

use std::collections::HashSet;

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use super::cert::{certificate_ders, common_name, dn_string, parse_der, serial_decimal};
use super::domain::canonical_domain;
use super::pem::{read_sections, Input};
use super::sigalg::go_name;
use super::{sha1_hex, PkiError};

/// A validated certificate chain and its leaf's attributes.
#[derive(Debug, Clone)]
pub struct CertInfo {
    /// Leaf first, then intermediates, as uploaded.
    pub chain_der: Vec<Vec<u8>>,
    /// Subject CN; if no CN, the first DNS SAN; never empty.
    pub issued_to: String,
    /// Issuer CN; if no CN, the issuer DN string.
    pub issuer: String,
    /// Decimal string of the serial (big integers too).
    pub serial_number: String,
    /// Go `x509.SignatureAlgorithm.String()` name, "0" when unknown.
    pub signature_algorithm: String,
    /// notBefore, unix seconds.
    pub not_before: i64,
    /// notAfter, unix seconds.
    pub not_after: i64,
    /// SAN DNS names of the leaf, canonical (see [`super::canonical_domain`]), deduplicated, in
    /// order. SAN entries that are not valid domains (e.g. "intranet", IP addresses) are left out.
    pub dns_names: Vec<String>,
    /// Same derivation as [`super::KeyInfo::public_key_sha1`], so a key and its certificate
    /// compare equal.
    pub public_key_sha1: String,
}

/// Validates a PEM certificate chain (leaf first, each following certificate the issuer of the
/// one before) and derives the leaf's attributes. Refuses private keys, other section kinds,
/// unparseable certificates and a leaf without a valid DNS SAN.
pub fn parse_certificate_chain(pem: &str) -> Result<CertInfo, PkiError> {
    let chain_der = certificate_ders(read_sections(pem, Input::Chain)?);
    if chain_der.is_empty() {
        return Err(PkiError::NoCertificate);
    }
    let certs = chain_der
        .iter()
        .enumerate()
        .map(|(i, der)| parse_der(der, i + 1))
        .collect::<Result<Vec<_>, _>>()?;
    check_order(&certs)?;
    let Some(leaf) = certs.first() else {
        return Err(PkiError::NoCertificate);
    };
    let info = leaf_info(leaf)?;
    Ok(CertInfo { chain_der, ..info })
}

/// Each certificate must be named as issuer by the one before it (raw DN comparison, as path
/// builders do); a reversed chain would otherwise make a CA certificate the "leaf".
fn check_order(certs: &[X509Certificate<'_>]) -> Result<(), PkiError> {
    for (i, pair) in certs.windows(2).enumerate() {
        if let [child, parent] = pair {
            if child.issuer().as_raw() != parent.subject().as_raw() {
                return Err(PkiError::ChainOutOfOrder {
                    index: i + 2,
                    previous: i + 1,
                });
            }
        }
    }
    Ok(())
}

fn leaf_info(leaf: &X509Certificate<'_>) -> Result<CertInfo, PkiError> {
    let dns_names = dns_names(leaf)?;
    let issued_to = common_name(leaf.subject())
        .or_else(|| dns_names.first().cloned())
        .ok_or(PkiError::NoDnsName)?;
    let issuer = common_name(leaf.issuer()).unwrap_or_else(|| dn_string(leaf.issuer()));
    let validity = leaf.validity();
    Ok(CertInfo {
        chain_der: Vec::new(),
        issued_to,
        issuer,
        serial_number: serial_decimal(leaf),
        signature_algorithm: go_name(&leaf.signature_algorithm).to_string(),
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        dns_names,
        public_key_sha1: sha1_hex(leaf.public_key().raw),
    })
}

fn dns_names(leaf: &X509Certificate<'_>) -> Result<Vec<String>, PkiError> {
    let san = leaf
        .subject_alternative_name()
        .map_err(|e| PkiError::BadCertificate {
            index: 1,
            reason: e.to_string(),
        })?;
    // A set keeps deduplication linear: a 1 MiB certificate can carry tens of thousands of SANs.
    let mut seen = HashSet::new();
    let mut names: Vec<String> = Vec::new();
    let raw = san
        .iter()
        .flat_map(|ext| ext.value.general_names.iter())
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(*dns),
            _ => None,
        });
    for dns in raw {
        if let Ok(name) = canonical_domain(dns) {
            if seen.insert(name.clone()) {
                names.push(name);
            }
        }
    }
    if names.is_empty() {
        return Err(PkiError::NoDnsName);
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use rcgen::{DnType, KeyPair, SerialNumber};

    use super::super::test_support::{
        ca, ca_with, issue, leaf, params, pem_block, Issued, NOT_AFTER, NOT_BEFORE,
    };
    use super::*;

    fn chain_pem(certs: &[&Issued]) -> String {
        certs.iter().map(|c| c.cert.pem()).collect()
    }

    #[test]
    fn derives_leaf_attributes() {
        let root = ca("Example Root");
        let sans = [
            "WWW.Example.com.",
            "www.example.com",
            "localhost",
            "*.api.example.com",
        ];
        let leaf = leaf(Some("Example Leaf"), &sans, &root);
        let info = parse_certificate_chain(&chain_pem(&[&leaf, &root])).unwrap();
        assert_eq!(
            info.chain_der,
            vec![leaf.cert.der().to_vec(), root.cert.der().to_vec()]
        );
        assert_eq!(info.issued_to, "Example Leaf");
        assert_eq!(info.issuer, "Example Root");
        assert_eq!(
            info.dns_names,
            vec!["www.example.com", "localhost", "*.api.example.com"]
        );
        assert_eq!(info.signature_algorithm, "ECDSA-SHA256");
        assert_eq!(info.not_before, NOT_BEFORE.unix_timestamp());
        assert_eq!(info.not_after, NOT_AFTER.unix_timestamp());
        assert_eq!(info.public_key_sha1.len(), 40);
    }

    #[test]
    fn issued_to_falls_back_to_first_dns_san() {
        let root = ca("Root");
        let leaf = leaf(None, &["First.Example.com", "second.example.com"], &root);
        let info = parse_certificate_chain(&leaf.cert.pem()).unwrap();
        assert_eq!(info.issued_to, "first.example.com");
    }

    #[test]
    fn issuer_falls_back_to_dn_without_cn() {
        let mut root_params = params(None, &[]);
        root_params
            .distinguished_name
            .push(DnType::OrganizationName, "Acme");
        root_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let root = issue(root_params, key, None);
        let leaf = leaf(Some("leaf"), &["a.example.com"], &root);
        let info = parse_certificate_chain(&leaf.cert.pem()).unwrap();
        assert_eq!(info.issuer, "O=Acme");
    }

    fn leaf_with_serial(serial: Vec<u8>) -> Issued {
        let root = ca("Serial Root");
        let mut p = params(Some("serial"), &["s.example.com"]);
        p.serial_number = Some(SerialNumber::from(serial));
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        issue(p, key, Some(&root))
    }

    #[test]
    fn serial_is_decimal_even_when_big() {
        let serial: Vec<u8> = (1..=16).collect();
        let info = parse_certificate_chain(&leaf_with_serial(serial).cert.pem()).unwrap();
        assert_eq!(info.serial_number, "1339673755198158349044581307228491536");
        let info = parse_certificate_chain(&leaf_with_serial(vec![0xff; 20]).cert.pem()).unwrap();
        assert_eq!(
            info.serial_number,
            "1461501637330902918203684832716283019655932542975"
        );
    }

    #[test]
    fn negative_serial_prints_with_sign() {
        let serial = vec![0x7f, 0xaa, 0xbb, 0xcc, 0xdd];
        let mut der = leaf_with_serial(serial.clone()).cert.der().to_vec();
        // Flip the sign bit of the serial INTEGER in place (signatures are not checked here).
        let at = der.windows(5).position(|w| w == serial.as_slice()).unwrap();
        der[at] = 0x80;
        let info = parse_certificate_chain(&pem_block("CERTIFICATE", &der)).unwrap();
        assert_eq!(info.serial_number, "-546891379491");
    }

    #[test]
    fn signature_algorithm_names() {
        let p384 = ca_with("P384 Root", &rcgen::PKCS_ECDSA_P384_SHA384, None);
        let info = parse_certificate_chain(&leaf(Some("l"), &["a.example.com"], &p384).cert.pem());
        assert_eq!(info.unwrap().signature_algorithm, "ECDSA-SHA384");

        let rsa = ca_with("RSA Root", &rcgen::PKCS_RSA_SHA256, None);
        let info = parse_certificate_chain(&leaf(Some("l"), &["a.example.com"], &rsa).cert.pem());
        assert_eq!(info.unwrap().signature_algorithm, "SHA256-RSA");

        let rsa512 = ca_with("RSA512 Root", &rcgen::PKCS_RSA_SHA512, None);
        let info =
            parse_certificate_chain(&leaf(Some("l"), &["a.example.com"], &rsa512).cert.pem());
        assert_eq!(info.unwrap().signature_algorithm, "SHA512-RSA");
    }

    #[test]
    fn chain_order_is_checked() {
        let root = ca("Root");
        let mid = ca_with("Intermediate", &rcgen::PKCS_ECDSA_P256_SHA256, Some(&root));
        let leaf = leaf(Some("leaf"), &["a.example.com"], &mid);
        let info = parse_certificate_chain(&chain_pem(&[&leaf, &mid, &root])).unwrap();
        assert_eq!(info.chain_der.len(), 3);
        assert_eq!(info.issuer, "Intermediate");
        assert_eq!(
            parse_certificate_chain(&chain_pem(&[&leaf, &root])).unwrap_err(),
            PkiError::ChainOutOfOrder {
                index: 2,
                previous: 1
            }
        );
        assert_eq!(
            parse_certificate_chain(&chain_pem(&[&leaf, &root, &mid])).unwrap_err(),
            PkiError::ChainOutOfOrder {
                index: 2,
                previous: 1
            }
        );
        assert!(matches!(
            parse_certificate_chain(&chain_pem(&[&root, &mid, &leaf])),
            Err(PkiError::ChainOutOfOrder { .. })
        ));
    }

    #[test]
    fn leaf_needs_a_valid_dns_san() {
        let root = ca("Root");
        for sans in [&[][..], &["intranet"][..], &["10.0.0.1"][..]] {
            let leaf = leaf(Some("leaf.example.com"), sans, &root);
            assert_eq!(
                parse_certificate_chain(&leaf.cert.pem()).unwrap_err(),
                PkiError::NoDnsName,
                "{sans:?}"
            );
        }
    }

    #[test]
    fn refuses_keys_blank_and_bad_certificates() {
        let root = ca("Root");
        let leaf = leaf(Some("l"), &["a.example.com"], &root);
        let with_key = format!("{}{}", leaf.cert.pem(), leaf.key.serialize_pem());
        assert_eq!(
            parse_certificate_chain(&with_key).unwrap_err(),
            PkiError::PrivateKeyInChain
        );
        assert_eq!(parse_certificate_chain("\n").unwrap_err(), PkiError::Blank);
        assert_eq!(
            parse_certificate_chain("no pem here").unwrap_err(),
            PkiError::NoCertificate
        );
        let bad = format!(
            "{}{}",
            leaf.cert.pem(),
            pem_block("CERTIFICATE", &[0x30, 0x00])
        );
        assert!(matches!(
            parse_certificate_chain(&bad),
            Err(PkiError::BadCertificate { index: 2, .. })
        ));
        let big = format!(
            "{}{}",
            leaf.cert.pem(),
            " ".repeat(super::super::MAX_BUNDLE_BYTES)
        );
        assert!(matches!(
            parse_certificate_chain(&big),
            Err(PkiError::TooLarge { .. })
        ));
    }
}
