//! The real command-line TLS clients, `curl` and `openssl s_client`, run as child processes
//! against the in-process proxy. PEM files go to a temporary directory; every child has a hard
//! timeout and is killed when it expires. Both programs are found through [`super::tools`]:
//! a test without them is skipped, or fails under `MTLS_PROXY_REQUIRE_TOOLS=1` (the full suite).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mtls_proxy::devpki::Issued;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::fixture::Fixture;
use super::tools;

/// Hard limit for one child process; on expiry it is killed and the test fails.
pub const CHILD_TIMEOUT: Duration = Duration::from_secs(20);
/// curl's own `--max-time` (below [`CHILD_TIMEOUT`], so curl normally reports it itself).
const CURL_MAX_TIME_SECS: &str = "15";

/// What a child process did.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit code; None when killed by a signal.
    pub exit: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// A client certificate and key written as PEM files.
#[derive(Debug, Clone)]
pub struct ClientFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The client programs a test found on `PATH` (Default: none, for tests that only use the
/// PEM files).
#[derive(Debug, Clone, Default)]
pub struct Programs {
    curl: Option<PathBuf>,
    openssl: Option<PathBuf>,
}

impl Programs {
    /// `curl` and `openssl`, or None after reporting each missing one (see [`super::tools`]).
    pub fn require() -> Option<Programs> {
        let curl = tools::require("curl");
        let openssl = tools::require("openssl");
        Some(Programs {
            curl: Some(curl?),
            openssl: Some(openssl?),
        })
    }

    /// `curl` alone, or None after reporting it missing.
    pub fn curl() -> Option<Programs> {
        Some(Programs {
            curl: Some(tools::require("curl")?),
            openssl: None,
        })
    }

    /// `openssl` alone, or None after reporting it missing.
    pub fn openssl() -> Option<Programs> {
        Some(Programs {
            curl: None,
            openssl: Some(tools::require("openssl")?),
        })
    }
}

/// Where the clients connect and the files they use: the server CA and client identities.
pub struct CliClients {
    programs: Programs,
    dir: tempfile::TempDir,
    ca: PathBuf,
    addr: SocketAddr,
    counter: AtomicUsize,
}

impl CliClients {
    /// Clients for the proxy at `addr`, trusting `server_ca_pem`.
    pub fn new(programs: Programs, addr: SocketAddr, server_ca_pem: &str) -> CliClients {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("server-ca.pem");
        std::fs::write(&ca, server_ca_pem).unwrap();
        CliClients {
            programs,
            dir,
            ca,
            addr,
            counter: AtomicUsize::new(0),
        }
    }

    /// Clients for a fixture's proxy, trusting its server CA.
    pub fn for_fixture(programs: Programs, fx: &Fixture) -> CliClients {
        Self::new(programs, fx.proxy(), &fx.server_ca.cert().cert_pem)
    }

    /// The proxy's TLS port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A fresh path in the temporary directory (for session files and outputs).
    pub fn file(&self, stem: &str) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        self.dir.path().join(format!("{n}-{stem}"))
    }

    /// Writes a client certificate and its key.
    pub fn identity(&self, issued: &Issued) -> ClientFiles {
        let cert = self.file("client.pem");
        let key = self.file("client-key.pem");
        std::fs::write(&cert, &issued.cert_pem).unwrap();
        std::fs::write(&key, &issued.key_pem).unwrap();
        ClientFiles { cert, key }
    }

    /// curl to `https://{host}:{port}/`, `host` resolved to 127.0.0.1 with `--resolve`.
    pub fn curl(&self, host: &str) -> Curl<'_> {
        Curl::new(self, Some(host.to_string()))
    }

    /// curl to `https://127.0.0.1:{port}/`: curl sends no SNI for an IP literal.
    pub fn curl_ip(&self) -> Curl<'_> {
        Curl::new(self, None)
    }

    /// `openssl s_client` with `-servername name`, or `-noservername` when None.
    pub fn s_client(&self, servername: Option<&str>) -> SClient<'_> {
        SClient::new(self, servername.map(str::to_string))
    }
}

