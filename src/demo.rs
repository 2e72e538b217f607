//! The out-of-the-box demo: on an empty store, import a server certificate and two mutual
//! authentications from the dev PKI directory and activate `localhost` (enforced) and
//! `open.localhost` (fail-open), so local mTLS testing needs no API calls.
//!
//! The import is a config import like any other: every resource goes through
//! `Control::apply`, with the same validation and snapshot dry run as the admin API.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use crate::control::change::{
    ActivationFields, CertificateFields, MutualAuthenticationFields, PrivateKeyFields,
};
use crate::control::reads::Counts;
use crate::control::{Change, Control, ControlError, RelationshipChange};
use crate::control::{DemoKind, StoreError};
use crate::devpki::{self, DevPkiError};

/// Server certificate (leaf) the demo domains are served with.
const SERVER_CERT: &str = "server.pem";
/// Private key of [`SERVER_CERT`].
const SERVER_KEY: &str = "server-key.pem";
/// CA bundle of both demo mutual authentications.
const CLIENT_CA: &str = "client-ca.pem";
/// The files the import reads; the rest of the dev PKI is for clients.
const NEEDED: [&str; 3] = [SERVER_CERT, SERVER_KEY, CLIENT_CA];

/// Domain whose mutual authentication is enforced (a valid client certificate is required).
pub const ENFORCED_DOMAIN: &str = "localhost";
/// Domain whose mutual authentication is fail-open (the request goes on with its verdict).
pub const FAIL_OPEN_DOMAIN: &str = "open.localhost";

/// What the demo import created (for the start-up log and README).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    /// The directory the certificates were read from.
    pub certs_dir: PathBuf,
    /// Activated domains and whether their mutual authentication is enforced.
    pub domains: Vec<(String, bool)>,
    /// True when `certs_dir` held no demo certificates and a fresh set was generated into it.
    pub generated: bool,
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = &self.certs_dir;
        if self.generated {
            write!(
                f,
                "no demo certificates in {}, generated a new set; ",
                dir.display()
            )?;
        }
        write!(f, "demo imported from {}:", dir.display())?;
        for (i, (domain, enforced)) in self.domains.iter().enumerate() {
            let mode = if *enforced { "enforced" } else { "fail-open" };
            let sep = if i == 0 { "" } else { "," };
            write!(f, "{sep} {domain} (mTLS {mode})")?;
        }
        write!(
            f,
            "; trust {}, present {} (see {})",
            dir.join("server-ca.pem").display(),
            dir.join("client.pem").display(),
            dir.join("README.md").display()
        )
    }
}

/// Why the demo could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Reading the store to check that it is empty failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Generating or writing the dev PKI failed.
    #[error("cannot generate the demo certificates: {0}")]
    DevPki(#[from] DevPkiError),
    /// Some but not all of the files the import needs are present: generating would overwrite
    /// an operator's files, importing cannot work, so neither is done.
    #[error("{dir} has an incomplete demo certificate set (missing {missing}); run `mtls-proxy certs init --dir {dir} --force`")]
    Incomplete {
        /// The certificate directory.
        dir: PathBuf,
        /// The missing file names, comma separated.
        missing: String,
    },
    /// A certificate file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The control plane refused a demo resource.
    #[error("demo import refused at {step}: {source}")]
    Control {
        /// Which resource was being created.
        step: &'static str,
        /// The refusal.
        #[source]
        source: ControlError,
    },
}

/// On an EMPTY store (no activations, no certificates, no keys, no mutual authentications)
/// import the demo: the server key and certificate from `certs_dir`, the mutual
/// authentications "demo enforced" and "demo fail-open" (both with `client-ca.pem`), and the
/// activations `localhost` (enforced) and `open.localhost` (fail-open).
///
/// If `certs_dir` holds none of the needed files, a fresh dev PKI is generated into it first
/// and the summary says so. Returns `Ok(None)` when the store is not empty: an existing
/// configuration is never touched. Call it before anything else can write to the store (at
/// start-up, before the admin listener), since emptiness is checked before the changes.
pub fn import_if_empty(
    control: &Control,
    certs_dir: &Path,
) -> Result<Option<DemoSummary>, DemoError> {
    let counts = control.read(|r| r.counts())?;
    if !is_empty(&counts) {
        return Ok(None);
    }
    let generated = ensure_certs(certs_dir)?;
    let files = DemoFiles::read(certs_dir)?;
    let mut created = Vec::new();
    let result = create_all(control, &files, &mut created);
    if result.is_err() {
        undo(control, created);
    }
    Ok(Some(DemoSummary {
        certs_dir: certs_dir.to_path_buf(),
        domains: result?,
        generated,
    }))
}

