//! The shared integration-test harness: fresh certificates (rcgen, through `mtls_proxy::devpki`)
//! and the proxy started in-process on port 0 with a fresh store.

#![allow(dead_code)]

pub mod cli_clients;
pub mod crl_server;
pub mod fixture;
pub mod fleet;
pub mod flows;
pub mod http;
pub mod odd_certs;
pub mod openssl_ca;
pub mod pki;
pub mod postgres;
pub mod python;
pub mod raw_h2;
pub mod recording_origin;
pub mod scrape;
pub mod tls_client;
pub mod tools;

use std::net::SocketAddr;
use std::path::PathBuf;

use mtls_proxy::app::{self, Running};
use mtls_proxy::settings::Settings;
use serde_json::Value;

pub use http::Reply;

/// The admin token every harness instance uses.
pub const TOKEN: &str = "test-token";

/// A running proxy with its own temporary store.
pub struct Harness {
    pub running: Option<Running>,
    pub admin: SocketAddr,
    pub proxy: SocketAddr,
    pub dir: tempfile::TempDir,
    pub settings: Settings,
}

impl Harness {
    /// Settings with both listeners on port 0 and the store in `dir`.
    pub fn settings(dir: &std::path::Path) -> Settings {
        let mut s = Settings::default();
        s.admin.listen = "127.0.0.1:0".parse().unwrap();
        s.admin.token = Some(TOKEN.to_string());
        s.proxy.listen = "127.0.0.1:0".parse().unwrap();
        s.store.path = dir.join("store/mtls-proxy.db");
        s
    }

    /// Start on a fresh store.
    pub async fn start() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let settings = Self::settings(dir.path());
        Self::start_with(dir, settings).await
    }

    /// Start with given settings (the store lives in `dir`).
    pub async fn start_with(dir: tempfile::TempDir, settings: Settings) -> Harness {
        let running = app::start(settings.clone()).await.expect("proxy starts");
        Harness {
            admin: running.admin_addr,
            proxy: running.proxy_addr,
            running: Some(running),
            dir,
            settings,
        }
    }

    /// Stop and start again on the same store (ports change).
    pub async fn restart(mut self) -> Harness {
        if let Some(r) = self.running.take() {
            r.shutdown().await.unwrap();
        }
        let settings = self.settings.clone();
        Self::start_with(self.dir, settings).await
    }

    /// The store file.
    pub fn store_path(&self) -> PathBuf {
        self.settings.store.path.clone()
    }

    /// An authenticated admin request.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        http::request(
            self.admin,
            method,
            path,
            Some(TOKEN),
            body.map(|b| b.to_string()),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call("POST", path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call("PATCH", path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call("DELETE", path, None).await
    }

    /// A raw request: any token (or none) and any body bytes.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> Reply {
        http::request(self.admin, method, path, token, body).await
    }
}
