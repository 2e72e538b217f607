//! In-memory handshake tests of `build_server_config` with and without a `ClientAuth`:
//! enforcement, fail-open verdicts, proof of possession, CertificateRequest, resumption scope.

use std::sync::{Arc, Mutex};

use rustls::client::ResolvesClientCert;
use rustls::crypto::aws_lc_rs;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::sign::CertifiedKey;
use rustls::{
    AlertDescription, CertificateError, CipherSuite, ClientConfig, ClientConnection, Error,
    HandshakeKind, RootCertStore, ServerConfig, ServerConnection, SignatureScheme,
};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::server_config::{build_server_config, TlsParams, TlsVersion};
use super::test_pump::{handshake, Failure};
use super::verdict::Verdict;
use super::verifier::ClientAuth;
use crate::devpki::{self, DevPki, Issued};

fn params(version: TlsVersion) -> TlsParams {
    TlsParams {
        versions: vec![version],
        ..TlsParams::default()
    }
}

fn auth(pki: &DevPki, enforced: bool) -> ClientAuth {
    ClientAuth::new(&[pki.client_ca.cert().cert_der.clone()], enforced).unwrap()
}

fn server_config(
    pki: &DevPki,
    version: TlsVersion,
    auth: Option<&ClientAuth>,
) -> Arc<ServerConfig> {
    let chain = [pki.server.cert_der.clone()];
    let tickets = crate::snapshot::tickets::TicketKeys::default().ticketer(b"handshake tests");
    build_server_config(&chain, &pki.server.key_der, &params(version), auth, tickets).unwrap()
}

fn certified(cert: &Issued, key: &Issued) -> Arc<CertifiedKey> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.key_der.clone()));
    let signer = aws_lc_rs::default_provider()
        .key_provider
        .load_private_key(key)
        .unwrap();
    Arc::new(CertifiedKey::new(
        vec![CertificateDer::from(cert.cert_der.clone())],
        signer,
    ))
}

/// Client certificate resolver that records whether (and with which CA hints) it was asked.
#[derive(Debug)]
struct Recorder {
    key: Option<Arc<CertifiedKey>>,
    asked: Mutex<Option<Vec<Vec<u8>>>>,
}

impl Recorder {
    fn new(key: Option<Arc<CertifiedKey>>) -> Arc<Recorder> {
        Arc::new(Recorder {
            key,
            asked: Mutex::new(None),
        })
    }

    fn hints(&self) -> Option<Vec<Vec<u8>>> {
        self.asked.lock().unwrap().clone()
    }
}

impl ResolvesClientCert for Recorder {
    fn resolve(&self, hints: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        *self.asked.lock().unwrap() = Some(hints.iter().map(|h| h.to_vec()).collect());
        self.key.clone()
    }

    fn has_certs(&self) -> bool {
        true
    }
}

fn client_config(pki: &DevPki, version: TlsVersion, resolver: Arc<Recorder>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(pki.server_ca.cert().cert_der.clone()))
        .unwrap();
    let v = match version {
        TlsVersion::Tls12 => &rustls::version::TLS12,
        TlsVersion::Tls13 => &rustls::version::TLS13,
    };
    let mut config = ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_protocol_versions(&[v])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

/// A client presenting `cert` signed with `key` (None: no certificate).
fn client_with(
    pki: &DevPki,
    version: TlsVersion,
    id: Option<(&Issued, &Issued)>,
) -> Arc<ClientConfig> {
    let key = id.map(|(cert, key)| certified(cert, key));
    client_config(pki, version, Recorder::new(key))
}

struct Outcome {
    client: ClientConnection,
    server: ServerConnection,
    result: Result<(), Box<Failure>>,
}

fn connect(server: &Arc<ServerConfig>, client: &Arc<ClientConfig>) -> Outcome {
    let name = ServerName::try_from("localhost").unwrap();
    let mut c = ClientConnection::new(client.clone(), name).unwrap();
    let mut s = ServerConnection::new(server.clone()).unwrap();
    let result = handshake(&mut c, &mut s);
    Outcome {
        client: c,
        server: s,
        result,
    }
}

fn failure(outcome: Outcome) -> Failure {
    match outcome.result {
        Ok(()) => panic!("handshake unexpectedly succeeded"),
        Err(f) => *f,
    }
}

const BOTH: [TlsVersion; 2] = [TlsVersion::Tls13, TlsVersion::Tls12];

// ---- enforced ----

#[test]
fn enforced_valid_client_is_accepted() {
    let pki = devpki::generate().unwrap();
    let auth = auth(&pki, true);
    for v in BOTH {
        let out = connect(
            &server_config(&pki, v, Some(&auth)),
            &client_with(&pki, v, Some((&pki.client, &pki.client))),
        );
        assert!(out.result.is_ok(), "{v:?}: {:?}", out.result.err());
        assert_eq!(auth.verdict(out.server.peer_certificates()), Verdict::Ok);
    }
}