/// Empty means no operator resource at all; the built-in default configuration does not count.
fn is_empty(counts: &Counts) -> bool {
    counts.activations == 0
        && counts.certificates == 0
        && counts.private_keys == 0
        && counts.mutual_authentications == 0
}

/// Generates a dev PKI into `dir` when none of the needed files exist; returns whether it did.
fn ensure_certs(dir: &Path) -> Result<bool, DemoError> {
    let missing: Vec<&str> = NEEDED
        .into_iter()
        .filter(|name| !dir.join(name).exists())
        .collect();
    if missing.is_empty() {
        return Ok(false);
    }
    if missing.len() < NEEDED.len() {
        return Err(DemoError::Incomplete {
            dir: dir.to_path_buf(),
            missing: missing.join(", "),
        });
    }
    // No force: if other files of a set are there (README.md, client certs), write_dir
    // refuses rather than overwrite anything the operator has.
    devpki::write_dir(&devpki::generate()?, dir, false)?;
    Ok(true)
}

/// The PEM files the import uploads.
struct DemoFiles {
    server_cert: String,
    server_key: String,
    client_ca: String,
}

impl DemoFiles {
    fn read(dir: &Path) -> Result<DemoFiles, DemoError> {
        let read = |name: &str| {
            let path = dir.join(name);
            fs::read_to_string(&path).map_err(|source| DemoError::Read { path, source })
        };
        Ok(DemoFiles {
            server_cert: read(SERVER_CERT)?,
            server_key: read(SERVER_KEY)?,
            client_ca: read(CLIENT_CA)?,
        })
    }
}

/// A resource created so far, so a failed import can be rolled back.
enum Created {
    PrivateKey(String),
    Certificate(String),
    MutualAuthentication(String),
    Activation(String),
}

/// Creates every demo resource in dependency order, recording each one in `created`.
fn create_all(
    control: &Control,
    files: &DemoFiles,
    created: &mut Vec<Created>,
) -> Result<Vec<(String, bool)>, DemoError> {
    let key = apply(control, "private key", key_change(files))?;
    created.push(Created::PrivateKey(key.clone()));
    mark(control, DemoKind::PrivateKey, &key)?;
    let cert = apply(control, "certificate", cert_change(files))?;
    created.push(Created::Certificate(cert.clone()));
    mark(control, DemoKind::Certificate, &cert)?;
    let mut domains = Vec::new();
    for (domain, enforced, name) in [
        (ENFORCED_DOMAIN, true, "demo enforced"),
        (FAIL_OPEN_DOMAIN, false, "demo fail-open"),
    ] {
        let ma = apply(
            control,
            "mutual authentication",
            ma_change(files, name, enforced),
        )?;
        created.push(Created::MutualAuthentication(ma.clone()));
        mark(control, DemoKind::MutualAuthentication, &ma)?;
        let activation = apply(control, "activation", activation_change(domain, &cert, ma))?;
        created.push(Created::Activation(activation.clone()));
        mark(control, DemoKind::Activation, &activation)?;
        domains.push((domain.to_string(), enforced));
    }
    Ok(domains)
}

/// Record that the demo created `id`: its keys are public, so `serve` refuses to face a
/// network while it exists.
fn mark(control: &Control, kind: DemoKind, id: &str) -> Result<(), DemoError> {
    Ok(control.mark_demo(kind, id)?)
}

fn apply(control: &Control, step: &'static str, change: Change) -> Result<String, DemoError> {
    control
        .apply(change)
        .map(|applied| applied.id)
        .map_err(|source| DemoError::Control { step, source })
}

fn key_change(files: &DemoFiles) -> Change {
    Change::CreatePrivateKey(PrivateKeyFields {
        name: Some("demo server key".into()),
        key: Some(files.server_key.clone()),
    })
}

fn cert_change(files: &DemoFiles) -> Change {
    Change::CreateCertificate(CertificateFields {
        name: Some("demo localhost".into()),
        cert_blob: Some(files.server_cert.clone()),
    })
}

fn ma_change(files: &DemoFiles, name: &str, enforced: bool) -> Change {
    Change::CreateMutualAuthentication(MutualAuthenticationFields {
        name: Some(name.into()),
        cert_bundle: Some(files.client_ca.clone()),
        enforced: Some(enforced),
    })
}

fn activation_change(domain: &str, cert_id: &str, ma_id: String) -> Change {
    Change::CreateActivation(ActivationFields {
        domain: Some(domain.into()),
        certificate: RelationshipChange::Set(cert_id.into()),
        configuration: RelationshipChange::Absent,
        mutual_authentication: RelationshipChange::Set(ma_id),
    })
}

