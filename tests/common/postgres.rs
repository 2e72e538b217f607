//! A throwaway PostgreSQL server: `initdb` into a temporary directory, started with `pg_ctl` on
//! a free port (as the `postgres` user when the tests run as root, which PostgreSQL refuses),
//! TCP on 127.0.0.1 only, trust authentication. Dropped: stopped and removed. Should the test
//! process die first, a watchdog started beside the server stops it.
//!
//! ```ignore
//! let Some(pg) = common::postgres::TempPostgres::start() else { return };
//! let url = pg.create_database();
//! ```

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::tools;

/// A running test server.
pub struct TempPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// `Some("postgres")` when running as root.
    user: Option<String>,
}

static DATABASES: AtomicU32 = AtomicU32::new(0);

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `id -u NAME` / `id -g NAME`.
fn id_of(flag: &str, user: &str) -> u32 {
    let out = Command::new("id").args([flag, user]).output().unwrap();
    assert!(
        out.status.success(),
        "no user {user}: run as root needs the postgres user"
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

impl TempPostgres {
    /// Start a fresh server, or None (skipped) when PostgreSQL is not installed.
    pub fn start() -> Option<TempPostgres> {
        Self::start_with(None)
    }

    /// A fresh server that also accepts TLS with this certificate chain and key (PEM).
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Option<TempPostgres> {
        Self::start_with(Some((cert_pem, key_pem)))
    }

    fn start_with(tls: Option<(&str, &str)>) -> Option<TempPostgres> {
        let bin = tools::require_postgres()?;
        let user = running_as_root().then(|| "postgres".to_string());
        let dir = tempfile::Builder::new()
            .prefix("mtls-proxy-pg")
            .tempdir()
            .unwrap();
        if let Some(user) = &user {
            std::os::unix::fs::chown(dir.path(), Some(id_of("-u", user)), Some(id_of("-g", user)))
                .unwrap();
        }
        let pg = TempPostgres {
            bin,
            dir,
            port: free_port(),
            user,
        };
        let data = pg.data();
        pg.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        if let Some((cert, key)) = tls {
            pg.enable_tls(cert, key);
        }
        pg.watchdog();
        pg.start_server();
        Some(pg)
    }

    /// Write the server's certificate and key into its data directory (owned by the server's
    /// user, the key mode 0600 as PostgreSQL demands) and switch `ssl` on.
    fn enable_tls(&self, cert_pem: &str, key_pem: &str) {
        use std::os::unix::fs::PermissionsExt;
        let data = self.data();
        for (name, pem, mode) in [
            ("server.crt", cert_pem, 0o644),
            ("server.key", key_pem, 0o600),
        ] {
            let path = data.join(name);
            std::fs::write(&path, pem).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            if let Some(user) = &self.user {
                std::os::unix::fs::chown(&path, Some(id_of("-u", user)), Some(id_of("-g", user)))
                    .unwrap();
            }
        }
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str("\nssl = on\n");
        std::fs::write(&conf, text).unwrap();
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A program of the server's bin directory, as the server's user.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match &self.user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Start the server on its data directory and port; waits until it accepts connections.
    /// Retries for a while: after a `kill -9` the old server's processes take a moment to go.
    pub fn start_server(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off \
             -c max_connections=200",
            self.port
        );
        let log = self.dir.path().join("server.log");
        let data = self.data();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = self
                .command("pg_ctl")
                .args(["-D", data.to_str().unwrap(), "-l", log.to_str().unwrap()])
                .args(["-w", "-t", "30", "-o", &options, "start"])
                .stdin(Stdio::null())
                .output()
                .unwrap();
            if out.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "pg_ctl start failed: {}{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stop the server (fast shutdown).
    pub fn stop(&self) {
        let data = self.data();
        let _ = self
            .command("pg_ctl")
            .args(["-D", data.to_str().unwrap(), "-m", "fast", "-w", "stop"])
            .stdin(Stdio::null())
            .output();
    }

    fn postmaster_pid(&self) -> Option<String> {
        std::fs::read_to_string(self.data().join("postmaster.pid"))
            .ok()?
            .lines()
            .next()
            .map(|l| l.trim().to_string())
    }

    /// `kill -9` the server's main process (its backends notice and exit), and wait until it
    /// no longer accepts connections.
    pub fn kill9(&self) {
        let pid = self.postmaster_pid().expect("the server is running");
        let status = Command::new("kill").args(["-9", &pid]).status().unwrap();
        assert!(status.success(), "kill -9 {pid}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < deadline, "the killed server still accepts");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The URL of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Run SQL in database `db` with psql; returns its unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .arg(self.url(db))
            .args(["-c", sql])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A new empty database; returns its URL.
    pub fn create_database(&self) -> String {
        let n = DATABASES.fetch_add(1, Ordering::Relaxed);
        let name = format!("t{}_{n}", std::process::id());
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// Stops the server and removes its directory once this test process is gone, however it
    /// ended (a panic that aborts, a killed test run).
    fn watchdog(&self) {
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             p=$(head -n1 '{dir}/data/postmaster.pid' 2>/dev/null) && kill -9 \"$p\"; \
             sleep 1; rm -rf '{dir}'",
            pid = std::process::id(),
            dir = self.dir.path().display()
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    /// The server's directory (data and log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        if let Some(pid) = self.postmaster_pid() {
            let _ = Command::new("kill").args(["-9", &pid]).status();
        }
    }
}
