//! `mtls-proxy certs init`: the files it writes, their permissions, and overwrite protection.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

const FILES: [&str; 12] = [
    "server-ca.pem",
    "server.pem",
    "server-key.pem",
    "client-ca.pem",
    "client.pem",
    "client-key.pem",
    "client-expired.pem",
    "client-expired-key.pem",
    "other-ca.pem",
    "client-other-ca.pem",
    "client-other-ca-key.pem",
    "README.md",
];

fn run(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mtls-proxy"))
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn assert_complete_set(dir: &Path) {
    for name in FILES {
        let path = dir.join(name);
        assert!(path.is_file(), "{name} missing");
        if name.ends_with("-key.pem") {
            assert_eq!(mode(&path), 0o600, "{name}");
            let pem = fs::read_to_string(&path).unwrap();
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{name}");
        } else if name.ends_with(".pem") {
            let pem = fs::read_to_string(&path).unwrap();
            assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{name}");
            // Public files must not be world-writable nor hold a key.
            assert_eq!(mode(&path) & 0o022, 0, "{name}");
            assert!(!pem.contains("PRIVATE KEY"), "{name}");
        }
    }
    assert_eq!(fs::read_dir(dir).unwrap().count(), FILES.len());
}

#[test]
fn init_writes_every_file_and_lists_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tmp.path(), &["certs", "init", "--dir", "pki"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dir = tmp.path().join("pki");
    assert_complete_set(&dir);
    let stdout = text(&out.stdout);
    for name in FILES {
        assert!(stdout.contains(&format!("wrote pki/{name}\n")), "{stdout}");
    }
    assert!(stdout.contains("Next steps:"), "{stdout}");
    assert!(
        stdout.contains("curl --cacert pki/server-ca.pem --cert pki/client.pem"),
        "{stdout}"
    );
}

#[test]
fn init_defaults_to_certs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tmp.path(), &["certs", "init"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_complete_set(&tmp.path().join("certs"));
    assert!(text(&out.stdout).contains("wrote certs/server.pem\n"));
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("certs");
    assert!(run(tmp.path(), &["certs", "init"]).status.success());
    let before: Vec<String> = FILES
        .iter()
        .map(|n| fs::read_to_string(dir.join(n)).unwrap())
        .collect();

    let out = run(tmp.path(), &["certs", "init"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    assert!(text(&out.stdout).is_empty());
    for (name, old) in FILES.iter().zip(&before) {
        assert_eq!(&fs::read_to_string(dir.join(name)).unwrap(), old, "{name}");
    }

    // One pre-existing file is enough to refuse, and nothing else gets written.
    let other = tmp.path().join("other");
    fs::create_dir(&other).unwrap();
    fs::write(other.join("client.pem"), "mine").unwrap();
    let out = run(tmp.path(), &["certs", "init", "--dir", "other"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("other/client.pem already exists"));
    assert_eq!(fs::read_dir(&other).unwrap().count(), 1);
}

#[test]
fn init_force_replaces_the_set() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("certs");
    assert!(run(tmp.path(), &["certs", "init"]).status.success());
    let old_cert = fs::read_to_string(dir.join("server.pem")).unwrap();
    let old_key = fs::read_to_string(dir.join("client-key.pem")).unwrap();
    // A key loosened by hand comes back 0600.
    fs::set_permissions(
        dir.join("client-key.pem"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();

    let out = run(tmp.path(), &["certs", "init", "--force"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_complete_set(&dir);
    assert_ne!(
        fs::read_to_string(dir.join("server.pem")).unwrap(),
        old_cert
    );
    assert_ne!(
        fs::read_to_string(dir.join("client-key.pem")).unwrap(),
        old_key
    );
}

#[test]
fn certs_init_help_names_the_options() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(tmp.path(), &["certs", "init", "--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    assert!(help.contains("--dir <DIR>"), "{help}");
    assert!(help.contains("[default: certs]"), "{help}");
    assert!(help.contains("--force"), "{help}");
}