#[test]
fn enforced_without_certificate_fails_with_certificate_required() {
    let pki = devpki::generate().unwrap();
    let auth = auth(&pki, true);
    let out = connect(
        &server_config(&pki, TlsVersion::Tls13, Some(&auth)),
        &client_with(&pki, TlsVersion::Tls13, None),
    );
    let f = failure(out);
    assert!(
        matches!(f.server, Some(Error::NoCertificatesPresented)),
        "{f:?}"
    );
    assert!(
        matches!(
            f.client,
            Some(Error::AlertReceived(AlertDescription::CertificateRequired))
        ),
        "{f:?}"
    );
}

#[test]
fn enforced_expired_certificate_fails() {
    let pki = devpki::generate().unwrap();
    let auth = auth(&pki, true);
    for v in BOTH {
        let out = connect(
            &server_config(&pki, v, Some(&auth)),
            &client_with(&pki, v, Some((&pki.client_expired, &pki.client_expired))),
        );
        let f = failure(out);
        assert!(
            matches!(
                f.server,
                Some(Error::InvalidCertificate(
                    CertificateError::ExpiredContext { .. }
                ))
            ),
            "{v:?}: {f:?}"
        );
        assert!(
            matches!(
                f.client,
                Some(Error::AlertReceived(AlertDescription::CertificateExpired))
            ),
            "{v:?}: {f:?}"
        );
    }
}

#[test]
fn enforced_unknown_ca_fails() {
    let pki = devpki::generate().unwrap();
    let auth = auth(&pki, true);
    let id = (&pki.client_other_ca, &pki.client_other_ca);
    let out = connect(
        &server_config(&pki, TlsVersion::Tls13, Some(&auth)),
        &client_with(&pki, TlsVersion::Tls13, Some(id)),
    );
    let f = failure(out);
    assert!(
        matches!(
            f.server,
            Some(Error::InvalidCertificate(CertificateError::UnknownIssuer))
        ),
        "{f:?}"
    );
    assert!(
        matches!(
            f.client,
            Some(Error::AlertReceived(AlertDescription::UnknownCA))
        ),
        "{f:?}"
    );
}

// ---- fail-open ----

fn fail_open_verdict(pki: &DevPki, v: TlsVersion, id: Option<(&Issued, &Issued)>) -> Verdict {
    let auth = auth(pki, false);
    let out = connect(
        &server_config(pki, v, Some(&auth)),
        &client_with(pki, v, id),
    );
    assert!(out.result.is_ok(), "{v:?}: {:?}", out.result.err());
    auth.verdict(out.server.peer_certificates())
}

#[test]
fn fail_open_completes_with_a_verdict() {
    let pki = devpki::generate().unwrap();
    for v in BOTH {
        let ok = Some((&pki.client, &pki.client));
        assert_eq!(fail_open_verdict(&pki, v, ok), Verdict::Ok, "{v:?}");
        assert_eq!(fail_open_verdict(&pki, v, None), Verdict::Missing, "{v:?}");
        let expired = Some((&pki.client_expired, &pki.client_expired));
        assert_eq!(
            fail_open_verdict(&pki, v, expired),
            Verdict::Expired,
            "{v:?}"
        );
        let other = Some((&pki.client_other_ca, &pki.client_other_ca));
        assert_eq!(
            fail_open_verdict(&pki, v, other),
            Verdict::UnknownCa,
            "{v:?}"
        );
    }
}

#[test]
fn fail_open_still_checks_proof_of_possession() {
    let pki = devpki::generate().unwrap();
    let auth = auth(&pki, false);
    for v in BOTH {
        // The valid client certificate, but CertificateVerify signed with another key.
        let id = Some((&pki.client, &pki.client_other_ca));
        let out = connect(
            &server_config(&pki, v, Some(&auth)),
            &client_with(&pki, v, id),
        );
        let f = failure(out);
        assert!(
            matches!(
                f.server,
                Some(Error::InvalidCertificate(CertificateError::BadSignature))
            ),
            "{v:?}: {f:?}"
        );
    }
}

// ---- CertificateRequest ----

#[test]
fn no_mutual_authentication_never_requests_a_certificate() {
    let pki = devpki::generate().unwrap();
    for v in BOTH {
        let recorder = Recorder::new(Some(certified(&pki.client, &pki.client)));
        let out = connect(
            &server_config(&pki, v, None),
            &client_config(&pki, v, recorder.clone()),
        );
        assert!(out.result.is_ok(), "{v:?}: {:?}", out.result.err());
        assert_eq!(
            recorder.hints(),
            None,
            "{v:?}: client was asked for a certificate"
        );
        assert!(out.server.peer_certificates().is_none());
        assert_eq!(out.client.alpn_protocol(), Some(&b"h2"[..]));
    }
}

