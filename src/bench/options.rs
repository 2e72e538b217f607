//! The `mtls-proxy bench` command line (clap) and its validated form: every check that can be
//! made before the first connection is made here, so a run never starts with unusable options.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;
use rustls::crypto::aws_lc_rs::kx_group;
use rustls::crypto::SupportedKxGroup;

use super::error::BenchError;
use crate::settings::duration;

/// What one connection does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Handshake, then close_notify; the connection counts once the server has closed it (so
    /// a client certificate the server refuses after the client's Finished is still seen).
    Handshake,
    /// Handshake and one `GET --path` with `Connection: close`; only a 2xx answer counts.
    Request,
    /// Handshake and `--requests-per-conn` sequential GETs on the same connection; each 2xx
    /// answer counts as one completed operation.
    Keepalive,
}

impl Mode {
    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Handshake => "handshake",
            Mode::Request => "request",
            Mode::Keepalive => "keepalive",
        }
    }
}

/// The key-exchange group offered (the only one, so the server cannot pick another).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kx {
    /// X25519 (what OpenSSL 3.0 servers such as Debian 12's nginx can do).
    X25519,
    /// NIST P-256.
    P256,
    /// The hybrid post-quantum group rustls prefers by default.
    X25519mlkem768,
}

impl Kx {
    /// The name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Kx::X25519 => "x25519",
            Kx::P256 => "p256",
            Kx::X25519mlkem768 => "x25519mlkem768",
        }
    }

    /// The aws-lc-rs implementation of the group.
    pub fn group(self) -> &'static dyn SupportedKxGroup {
        match self {
            Kx::X25519 => kx_group::X25519,
            Kx::P256 => kx_group::SECP256R1,
            Kx::X25519mlkem768 => kx_group::X25519MLKEM768,
        }
    }
}

/// `mtls-proxy bench`: a TLS/mTLS load generator for any server.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Server to connect to.
    #[arg(long, value_name = "HOST:PORT")]
    pub target: String,
    /// Server name sent in SNI and Host (default: the target's host, when it is a name).
    #[arg(long, value_name = "NAME")]
    pub sni: Option<String>,
    /// PEM file of the CA(s) that verify the server certificate.
    #[arg(long, value_name = "FILE", required_unless_present = "insecure")]
    pub ca: Option<PathBuf>,
    /// INSECURE: accept any server certificate, trusted or not (its handshake signature is
    /// still checked, so the client's work stays the same). For measuring servers whose
    /// certificate this client cannot verify; the report says the server was not verified.
    #[arg(long, conflicts_with = "ca")]
    pub insecure: bool,
    /// PEM client certificate chain to present.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// PEM private key of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// Connections in flight at once (with --rate: the most in flight).
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub concurrency: usize,
    /// Stop starting connections after this long ("10s", "500ms", "2m"; default 10s).
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, conflicts_with = "count")]
    pub duration: Option<Duration>,
    /// Open exactly N connections, then stop.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Worker threads, each with its own event loop and an even share of --concurrency,
    /// --count and --rate, so one client core is not the limit (default: the CPUs this process
    /// may run on).
    #[arg(long, value_name = "N", alias = "threads")]
    pub workers: Option<usize>,
    /// What each connection does.
    #[arg(long, value_enum, default_value_t = Mode::Handshake)]
    pub mode: Mode,
    /// Request path for --mode request and keepalive.
    #[arg(long, value_name = "PATH", default_value = "/")]
    pub path: String,
    /// Requests per connection in --mode keepalive.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub requests_per_conn: u32,
    /// Keep TLS sessions (TLS 1.3 tickets) in one store shared by all connections, so later
    /// connections resume; the report counts resumed handshakes.
    #[arg(long)]
    pub resume: bool,
    /// Offer only this key-exchange group (default: rustls's list, X25519MLKEM768 first).
    #[arg(long, value_enum)]
    pub kx: Option<Kx>,
    /// Offer only ALPN h2 and send the requests over HTTP/2.
    #[arg(long)]
    pub http2: bool,
    /// Open loop: start R connections per second on a fixed schedule, whatever the answers;
    /// latency is measured from each connection's scheduled start.
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Limit for one connection, all its requests included; longer counts as a timeout error.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, default_value = "10s")]
    pub timeout: Duration,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Write an SVG with the latency distribution and throughput over time.
    #[arg(long, value_name = "FILE.svg")]
    pub histogram: Option<PathBuf>,
    /// Also report the CPU time this process used (from /proc/PID/stat) per completed
    /// operation; repeat for servers with several processes (nginx master and workers).
    #[arg(long = "server-pid", value_name = "PID")]
    pub server_pids: Vec<u32>,
}

