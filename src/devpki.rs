//! Development and test PKI: CAs, server and client certificates generated with rcgen, and
//! writing them as a ready-to-use directory of PEM files.
//!
//! Used by `mtls-proxy certs init`, the demo import and the integration test harness. Nothing
//! here is meant for production trust: keys are generated in memory and written unencrypted.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

/// How long a dev CA stays valid.
const CA_VALIDITY_DAYS: i64 = 3650;
/// How long a current leaf stays valid. Kept under Apple's 825-day cap for TLS server
/// certificates (which applies to private CAs too), so macOS/iOS clients accept them.
const LEAF_VALIDITY_DAYS: i64 = 800;
/// Certificates start one day in the past so small clock skew never makes them "not yet valid".
const BACKDATE_DAYS: i64 = 1;
/// Width of the validity window of the deliberately expired / not-yet-valid client certs.
const OFF_WINDOW_DAYS: i64 = 30;

/// Errors from generating or writing the dev PKI.
#[derive(Debug, thiserror::Error)]
pub enum DevPkiError {
    /// rcgen refused the parameters or failed to sign.
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// A validity bound fell outside the representable date range.
    #[error("certificate validity is out of range")]
    TimeRange,
    /// What was given as a certificate does not parse.
    #[error("not a DER certificate")]
    NotACertificate,
    /// A server certificate needs at least one DNS name or IP address.
    #[error("a server certificate needs at least one DNS name or IP address")]
    NoSubjectName,
    /// The target file exists and `force` was not given.
    #[error("{0} already exists (use force to overwrite)")]
    Exists(PathBuf),
    /// Reading or writing the output directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// A certificate and its private key, in PEM and DER.
#[derive(Clone)]
pub struct Issued {
    /// The certificate, PEM (`CERTIFICATE`).
    pub cert_pem: String,
    /// The private key, PEM (`PRIVATE KEY`, PKCS#8).
    pub key_pem: String,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The private key, PKCS#8 DER.
    pub key_der: Vec<u8>,
}

impl fmt::Debug for Issued {
    // Key material must never end up in logs through a stray `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("cert_pem", &self.cert_pem)
            .field("key", &"[elided]")
            .finish()
    }
}

/// Which validity window a client certificate gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// Valid from yesterday for about two years.
    Current,
    /// Expired yesterday.
    Expired,
    /// Becomes valid tomorrow.
    NotYetValid,
    /// Valid from yesterday until this instant (a short-lived certificate that expires while
    /// a test runs). X.509 times have whole seconds: sub-second parts are dropped.
    Until(OffsetDateTime),
}

/// A subjectAltName of a client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientSan {
    Dns(String),
    Uri(String),
    Email(String),
}

/// A certificate authority able to issue certificates.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert: Issued,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca").field("cert", &self.cert).finish()
    }
}

impl Ca {
    /// A self-signed ECDSA P-256 root CA, valid from yesterday for ten years.
    pub fn new(common_name: &str) -> Result<Ca, DevPkiError> {
        let params = ca_params(common_name, BasicConstraints::Unconstrained)?;
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        let issued = issued(cert.pem(), cert.der().to_vec(), &key);
        Ok(Ca {
            issuer: Issuer::new(params, key),
            cert: issued,
        })
    }

    /// This CA's own certificate and key.
    pub fn cert(&self) -> &Issued {
        &self.cert
    }

    /// A server certificate (serverAuth EKU) for the given names. The common name is the first
    /// DNS name, or the first IP address when there is none.
    pub fn issue_server(&self, dns_names: &[&str], ips: &[IpAddr]) -> Result<Issued, DevPkiError> {
        let common_name = match (dns_names.first(), ips.first()) {
            (Some(name), _) => (*name).to_owned(),
            (None, Some(ip)) => ip.to_string(),
            (None, None) => return Err(DevPkiError::NoSubjectName),
        };
        let mut params = leaf_params(&common_name, Validity::Current)?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        for name in dns_names {
            params
                .subject_alt_names
                .push(SanType::DnsName((*name).try_into()?));
        }
        params
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        self.sign_leaf(&params)
    }

    /// A client certificate (clientAuth EKU) with the given common name and validity window.
    pub fn issue_client(
        &self,
        common_name: &str,
        validity: Validity,
    ) -> Result<Issued, DevPkiError> {
        let mut params = leaf_params(common_name, validity)?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign_leaf(&params)
    }