#[test]
fn mutual_authentication_requests_with_bundle_ca_names() {
    let pki = devpki::generate().unwrap();
    let ca_der = &pki.client_ca.cert().cert_der;
    let subject = X509Certificate::from_der(ca_der)
        .unwrap()
        .1
        .subject()
        .as_raw()
        .to_vec();
    for enforced in [true, false] {
        let auth = auth(&pki, enforced);
        for v in BOTH {
            let recorder = Recorder::new(Some(certified(&pki.client, &pki.client)));
            let out = connect(
                &server_config(&pki, v, Some(&auth)),
                &client_config(&pki, v, recorder.clone()),
            );
            assert!(out.result.is_ok(), "{v:?}: {:?}", out.result.err());
            let hints = recorder
                .hints()
                .expect("client was not asked for a certificate");
            assert_eq!(hints, vec![subject.clone()], "{v:?} enforced={enforced}");
        }
    }
}

// ---- resumption ----

#[test]
fn resumption_is_scoped_to_one_server_config() {
    let pki = devpki::generate().unwrap();
    for enforced in [true, false] {
        let auth = auth(&pki, enforced);
        for v in BOTH {
            let a = server_config(&pki, v, Some(&auth));
            let b = server_config(&pki, v, Some(&auth));
            let client = client_with(&pki, v, Some((&pki.client, &pki.client)));

            let first = connect(&a, &client);
            assert!(first.result.is_ok());
            assert_eq!(first.server.handshake_kind(), Some(HandshakeKind::Full));

            // Same config: resumed, and the original client certificate comes back with it.
            let again = connect(&a, &client);
            assert!(again.result.is_ok());
            assert_eq!(
                again.server.handshake_kind(),
                Some(HandshakeKind::Resumed),
                "{v:?}"
            );
            assert_eq!(auth.verdict(again.server.peer_certificates()), Verdict::Ok);
            let certs = again.server.peer_certificates().unwrap();
            assert_eq!(certs[0].as_ref(), pki.client.cert_der.as_slice());

            // Separately built config from the same inputs: the session is not honoured.
            let other = connect(&b, &client);
            assert!(other.result.is_ok());
            assert_eq!(
                other.server.handshake_kind(),
                Some(HandshakeKind::Full),
                "{v:?}"
            );
            assert_eq!(
                other.client.handshake_kind(),
                Some(HandshakeKind::Full),
                "{v:?}"
            );
            assert_eq!(auth.verdict(other.server.peer_certificates()), Verdict::Ok);
        }
    }
}

#[test]
fn resumed_fail_open_session_keeps_its_verdict() {
    let pki = devpki::generate().unwrap();
    let auth = auth(&pki, false);
    let a = server_config(&pki, TlsVersion::Tls13, Some(&auth));
    let id = Some((&pki.client_other_ca, &pki.client_other_ca));
    let client = client_with(&pki, TlsVersion::Tls13, id);
    assert!(connect(&a, &client).result.is_ok());
    let again = connect(&a, &client);
    assert!(again.result.is_ok());
    assert_eq!(again.server.handshake_kind(), Some(HandshakeKind::Resumed));
    assert_eq!(
        auth.verdict(again.server.peer_certificates()),
        Verdict::UnknownCa
    );
}

/// A client session store that counts the TLS 1.3 tickets it is given.
#[derive(Debug)]
struct CountingStore {
    inner: Arc<dyn rustls::client::ClientSessionStore>,
    tickets: std::sync::atomic::AtomicUsize,
}

impl rustls::client::ClientSessionStore for CountingStore {
    fn set_kx_hint(&self, name: ServerName<'static>, group: rustls::NamedGroup) {
        self.inner.set_kx_hint(name, group)
    }
    fn kx_hint(&self, name: &ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.inner.kx_hint(name)
    }
    fn set_tls12_session(
        &self,
        name: ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        self.inner.set_tls12_session(name, value)
    }
    fn tls12_session(
        &self,
        name: &ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.inner.tls12_session(name)
    }
    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.inner.remove_tls12_session(name)
    }
    fn insert_tls13_ticket(
        &self,
        name: ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        self.tickets
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.insert_tls13_ticket(name, value)
    }
    fn take_tls13_ticket(
        &self,
        name: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        self.inner.take_tls13_ticket(name)
    }
}

