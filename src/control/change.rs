//! The change type: what the admin API and the config-file import both produce.
//! `None` means "absent" (unchanged on update, default on create).

/// One requested change to the resources.
#[derive(Debug, Clone)]
pub enum Change {
    CreateMutualAuthentication(MutualAuthenticationFields),
    UpdateMutualAuthentication(Update<MutualAuthenticationFields>),
    DeleteMutualAuthentication {
        id: String,
    },
    CreatePrivateKey(PrivateKeyFields),
    DeletePrivateKey {
        id: String,
    },
    CreateCertificate(CertificateFields),
    UpdateCertificate(Update<CertificateFields>),
    DeleteCertificate {
        id: String,
    },
    UpdateConfiguration(Update<ConfigurationFields>),
    CreateActivation(ActivationFields),
    UpdateActivation(Update<ActivationFields>),
    DeleteActivation {
        id: String,
    },
    CreateRevocationList(RevocationListFields),
    UpdateRevocationList(Update<RevocationListFields>),
    DeleteRevocationList {
        id: String,
    },
    /// What a fetch of a list's `url` brought (the refresher's only change).
    RecordRevocationFetch(RevocationFetch),
}

/// An update of the resource `id` with the fields that were present.
#[derive(Debug, Clone)]
pub struct Update<F> {
    pub id: String,
    pub fields: F,
}

/// Attributes of a mutual authentication.
#[derive(Debug, Clone, Default)]
pub struct MutualAuthenticationFields {
    pub name: Option<String>,
    pub cert_bundle: Option<String>,
    pub enforced: Option<bool>,
}

/// Attributes of a private key.
#[derive(Debug, Clone, Default)]
pub struct PrivateKeyFields {
    pub name: Option<String>,
    pub key: Option<String>,
}

/// Attributes of a certificate.
#[derive(Debug, Clone, Default)]
pub struct CertificateFields {
    pub name: Option<String>,
    pub cert_blob: Option<String>,
}

/// Attributes of a configuration.
#[derive(Debug, Clone, Default)]
pub struct ConfigurationFields {
    pub name: Option<String>,
    pub tls_protocols: Option<Vec<String>>,
    pub http_protocols: Option<Vec<String>>,
}

/// A to-one relationship in a request: absent (unchanged), cleared, or set to an id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RelationshipChange {
    #[default]
    Absent,
    Clear,
    Set(String),
}

/// Relationships of an activation.
#[derive(Debug, Clone, Default)]
pub struct ActivationFields {
    pub domain: Option<String>,
    pub certificate: RelationshipChange,
    pub configuration: RelationshipChange,
    pub mutual_authentication: RelationshipChange,
}

/// Attributes of a revocation list. `url: Some(None)` clears the URL.
#[derive(Debug, Clone, Default)]
pub struct RevocationListFields {
    pub name: Option<String>,
    /// PEM.
    pub crl: Option<String>,
    pub url: Option<Option<String>>,
    /// The mutual authentication (create only).
    pub mutual_authentication: Option<String>,
}

/// The outcome of fetching a revocation list from its URL.
#[derive(Debug, Clone)]
pub struct RevocationFetch {
    pub id: String,
    /// The URL fetched: the outcome is dropped if the list's URL changed meanwhile.
    pub url: String,
    /// The CRL fetched (PEM), or why the fetch failed.
    pub outcome: Result<String, String>,
}