/// When a run stops starting connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After this long.
    After(Duration),
    /// After this many connections.
    Count(u64),
}

/// How the server certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Against the CAs in this PEM file.
    CaFile(PathBuf),
    /// Not at all (the handshake signature still is).
    Insecure,
}

/// Validated options of one run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The `--target` text, for reports.
    pub target: String,
    /// The resolved address connected to.
    pub addr: SocketAddr,
    /// The server name: SNI (when a DNS name) and the HTTP authority.
    pub server_name: String,
    /// Whether SNI was given or derived (false for an IP target without --sni).
    pub sends_sni: bool,
    /// Server certificate check.
    pub trust: Trust,
    /// Client certificate chain and key files.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Connections in flight.
    pub concurrency: usize,
    /// When to stop.
    pub stop: Stop,
    /// Worker threads.
    pub workers: usize,
    /// What each connection does.
    pub mode: Mode,
    /// Request path.
    pub path: String,
    /// Requests per connection (keepalive mode).
    pub requests_per_conn: u32,
    /// Share a session store so connections resume.
    pub resume: bool,
    /// The only key-exchange group offered, if forced.
    pub kx: Option<Kx>,
    /// HTTP/2 over ALPN h2.
    pub http2: bool,
    /// Open-loop rate (connections per second).
    pub rate: Option<f64>,
    /// Limit for one connection.
    pub timeout: Duration,
    /// JSON summary.
    pub json: bool,
    /// SVG output file.
    pub histogram: Option<PathBuf>,
    /// Processes whose CPU time is reported.
    pub server_pids: Vec<u32>,
}

/// Default run length when neither --duration nor --count is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);

impl Options {
    /// Checks the arguments and resolves the target.
    pub fn from_args(args: BenchArgs) -> Result<Options, BenchError> {
        check_numbers(&args)?;
        let (host, _) = split_host_port(&args.target)?;
        let addr = resolve(&args.target)?;
        let (server_name, sends_sni) = match &args.sni {
            Some(sni) => (sni.clone(), true),
            None => (host.to_string(), host.parse::<IpAddr>().is_err()),
        };
        let trust = match (args.ca, args.insecure) {
            (Some(path), false) => Trust::CaFile(path),
            (None, true) => Trust::Insecure,
            _ => {
                return Err(BenchError::Option(
                    "give exactly one of --ca and --insecure".into(),
                ))
            }
        };
        let stop = match (args.count, args.duration) {
            (Some(n), None) => Stop::Count(n),
            (None, Some(d)) => Stop::After(d),
            (None, None) => Stop::After(DEFAULT_DURATION),
            (Some(_), Some(_)) => {
                return Err(BenchError::Option(
                    "--count and --duration exclude each other".into(),
                ))
            }
        };
        let concurrency = args.concurrency;
        Ok(Options {
            target: args.target,
            addr,
            server_name,
            sends_sni,
            trust,
            client_cert: args.cert.zip(args.key),
            concurrency: args.concurrency,
            stop,
            workers: args
                .workers
                .unwrap_or_else(default_workers)
                .min(concurrency),
            mode: args.mode,
            path: args.path,
            requests_per_conn: args.requests_per_conn,
            resume: args.resume,
            kx: args.kx,
            http2: args.http2,
            rate: args.rate,
            timeout: args.timeout,
            json: args.json,
            histogram: args.histogram,
            server_pids: args.server_pids,
        })
    }