    /// A current client certificate (clientAuth EKU) carrying `sans` as subjectAltNames, for
    /// identity rules.
    pub fn issue_client_with_sans(
        &self,
        common_name: &str,
        sans: &[ClientSan],
    ) -> Result<Issued, DevPkiError> {
        let mut params = leaf_params(common_name, Validity::Current)?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        for san in sans {
            params.subject_alt_names.push(match san {
                ClientSan::Dns(name) => SanType::DnsName(name.as_str().try_into()?),
                ClientSan::Uri(uri) => SanType::URI(uri.as_str().try_into()?),
                ClientSan::Email(mail) => SanType::Rfc822Name(mail.as_str().try_into()?),
            });
        }
        self.sign_leaf(&params)
    }

    /// An intermediate CA signed by this CA (path length 0: it issues leaves only).
    pub fn issue_intermediate(&self, common_name: &str) -> Result<Ca, DevPkiError> {
        let mut params = ca_params(common_name, BasicConstraints::Constrained(0))?;
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        let issued = issued(cert.pem(), cert.der().to_vec(), &key);
        Ok(Ca {
            issuer: Issuer::new(params, key),
            cert: issued,
        })
    }

    /// A CRL (PEM) signed by this CA revoking the certificates in `revoked` (DER), with CRL
    /// number `number`, valid from `this_update` to `next_update`.
    pub fn crl(
        &self,
        revoked: &[&[u8]],
        number: u64,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<String, DevPkiError> {
        let mut revoked_certs = Vec::new();
        for der in revoked {
            let (_, cert) = x509_parser::parse_x509_certificate(der)
                .map_err(|_| DevPkiError::NotACertificate)?;
            revoked_certs.push(rcgen::RevokedCertParams {
                serial_number: rcgen::SerialNumber::from_slice(cert.raw_serial()),
                revocation_time: this_update,
                reason_code: None,
                invalidity_date: None,
            });
        }
        let params = rcgen::CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: rcgen::SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.issuer)?.pem()?)
    }

    fn sign_leaf(&self, params: &CertificateParams) -> Result<Issued, DevPkiError> {
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(issued(cert.pem(), cert.der().to_vec(), &key))
    }
}

fn issued(cert_pem: String, cert_der: Vec<u8>, key: &KeyPair) -> Issued {
    Issued {
        cert_pem,
        key_pem: key.serialize_pem(),
        cert_der,
        key_der: key.serialize_der(),
    }
}

fn common_name_dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "mtls-proxy development PKI");
    dn.push(DnType::CommonName, common_name);
    dn
}

fn ca_params(
    common_name: &str,
    constraints: BasicConstraints,
) -> Result<CertificateParams, DevPkiError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name_dn(common_name);
    params.is_ca = IsCa::Ca(constraints);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    (params.not_before, params.not_after) = window(-BACKDATE_DAYS, CA_VALIDITY_DAYS)?;
    Ok(params)
}

fn leaf_params(common_name: &str, validity: Validity) -> Result<CertificateParams, DevPkiError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name_dn(common_name);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    (params.not_before, params.not_after) = match validity {
        Validity::Current => window(-BACKDATE_DAYS, LEAF_VALIDITY_DAYS)?,
        Validity::Expired => window(-OFF_WINDOW_DAYS, -1)?,
        Validity::NotYetValid => window(1, OFF_WINDOW_DAYS)?,
        Validity::Until(not_after) => (window(-BACKDATE_DAYS, 0)?.0, not_after),
    };
    Ok(params)
}

/// `(now + from days, now + to days)`.
fn window(from_days: i64, to_days: i64) -> Result<(OffsetDateTime, OffsetDateTime), DevPkiError> {
    let now = OffsetDateTime::now_utc();
    let at = |days| {
        now.checked_add(Duration::days(days))
            .ok_or(DevPkiError::TimeRange)
    };
    Ok((at(from_days)?, at(to_days)?))
}

/// The complete dev PKI: a server CA and server certificate, a client CA with a valid and an
/// expired client certificate, and an unrelated CA with a client certificate of its own (for
/// `unknown_ca` tests).
#[derive(Debug)]
pub struct DevPki {
    /// CA that signs the server certificate (clients trust it with `--cacert`).
    pub server_ca: Ca,
    /// Server certificate for localhost, open.localhost, *.localhost, 127.0.0.1 and ::1.
    pub server: Issued,
    /// CA whose certificate is the mutual-authentication bundle.
    pub client_ca: Ca,
    /// A valid client certificate from `client_ca`.
    pub client: Issued,
    /// An expired client certificate from `client_ca`.
    pub client_expired: Issued,
    /// A CA not in any bundle.
    pub other_ca: Ca,
    /// A valid client certificate from `other_ca`.
    pub client_other_ca: Issued,
}

