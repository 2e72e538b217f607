//! The client certificate as the proxy describes it to the origin: parsed once per connection
//! from the peer chain rustls hands over (a leaf: the acceptor builds it, the proxy reads it).

pub mod cache;
mod dn;
pub mod path;

use std::net::{Ipv4Addr, Ipv6Addr};

use aws_lc_rs::digest;
use rustls_pki_types::CertificateDer;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

pub use path::TrustAnchors;
use path::{trace, Names};

use crate::model::identity_pattern::Presented;

/// What the proxy tells the origin about a client certificate, computed once per connection.
///
/// String fields hold what the certificate says; they are escaped only when a header is built
/// (`subject` and `issuer` are the exception: their RFC 4514 form is already header-safe).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientIdentity {
    /// DER of the leaf certificate.
    pub leaf_der: Vec<u8>,
    /// DER of the intermediates on the path the leaf was verified along, the leaf's issuer
    /// first (neither the leaf nor the trust anchor): what `Client-Cert-Chain` and XFCC's
    /// `Chain` carry. Certificates the client sent that are not on that path are left out
    /// (see `path`).
    pub chain_der: Vec<Vec<u8>>,
    /// DER of every certificate the client sent after the leaf, in its order: a later
    /// re-verification gets what the handshake got.
    pub presented_der: Vec<Vec<u8>>,
    /// The distinct notAfter times (unix seconds, ascending) of the leaf and of every presented
    /// certificate that may be on its verified path; the connection is judged again at each
    /// (rule 5, docs/architecture.md). The first is never later than the verified path's earliest
    /// expiry.
    pub expiries: Vec<i64>,
    /// The latest notBefore (unix seconds) of the leaf and of every presented certificate that
    /// may be on its verified path: with `expiries`, the window in which every certificate of
    /// that path is within its validity period (see [`ClientIdentity::path_valid_at`]).
    pub valid_from: i64,
    /// True when the leaf parsed as X.509. When false, only `leaf_der`, `chain_der` and
    /// `sha256_hex` are meaningful and every other field is empty or zero.
    pub parsed: bool,
    /// RFC 4514 subject DN, e.g. "CN=client,O=Example", printable ASCII only.
    pub subject: String,
    /// RFC 4514 issuer DN, printable ASCII only.
    pub issuer: String,
    /// Serial number: lower-case hex, no colons, no leading zero bytes ("00" for zero).
    pub serial_hex: String,
    /// Lower-case hex SHA-256 of `leaf_der`.
    pub sha256_hex: String,
    /// notBefore in unix seconds.
    pub not_before: i64,
    /// notAfter in unix seconds.
    pub not_after: i64,
    /// dNSName SANs, as encoded in the certificate.
    pub dns_sans: Vec<String>,
    /// uniformResourceIdentifier SANs (e.g. SPIFFE ids), as encoded.
    pub uri_sans: Vec<String>,
    /// rfc822Name SANs, as encoded.
    pub email_sans: Vec<String>,
    /// iPAddress SANs in text form ("10.0.0.1", "2001:db8::1").
    pub ip_sans: Vec<String>,
    /// The subject's common name when it has exactly one (for `cn:` identity rules).
    pub common_name: Option<String>,
    /// SHA-256 of the SubjectPublicKeyInfo DER (for `spki-sha256:` identity rules).
    pub spki_sha256: Option<[u8; 32]>,
}