/// Best-effort rollback, newest first: a half-imported demo would make the store non-empty and
/// block every later import, while not being a configuration anyone asked for.
fn undo(control: &Control, created: Vec<Created>) {
    for item in created.into_iter().rev() {
        let change = match item {
            Created::Activation(id) => Change::DeleteActivation { id },
            Created::MutualAuthentication(id) => Change::DeleteMutualAuthentication { id },
            Created::Certificate(id) => Change::DeleteCertificate { id },
            Created::PrivateKey(id) => Change::DeletePrivateKey { id },
        };
        if let Err(e) = control.apply(change) {
            tracing::warn!(error = %e, "could not roll back a partial demo import");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{State, Update};
    use crate::store::SqliteStore;

    fn control() -> Control {
        Control::without_data_plane(Arc::new(SqliteStore::in_memory().unwrap()))
    }

    fn state(control: &Control) -> State {
        control.read(|r| r.load_state()).unwrap()
    }

    /// A temp dir holding a complete dev PKI written by `devpki`.
    fn certs() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        devpki::write_dir(&devpki::generate().unwrap(), tmp.path(), false).unwrap();
        tmp
    }

    /// Domain → enforced flag of its mutual authentication, as stored.
    fn enforcement(state: &State) -> Vec<(String, bool)> {
        let mut out: Vec<(String, bool)> = state
            .activations
            .iter()
            .map(|a| {
                let ma_id = a.mutual_authentication_id.as_deref().unwrap();
                let ma = state.mutual_authentication(ma_id).unwrap();
                (a.domain.clone(), ma.enforced)
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn imports_two_domains_on_an_empty_store() {
        let control = control();
        let dir = certs();
        let summary = import_if_empty(&control, dir.path()).unwrap().unwrap();
        assert_eq!(
            summary.domains,
            vec![
                ("localhost".to_string(), true),
                ("open.localhost".to_string(), false)
            ]
        );
        assert!(!summary.generated);
        assert_eq!(summary.certs_dir, dir.path());

        let s = state(&control);
        assert_eq!(s.activations.len(), 2);
        assert_eq!(
            enforcement(&s),
            vec![
                ("localhost".to_string(), true),
                ("open.localhost".to_string(), false)
            ]
        );
        assert_eq!(s.private_keys.len(), 1);
        assert_eq!(s.certificates.len(), 1);
        let cert = &s.certificates[0];
        assert!(s.activations.iter().all(|a| a.certificate_id == cert.id));
        assert!(s.key_for(cert).is_some());
        let on_disk = fs::read_to_string(dir.path().join(SERVER_CERT)).unwrap();
        assert_eq!(cert.cert_blob, on_disk);
        // Every resource the demo created is marked as such.
        let marked = control.read(|r| r.demo_resources()).unwrap();
        assert_eq!(marked.len(), 6, "{marked:?}");
        for a in &s.activations {
            assert!(marked.contains(&("activation".to_string(), a.id.clone())));
        }
        for m in &s.mutual_authentications {
            assert!(marked.contains(&("mutual_authentication".to_string(), m.id.clone())));
        }

        // Both mutual authentications trust exactly the client CA from the directory.
        let client_ca = fs::read_to_string(dir.path().join(CLIENT_CA)).unwrap();
        let mut names: Vec<&str> = s
            .mutual_authentications
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        names.sort();
        assert_eq!(names, ["demo enforced", "demo fail-open"]);
        assert!(s
            .mutual_authentications
            .iter()
            .all(|m| m.cert_bundle == client_ca));
    }

    #[test]
    fn second_call_is_a_no_op() {
        let control = control();
        let dir = certs();
        assert!(import_if_empty(&control, dir.path()).unwrap().is_some());
        let revision = control.stored_revision().unwrap();
        assert!(import_if_empty(&control, dir.path()).unwrap().is_none());
        assert_eq!(control.stored_revision().unwrap(), revision);
        assert_eq!(state(&control).activations.len(), 2);
    }

    #[test]
    fn leaves_a_non_empty_store_alone() {
        let dir = certs();
        let bundle = fs::read_to_string(dir.path().join(CLIENT_CA)).unwrap();
        let key = fs::read_to_string(dir.path().join(SERVER_KEY)).unwrap();
        // Any single operator resource makes the store non-empty.
        for change in [
            Change::CreateMutualAuthentication(MutualAuthenticationFields {
                name: Some("mine".into()),
                cert_bundle: Some(bundle),
                enforced: None,
            }),
            Change::CreatePrivateKey(PrivateKeyFields {
                name: None,
                key: Some(key),
            }),
        ] {
            let control = control();
            control.apply(change).unwrap();
            let before = state(&control);
            let empty = tempfile::tempdir().unwrap();
            assert!(import_if_empty(&control, empty.path()).unwrap().is_none());
            let after = state(&control);
            assert_eq!(after.revision, before.revision);
            assert_eq!(after.mutual_authentications, before.mutual_authentications);
            assert_eq!(after.private_keys, before.private_keys);
            assert!(after.activations.is_empty());
            // A non-empty store never triggers certificate generation either.
            assert_eq!(fs::read_dir(empty.path()).unwrap().count(), 0);
        }
    }

    #[test]
    fn generates_certificates_when_the_directory_is_missing() {
        let control = control();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("certs");
        let summary = import_if_empty(&control, &dir).unwrap().unwrap();
        assert!(summary.generated);
        for name in NEEDED
            .iter()
            .chain(&["server-ca.pem", "client.pem", "README.md"])
        {
            assert!(dir.join(name).is_file(), "{name}");
        }
        let s = state(&control);
        assert_eq!(s.activations.len(), 2);
        let on_disk = fs::read_to_string(dir.join(SERVER_CERT)).unwrap();
        assert_eq!(s.certificates[0].cert_blob, on_disk);
    }

    #[test]
    fn incomplete_directory_is_refused_untouched() {
        let control = control();
        let dir = certs();
        fs::remove_file(dir.path().join(SERVER_KEY)).unwrap();
        let before = fs::read_to_string(dir.path().join(SERVER_CERT)).unwrap();
        let err = import_if_empty(&control, dir.path()).unwrap_err();
        assert!(
            matches!(&err, DemoError::Incomplete { missing, .. } if missing == SERVER_KEY),
            "{err}"
        );
        assert!(!dir.path().join(SERVER_KEY).exists());
        let after = fs::read_to_string(dir.path().join(SERVER_CERT)).unwrap();
        assert_eq!(after, before);
        assert_eq!(control.stored_revision().unwrap(), 0);
    }

    #[test]
    fn other_files_in_the_directory_are_never_overwritten() {
        let control = control();
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("README.md"), "mine").unwrap();
        let err = import_if_empty(&control, tmp.path()).unwrap_err();
        assert!(
            matches!(err, DemoError::DevPki(DevPkiError::Exists(_))),
            "{err}"
        );
        let readme = fs::read_to_string(tmp.path().join("README.md")).unwrap();
        assert_eq!(readme, "mine");
        assert!(state(&control).private_keys.is_empty());
    }

    #[test]
    fn a_refused_step_rolls_the_import_back() {
        // The data plane refuses the second activation: its update fails to build.
        let store = Arc::new(SqliteStore::in_memory().unwrap());
        let second = |u: &Update| match u {
            Update::Delta(d) => d.rows.iter().any(|r| {
                matches!(r, crate::model::RowChange::Put(crate::model::Record::Activation(a))
                    if a.domain == FAIL_OPEN_DOMAIN)
            }),
            Update::Full(_) => false,
        };
        let control = Control::new(
            store.clone(),
            Box::new(move |u: &Update| match second(u) {
                true => Err("refused for the test".to_string()),
                false => Ok(Box::new(|| ()) as crate::control::Publish),
            }),
        );
        let dir = certs();
        let err = import_if_empty(&control, dir.path()).unwrap_err();
        assert!(
            matches!(
                err,
                DemoError::Control {
                    step: "activation",
                    ..
                }
            ),
            "{err}"
        );
        let counts = control.read(|r| r.counts()).unwrap();
        assert!(is_empty(&counts), "{counts:?}");
        // And a later import, once the cause is gone, is not blocked by leftovers.
        let control = Control::without_data_plane(store);
        assert!(import_if_empty(&control, dir.path()).unwrap().is_some());
    }

    #[test]
    fn a_bad_certificate_file_is_reported_and_rolled_back() {
        let control = control();
        let dir = certs();
        fs::write(dir.path().join(SERVER_CERT), "not a certificate").unwrap();
        let err = import_if_empty(&control, dir.path()).unwrap_err();
        assert!(
            matches!(
                err,
                DemoError::Control {
                    step: "certificate",
                    ..
                }
            ),
            "{err}"
        );
        assert!(is_empty(&control.read(|r| r.counts()).unwrap()));
    }

    #[test]
    fn summary_wording() {
        let summary = DemoSummary {
            certs_dir: PathBuf::from("certs"),
            domains: vec![("localhost".into(), true), ("open.localhost".into(), false)],
            generated: false,
        };
        assert_eq!(
            summary.to_string(),
            "demo imported from certs: localhost (mTLS enforced), open.localhost (mTLS \
             fail-open); trust certs/server-ca.pem, present certs/client.pem (see certs/README.md)"
        );
        let generated = DemoSummary {
            generated: true,
            ..summary
        };
        assert!(generated
            .to_string()
            .starts_with("no demo certificates in certs, generated a new set; demo imported"));
    }
}