/// Generates a fresh dev PKI.
pub fn generate() -> Result<DevPki, DevPkiError> {
    let server_ca = Ca::new("mtls-proxy dev server CA")?;
    let ips = [
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
    ];
    let server = server_ca.issue_server(&["localhost", "open.localhost", "*.localhost"], &ips)?;
    let client_ca = Ca::new("mtls-proxy dev client CA")?;
    let client = client_ca.issue_client("dev-client", Validity::Current)?;
    let client_expired = client_ca.issue_client("dev-client-expired", Validity::Expired)?;
    let other_ca = Ca::new("mtls-proxy dev other CA")?;
    let client_other_ca = other_ca.issue_client("dev-client-other-ca", Validity::Current)?;
    Ok(DevPki {
        server_ca,
        server,
        client_ca,
        client,
        client_expired,
        other_ca,
        client_other_ca,
    })
}

/// One file `write_dir` produces.
struct OutFile<'a> {
    name: &'static str,
    contents: &'a str,
    secret: bool,
}

fn out_files(pki: &DevPki) -> Vec<OutFile<'_>> {
    let public = |name, contents| OutFile {
        name,
        contents,
        secret: false,
    };
    let secret = |name, contents| OutFile {
        name,
        contents,
        secret: true,
    };
    vec![
        public("server-ca.pem", pki.server_ca.cert().cert_pem.as_str()),
        public("server.pem", &pki.server.cert_pem),
        secret("server-key.pem", &pki.server.key_pem),
        public("client-ca.pem", &pki.client_ca.cert().cert_pem),
        public("client.pem", &pki.client.cert_pem),
        secret("client-key.pem", &pki.client.key_pem),
        public("client-expired.pem", &pki.client_expired.cert_pem),
        secret("client-expired-key.pem", &pki.client_expired.key_pem),
        public("other-ca.pem", &pki.other_ca.cert().cert_pem),
        public("client-other-ca.pem", &pki.client_other_ca.cert_pem),
        secret("client-other-ca-key.pem", &pki.client_other_ca.key_pem),
        public("README.md", README),
    ]
}

/// Writes the PKI as PEM files plus a README.md into `dir` (created if missing) and returns
/// the paths written. Private keys get mode 0600. Without `force`, nothing is written if any
/// target file already exists.
pub fn write_dir(pki: &DevPki, dir: &Path, force: bool) -> Result<Vec<PathBuf>, DevPkiError> {
    fs::create_dir_all(dir).map_err(|source| io_err(dir, source))?;
    let files = out_files(pki);
    // Check everything first so a refusal leaves the directory untouched.
    if !force {
        if let Some(file) = files.iter().find(|f| dir.join(f.name).exists()) {
            return Err(DevPkiError::Exists(dir.join(file.name)));
        }
    }
    let mut written = Vec::with_capacity(files.len());
    for file in &files {
        let path = dir.join(file.name);
        write_file(&path, file.contents, file.secret)?;
        written.push(path);
    }
    Ok(written)
}

/// Creates `path` afresh. An existing file is removed first rather than truncated, so a key
/// never lands in a file that kept looser permissions (or is a symlink) from before.
fn write_file(path: &Path, contents: &str, secret: bool) -> Result<(), DevPkiError> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(io_err(path, source)),
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(path).map_err(|source| io_err(path, source))?;
    file.write_all(contents.as_bytes())
        .map_err(|source| io_err(path, source))
}

fn io_err(path: &Path, source: std::io::Error) -> DevPkiError {
    DevPkiError::Io {
        path: path.to_path_buf(),
        source,
    }
}

const README: &str = r#"# mtls-proxy development PKI

Generated by `mtls-proxy certs init`. For local testing only: the keys are unencrypted and the
CAs are trusted by nobody but you. Regenerate with the same command (pass the force option to
overwrite); never edit these files by hand.

