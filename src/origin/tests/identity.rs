//! mTLS to origins: the configured client certificate is presented, an origin that requires
//! one refuses the proxy without it (or with another CA's), and pools are per certificate.

use std::sync::{Arc, OnceLock};

use http::StatusCode;

use super::get;
use super::route;
use super::versatile::{sha256_hex, versatile, TlsSide};
use super::versions::tls_client;
use crate::devpki::{Ca, Issued, Validity};
use crate::model::origin::{OriginIdentity, OriginRoute};
use crate::origin::{load_identity, OriginClient};

fn origin_client_ca() -> &'static Ca {
    static CA: OnceLock<Ca> = OnceLock::new();
    CA.get_or_init(|| Ca::new("Origin's client CA").unwrap())
}

fn server_ca() -> &'static Ca {
    super::versions::server_ca()
}

/// An identity as `load_identity` reads it from PEM files.
fn identity(issued: &Issued, dir: &std::path::Path, name: &str) -> Arc<OriginIdentity> {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}-key.pem"));
    std::fs::write(&cert, &issued.cert_pem).unwrap();
    std::fs::write(&key, &issued.key_pem).unwrap();
    Arc::new(load_identity(&cert, &key).unwrap())
}

fn presenting(route: &OriginRoute, identity: Option<&Arc<OriginIdentity>>) -> OriginRoute {
    OriginRoute {
        identity: identity.cloned(),
        ..route.clone()
    }
}

async fn cert_seen(client: &OriginClient, route: &OriginRoute) -> String {
    let response = client.send(route, get("/"), false).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.headers()["x-client-cert"]
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn an_origin_requiring_a_client_certificate_accepts_only_the_configured_one() {
    let side = TlsSide {
        alpn: &[b"h2", b"http/1.1"],
        client_ca: Some((origin_client_ca(), true)),
    };
    let origin = versatile(Some((server_ca(), side))).await;
    let dir = tempfile::tempdir().unwrap();
    let good = origin_client_ca()
        .issue_client("proxy", Validity::Current)
        .unwrap();
    let stranger = Ca::new("Stranger").unwrap();
    let bad = stranger.issue_client("proxy", Validity::Current).unwrap();
    let (client, _ca) = tls_client();
    let base = route(&format!("https://localhost:{}", origin.addr.port()));

    let with_good = presenting(&base, Some(&identity(&good, dir.path(), "good")));
    assert_eq!(
        cert_seen(&client, &with_good).await,
        sha256_hex(&good.cert_der)
    );

    for refused in [
        presenting(&base, None),
        presenting(&base, Some(&identity(&bad, dir.path(), "bad"))),
    ] {
        let err = client.send(&refused, get("/"), false).await.unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_GATEWAY, "{err}");
        assert!(["tls", "protocol"].contains(&err.kind()), "{err}");
    }
}

#[tokio::test]
async fn pooled_connections_are_per_client_certificate() {
    let side = TlsSide {
        alpn: &[b"http/1.1"],
        client_ca: Some((origin_client_ca(), false)),
    };
    let origin = versatile(Some((server_ca(), side))).await;
    let dir = tempfile::tempdir().unwrap();
    let a = origin_client_ca()
        .issue_client("a", Validity::Current)
        .unwrap();
    let b = origin_client_ca()
        .issue_client("b", Validity::Current)
        .unwrap();
    let (id_a, id_b) = (identity(&a, dir.path(), "a"), identity(&b, dir.path(), "b"));
    let (client, _ca) = tls_client();
    let base = route(&format!("https://localhost:{}", origin.addr.port()));
    let (via_a, via_b) = (
        presenting(&base, Some(&id_a)),
        presenting(&base, Some(&id_b)),
    );

    // Alternating: a connection made with one certificate is never reused for the other.
    for _ in 0..3 {
        assert_eq!(cert_seen(&client, &via_a).await, sha256_hex(&a.cert_der));
        assert_eq!(cert_seen(&client, &via_b).await, sha256_hex(&b.cert_der));
        assert_eq!(cert_seen(&client, &base).await, "none");
    }
    assert_eq!(origin.accepted(), 3);
    assert_eq!(client.identity_pools(), 2);

    // The same files read again (a reload) keep their pool.
    let reread = presenting(&base, Some(&identity(&a, dir.path(), "a")));
    assert_eq!(cert_seen(&client, &reread).await, sha256_hex(&a.cert_der));
    assert_eq!(origin.accepted(), 3);

    // Identities nobody holds any more leave with their pools.
    drop((via_a, via_b, id_a, id_b, reread));
    let c = origin_client_ca()
        .issue_client("c", Validity::Current)
        .unwrap();
    let via_c = presenting(&base, Some(&identity(&c, dir.path(), "c")));
    assert_eq!(cert_seen(&client, &via_c).await, sha256_hex(&c.cert_der));
    assert_eq!(client.identity_pools(), 1);
}