impl ClientIdentity {
    /// From the peer chain as rustls returns it (leaf first), verified (or judged) under a
    /// bundle with `anchors`. Never panics; a leaf that does not parse still yields an
    /// identity with the raw DER and fingerprint and empty fields. None when the chain is
    /// empty (no certificate was presented).
    pub fn from_chain(
        chain: &[CertificateDer<'_>],
        anchors: &TrustAnchors,
    ) -> Option<ClientIdentity> {
        let (leaf, intermediates) = chain.split_first()?;
        let mut identity = ClientIdentity {
            leaf_der: leaf.to_vec(),
            presented_der: intermediates.iter().map(|c| c.to_vec()).collect(),
            sha256_hex: hex_lower(digest::digest(&digest::SHA256, leaf).as_ref()),
            ..ClientIdentity::default()
        };
        if let Ok((_, cert)) = X509Certificate::from_der(leaf) {
            identity.fill_from(&cert);
            identity.trace(&Names::of(&cert), intermediates, anchors);
        }
        Some(identity)
    }

    /// The presented chain again, leaf first, as rustls returned it (for re-verification).
    pub fn chain(&self) -> Vec<CertificateDer<'_>> {
        std::iter::once(&self.leaf_der)
            .chain(&self.presented_der)
            .map(|der| CertificateDer::from(der.as_slice()))
            .collect()
    }

    /// The verified path's intermediates and expiry times, from names (see `path`).
    fn trace(
        &mut self,
        leaf: &Names<'_>,
        presented: &[CertificateDer<'_>],
        anchors: &TrustAnchors,
    ) {
        let parsed: Vec<Option<X509Certificate<'_>>> = presented
            .iter()
            .map(|der| X509Certificate::from_der(der).ok().map(|(_, c)| c))
            .collect();
        let names: Vec<(Option<Names<'_>>, &[u8])> = parsed
            .iter()
            .zip(presented)
            .map(|(cert, der)| (cert.as_ref().map(Names::of), der.as_ref()))
            .collect();
        let traced = trace(leaf, &names, anchors);
        self.chain_der = traced
            .path
            .iter()
            .filter_map(|&i| self.presented_der.get(i).cloned())
            .collect();
        self.expiries = traced.expiries;
        self.valid_from = traced.valid_from;
    }

    /// Whether, at `now` (unix seconds), the leaf and every presented certificate that may be
    /// on its verified path are within their validity periods; false for a leaf that did not
    /// parse. A certificate counts as expired from its notAfter on (as in `expiries`), one
    /// second before webpki does, so this never says yes where verification would say expired.
    pub fn path_valid_at(&self, now: i64) -> bool {
        self.parsed
            && self.valid_from <= now
            && self.expiries.first().is_some_and(|first| now < *first)
    }

    fn fill_from(&mut self, cert: &X509Certificate<'_>) {
        self.parsed = true;
        self.subject = dn::rfc4514(cert.subject());
        self.issuer = dn::rfc4514(cert.issuer());
        self.serial_hex = serial_hex(cert.raw_serial());
        self.not_before = cert.validity().not_before.timestamp();
        self.not_after = cert.validity().not_after.timestamp();
        self.common_name = single_common_name(cert);
        let spki = digest::digest(&digest::SHA256, cert.public_key().raw);
        self.spki_sha256 = <[u8; 32]>::try_from(spki.as_ref()).ok();
        // A duplicated or malformed SAN extension is an error here; the identity then simply
        // carries no SANs (verification, not this code, decides whether the cert is good).
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                self.push_san(name);
            }
        }
    }

    fn push_san(&mut self, name: &GeneralName<'_>) {
        match name {
            GeneralName::DNSName(s) => self.dns_sans.push((*s).to_owned()),
            GeneralName::URI(s) => self.uri_sans.push((*s).to_owned()),
            GeneralName::RFC822Name(s) => self.email_sans.push((*s).to_owned()),
            GeneralName::IPAddress(bytes) => {
                if let Some(ip) = ip_text(bytes) {
                    self.ip_sans.push(ip);
                }
            }
            _ => {}
        }
    }
}

/// The subject CN when there is exactly one and it is a string: with two, which one an origin
/// or a rule should read is ambiguous, so none is taken.
fn single_common_name(cert: &X509Certificate<'_>) -> Option<String> {
    let mut names = cert.subject().iter_common_name();
    let first = names.next()?;
    if names.next().is_some() {
        return None;
    }
    first.as_str().ok().map(str::to_owned)
}