| file | what it is |
|---|---|
| `server-ca.pem` | CA that signed the server certificate. Clients trust it (`curl --cacert`). |
| `server.pem`, `server-key.pem` | Server certificate and key for `localhost`, `open.localhost`, `*.localhost`, `127.0.0.1`, `::1` (`open.localhost` is listed by name because curl/OpenSSL refuse a wildcard directly under a single-label name). |
| `client-ca.pem` | Client CA. Use it as the CA bundle of a mutual authentication. |
| `client.pem`, `client-key.pem` | Valid client certificate (CN `dev-client`) from `client-ca.pem`. |
| `client-expired.pem`, `client-expired-key.pem` | Expired client certificate from `client-ca.pem`. |
| `other-ca.pem` | A CA that is in no bundle. |
| `client-other-ca.pem`, `client-other-ca-key.pem` | Valid client certificate from `other-ca.pem` (unknown CA to the proxy). |

Files ending in `-key.pem` are private keys (mode 0600).

## Trying it with curl

`mtls-proxy serve` without a config, on an empty store, imports these as a demo: `localhost`
requires a client certificate from `client-ca.pem` (enforced), `open.localhost` asks for one but
lets every client through with a verdict (fail-open). Both answer with the built-in `echo`
origin, which shows the headers the origin receives.

Enforced (`localhost`):

```sh
# valid client certificate: verdict ok
curl --cacert server-ca.pem --cert client.pem --key client-key.pem https://localhost:8443/

# no client certificate: handshake fails when enforced, verdict "missing" otherwise
curl --cacert server-ca.pem https://localhost:8443/

# expired client certificate: handshake fails when enforced, verdict "expired" otherwise
curl --cacert server-ca.pem --cert client-expired.pem --key client-expired-key.pem https://localhost:8443/

# certificate from a CA outside the bundle: fails when enforced, verdict "unknown_ca" otherwise
curl --cacert server-ca.pem --cert client-other-ca.pem --key client-other-ca-key.pem https://localhost:8443/
```

Fail-open (`open.localhost`; the request goes through, see `client-cert-verdict` in the answer):

```sh
curl --cacert server-ca.pem https://open.localhost:8443/                        # "missing"
curl --cacert server-ca.pem --cert client-expired.pem --key client-expired-key.pem \
  https://open.localhost:8443/                                                  # "expired"
curl --cacert server-ca.pem --cert client-other-ca.pem --key client-other-ca-key.pem \
  https://open.localhost:8443/                                                  # "unknown_ca"
```

(If `open.localhost` does not resolve on your system, add
`--resolve open.localhost:8443:127.0.0.1`.)

With openssl:

