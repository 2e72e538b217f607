//! What a fleet node logs when it starts against PostgreSQL: only what an operator needs
//! (docs/observability.md), never the server's NOTICEs about the schema it already has.

use crate::common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::postgres::TempPostgres;

fn free_addr() -> String {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string()
}

/// Start the real binary on `url`, return its stderr up to "admin API listening", stop it.
fn startup_lines(url: &str, dir: &std::path::Path) -> Vec<String> {
    let config = dir.join("node.toml");
    std::fs::write(
        &config,
        format!(
            "[admin]\nlisten = \"{}\"\ntoken = \"t\"\n\n[store]\nurl = \"{url}\"\ncache = \"{}\"\n\n\
             [proxy]\nlisten = \"{}\"\n",
            free_addr(),
            dir.join("cache.db").display(),
            free_addr()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mtls-proxy"))
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("MTLS_PROXY_STORE_URL")
        .env_remove("MTLS_PROXY_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut lines = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => {
                let done = line.contains("admin API listening");
                lines.push(line);
                if done {
                    break;
                }
            }
            Err(e) => {
                let _ = child.kill();
                panic!("the node never said it listens ({e}): {lines:#?}");
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    lines
}

#[test]
fn a_node_start_logs_no_postgres_notices_first_time_or_again() {
    let Some(pg) = TempPostgres::start() else {
        return;
    };
    let url = pg.create_database();
    let dir = tempfile::tempdir().unwrap();
    for start in [
        "first start (creates the schema)",
        "restart (schema exists)",
    ] {
        let lines = startup_lines(&url, dir.path());
        let notices: Vec<_> = lines.iter().filter(|l| l.contains("NOTICE")).collect();
        assert!(notices.is_empty(), "{start}: {notices:#?}");
        assert!(
            lines.iter().any(|l| l.contains("proxy listening")),
            "{start}: {lines:#?}"
        );
    }
}
