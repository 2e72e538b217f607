//! A refused handshake reaches the client as an alert it can report. In TLS 1.3 curl has sent
//! its request by the time the proxy refuses its certificate; a proxy that then closes the
//! socket with the request unread makes the kernel reset the connection, and curl reports
//! `getpeername() failed with errno 107` or `Connection reset by peer` instead of the alert.
//! Repeated, because the loss depends on timing.

// Tests report failure by panicking; clippy.toml exempts `#[test]` functions but not the helpers
// here and in tests/common, so the panic family is allowed for the whole test crate.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use common::cli_clients::{CliClients, Programs};
use common::fixture::Fixture;
use mtls_proxy::devpki::Validity;

const ENFORCED: &str = "a.test";
const ROUNDS: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_reports_the_alert_of_a_refused_handshake() {
    let Some(programs) = Programs::curl() else {
        return;
    };
    let f = Fixture::new(&[ENFORCED]).await;
    let ma = f.ma(&f.client_ca.cert().cert_pem, true).await;
    f.activate(ENFORCED, Some(&ma)).await;
    let c = CliClients::for_fixture(programs, &f);
    let expired = c.identity(&f.client(Validity::Expired));
    for round in 0..ROUNDS {
        for http2 in [false, true] {
            let ctx = format!("round {round}, http2 {http2}");
            let mut curl = c.curl(ENFORCED);
            if http2 {
                curl = curl.http2();
            }
            let r = curl.run().await;
            r.assert_refused();
            // curl 7.88 with OpenSSL 3: "curl: (56) OpenSSL SSL_read: error:0A00045C:SSL
            // routines::tlsv13 alert certificate required, errno 0".
            assert!(
                r.stderr.contains("tlsv13 alert certificate required"),
                "{ctx}: {r:#?}"
            );
            let mut curl = c.curl(ENFORCED).cert(&expired);
            if http2 {
                curl = curl.http2();
            }
            let r = curl.run().await;
            r.assert_refused();
            assert!(
                r.stderr.contains("alert certificate expired"),
                "{ctx}: {r:#?}"
            );
        }
    }
}
