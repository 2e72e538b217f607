//! CRLs made the way operators make them: `openssl ca -revoke` and `openssl ca -gencrl` over a
//! CA directory holding a dev CA's certificate and key.

use std::path::{Path, PathBuf};
use std::process::Command;

use mtls_proxy::devpki::{Ca, Issued};

/// An `openssl ca` directory for one CA: its database of revoked certificates and its CRL
/// number counter.
pub struct OpensslCa {
    openssl: PathBuf,
    dir: PathBuf,
    issued: usize,
}

impl OpensslCa {
    /// A directory under `parent` for `ca` (None when openssl is not installed: the test skips).
    pub fn new(parent: &Path, name: &str, ca: &Ca) -> Option<OpensslCa> {
        let openssl = super::tools::require("openssl")?;
        let dir = parent.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), &ca.cert().cert_pem).unwrap();
        std::fs::write(dir.join("ca-key.pem"), &ca.cert().key_pem).unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        // Dev client certificates share subjects; openssl refuses that by default.
        std::fs::write(dir.join("index.txt.attr"), "unique_subject = no\n").unwrap();
        std::fs::write(dir.join("crlnumber"), "01\n").unwrap();
        let config = format!(
            "[ ca ]\ndefault_ca = CA_default\n[ CA_default ]\ndir = {}\n\
             database = $dir/index.txt\ncrlnumber = $dir/crlnumber\n\
             certificate = $dir/ca.pem\nprivate_key = $dir/ca-key.pem\n\
             default_md = sha256\ndefault_crl_days = 7\ncrl_extensions = crl_ext\n\
             [ crl_ext ]\nauthorityKeyIdentifier = keyid:always\n",
            dir.display()
        );
        std::fs::write(dir.join("ca.cnf"), config).unwrap();
        Some(OpensslCa {
            openssl,
            dir,
            issued: 0,
        })
    }

    fn run(&self, args: &[&str]) {
        let out = Command::new(&self.openssl)
            .arg("ca")
            .arg("-config")
            .arg(self.dir.join("ca.cnf"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl ca {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Record `cert` as revoked in the CA's database (the next CRL lists it).
    pub fn revoke(&mut self, cert: &Issued) {
        self.issued += 1;
        let file = self.dir.join(format!("revoked-{}.pem", self.issued));
        std::fs::write(&file, &cert.cert_pem).unwrap();
        self.run(&["-revoke", file.to_str().unwrap()]);
    }

    /// Put `cert` on hold (revocation reason certificateHold): the next CRL lists it until
    /// [`OpensslCa::release`].
    pub fn hold(&mut self, cert: &Issued) {
        self.issued += 1;
        let file = self.dir.join(format!("held-{}.pem", self.issued));
        std::fs::write(&file, &cert.cert_pem).unwrap();
        self.run(&[
            "-revoke",
            file.to_str().unwrap(),
            "-crl_hold",
            "holdInstructionCallIssuer",
        ]);
    }

    /// Release every hold: `openssl ca` has no command for it, so the held entries leave the
    /// database, which is what releasing a hold amounts to (the next CRL no longer lists them).
    pub fn release(&mut self) {
        let index = self.dir.join("index.txt");
        let text = std::fs::read_to_string(&index).unwrap();
        let kept: String = text
            .lines()
            .filter(|l| !l.contains(",holdInstruction,"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(index, kept).unwrap();
    }

    /// A CRL (PEM) valid from now for a week, with the next CRL number.
    pub fn crl(&mut self) -> String {
        self.crl_between(None, None)
    }

    /// A CRL (PEM) with thisUpdate/nextUpdate as `YYYYMMDDHHMMSSZ` (None: now / a week on).
    pub fn crl_between(&mut self, this_update: Option<&str>, next_update: Option<&str>) -> String {
        self.issued += 1;
        let out = self.dir.join(format!("crl-{}.pem", self.issued));
        let mut args = vec!["-gencrl", "-out", out.to_str().unwrap()];
        if let Some(t) = this_update {
            args.extend(["-crl_lastupdate", t]);
        }
        if let Some(t) = next_update {
            args.extend(["-crl_nextupdate", t]);
        }
        self.run(&args);
        std::fs::read_to_string(out).unwrap()
    }

    /// The DER of a PEM CRL (`openssl crl -outform DER`), as CRL distribution points serve it.
    pub fn der(&self, pem: &str) -> Vec<u8> {
        let file = self.dir.join("to-der.pem");
        std::fs::write(&file, pem).unwrap();
        let out = Command::new(&self.openssl)
            .args(["crl", "-outform", "DER", "-in"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout
    }
}

/// `YYYYMMDDHHMMSSZ` for now + `seconds` (may be negative), as openssl's CRL options take it.
pub fn openssl_time(seconds: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(seconds);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}
