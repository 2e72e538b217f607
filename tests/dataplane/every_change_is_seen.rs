//! The first handshake after every 2xx of the admin API sees its change, with a table of
//! activations around it that each change must leave as it was: attach, flip `enforced` (one
//! patch, several domains), rotate the bundle, detach, replace the certificate, deactivate and
//! activate again. No retries and no waiting: the change is published before the 2xx.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::time::Duration;

use common::fixture::Fixture;
use common::flows::{attach, set_bundle, set_enforced};
use common::tls_client::{seen, Req, TlsClient};
use common::Reply;
use mtls_proxy::devpki::Validity;
use rustls::AlertDescription;
use serde_json::json;

const WILDCARD: &str = "*.many.test";
/// Activations served beside the ones that change.
const TABLE: usize = 120;
/// The activations that change (indexes into the table).
const CHANGED: [usize; 3] = [3, 64, 119];
const BOUND: Duration = Duration::from_secs(120);

fn name(i: usize) -> String {
    format!("d{i}.many.test")
}

fn verdict(r: &Reply) -> String {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    seen(r)
        .get("client-cert-verdict")
        .cloned()
        .unwrap_or_default()
}

fn ok(r: &Reply) {
    assert!(
        (200..300).contains(&r.status),
        "{} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_handshake_after_every_2xx_sees_its_change() {
    tokio::time::timeout(BOUND, async {
        let f = Fixture::new(&[WILDCARD]).await;
        let mut ids = Vec::new();
        for i in 0..TABLE {
            ids.push(f.activate(&name(i), None).await);
        }
        let ma = f.ma(&f.client_ca.cert().cert_pem, true).await;
        let good = f.client(Validity::Current);
        let bare = |i: usize| TlsClient::new(&f.server_ca, &name(i));
        let with_cert = |i: usize| TlsClient::new(&f.server_ca, &name(i)).cert(&good);
        let get = |i: usize| Req::get(&name(i));

        // Attach an enforced policy, one domain at a time: each is enforced at once.
        for i in CHANGED {
            ok(&attach(&f.h, &ids[i], Some(&ma)).await);
            let err = bare(i).fetch(f.proxy(), &get(i)).await.unwrap_err();
            assert_eq!(
                err.alert(),
                Some(AlertDescription::CertificateRequired),
                "{i}: {err}"
            );
            assert_eq!(
                verdict(&with_cert(i).fetch(f.proxy(), &get(i)).await.unwrap()),
                "ok"
            );
        }
        // One patch of the policy: every domain using it fails open at once.
        ok(&set_enforced(&f.h, &ma, false).await);
        for i in CHANGED {
            assert_eq!(
                verdict(&bare(i).fetch(f.proxy(), &get(i)).await.unwrap()),
                "missing"
            );
        }
        // A rotated bundle no longer trusts the client's CA.
        ok(&set_bundle(&f.h, &ma, &f.other_ca.cert().cert_pem).await);
        for i in CHANGED {
            let r = with_cert(i).fetch(f.proxy(), &get(i)).await.unwrap();
            assert_eq!(verdict(&r), "unknown_ca", "{i}");
        }
        // Detached: no CertificateRequest at all.
        for i in CHANGED {
            ok(&attach(&f.h, &ids[i], None).await);
            assert_eq!(bare(i).cert_request(f.proxy()).await, None, "{i}");
        }
        // The certificate replaced (with a new key, uploaded first): the next handshake gets
        // the new one.
        let renewed = f.server_ca.issue_server(&[WILDCARD], &[]).unwrap();
        let key = json!({"data": {"attributes": {"key": renewed.key_pem}}});
        ok(&f.h.post("/tls/private_keys", key).await);
        let body = json!({"data": {"type": "tls_certificate", "id": f.cert_id,
            "attributes": {"cert_blob": renewed.cert_pem}}});
        ok(&f
            .h
            .patch(&format!("/tls/certificates/{}", f.cert_id), body)
            .await);
        for i in [0, CHANGED[1]] {
            let shaken = bare(i).handshake(f.proxy()).await.unwrap();
            let served = shaken.stream.get_ref().1.peer_certificates().unwrap()[0].to_vec();
            assert_eq!(served, renewed.cert_der, "{i}");
        }
        // Deactivated: the name is unknown at once; activated again: served at once.
        for i in CHANGED {
            let r = f.h.delete(&format!("/tls/activations/{}", ids[i])).await;
            assert_eq!(r.status, 204);
            let err = bare(i).fetch(f.proxy(), &get(i)).await.unwrap_err();
            assert_eq!(
                err.alert(),
                Some(AlertDescription::UnrecognisedName),
                "{i}: {err}"
            );
            ids[i] = f.activate(&name(i), None).await;
            assert_eq!(
                verdict(&bare(i).fetch(f.proxy(), &get(i)).await.unwrap()),
                ""
            );
        }
        // Every other activation was served throughout, unchanged: no policy, no request.
        for i in [0, 1, 63, 118] {
            assert_eq!(bare(i).cert_request(f.proxy()).await, None, "{i}");
            assert_eq!(
                verdict(&bare(i).fetch(f.proxy(), &get(i)).await.unwrap()),
                ""
            );
        }
    })
    .await
    .expect("test hung");
}