impl Presented for ClientIdentity {
    fn uri_sans(&self) -> &[String] {
        &self.uri_sans
    }
    fn dns_sans(&self) -> &[String] {
        &self.dns_sans
    }
    fn email_sans(&self) -> &[String] {
        &self.email_sans
    }
    fn common_name(&self) -> Option<&str> {
        self.common_name.as_deref()
    }
    fn spki_sha256(&self) -> Option<&[u8; 32]> {
        self.spki_sha256.as_ref()
    }
    fn cert_sha256_hex(&self) -> &str {
        &self.sha256_hex
    }
}

/// Text form of an iPAddress SAN; None for a length that is not an address (4 or 16 bytes).
fn ip_text(bytes: &[u8]) -> Option<String> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Some(Ipv4Addr::from(v4).to_string());
    }
    <[u8; 16]>::try_from(bytes)
        .ok()
        .map(|v6| Ipv6Addr::from(v6).to_string())
}

/// The DER INTEGER content with its sign-padding zero bytes removed.
fn serial_hex(raw: &[u8]) -> String {
    let start = raw.iter().position(|&b| b != 0).unwrap_or(raw.len());
    match raw.get(start..) {
        Some(rest) if !rest.is_empty() => hex_lower(rest),
        _ => "00".to_owned(),
    }
}

