//! The summary of a run: what was measured, throughput, latency percentiles, failures by kind,
//! resumptions and CPU time; printed as text for people or as JSON for scripts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::format::{latency, thousands};
use super::histogram::Histogram;
use super::options::{Options, Trust};
use super::progress::Point;

/// Latency percentiles of completed operations, in microseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    #[serde(rename = "p99.9")]
    pub p99_9: u64,
    /// Largest.
    pub max: u64,
    /// Arithmetic mean.
    pub mean: f64,
}

impl Latency {
    /// Percentiles of `h`.
    pub fn of(h: &Histogram) -> Latency {
        Latency {
            p50: h.quantile(0.5),
            p90: h.quantile(0.9),
            p99: h.quantile(0.99),
            p99_9: h.quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        }
    }
}

/// Failed operations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Errors {
    /// All of them.
    pub total: u64,
    /// By kind: "connect: …", "tls alert: <name>", "tls: …", "timeout", "http status <code>",
    /// "io: …", "closed before a complete response", "http: …", "alpn: …".
    pub by_kind: BTreeMap<String, u64>,
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// `--target`.
    pub target: String,
    /// SNI / Host name.
    pub server_name: String,
    /// handshake, request or keepalive.
    pub mode: &'static str,
    /// The forced key-exchange group, or "default".
    pub kx: &'static str,
    /// HTTP/2 was used.
    pub http2: bool,
    /// Sessions were resumed when possible.
    pub resume: bool,
    /// Connections in flight (closed loop) or the cap (open loop).
    pub concurrency: usize,
    /// Client worker threads.
    pub workers: usize,
    /// Operations each worker completed.
    pub completed_per_worker: Vec<u64>,
    /// Whether the server's certificate was verified (false with `--insecure`).
    pub server_certificate_verified: bool,
    /// Open-loop rate, connections per second.
    pub rate: Option<f64>,
    /// Wall-clock seconds from the first start to the last end.
    pub elapsed_s: f64,
    /// Completed operations: handshakes (handshake mode) or 2xx answers (request, keepalive).
    pub completed: u64,
    /// Completed operations per second.
    pub per_second: f64,
    /// TLS handshakes the client completed.
    pub connections: u64,
    /// Of which resumed a session.
    pub resumed: u64,
    /// Latency of completed operations (request mode: connect to end of response; keepalive:
    /// each request; handshake: connect until the server closed).
    pub latency_us: Latency,
    /// Failed operations.
    pub errors: Errors,
    /// CPU seconds this client used.
    pub client_cpu_s: Option<f64>,
    /// Client CPU microseconds per completed operation.
    pub client_cpu_us_per_op: Option<f64>,
    /// CPU seconds the `--server-pid` processes used during the run.
    pub server_cpu_s: Option<f64>,
    /// Their CPU microseconds per completed operation.
    pub server_cpu_us_per_op: Option<f64>,
    /// One point per second.
    pub timeline: Vec<Point>,
}

/// Raw results of a run, before they are summarised.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Wall-clock run time.
    pub elapsed: Duration,
    /// Latencies of completed operations.
    pub latency: Histogram,
    /// TLS handshakes completed and how many resumed.
    pub connections: (u64, u64),
    /// Failures by kind.
    pub failures: BTreeMap<String, u64>,
    /// Operations completed by each worker.
    pub per_worker: Vec<u64>,
    /// Client CPU time used.
    pub client_cpu: Option<Duration>,
    /// Server CPU time used (with `--server-pid`).
    pub server_cpu: Option<Duration>,
    /// Per-second points.
    pub timeline: Vec<Point>,
}

impl Summary {
    /// Summarises `m` for a run with `opts`.
    pub fn new(opts: &Options, m: Measured) -> Summary {
        let completed = m.latency.count();
        let secs = m.elapsed.as_secs_f64();
        let per_op = |cpu: Option<Duration>| {
            cpu.filter(|_| completed > 0)
                .map(|c| c.as_secs_f64() * 1e6 / completed as f64)
        };
        Summary {
            target: opts.target.clone(),
            server_name: opts.server_name.clone(),
            mode: opts.mode.as_str(),
            kx: opts.kx.map_or("default", |k| k.as_str()),
            http2: opts.http2,
            resume: opts.resume,
            concurrency: opts.concurrency,
            workers: opts.workers,
            completed_per_worker: m.per_worker,
            server_certificate_verified: opts.trust != Trust::Insecure,
            rate: opts.rate,
            elapsed_s: secs,
            completed,
            per_second: if secs > 0.0 {
                completed as f64 / secs
            } else {
                0.0
            },
            connections: m.connections.0,
            resumed: m.connections.1,
            latency_us: Latency::of(&m.latency),
            errors: Errors {
                total: m.failures.values().sum(),
                by_kind: m.failures,
            },
            client_cpu_s: m.client_cpu.map(|c| c.as_secs_f64()),
            client_cpu_us_per_op: per_op(m.client_cpu),
            server_cpu_s: m.server_cpu.map(|c| c.as_secs_f64()),
            server_cpu_us_per_op: per_op(m.server_cpu),
            timeline: m.timeline,
        }
    }