#[test]
fn one_ticket_per_handshake_keeps_a_client_resuming() {
    let pki = devpki::generate().unwrap();
    let auth = auth(&pki, true);
    let server = server_config(&pki, TlsVersion::Tls13, Some(&auth));
    let store = Arc::new(CountingStore {
        inner: Arc::new(rustls::client::ClientSessionMemoryCache::new(8)),
        tickets: Default::default(),
    });
    let mut client =
        (*client_with(&pki, TlsVersion::Tls13, Some((&pki.client, &pki.client)))).clone();
    client.resumption = rustls::client::Resumption::store(store.clone());
    let client = Arc::new(client);
    let tickets = || store.tickets.load(std::sync::atomic::Ordering::SeqCst);

    let first = connect(&server, &client);
    assert!(first.result.is_ok());
    assert_eq!(first.server.handshake_kind(), Some(HandshakeKind::Full));
    assert_eq!(tickets(), 1, "one ticket after a full handshake");
    // Each resumption spends the ticket and brings a new one, so the client keeps resuming.
    for round in 2..=5 {
        let again = connect(&server, &client);
        assert!(again.result.is_ok());
        assert_eq!(
            again.server.handshake_kind(),
            Some(HandshakeKind::Resumed),
            "connection {round}"
        );
        assert_eq!(tickets(), round, "one ticket per resumed handshake");
    }
}

// ---- cipher suites ----

/// A client offering exactly `suites`, in this order.
fn client_offering(pki: &DevPki, version: TlsVersion, suites: &[CipherSuite]) -> Arc<ClientConfig> {
    let mut provider = aws_lc_rs::default_provider();
    provider.cipher_suites = suites
        .iter()
        .map(|s| {
            *aws_lc_rs::ALL_CIPHER_SUITES
                .iter()
                .find(|a| a.suite() == *s)
                .unwrap()
        })
        .collect();
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(pki.server_ca.cert().cert_der.clone()))
        .unwrap();
    let v = match version {
        TlsVersion::Tls12 => &rustls::version::TLS12,
        TlsVersion::Tls13 => &rustls::version::TLS13,
    };
    let config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[v])
        .unwrap()
        .with_root_certificates(roots)
        .with_client_cert_resolver(Recorder::new(Some(certified(&pki.client, &pki.client))));
    Arc::new(config)
}

#[test]
fn aes_128_gcm_is_preferred_unless_the_client_leads_with_chacha20() {
    use CipherSuite::*;
    let pki = devpki::generate().unwrap();
    let auth = auth(&pki, true);
    let cases: [(TlsVersion, &[CipherSuite], CipherSuite); 6] = [
        // rustls' and OpenSSL's default order puts AES-256-GCM first.
        (
            TlsVersion::Tls13,
            &[
                TLS13_AES_256_GCM_SHA384,
                TLS13_AES_128_GCM_SHA256,
                TLS13_CHACHA20_POLY1305_SHA256,
            ],
            TLS13_AES_128_GCM_SHA256,
        ),
        (
            TlsVersion::Tls13,
            &[TLS13_AES_256_GCM_SHA384],
            TLS13_AES_256_GCM_SHA384,
        ),
        (
            TlsVersion::Tls13,
            &[TLS13_CHACHA20_POLY1305_SHA256, TLS13_AES_128_GCM_SHA256],
            TLS13_CHACHA20_POLY1305_SHA256,
        ),
        (
            TlsVersion::Tls12,
            &[
                TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            ],
            TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            TlsVersion::Tls12,
            &[
                TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            ],
            TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
        (
            TlsVersion::Tls12,
            &[TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384],
            TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ),
    ];
    for (version, offered, expected) in cases {
        let server = server_config(&pki, version, Some(&auth));
        // As the acceptor does, from the suites of the hello.
        let server = super::suites::config_for(&server, offered);
        let outcome = connect(&server, &client_offering(&pki, version, offered));
        assert!(outcome.result.is_ok(), "{offered:?}");
        let chosen = outcome.server.negotiated_cipher_suite().unwrap().suite();
        assert_eq!(chosen, expected, "{version:?} {offered:?}");
    }
}

#[test]
fn sessions_resume_across_the_chacha20_copy_of_a_config() {
    use CipherSuite::*;
    let pki = devpki::generate().unwrap();
    let auth = auth(&pki, true);
    let server = server_config(&pki, TlsVersion::Tls13, Some(&auth));
    let offered = [TLS13_CHACHA20_POLY1305_SHA256, TLS13_AES_128_GCM_SHA256];
    let mut client = (*client_offering(&pki, TlsVersion::Tls13, &offered)).clone();
    client.resumption = rustls::client::Resumption::in_memory_sessions(8);
    let client = Arc::new(client);
    let first = connect(&super::suites::config_for(&server, &offered), &client);
    assert!(first.result.is_ok());
    let again = connect(&super::suites::config_for(&server, &offered), &client);
    assert!(again.result.is_ok());
    assert_eq!(again.server.handshake_kind(), Some(HandshakeKind::Resumed));
}