/// HTTP version curl is told to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Http {
    H1,
    H2,
}

/// A curl invocation (builder).
pub struct Curl<'a> {
    clients: &'a CliClients,
    host: Option<String>,
    path: String,
    cert: Option<ClientFiles>,
    http: Http,
    tls12: bool,
    request_target: Option<String>,
    headers: Vec<String>,
}

/// What curl reported.
#[derive(Debug, Clone)]
pub struct CurlResult {
    /// curl's exit code (0 on a completed transfer, whatever the HTTP status).
    pub exit: Option<i32>,
    pub stderr: String,
    /// The HTTP status; 0 when no response came (curl's `%{http_code}`).
    pub status: u16,
    /// `1.1` or `2` when a response came (curl's `%{http_version}`), else `0`.
    pub http_version: String,
    /// Raw response header block(s).
    pub headers: String,
    pub body: String,
}

impl CurlResult {
    /// The body as JSON (panics with the whole result when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("curl body is not JSON ({e}): {self:#?}"))
    }

    /// A header the echo origin received, from its JSON body.
    pub fn echoed(&self, name: &str) -> Option<String> {
        self.json()["headers"][name].as_str().map(str::to_string)
    }

    /// Asserts curl got no HTTP response and failed.
    pub fn assert_refused(&self) {
        assert_ne!(self.exit, Some(0), "curl should have failed: {self:#?}");
        assert_eq!(self.status, 0, "no HTTP response expected: {self:#?}");
        assert!(self.body.is_empty(), "no body expected: {self:#?}");
    }
}

impl<'a> Curl<'a> {
    fn new(clients: &'a CliClients, host: Option<String>) -> Curl<'a> {
        Curl {
            clients,
            host,
            path: "/".to_string(),
            cert: None,
            http: Http::H1,
            tls12: false,
            request_target: None,
            headers: Vec::new(),
        }
    }

    /// Present this client certificate (`--cert`/`--key`).
    pub fn cert(mut self, files: &ClientFiles) -> Self {
        self.cert = Some(files.clone());
        self
    }

    /// The request path (default `/`).
    pub fn path(mut self, path: &str) -> Self {
        self.path = path.to_string();
        self
    }

    /// `--http2` (h2 over ALPN) instead of `--http1.1`.
    pub fn http2(mut self) -> Self {
        self.http = Http::H2;
        self
    }

    /// TLS 1.2 only (`--tlsv1.2 --tls-max 1.2`); default: curl's choice (TLS 1.3 here).
    pub fn tls12(mut self) -> Self {
        self.tls12 = true;
        self
    }

    /// Send this request target instead of the URL's path (`--request-target`), e.g. an
    /// absolute-form `https://other/`.
    pub fn request_target(mut self, target: &str) -> Self {
        self.request_target = Some(target.to_string());
        self
    }

    /// An extra request header, `Name: value` (as `-H`; `Host:` alone removes curl's Host).
    pub fn header(mut self, line: &str) -> Self {
        self.headers.push(line.to_string());
        self
    }

    fn args(&self, body: &Path, headers: &Path) -> Vec<OsString> {
        let c = self.clients;
        let port = c.port();
        let url_host = self.host.as_deref().unwrap_or("127.0.0.1");
        let mut args: Vec<OsString> = Vec::new();
        let mut push = |a: &str| args.push(a.into());
        // -q first: ignore any ~/.curlrc; --noproxy: no proxy from the environment.
        for a in ["-q", "-s", "-S", "--noproxy", "*", "--max-time"] {
            push(a);
        }
        push(CURL_MAX_TIME_SECS);
        push(match self.http {
            Http::H1 => "--http1.1",
            Http::H2 => "--http2",
        });
        if let Some(host) = &self.host {
            push("--resolve");
            push(&format!("{host}:{port}:127.0.0.1"));
        }
        if self.tls12 {
            for a in ["--tlsv1.2", "--tls-max", "1.2"] {
                push(a);
            }
        }
        if let Some(target) = &self.request_target {
            push("--request-target");
            push(target);
        }
        push("-w");
        push("%{http_code} %{http_version}");
        for h in &self.headers {
            push("-H");
            push(h);
        }
        push(&format!("https://{url_host}:{port}{}", self.path));
        args.extend(["--cacert".into(), c.ca.clone().into_os_string()]);
        if let Some(files) = &self.cert {
            args.extend(["--cert".into(), files.cert.clone().into_os_string()]);
            args.extend(["--key".into(), files.key.clone().into_os_string()]);
        }
        args.extend(["-o".into(), body.into(), "-D".into(), headers.into()]);
        args
    }

    /// Runs curl.
    pub async fn run(self) -> CurlResult {
        let body = self.clients.file("body");
        let headers = self.clients.file("headers");
        let curl = (self.clients.programs.curl.as_deref())
            .expect("these CliClients were made without curl (Programs::curl or ::require)");
        let out = run(curl, self.args(&body, &headers), None).await;
        let mut written = out.stdout.split_whitespace();
        let status = written.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let http_version = written.next().unwrap_or("0").to_string();
        CurlResult {
            exit: out.exit,
            stderr: out.stderr,
            status,
            http_version,
            headers: std::fs::read_to_string(&headers).unwrap_or_default(),
            body: std::fs::read_to_string(&body).unwrap_or_default(),
        }
    }
}

/// TLS version s_client is restricted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    Any,
    V12,
    V13,
}