/// Lower-case hex of `bytes`, two digits per byte.
fn hex_lower(bytes: &[u8]) -> String {
    crate::hex::encode(bytes, crate::hex::Case::Lower)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
        SanType, SerialNumber,
    };
    use std::net::IpAddr;
    use time::macros::datetime;

    fn ca() -> (CertificateParams, KeyPair) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Example");
        params
            .distinguished_name
            .push(DnType::CommonName, "Example CA");
        (params, KeyPair::generate().unwrap())
    }

    fn leaf_params() -> CertificateParams {
        let mut params = CertificateParams::new(vec!["a.example.com".into()]).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Example");
        params.distinguished_name.push(DnType::CommonName, "client");
        params.serial_number = Some(SerialNumber::from(vec![0x8f, 0x01, 0x02]));
        params.not_before = datetime!(2026-01-02 03:04:05 UTC);
        params.not_after = datetime!(2027-01-02 03:04:05 UTC);
        params.subject_alt_names.extend([
            SanType::URI("spiffe://example.org/client".try_into().unwrap()),
            SanType::Rfc822Name("a@example.com".try_into().unwrap()),
            SanType::IpAddress(IpAddr::from([10, 0, 0, 1])),
            SanType::IpAddress("2001:db8::1".parse().unwrap()),
        ]);
        params
    }

    #[test]
    fn empty_chain_is_none() {
        assert_eq!(
            ClientIdentity::from_chain(&[], &TrustAnchors::default()),
            None
        );
    }

    #[test]
    fn parses_leaf_and_keeps_intermediates_apart() {
        let (root_params, root_key) = ca();
        let root_cert = root_params.self_signed(&root_key).unwrap();
        let root = Issuer::new(root_params, root_key);
        let (mut mid_params, mid_key) = ca();
        mid_params
            .distinguished_name
            .push(DnType::CommonName, "Example Intermediate");
        let mid_cert = mid_params.signed_by(&mid_key, &root).unwrap();
        let mid = Issuer::new(mid_params, mid_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = leaf_params().signed_by(&leaf_key, &mid).unwrap();

        let chain = [leaf.der().clone(), mid_cert.der().clone()];
        let id = ClientIdentity::from_chain(&chain, &TrustAnchors::default()).unwrap();
        assert!(id.parsed);
        assert_eq!(id.leaf_der, leaf.der().to_vec());
        assert_eq!(id.presented_der, vec![mid_cert.der().to_vec()]);
        // No trust anchor named the intermediate's issuer: nothing verified, nothing forwarded.
        assert!(id.chain_der.is_empty());
        assert_eq!(id.expiries, vec![1_798_859_045]);
        // Under the root, the intermediate is the path and its expiry counts.
        let anchors = TrustAnchors::from_bundle(&[root_cert.der().to_vec()]);
        let verified = ClientIdentity::from_chain(&chain, &anchors).unwrap();
        assert_eq!(verified.chain_der, vec![mid_cert.der().to_vec()]);
        let mid_not_after = X509Certificate::from_der(mid_cert.der())
            .unwrap()
            .1
            .validity()
            .not_after
            .timestamp();
        let mut expected_expiries = vec![mid_not_after, 1_798_859_045];
        expected_expiries.sort();
        assert_eq!(verified.expiries, expected_expiries);
        assert_eq!(id.subject, "CN=client,O=Example");
        assert_eq!(id.issuer, "CN=Example Intermediate,O=Example");
        // DER needs a 0x00 sign byte before 0x8f; the header value must not show it.
        assert_eq!(id.serial_hex, "8f0102");
        assert_eq!(id.not_before, 1_767_323_045);
        assert_eq!(
            id.valid_from, 1_767_323_045,
            "no intermediate on a verified path"
        );
        assert!(!id.path_valid_at(1_767_323_044));
        assert!(id.path_valid_at(1_767_323_045));
        assert!(id.path_valid_at(1_798_859_044));
        assert!(
            !id.path_valid_at(1_798_859_045),
            "expired from its notAfter on"
        );
        assert_eq!(id.not_after, 1_798_859_045);
        assert_eq!(id.dns_sans, vec!["a.example.com"]);
        assert_eq!(id.uri_sans, vec!["spiffe://example.org/client"]);
        assert_eq!(id.email_sans, vec!["a@example.com"]);
        assert_eq!(id.ip_sans, vec!["10.0.0.1", "2001:db8::1"]);
        assert_eq!(id.common_name.as_deref(), Some("client"));
        let spki = digest::digest(
            &digest::SHA256,
            &rcgen::PublicKeyData::subject_public_key_info(&leaf_key),
        );
        assert_eq!(
            id.spki_sha256.as_ref().map(|d| d.as_slice()),
            Some(spki.as_ref())
        );
        let expected = digest::digest(&digest::SHA256, leaf.der());
        assert_eq!(id.sha256_hex, hex_lower(expected.as_ref()));
        assert_eq!(id.sha256_hex.len(), 64);
    }

    #[test]
    fn unparseable_leaf_still_has_bytes_and_fingerprint() {
        let junk = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x05]);
        let id = ClientIdentity::from_chain(&[junk], &TrustAnchors::default()).unwrap();
        assert!(!id.parsed);
        assert_eq!(id.leaf_der, vec![0x30, 0x03, 0x02, 0x01, 0x05]);
        assert_eq!(
            id.sha256_hex,
            hex_lower(digest::digest(&digest::SHA256, &id.leaf_der).as_ref())
        );
        assert!(id.subject.is_empty() && id.serial_hex.is_empty() && id.dns_sans.is_empty());
        assert!(
            !id.path_valid_at(0),
            "an unparsed leaf is never judged by dates"
        );
        let empty = ClientIdentity::from_chain(
            &[CertificateDer::from(Vec::new())],
            &TrustAnchors::default(),
        )
        .unwrap();
        assert!(!empty.parsed);
    }

    #[test]
    fn serial_and_hex_helpers() {
        assert_eq!(serial_hex(&[0x00, 0x8f]), "8f");
        assert_eq!(serial_hex(&[0x01, 0x00]), "0100");
        assert_eq!(serial_hex(&[0x00]), "00");
        assert_eq!(serial_hex(&[]), "00");
        assert_eq!(hex_lower(&[0x00, 0xab, 0x0f]), "00ab0f");
        assert_eq!(ip_text(&[1, 2, 3]), None);
    }
}