    /// The summary as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // Serialising plain structs of numbers, strings and maps with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The summary for people.
    pub fn to_text(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "{}", self.heading());
        if !self.server_certificate_verified {
            let _ = writeln!(
                t,
                "INSECURE     the server's certificate was not verified (--insecure)"
            );
        }
        let _ = writeln!(
            t,
            "completed    {} in {:.2} s: {:.1}/s",
            thousands(self.completed),
            self.elapsed_s,
            self.per_second
        );
        let l = &self.latency_us;
        let _ = writeln!(
            t,
            "latency      p50 {}   p90 {}   p99 {}   p99.9 {}   max {}",
            latency(l.p50),
            latency(l.p90),
            latency(l.p99),
            latency(l.p99_9),
            latency(l.max)
        );
        if self.workers > 1 {
            let parts: Vec<String> = self
                .completed_per_worker
                .iter()
                .map(|n| thousands(*n))
                .collect();
            let _ = writeln!(t, "per worker   {}", parts.join(" / "));
        }
        let _ = writeln!(
            t,
            "connections  {} (resumed {})",
            thousands(self.connections),
            thousands(self.resumed)
        );
        let _ = writeln!(t, "errors       {}", thousands(self.errors.total));
        for (kind, n) in &self.errors.by_kind {
            let _ = writeln!(t, "  {kind:<44} {:>10}", thousands(*n));
        }
        if self.server_certificate_verified
            && self
                .errors
                .by_kind
                .keys()
                .any(|k| k.starts_with("tls: invalid peer certificate"))
        {
            let _ = writeln!(
                t,
                "  the server's certificate failed verification against --ca; to measure the \
                 server anyway, --insecure skips the check"
            );
        }
        cpu_line(
            &mut t,
            "client CPU",
            self.client_cpu_s,
            self.client_cpu_us_per_op,
        );
        cpu_line(
            &mut t,
            "server CPU",
            self.server_cpu_s,
            self.server_cpu_us_per_op,
        );
        t
    }

    fn heading(&self) -> String {
        let loop_kind = match self.rate {
            Some(r) => format!("open loop at {r}/s, at most {} in flight", self.concurrency),
            None => format!("{} connections in flight", self.concurrency),
        };
        format!(
            "{} (name {}): mode {}{}{}, kx {}, {loop_kind}, {} client workers",
            self.target,
            self.server_name,
            self.mode,
            if self.http2 { " over HTTP/2" } else { "" },
            if self.resume { " with resumption" } else { "" },
            self.kx,
            self.workers
        )
    }
}

