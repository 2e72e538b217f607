//! Cross-checks of the PEM/X.509 parsers against keys and certificates made by the `openssl`
//! command line tool, in the formats operators really upload. The rcgen-based unit tests beside
//! each parser cover the same rules without it; here `openssl` is required (skipped when it is
//! missing, a failure under `MTLS_PROXY_REQUIRE_TOOLS=1`).

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::path::Path;
use std::process::Command;

use mtls_proxy::model::pki::{
    parse_ca_bundle, parse_certificate_chain, parse_private_key, PkiError,
};

/// Runs `openssl` in `dir`; panics with its stderr if it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new(OPENSSL.get().expect("openssl was required first"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `openssl` program, set by [`have_openssl`].
static OPENSSL: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Finds `openssl` (a skip or failure through `common::tools` when it is missing).
fn have_openssl() -> bool {
    match common::tools::require("openssl") {
        Some(path) => {
            let _ = OPENSSL.set(path);
            true
        }
        None => false,
    }
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

/// Self-signs a certificate for `key` and checks that key, certificate and `openssl pkey -pubout`
/// agree on the public key.
fn check_pair(dir: &Path, key: &str, sig: &[&str], want_sig: &str) -> (u32, &'static str) {
    let cert = format!("{key}.crt");
    let mut args = vec![
        "req",
        "-new",
        "-x509",
        "-key",
        key,
        "-subj",
        "/CN=openssl.example",
        "-addext",
        "subjectAltName=DNS:openssl.example,DNS:WWW.openssl.example",
        "-days",
        "2",
        "-set_serial",
        "1339673755198158349044581307228491536",
        "-out",
        &cert,
    ];
    args.extend_from_slice(sig);
    openssl(dir, &args);
    let spki = format!("{key}.spki");
    openssl(
        dir,
        &[
            "pkey", "-in", key, "-pubout", "-outform", "DER", "-out", &spki,
        ],
    );

    let info = parse_private_key(&read(dir, key)).unwrap();
    let cert_info = parse_certificate_chain(&read(dir, &cert)).unwrap();
    assert_eq!(
        info.spki_der,
        std::fs::read(dir.join(&spki)).unwrap(),
        "{key}"
    );
    assert_eq!(info.public_key_sha1, cert_info.public_key_sha1, "{key}");
    assert_eq!(cert_info.signature_algorithm, want_sig, "{key}");
    assert_eq!(
        cert_info.serial_number,
        "1339673755198158349044581307228491536"
    );
    assert_eq!(cert_info.issued_to, "openssl.example");
    assert_eq!(cert_info.issuer, "openssl.example");
    assert_eq!(
        cert_info.dns_names,
        ["openssl.example", "www.openssl.example"]
    );
    assert_eq!(cert_info.not_after - cert_info.not_before, 2 * 86_400);
    assert_eq!(
        parse_ca_bundle(&read(dir, &cert)).unwrap().certs_der.len(),
        1
    );
    (info.key_length, info.key_type)
}

#[test]
fn openssl_keys_in_all_formats_pair_with_their_certificates() {
    if !have_openssl() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ec = ["-pkeyopt", "ec_paramgen_curve:P-256"];
    openssl(
        dir,
        &[
            &["genpkey", "-algorithm", "EC", "-out", "p8ec.pem"][..],
            &ec,
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "p8rsa.pem",
        ],
    );
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "secp384r1",
            "-genkey",
            "-out",
            "sec1.pem",
        ],
    );
    openssl(
        dir,
        &["genrsa", "-traditional", "-out", "pkcs1.pem", "3072"],
    );
    assert!(read(dir, "sec1.pem").contains("EC PARAMETERS"));
    assert!(read(dir, "pkcs1.pem").contains("RSA PRIVATE KEY"));

    let sha256 = ["-sha256"];
    let sha384 = ["-sha384"];
    assert_eq!(
        check_pair(dir, "p8ec.pem", &sha256, "ECDSA-SHA256"),
        (256, "ECDSA")
    );
    assert_eq!(
        check_pair(dir, "p8rsa.pem", &sha256, "SHA256-RSA"),
        (2048, "RSA")
    );
    assert_eq!(
        check_pair(dir, "sec1.pem", &sha384, "ECDSA-SHA384"),
        (384, "ECDSA")
    );
    assert_eq!(
        check_pair(dir, "pkcs1.pem", &sha384, "SHA384-RSA"),
        (3072, "RSA")
    );
    let pss = [
        "-sha256",
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:digest",
        "-sigopt",
        "rsa_mgf1_md:sha256",
    ];
    assert_eq!(
        check_pair(dir, "p8rsa.pem", &pss, "SHA256-RSAPSS"),
        (2048, "RSA")
    );
}

#[test]
fn openssl_keys_we_refuse() {
    if !have_openssl() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    openssl(
        dir,
        &["genrsa", "-traditional", "-out", "small.pem", "1024"],
    );
    openssl(dir, &["genpkey", "-algorithm", "ED25519", "-out", "ed.pem"]);
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "secp521r1",
            "-genkey",
            "-noout",
            "-out",
            "p521.pem",
        ],
    );
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "secp256k1",
            "-genkey",
            "-noout",
            "-out",
            "k1.pem",
        ],
    );
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-aes256",
            "-pass",
            "pass:x",
            "-out",
            "enc8.pem",
        ],
    );
    openssl(
        dir,
        &[
            "ec", "-in", "k1.pem", "-aes128", "-passout", "pass:x", "-out", "enc1.pem",
        ],
    );

    let refused = |name: &str| parse_private_key(&read(dir, name)).unwrap_err();
    assert_eq!(
        refused("small.pem"),
        PkiError::RsaKeyTooSmall { bits: 1024 }
    );
    assert_eq!(
        refused("ed.pem"),
        PkiError::UnsupportedKeyType {
            name: "Ed25519".into()
        }
    );
    assert_eq!(
        refused("p521.pem"),
        PkiError::UnsupportedCurve {
            curve: "P-521".into()
        }
    );
    assert_eq!(
        refused("k1.pem"),
        PkiError::UnsupportedCurve {
            curve: "secp256k1".into()
        }
    );
    assert_eq!(refused("enc8.pem"), PkiError::EncryptedKey);
    assert!(read(dir, "enc1.pem").contains("Proc-Type: 4,ENCRYPTED"));
    assert_eq!(refused("enc1.pem"), PkiError::EncryptedKey);
    // Every one of them is also kept out of a CA bundle.
    for name in ["small.pem", "ed.pem", "enc8.pem", "enc1.pem"] {
        assert_eq!(
            parse_ca_bundle(&read(dir, name)).unwrap_err(),
            PkiError::PrivateKeyInBundle
        );
    }
}
