//! The error type for refused operator PEM input, with messages meant to follow a field name.

/// Why operator PEM input was refused. Display text is a short lower-case sentence that the API
/// appends after the field name, e.g. "cert_bundle " + "holds a private key; upload only CA certificates".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkiError {
    /// The input is empty or only whitespace.
    #[error("can't be blank")]
    Blank,
    /// The input exceeds [`super::MAX_BUNDLE_BYTES`].
    #[error("is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        /// Size of the input in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// A CA bundle holds private key material.
    #[error("holds a private key; upload only CA certificates")]
    PrivateKeyInBundle,
    /// A certificate chain holds private key material.
    #[error("holds a private key; upload the key separately from the certificate chain")]
    PrivateKeyInChain,
    /// A CRL input holds private key material.
    #[error("holds a private key; upload only the CRL")]
    PrivateKeyInCrl,
    /// No `X509 CRL` section, or more than one.
    #[error("must hold exactly one PEM CRL (-----BEGIN X509 CRL-----); it holds {0}")]
    CrlCount(usize),
    /// The CRL's DER could not be parsed, or uses what the verifier cannot check.
    #[error("is not a usable X.509 CRL: {0}")]
    BadCrl(String),
    /// The CRL's issuer is not a certificate of the bundle.
    #[error("is issued by {issuer}, which is not a certificate of the mutual authentication's CA bundle")]
    CrlIssuerNotInBundle {
        /// The CRL issuer DN.
        issuer: String,
    },
    /// The CRL's signature does not verify with its issuer's key.
    #[error(
        "has a signature that does not verify with the key of its issuer {issuer} in the CA bundle"
    )]
    CrlBadSignature {
        /// The CRL issuer DN.
        issuer: String,
    },
    /// The issuer certificate's key usage does not include cRLSign.
    #[error("is issued by {issuer}, whose key usage does not allow signing CRLs (cRLSign)")]
    CrlIssuerNotCrlSigner {
        /// The CRL issuer DN.
        issuer: String,
    },
    /// The CRL is older than the one it would replace.
    #[error("is older than the CRL it replaces ({0})")]
    CrlOlder(String),
    /// No `CERTIFICATE` section was found.
    #[error("holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate,
    /// More certificates than [`super::MAX_BUNDLE_CERTS`].
    #[error("holds {count} certificates; the limit is {limit}")]
    TooManyCertificates {
        /// Number of certificate sections found.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A PEM section with a label this input does not accept.
    #[error("holds a PEM section labelled \"{label}\"; only {expected} sections are accepted")]
    UnexpectedSection {
        /// The label, sanitised for display.
        label: String,
        /// What was expected instead.
        expected: &'static str,
    },
    /// A `-----BEGIN` marker that does not start its line, which PEM readers would skip.
    #[error("has a -----BEGIN marker that does not start its line (PEM section {section}); remove the indentation or text before it")]
    MisplacedMarker {
        /// 1-based index of the marker among all markers.
        section: usize,
    },
    /// The PEM framing or base64 of a section is broken.
    #[error("has malformed PEM in section {section}: {problem}")]
    MalformedPem {
        /// 1-based index of the section.
        section: usize,
        /// What is wrong.
        problem: &'static str,
    },
    /// A certificate's DER could not be parsed as X.509.
    #[error("certificate {index} is not a valid X.509 certificate ({reason})")]
    BadCertificate {
        /// 1-based index of the certificate in the input.
        index: usize,
        /// The parser's reason.
        reason: String,
    },
    /// A certificate's DER is followed by extra bytes inside its PEM section.
    #[error("certificate {index} has {extra} bytes of trailing data after its DER encoding")]
    TrailingData {
        /// 1-based index of the certificate in the input.
        index: usize,
        /// Number of extra bytes.
        extra: usize,
    },
    /// Certificates of a chain are not in leaf-to-root order.
    #[error("certificate {index} is not the issuer of certificate {previous}; list the leaf first, then each issuer in order")]
    ChainOutOfOrder {
        /// 1-based index of the certificate that should have issued the previous one.
        index: usize,
        /// 1-based index of the certificate it should have issued.
        previous: usize,
    },
    /// The leaf certificate names no usable DNS domain.
    #[error("leaf certificate has no valid DNS name in its subjectAltName; TLS domains are derived from it")]
    NoDnsName,
    /// No private key section was found.
    #[error("holds no PEM private key (expected PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)")]
    NoPrivateKey,
    /// More than one private key section.
    #[error("holds {count} private keys; upload exactly one")]
    MultiplePrivateKeys {
        /// Number of key sections found.
        count: usize,
    },
    /// The key is password-protected.
    #[error("holds an encrypted private key; upload it unencrypted")]
    EncryptedKey,
    /// Private key input also holds a certificate.
    #[error("holds a certificate; upload only the private key here")]
    CertificateInKey,
    /// The private key's DER could not be parsed.
    #[error("is not a valid {format} private key ({reason})")]
    BadKey {
        /// The PEM format the key claimed to be.
        format: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// An RSA key with a modulus under 2048 bits.
    #[error("is a {bits}-bit RSA key; at least 2048 bits are required")]
    RsaKeyTooSmall {
        /// The modulus size in bits.
        bits: u32,
    },
    /// An RSA key with a modulus over 8192 bits.
    #[error("is a {bits}-bit RSA key; at most 8192 bits are supported")]
    RsaKeyTooLarge {
        /// The modulus size in bits.
        bits: u32,
    },
    /// An EC key on a curve other than P-256 or P-384.
    #[error("is an EC key on curve {curve}; only P-256 and P-384 are supported")]
    UnsupportedCurve {
        /// Curve name or OID.
        curve: String,
    },
    /// A key algorithm other than RSA and ECDSA.
    #[error(
        "is an unsupported key type ({name}); use RSA (2048 bits or more) or ECDSA P-256/P-384"
    )]
    UnsupportedKeyType {
        /// Algorithm name or OID.
        name: String,
    },
    /// A domain name that is invalid.
    #[error("{0}")]
    InvalidDomain(DomainProblem),
}

/// What is wrong with a domain name given to [`super::canonical_domain`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainProblem {
    /// Empty, or only a dot.
    #[error("can't be blank")]
    Empty,
    /// Holds non-ASCII characters.
    #[error("holds non-ASCII characters; use the punycode (xn--) form")]
    NotAscii,
    /// Longer than 253 characters.
    #[error("is {len} characters long; a domain name has at most 253")]
    TooLong {
        /// Length without the trailing dot.
        len: usize,
    },
    /// Two dots in a row, or a leading dot.
    #[error("has an empty label")]
    EmptyLabel,
    /// A label over 63 characters.
    #[error("has a label of {len} characters; a label has at most 63")]
    LabelTooLong {
        /// Length of the offending label.
        len: usize,
    },
    /// A character outside letters, digits and hyphen.
    #[error("holds the character {0:?}; only letters, digits and hyphens are allowed")]
    BadCharacter(char),
    /// A label that starts or ends with a hyphen.
    #[error("has a label that starts or ends with a hyphen")]
    HyphenAtEdge,
    /// A `*` anywhere but as the whole leftmost label followed by a dot.
    #[error(
        "has a misplaced wildcard; only a whole leftmost label is allowed, as in *.example.com"
    )]
    MisplacedWildcard,
    /// Fewer than two labels (besides a wildcard label).
    #[error("needs at least two labels besides any wildcard, as in example.com or *.example.com (localhost is the one exception)")]
    TooFewLabels,
    /// The last label is all digits (an IP address, not a domain).
    #[error("ends in a numeric label; IP addresses are not domains")]
    NumericTld,
}