fn cpu_line(t: &mut String, label: &str, secs: Option<f64>, per_op: Option<f64>) {
    match (secs, per_op) {
        (Some(s), Some(p)) => {
            let _ = writeln!(
                t,
                "{label:<12} {s:.2} s ({p:.1} µs per completed operation)"
            );
        }
        (Some(s), None) => {
            let _ = writeln!(t, "{label:<12} {s:.2} s");
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::options::{Kx, Mode, Stop};

    fn options() -> Options {
        Options {
            target: "127.0.0.1:8443".into(),
            addr: "127.0.0.1:8443".parse().unwrap(),
            server_name: "localhost".into(),
            sends_sni: true,
            trust: Trust::Insecure,
            client_cert: None,
            concurrency: 4,
            stop: Stop::Count(3),
            workers: 1,
            mode: Mode::Request,
            path: "/".into(),
            requests_per_conn: 1,
            resume: true,
            kx: Some(Kx::X25519),
            http2: false,
            rate: None,
            timeout: Duration::from_secs(1),
            json: true,
            histogram: None,
            server_pids: vec![],
        }
    }

    fn measured() -> Measured {
        let mut latency = Histogram::default();
        for v in [100, 110, 120] {
            latency.record(v);
        }
        Measured {
            elapsed: Duration::from_secs(2),
            latency,
            connections: (4, 2),
            failures: BTreeMap::from([("tls alert: unknown_ca".to_string(), 1)]),
            per_worker: vec![3],
            client_cpu: Some(Duration::from_millis(30)),
            server_cpu: None,
            timeline: vec![],
        }
    }

    #[test]
    fn json_has_every_figure_under_a_stable_name() {
        let s = Summary::new(&options(), measured());
        let v: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(v["completed"], 3);
        assert_eq!(v["per_second"], 1.5);
        assert_eq!(v["mode"], "request");
        assert_eq!(v["kx"], "x25519");
        assert_eq!(v["resume"], true);
        assert_eq!(v["connections"], 4);
        assert_eq!(v["resumed"], 2);
        assert_eq!(v["latency_us"]["p50"], 110);
        assert_eq!(v["latency_us"]["p99.9"], 120);
        assert_eq!(v["latency_us"]["max"], 120);
        assert_eq!(v["errors"]["total"], 1);
        assert_eq!(v["errors"]["by_kind"]["tls alert: unknown_ca"], 1);
        assert_eq!(v["client_cpu_us_per_op"], 10_000.0);
        assert!(v["server_cpu_s"].is_null());
        assert!(v["timeline"].as_array().unwrap().is_empty());
    }

    #[test]
    fn text_names_the_figures() {
        let text = Summary::new(&options(), measured()).to_text();
        assert!(text.contains("completed    3 in 2.00 s: 1.5/s"), "{text}");
        assert!(text.contains("p50 110 µs"), "{text}");
        assert!(text.contains("resumed 2"), "{text}");
        assert!(text.contains("tls alert: unknown_ca"), "{text}");
        assert!(text.contains("client CPU   0.03 s (10000.0 µs"), "{text}");
        assert!(!text.contains("server CPU"), "{text}");
        assert!(text.contains("1 client workers"), "{text}");
        assert!(!text.contains("per worker"), "{text}");
    }

    #[test]
    fn insecure_runs_say_so_and_verified_ones_do_not() {
        let insecure = Summary::new(&options(), measured());
        assert!(!insecure.server_certificate_verified);
        assert!(insecure
            .to_text()
            .contains("INSECURE     the server's certificate was not verified"));
        let v: serde_json::Value = serde_json::from_str(&insecure.to_json()).unwrap();
        assert_eq!(v["server_certificate_verified"], false);
        let mut opts = options();
        opts.trust = Trust::CaFile("ca.pem".into());
        let verified = Summary::new(&opts, measured());
        assert!(verified.server_certificate_verified);
        assert!(!verified.to_text().contains("INSECURE"));
    }

    #[test]
    fn an_untrusted_server_certificate_points_at_insecure() {
        let mut opts = options();
        opts.trust = Trust::CaFile("ca.pem".into());
        let mut m = measured();
        m.failures = BTreeMap::from([(
            "tls: invalid peer certificate: UnknownIssuer".to_string(),
            3,
        )]);
        let text = Summary::new(&opts, m.clone()).to_text();
        assert!(text.contains("failed verification against --ca"), "{text}");
        assert!(text.contains("--insecure skips the check"), "{text}");
        // Other failures, or a run that already skips the check, get no such hint.
        let plain = Summary::new(&opts, measured()).to_text();
        assert!(!plain.contains("--insecure skips"), "{plain}");
        let insecure = Summary::new(&options(), m).to_text();
        assert!(!insecure.contains("--insecure skips"), "{insecure}");
    }

    #[test]
    fn several_workers_are_reported_each() {
        let mut opts = options();
        opts.workers = 2;
        let mut m = measured();
        m.per_worker = vec![1, 2];
        let s = Summary::new(&opts, m);
        let text = s.to_text();
        assert!(text.contains("2 client workers"), "{text}");
        assert!(text.contains("per worker   1 / 2"), "{text}");
        let v: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(v["completed_per_worker"], serde_json::json!([1, 2]));
    }

    #[test]
    fn nothing_completed_gives_zeros_not_nan() {
        let mut m = measured();
        m.latency = Histogram::default();
        m.elapsed = Duration::ZERO;
        let s = Summary::new(&options(), m);
        assert_eq!((s.completed, s.per_second), (0, 0.0));
        assert_eq!(s.client_cpu_us_per_op, None);
        assert!(serde_json::from_str::<serde_json::Value>(&s.to_json()).is_ok());
    }
}