    /// The HTTP authority: the server name, with the port unless it is 443.
    pub fn authority(&self) -> String {
        let name = if self.server_name.contains(':') {
            format!("[{}]", self.server_name)
        } else {
            self.server_name.clone()
        };
        match self.addr.port() {
            443 => name,
            port => format!("{name}:{port}"),
        }
    }
}

fn check_numbers(args: &BenchArgs) -> Result<(), BenchError> {
    let fail = |m: &str| Err(BenchError::Option(m.to_string()));
    if args.concurrency == 0 {
        return fail("--concurrency must be at least 1");
    }
    if args.count == Some(0) {
        return fail("--count must be at least 1");
    }
    if args.duration.is_some_and(|d| d.is_zero()) {
        return fail("--duration must be more than 0");
    }
    if args.workers == Some(0) {
        return fail("--workers must be at least 1");
    }
    if args.workers.is_some_and(|w| w > args.concurrency) {
        return fail(
            "--workers must not exceed --concurrency (each worker keeps a connection in flight)",
        );
    }
    if args.requests_per_conn == 0 {
        return fail("--requests-per-conn must be at least 1");
    }
    if args.timeout.is_zero() {
        return fail("--timeout must be more than 0");
    }
    if let Some(rate) = args.rate {
        if !(rate.is_finite() && rate > 0.0) {
            return fail("--rate must be a positive number of connections per second");
        }
        if args.mode == Mode::Keepalive {
            return fail("--rate schedules connections; use it with --mode handshake or request");
        }
    }
    if !args.path.starts_with('/') {
        return fail("--path must start with '/'");
    }
    Ok(())
}

/// HOST and PORT of "HOST:PORT" or "[IPv6]:PORT".
fn split_host_port(target: &str) -> Result<(&str, u16), BenchError> {
    let bad = || BenchError::Option(format!("--target {target:?} is not HOST:PORT"));
    let (host, port) = target.rsplit_once(':').ok_or_else(bad)?;
    let host = match host.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']').ok_or_else(bad)?,
        None if host.contains(':') => return Err(bad()),
        None => host,
    };
    let port = port.parse::<u16>().map_err(|_| bad())?;
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host, port))
}

