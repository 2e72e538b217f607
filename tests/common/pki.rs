//! Certificates for API tests, made fresh per test through `mtls_proxy::devpki`.

use mtls_proxy::devpki::{Ca, Issued};

/// A new CA's certificate as a one-certificate bundle.
pub fn bundle(cn: &str) -> String {
    Ca::new(cn).unwrap().cert().cert_pem.clone()
}

/// A server certificate (and its key) for `names`, issued by a fresh CA.
pub fn server(names: &[&str]) -> Issued {
    Ca::new("Test server CA")
        .unwrap()
        .issue_server(names, &[])
        .unwrap()
}
