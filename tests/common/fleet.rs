//! A fleet on one machine: a throwaway PostgreSQL and several proxy nodes started in-process,
//! each with its own directory (admin token, local cache), all sharing the database. A server
//! certificate for the given names is uploaded through the first node.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mtls_proxy::devpki::{Ca, Issued, Validity};
use mtls_proxy::settings::Settings;
use serde_json::{json, Value};

use super::postgres::TempPostgres;
use super::tls_client::TlsClient;
use super::{flows, Harness, Reply};

/// How long anything that must happen eventually may take before the test fails (a liveness
/// bound, not a speed claim: speed is measured and printed, never asserted).
pub const EVENTUALLY: Duration = Duration::from_secs(30);

pub struct Fleet {
    pub pg: TempPostgres,
    pub url: String,
    pub nodes: Vec<Harness>,
    pub server_ca: Ca,
    pub client_ca: Ca,
    pub other_ca: Ca,
    pub server: Issued,
    pub cert_id: String,
}

/// A node's settings: the shared database, its own cache, a short poll (tests wait less).
pub fn node_settings(dir: &std::path::Path, url: &str, name: &str) -> Settings {
    let mut s = Harness::settings(dir);
    s.store.url = Some(url.to_string());
    s.store.cache = dir.join("node/store-cache.db");
    s.store.poll_interval = Duration::from_millis(200);
    s.store.timeout = Duration::from_secs(2);
    s.store.node_id = Some(name.to_string());
    s
}

impl Fleet {
    /// PostgreSQL and `n` nodes (`node-0`…), or None when PostgreSQL is not installed.
    pub async fn start(n: usize, names: &[&str]) -> Option<Fleet> {
        let pg = tokio::task::spawn_blocking(TempPostgres::start)
            .await
            .unwrap()?;
        let url = pg.create_database();
        let mut nodes = Vec::new();
        for i in 0..n {
            nodes.push(Self::node(&url, i).await);
        }
        let server_ca = Ca::new("Fleet server CA").unwrap();
        let server = server_ca
            .issue_server(names, &["127.0.0.1".parse().unwrap()])
            .unwrap();
        let cert_id = upload(&nodes[0], &server).await;
        Some(Fleet {
            pg,
            url,
            nodes,
            server_ca,
            client_ca: Ca::new("Fleet client CA").unwrap(),
            other_ca: Ca::new("Fleet other CA").unwrap(),
            server,
            cert_id,
        })
    }

    /// Start node `i` in a fresh directory.
    pub async fn node(url: &str, i: usize) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let settings = node_settings(dir.path(), url, &format!("node-{i}"));
        Harness::start_with(dir, settings).await
    }

    /// Node `i`'s TLS address.
    pub fn proxy(&self, i: usize) -> SocketAddr {
        self.nodes[i].proxy
    }

    /// A client certificate from the fleet's client CA.
    pub fn client(&self) -> Issued {
        self.client_ca
            .issue_client("fleet-client", Validity::Current)
            .unwrap()
    }

    /// A mutual authentication trusting `bundle_pem`, created through node `via`.
    pub async fn ma(&self, via: usize, bundle_pem: &str, enforced: bool) -> String {
        let body = json!({"data": {"type": "mutual_authentication",
            "attributes": {"cert_bundle": bundle_pem, "enforced": enforced}}});
        let r = self.nodes[via]
            .post("/tls/mutual_authentications", body)
            .await;
        assert_eq!(r.status, 201, "{}", r.detail());
        r.json()["data"]["id"].as_str().unwrap().to_string()
    }

    /// Activate `domain` through node `via`, attaching `ma` through the same node.
    pub async fn activate(&self, via: usize, domain: &str, ma: Option<&str>) -> String {
        let doc = flows::activate(&self.nodes[via], &self.cert_id, domain).await;
        let id = doc["data"]["id"].as_str().unwrap().to_string();
        if let Some(ma) = ma {
            let r = flows::attach(&self.nodes[via], &id, Some(ma)).await;
            assert_eq!(r.status, 200, "{}", r.detail());
        }
        id
    }

    /// `GET /status` of node `i`.
    pub async fn status(&self, i: usize) -> Value {
        status(&self.nodes[i]).await
    }

    /// The revision node `i` serves.
    pub async fn applied(&self, i: usize) -> u64 {
        self.status(i).await["applied_revision"].as_u64().unwrap()
    }

    /// Wait until every node serves at least `revision`.
    pub async fn wait_applied(&self, revision: u64) {
        for i in 0..self.nodes.len() {
            eventually(
                &format!("node-{i} applies revision {revision}"),
                || async move { self.applied(i).await >= revision },
            )
            .await;
        }
    }

    /// The shared ticket-key generation each node issues tickets under (None: node-local).
    pub async fn ticket_generations(&self) -> Vec<Option<u64>> {
        let mut seen = Vec::new();
        for i in 0..self.nodes.len() {
            seen.push(self.status(i).await["ticket_key_generation"].as_u64());
        }
        seen
    }

    /// Wait until every node issues tickets under one shared key generation; returns it.
    pub async fn wait_shared_ticket_key(&self) -> u64 {
        eventually("every node uses one shared ticket key", || async {
            let seen = self.ticket_generations().await;
            seen[0].is_some() && seen.iter().all(|g| *g == seen[0])
        })
        .await;
        self.ticket_generations().await[0].unwrap()
    }

    /// A handshake and one request on node `i` for `domain`, with `cert` or none.
    pub async fn try_node(
        &self,
        i: usize,
        domain: &str,
        cert: Option<&Issued>,
    ) -> Result<Reply, super::tls_client::ClientError> {
        let mut c = TlsClient::new(&self.server_ca, domain);
        if let Some(cert) = cert {
            c = c.cert(cert);
        }
        c.attempt(self.proxy(i), domain).await.1
    }
}

/// `GET /status` of a node.
pub async fn status(h: &Harness) -> Value {
    let r = h.get("/status").await;
    assert_eq!(r.status, 200);
    r.json()
}

/// Poll `check` until it holds; fail after [`EVENTUALLY`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + EVENTUALLY;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {EVENTUALLY:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn upload(h: &Harness, server: &Issued) -> String {
    let r = h
        .post(
            "/tls/private_keys",
            json!({"data": {"attributes": {"key": server.key_pem}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.detail());
    let r = h
        .post(
            "/tls/certificates",
            json!({"data": {"attributes": {"cert_blob": server.cert_pem}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.detail());
    r.json()["data"]["id"].as_str().unwrap().to_string()
}

/// Percentiles of durations, for printing.
pub fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    // Nearest rank, in integer arithmetic: the sample `percent`% of the way through.
    let at = |percent: usize| {
        let i = (samples.len().saturating_sub(1) * percent).div_ceil(100);
        samples[i.min(samples.len().saturating_sub(1))]
    };
    format!(
        "n={} p50={:.1} ms p99={:.1} ms max={:.1} ms",
        samples.len(),
        at(50).as_secs_f64() * 1e3,
        at(99).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3
    )
}
