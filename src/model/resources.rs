//! The stored resources, as plain data. Derived certificate and key attributes are computed once
//! at upload (by `model::pki`) and stored beside the PEM they came from.

use serde::{Deserialize, Serialize};

use super::delta::Record;
use super::timestamp::Millis;

/// A mutual authentication: the CA bundle client certificates are verified against, and whether
/// a failed verification closes the connection (`enforced`) or only sets a verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MutualAuthentication {
    pub id: String,
    pub name: String,
    pub enforced: bool,
    /// The PEM bundle as uploaded. Never returned by the API (rule 4, docs/architecture.md).
    pub cert_bundle: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// An uploaded private key. The PEM is never returned by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivateKey {
    pub id: String,
    pub name: String,
    pub key_pem: String,
    pub key_type: String,
    pub key_length: u32,
    /// Hex SHA-1 of the SubjectPublicKeyInfo; pairs keys with certificates.
    pub public_key_sha1: String,
    pub created_at: Millis,
}

/// An uploaded server certificate chain (leaf first) and the attributes derived from its leaf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    pub id: String,
    pub name: String,
    pub cert_blob: String,
    pub issued_to: String,
    pub issuer: String,
    pub serial_number: String,
    pub signature_algorithm: String,
    /// Unix seconds.
    pub not_before: i64,
    /// Unix seconds.
    pub not_after: i64,
    /// SAN DNS names of the leaf, canonical: the TLS domains this certificate can serve.
    pub dns_names: Vec<String>,
    pub public_key_sha1: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A TLS configuration: protocol versions and ALPN protocols offered by the domains using it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Configuration {
    pub id: String,
    pub name: String,
    pub default: bool,
    /// "1.2", "1.3".
    pub tls_protocols: Vec<String>,
    /// "http/1.1", "http/2".
    pub http_protocols: Vec<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// TLS switched on for one domain with one certificate and configuration, optionally requiring
/// client certificates per a mutual authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activation {
    pub id: String,
    /// Canonical domain (lower case, no trailing dot), possibly a `*.` wildcard.
    pub domain: String,
    pub certificate_id: String,
    pub configuration_id: String,
    pub mutual_authentication_id: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A certificate revocation list of one issuer of a mutual authentication's bundle (our
/// extension of the Fastly resources). Derived attributes are computed from the CRL when it is
/// stored; the CRL itself is never returned by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationList {
    pub id: String,
    pub mutual_authentication_id: String,
    pub name: String,
    /// Where the proxy fetches newer versions (http or https), if anywhere.
    pub url: Option<String>,
    /// The CRL, PEM (`X509 CRL`).
    pub crl_pem: String,
    /// The CRL issuer's DN.
    pub issuer: String,
    /// Unix seconds.
    pub this_update: i64,
    /// Unix seconds; past it the list is stale.
    pub next_update: i64,
    /// Decimal CRL number.
    pub crl_number: String,
    pub revoked_count: u64,
    /// Why the last fetch from `url` failed; None after a successful one (or before any).
    pub last_fetch_error: Option<String>,
    pub created_at: Millis,
    /// Bumped when the CRL, name or url change (not by a fetch that changed nothing).
    pub updated_at: Millis,
}

/// Every stored resource at one revision: the input of a snapshot build.
#[derive(Debug, Clone, Default)]
pub struct State {
    pub revision: u64,
    pub mutual_authentications: Vec<MutualAuthentication>,
    pub private_keys: Vec<PrivateKey>,
    pub certificates: Vec<Certificate>,
    pub configurations: Vec<Configuration>,
    pub activations: Vec<Activation>,
    pub revocation_lists: Vec<RevocationList>,
}

impl State {
    /// Every resource as a [`Record`], kind by kind in a stable order (mutual authentications
    /// first, revocation lists last).
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        let mas = self.mutual_authentications.iter().cloned();
        let keys = self.private_keys.iter().cloned();
        let certs = self.certificates.iter().cloned();
        let configs = self.configurations.iter().cloned();
        let activations = self.activations.iter().cloned();
        let lists = self.revocation_lists.iter().cloned();
        mas.map(Record::MutualAuthentication)
            .chain(keys.map(Record::PrivateKey))
            .chain(certs.map(Record::Certificate))
            .chain(configs.map(Record::Configuration))
            .chain(activations.map(Record::Activation))
            .chain(lists.map(Record::RevocationList))
    }

    /// The mutual authentication with this id.
    pub fn mutual_authentication(&self, id: &str) -> Option<&MutualAuthentication> {
        self.mutual_authentications.iter().find(|m| m.id == id)
    }

    /// The certificate with this id.
    pub fn certificate(&self, id: &str) -> Option<&Certificate> {
        self.certificates.iter().find(|c| c.id == id)
    }

    /// The configuration with this id.
    pub fn configuration(&self, id: &str) -> Option<&Configuration> {
        self.configurations.iter().find(|c| c.id == id)
    }

    /// The revocation lists of a mutual authentication.
    pub fn revocation_lists_of<'a>(
        &'a self,
        mutual_authentication_id: &'a str,
    ) -> impl Iterator<Item = &'a RevocationList> + 'a {
        self.revocation_lists
            .iter()
            .filter(move |r| r.mutual_authentication_id == mutual_authentication_id)
    }

    /// The private key whose public key matches the certificate's.
    pub fn key_for(&self, cert: &Certificate) -> Option<&PrivateKey> {
        self.private_keys
            .iter()
            .find(|k| k.public_key_sha1 == cert.public_key_sha1)
    }
}
