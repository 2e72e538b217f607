//! Certificates devpki does not make: name-constrained CAs, long chains, wrong key usage,
//! huge subjects and thousands of SANs (for hostile-client tests), made with rcgen here.

use mtls_proxy::devpki::Issued;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints, SanType,
};

/// A CA that can sign.
pub struct TestCa {
    pub issuer: Issuer<'static, KeyPair>,
    pub cert: Issued,
}

fn issued(cert: rcgen::Certificate, key: &KeyPair) -> Issued {
    Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().to_vec(),
        key_der: key.serialize_der(),
    }
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

/// A root (parent None) or intermediate CA, optionally name-constrained to `permitted` DNS names.
pub fn ca(cn: &str, parent: Option<&TestCa>, permitted: Option<&str>) -> TestCa {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    if let Some(p) = permitted {
        params.name_constraints = Some(NameConstraints {
            permitted_subtrees: vec![GeneralSubtree::DnsName(p.to_string())],
            excluded_subtrees: vec![],
        });
    }
    let key = KeyPair::generate().unwrap();
    let cert = match parent {
        Some(p) => params.signed_by(&key, &p.issuer).unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    let cert = issued(cert, &key);
    TestCa {
        issuer: Issuer::new(params, key),
        cert,
    }
}

/// A leaf with the given subject CN, DNS SANs and extended key usage.
pub fn leaf(ca: &TestCa, cn: &str, dns: &[String], eku: ExtendedKeyUsagePurpose) -> Issued {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(cn);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![eku];
    for name in dns {
        params
            .subject_alt_names
            .push(SanType::DnsName(name.clone().try_into().unwrap()));
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    issued(cert, &key)
}

/// A client leaf (clientAuth EKU).
pub fn client(ca: &TestCa, cn: &str, dns: &[String]) -> Issued {
    leaf(ca, cn, dns, ExtendedKeyUsagePurpose::ClientAuth)
}