/// An `openssl s_client` invocation (builder). It sends one HTTP/1.1 request with
/// `Connection: close` on stdin and runs with `-ign_eof`, so it prints the handshake summary
/// ("New,"/"Reused,") and then everything the server sent until it closed.
pub struct SClient<'a> {
    clients: &'a CliClients,
    servername: Option<String>,
    cert: Option<ClientFiles>,
    tls: Tls,
    sess_in: Option<PathBuf>,
    sess_out: Option<PathBuf>,
    host_header: Option<String>,
    trace: bool,
    no_ticket: bool,
    groups: Option<String>,
    ciphers: Option<(&'static str, String)>,
}

/// What s_client printed.
#[derive(Debug, Clone)]
pub struct SClientResult {
    pub exit: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl SClientResult {
    /// stdout and stderr together (alerts are reported on either, by OpenSSL version).
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// The HTTP status line's code, when an HTTP response came.
    pub fn http_status(&self) -> Option<u16> {
        let start = self.stdout.find("HTTP/1.1 ")?;
        let code = self.stdout.get(start + 9..start + 12)?;
        code.parse().ok()
    }

    /// The JSON body of the HTTP response (panics with the whole result when there is none).
    pub fn json(&self) -> Value {
        let start = self.stdout.find("HTTP/1.1 ");
        let body = start
            .and_then(|s| self.stdout[s..].find("\r\n\r\n").map(|b| s + b + 4))
            .map(|b| &self.stdout[b..]);
        let Some(body) = body else {
            panic!("s_client got no HTTP response: {self:#?}");
        };
        // Whatever s_client prints after the body (trace records, "closed") is not JSON: read
        // the first JSON value only.
        let first = serde_json::Deserializer::from_str(body)
            .into_iter::<Value>()
            .next();
        match first {
            Some(Ok(v)) => v,
            Some(Err(e)) => panic!("s_client body is not JSON ({e}): {self:#?}"),
            None => panic!("s_client got an empty body: {self:#?}"),
        }
    }

    /// A header the echo origin received, from its JSON body.
    pub fn echoed(&self, name: &str) -> Option<String> {
        self.json()["headers"][name].as_str().map(str::to_string)
    }

    /// True when s_client reports a resumed session ("Reused, TLSv1.x, …").
    pub fn reused(&self) -> bool {
        self.stdout.lines().any(|l| l.starts_with("Reused,"))
    }

    /// The negotiated cipher suite in OpenSSL's name, from "New, TLSv1.3, Cipher is X".
    pub fn cipher(&self) -> Option<&str> {
        self.stdout
            .lines()
            .find(|l| l.starts_with("New,") || l.starts_with("Reused,"))
            .and_then(|l| l.split("Cipher is ").nth(1))
            .map(str::trim)
    }

    /// True when s_client reports a full handshake ("New, TLSv1.x, …").
    pub fn new_session(&self) -> bool {
        self.stdout.lines().any(|l| l.starts_with("New,"))
    }

    /// With [`SClient::trace`]: true when the ClientHello offered a session to resume (a TLS
    /// 1.3 `pre_shared_key`, which OpenSSL's trace calls `psk`, or a non-empty TLS 1.2
    /// `session_ticket` extension).
    pub fn offered_session(&self) -> bool {
        let hello = client_hello_trace(&self.stdout);
        hello.contains("extension_type=psk(41)")
            || hello.lines().any(|l| {
                l.contains("extension_type=session_ticket(35)") && !l.ends_with(", length=0")
            })
    }

    /// With [`SClient::trace`]: true when a TLS 1.2 ClientHello carried a session ID (only a
    /// client resuming by session ID sends one in TLS 1.2; in TLS 1.3 every OpenSSL hello has
    /// one for middlebox compatibility).
    pub fn offered_session_id(&self) -> bool {
        let hello = client_hello_trace(&self.stdout);
        hello.contains("session_id (len=") && !hello.contains("session_id (len=0)")
    }

    /// Asserts no HTTP response came.
    pub fn assert_no_http(&self) {
        assert!(
            !self.stdout.contains("HTTP/1.1"),
            "no HTTP response expected: {self:#?}"
        );
    }

    /// Asserts the output reports a TLS alert whose text or number is one of `alerts`.
    pub fn assert_alert(&self, alerts: &[&str]) {
        let all = self.all();
        assert!(
            alerts.iter().any(|a| all.contains(a)),
            "expected an alert among {alerts:?}: {self:#?}"
        );
    }
}

/// The trace lines of the first ClientHello (`-trace` output), up to the next message.
fn client_hello_trace(stdout: &str) -> String {
    let Some(start) = stdout.find("ClientHello") else {
        return String::new();
    };
    let rest = &stdout[start..];
    let end = rest.find("Received Record").unwrap_or(rest.len());
    rest[..end].to_string()
}

impl<'a> SClient<'a> {
    fn new(clients: &'a CliClients, servername: Option<String>) -> SClient<'a> {
        SClient {
            clients,
            servername,
            cert: None,
            tls: Tls::Any,
            sess_in: None,
            sess_out: None,
            host_header: None,
            trace: false,
            no_ticket: false,
            groups: None,
            ciphers: None,
        }
    }

    /// Present this client certificate (`-cert`/`-key`).
    pub fn cert(mut self, files: &ClientFiles) -> Self {
        self.cert = Some(files.clone());
        self
    }

    /// Restrict to one TLS version (`-tls1_2` / `-tls1_3`).
    pub fn tls(mut self, tls: Tls) -> Self {
        self.tls = tls;
        self
    }

    /// Resume the session in this file (`-sess_in`).
    pub fn sess_in(mut self, path: &Path) -> Self {
        self.sess_in = Some(path.to_path_buf());
        self
    }

    /// Save the session to this file (`-sess_out`).
    pub fn sess_out(mut self, path: &Path) -> Self {
        self.sess_out = Some(path.to_path_buf());
        self
    }

    /// The Host header of the request (default: the server name, else 127.0.0.1).
    pub fn host(mut self, host: &str) -> Self {
        self.host_header = Some(host.to_string());
        self
    }

    /// `-trace`: print the handshake messages (see [`SClientResult::offered_session`]).
    pub fn trace(mut self) -> Self {
        self.trace = true;
        self
    }

    /// `-no_ticket`: TLS 1.2 resumes by session ID instead of a session ticket.
    pub fn no_ticket(mut self) -> Self {
        self.no_ticket = true;
        self
    }

    /// `-groups LIST`: the key-exchange groups offered, the first one with a key share (a
    /// first group the server does not support makes it send a HelloRetryRequest).
    pub fn groups(mut self, list: &str) -> Self {
        self.groups = Some(list.to_string());
        self
    }

    /// `-ciphersuites LIST`: the TLS 1.3 suites offered, in this order.
    pub fn ciphersuites(mut self, list: &str) -> Self {
        self.ciphers = Some(("-ciphersuites", list.to_string()));
        self
    }

    /// `-cipher LIST`: the TLS 1.2 suites offered, in this order.
    pub fn cipher(mut self, list: &str) -> Self {
        self.ciphers = Some(("-cipher", list.to_string()));
        self
    }

    fn args(&self) -> Vec<OsString> {
        let c = self.clients;
        let mut args: Vec<OsString> = vec!["s_client".into(), "-connect".into()];
        args.push(format!("127.0.0.1:{}", c.port()).into());
        match &self.servername {
            Some(name) => args.extend(["-servername".into(), name.into()]),
            None => args.push("-noservername".into()),
        }
        args.extend(["-CAfile".into(), c.ca.clone().into_os_string()]);
        if let Some(files) = &self.cert {
            args.extend(["-cert".into(), files.cert.clone().into_os_string()]);
            args.extend(["-key".into(), files.key.clone().into_os_string()]);
        }
        match self.tls {
            Tls::Any => {}
            Tls::V12 => args.push("-tls1_2".into()),
            Tls::V13 => args.push("-tls1_3".into()),
        }
        if let Some(p) = &self.sess_in {
            args.extend(["-sess_in".into(), p.clone().into_os_string()]);
        }
        if let Some(p) = &self.sess_out {
            args.extend(["-sess_out".into(), p.clone().into_os_string()]);
        }
        if self.trace {
            args.push("-trace".into());
        }
        if self.no_ticket {
            args.push("-no_ticket".into());
        }
        if let Some(groups) = &self.groups {
            args.extend(["-groups".into(), groups.into()]);
        }
        if let Some((option, list)) = &self.ciphers {
            args.extend([(*option).into(), list.into()]);
        }
        args.push("-ign_eof".into());
        args
    }

    fn request(&self) -> Vec<u8> {
        let host = self
            .host_header
            .as_deref()
            .or(self.servername.as_deref())
            .unwrap_or("127.0.0.1");
        format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").into_bytes()
    }

    /// Runs s_client.
    pub async fn run(self) -> SClientResult {
        let openssl = (self.clients.programs.openssl.as_deref())
            .expect("these CliClients were made without openssl (Programs::openssl or ::require)");
        let out = run(openssl, self.args(), Some(self.request())).await;
        SClientResult {
            exit: out.exit,
            stdout: out.stdout,
            stderr: out.stderr,
        }
    }
}

/// Runs `program` with `args` (stdin fed then closed), killed after [`CHILD_TIMEOUT`].
async fn run(program: &Path, args: Vec<OsString>, stdin: Option<Vec<u8>>) -> Output {
    let name = program.display();
    let mut cmd = Command::new(program);
    cmd.args(&args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{name}`: {e}"));
    let pipe = child.stdin.take();
    let finish = async move {
        if let (Some(input), Some(mut pipe)) = (stdin, pipe) {
            // The child may exit before reading (refused handshake): a broken pipe is fine.
            let _ = pipe.write_all(&input).await;
        }
        child.wait_with_output().await.unwrap()
    };
    // On expiry the future (owning the child) is dropped, and kill_on_drop kills the child.
    let out = tokio::time::timeout(CHILD_TIMEOUT, finish)
        .await
        .unwrap_or_else(|_| {
            panic!("`{name} {args:?}` did not finish within {CHILD_TIMEOUT:?}; killed")
        });
    Output {
        exit: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