```sh
openssl s_client -connect localhost:8443 -servername localhost \
  -CAfile server-ca.pem -cert client.pem -key client-key.pem
```
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::{ASN1Time, FromDer, GeneralName, X509Certificate};

    fn parse(der: &[u8]) -> X509Certificate<'_> {
        X509Certificate::from_der(der).unwrap().1
    }

    #[test]
    fn generated_certs_parse_and_chain() {
        let pki = generate().unwrap();
        let server = parse(&pki.server.cert_der);
        let server_ca = parse(&pki.server_ca.cert().cert_der);
        assert_eq!(server.issuer(), server_ca.subject());
        assert!(server_ca.is_ca());
        assert!(!server.is_ca());
        let eku = server.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && !eku.client_auth);
        let san = server.subject_alternative_name().unwrap().unwrap().value;
        let names = &san.general_names;
        assert!(names.contains(&GeneralName::DNSName("localhost")));
        assert!(names.contains(&GeneralName::DNSName("*.localhost")));
        assert!(names.contains(&GeneralName::DNSName("open.localhost")));
        assert!(names.contains(&GeneralName::IPAddress(&[127, 0, 0, 1])));
        let v6_loopback = std::net::Ipv6Addr::LOCALHOST.octets();
        assert!(names.contains(&GeneralName::IPAddress(&v6_loopback)));
        assert_eq!(names.len(), 5);
        let cn = server.subject().iter_common_name().next().unwrap();
        assert_eq!(cn.as_str().unwrap(), "localhost");

        let client = parse(&pki.client.cert_der);
        assert_eq!(
            client.issuer(),
            parse(&pki.client_ca.cert().cert_der).subject()
        );
        let eku = client.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
        let other = parse(&pki.client_other_ca.cert_der);
        assert_eq!(
            other.issuer(),
            parse(&pki.other_ca.cert().cert_der).subject()
        );
    }

    #[test]
    fn validity_windows_are_right() {
        let pki = generate().unwrap();
        assert!(parse(&pki.client.cert_der).validity().is_valid());
        assert!(parse(&pki.server.cert_der).validity().is_valid());
        assert!(parse(&pki.client_ca.cert().cert_der).validity().is_valid());
        let expired = parse(&pki.client_expired.cert_der);
        let now = ASN1Time::now();
        assert!(expired.validity().not_after < now);
        let future = pki
            .client_ca
            .issue_client("future", Validity::NotYetValid)
            .unwrap();
        assert!(parse(&future.cert_der).validity().not_before > now);
    }

    #[test]
    fn keys_are_pkcs8_and_match_certs() {
        let pki = generate().unwrap();
        for issued in [&pki.server, &pki.client, pki.client_ca.cert()] {
            let key = KeyPair::try_from(issued.key_der.as_slice()).unwrap();
            let cert = parse(&issued.cert_der);
            assert_eq!(
                key.public_key_raw(),
                cert.public_key().subject_public_key.data.as_ref()
            );
            assert!(issued.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        }
        assert!(!format!("{:?}", pki.client).contains("PRIVATE KEY"));
    }

    #[test]
    fn intermediate_is_signed_by_parent_and_constrained() {
        let root = Ca::new("root").unwrap();
        let inter = root.issue_intermediate("inter").unwrap();
        let inter_cert = parse(&inter.cert().cert_der);
        assert_eq!(inter_cert.issuer(), parse(&root.cert().cert_der).subject());
        let bc = inter_cert.basic_constraints().unwrap().unwrap().value;
        assert!(bc.ca);
        assert_eq!(bc.path_len_constraint, Some(0));
        let leaf = inter.issue_client("leaf", Validity::Current).unwrap();
        assert_eq!(parse(&leaf.cert_der).issuer(), inter_cert.subject());
    }

    #[test]
    fn server_cert_needs_a_name() {
        let ca = Ca::new("ca").unwrap();
        assert!(matches!(
            ca.issue_server(&[], &[]),
            Err(DevPkiError::NoSubjectName)
        ));
        let ip_only = ca
            .issue_server(&[], &[IpAddr::from([10, 0, 0, 1])])
            .unwrap();
        let cn = parse(&ip_only.cert_der)
            .subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(cn, "10.0.0.1");
    }

    #[test]
    fn write_dir_writes_files_with_private_keys_0600() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("certs");
        let pki = generate().unwrap();
        let written = write_dir(&pki, &dir, false).unwrap();
        assert_eq!(written.len(), 12);
        for path in &written {
            let name = path.file_name().unwrap().to_str().unwrap();
            let mode = fs::metadata(path).unwrap().permissions().mode() & 0o777;
            if name.ends_with("-key.pem") {
                assert_eq!(mode, 0o600, "{name}");
            } else {
                // 0644 minus the umask.
                assert_ne!(mode & 0o400, 0, "{name}");
            }
        }
        let client = fs::read_to_string(dir.join("client.pem")).unwrap();
        assert_eq!(client, pki.client.cert_pem);
        let readme = fs::read_to_string(dir.join("README.md")).unwrap();
        assert!(readme.contains("curl --cacert server-ca.pem --cert client.pem"));
    }

    #[test]
    fn write_dir_refuses_to_overwrite_without_force() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let first = generate().unwrap();
        write_dir(&first, tmp.path(), false).unwrap();
        let second = generate().unwrap();
        let err = write_dir(&second, tmp.path(), false).unwrap_err();
        assert!(matches!(err, DevPkiError::Exists(_)));
        let on_disk = fs::read_to_string(tmp.path().join("client.pem")).unwrap();
        assert_eq!(on_disk, first.client.cert_pem);

        // A key file left with loose permissions is replaced by a 0600 one under force.
        let key_path = tmp.path().join("client-key.pem");
        fs::set_permissions(&key_path, fs::Permissions::from_mode(0o644)).unwrap();
        write_dir(&second, tmp.path(), true).unwrap();
        let on_disk = fs::read_to_string(tmp.path().join("client.pem")).unwrap();
        assert_eq!(on_disk, second.client.cert_pem);
        let mode = fs::metadata(&key_path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn write_dir_refuses_when_only_one_file_exists() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("README.md"), "mine").unwrap();
        let err = write_dir(&generate().unwrap(), tmp.path(), false).unwrap_err();
        assert!(matches!(err, DevPkiError::Exists(p) if p.ends_with("README.md")));
        assert!(!tmp.path().join("server.pem").exists());
    }
}