fn resolve(target: &str) -> Result<SocketAddr, BenchError> {
    let resolve_err = |source| BenchError::Resolve {
        target: target.to_string(),
        source,
    };
    target
        .to_socket_addrs()
        .map_err(resolve_err)?
        .next()
        .ok_or_else(|| resolve_err(std::io::Error::other("no address")))
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: BenchArgs,
    }

    fn parse(extra: &[&str]) -> Result<Options, String> {
        let mut argv = vec!["bench", "--target", "127.0.0.1:8443", "--insecure"];
        argv.extend_from_slice(extra);
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        Options::from_args(cli.args).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults() {
        let o = parse(&[]).unwrap();
        assert_eq!(o.addr, "127.0.0.1:8443".parse().unwrap());
        assert_eq!(o.server_name, "127.0.0.1");
        assert!(!o.sends_sni, "an IP target sends no SNI");
        assert_eq!(o.stop, Stop::After(Duration::from_secs(10)));
        assert_eq!(o.mode, Mode::Handshake);
        assert_eq!(o.concurrency, 32);
        assert_eq!(o.trust, Trust::Insecure);
        assert_eq!(o.kx, None);
        assert!(o.workers >= 1);
        assert_eq!(o.authority(), "127.0.0.1:8443");
    }

    #[test]
    fn all_flags() {
        let o = parse(&[
            "--sni",
            "a.test",
            "--cert",
            "c.pem",
            "--key",
            "k.pem",
            "--concurrency",
            "8",
            "--count",
            "50",
            "--workers",
            "2",
            "--mode",
            "request",
            "--path",
            "/x",
            "--resume",
            "--kx",
            "x25519mlkem768",
            "--http2",
            "--rate",
            "100.5",
            "--timeout",
            "500ms",
            "--json",
            "--histogram",
            "h.svg",
            "--server-pid",
            "7",
            "--server-pid",
            "8",
        ])
        .unwrap();
        assert_eq!(o.server_name, "a.test");
        assert!(o.sends_sni);
        assert_eq!(
            o.client_cert,
            Some((PathBuf::from("c.pem"), PathBuf::from("k.pem")))
        );
        assert_eq!((o.concurrency, o.workers), (8, 2));
        assert_eq!(o.stop, Stop::Count(50));
        assert_eq!((o.mode, o.path.as_str()), (Mode::Request, "/x"));
        assert!(o.resume && o.http2 && o.json);
        assert_eq!(o.kx, Some(Kx::X25519mlkem768));
        assert_eq!(o.rate, Some(100.5));
        assert_eq!(o.timeout, Duration::from_millis(500));
        assert_eq!(o.histogram, Some(PathBuf::from("h.svg")));
        assert_eq!(o.server_pids, vec![7, 8]);
        assert_eq!(o.authority(), "a.test:8443");
    }

    #[test]
    fn threads_is_another_name_for_workers_and_the_default_fits_concurrency() {
        assert_eq!(parse(&["--threads", "3"]).unwrap().workers, 3);
        assert_eq!(parse(&["--concurrency", "1"]).unwrap().workers, 1);
    }

    #[test]
    fn duration_and_kx_names() {
        let o = parse(&["--duration", "2m", "--kx", "p256"]).unwrap();
        assert_eq!(o.stop, Stop::After(Duration::from_secs(120)));
        assert_eq!(o.kx.map(Kx::as_str), Some("p256"));
        let o = parse(&[
            "--kx",
            "x25519",
            "--mode",
            "keepalive",
            "--requests-per-conn",
            "5",
        ])
        .unwrap();
        assert_eq!(o.kx, Some(Kx::X25519));
        assert_eq!((o.mode, o.requests_per_conn), (Mode::Keepalive, 5));
    }

    #[test]
    fn refuses_bad_values_and_combinations() {
        let bad: &[&[&str]] = &[
            &["--concurrency", "0"],
            &["--count", "0"],
            &["--duration", "0s"],
            &["--duration", "ten"],
            &["--count", "5", "--duration", "1s"],
            &["--workers", "0"],
            &["--threads", "0"],
            &["--workers", "3", "--concurrency", "2"],
            &["--rate", "0"],
            &["--rate", "-3"],
            &["--rate", "NaN"],
            &["--rate", "10", "--mode", "keepalive"],
            &["--requests-per-conn", "0"],
            &["--path", "x"],
            &["--mode", "bogus"],
            &["--kx", "x448"],
            &["--cert", "c.pem"],
            &["--ca", "ca.pem"],
            &["--timeout", "0s"],
        ];
        for extra in bad {
            assert!(parse(extra).is_err(), "{extra:?} must be refused");
        }
    }

    #[test]
    fn needs_ca_or_insecure_and_a_port() {
        let cli = Cli::try_parse_from(["bench", "--target", "127.0.0.1:1"]);
        assert!(cli.is_err(), "neither --ca nor --insecure");
        for target in ["127.0.0.1", "127.0.0.1:x", ":443", "::1:443", "[::1:443"] {
            assert!(split_host_port(target).is_err(), "{target}");
        }
        assert_eq!(split_host_port("[::1]:443").unwrap(), ("::1", 443));
        let cli = Cli::try_parse_from(["bench", "--target", "[::1]:9", "--ca", "ca.pem"]).unwrap();
        let o = Options::from_args(cli.args).unwrap();
        assert_eq!(o.authority(), "[::1]:9");
        assert_eq!(o.trust, Trust::CaFile(PathBuf::from("ca.pem")));
    }
}
