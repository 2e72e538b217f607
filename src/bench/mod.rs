//! `mtls-proxy bench`: a TLS/mTLS load generator for any server (ours or not) that presents
//! client certificates, which wrk, h2load and tls-perf cannot. Measures handshakes, requests
//! or keep-alive requests per second, latency percentiles, failures by kind (TLS alerts by
//! name), resumptions, and client (and optionally server) CPU time.

pub mod client_config;
pub mod connection;
pub mod cpu;
pub mod driver;
pub mod error;
pub mod failure;
pub mod format;
pub mod histogram;
pub mod http;
pub mod insecure;
pub mod options;
pub mod progress;
pub mod recorder;
pub mod report;
pub mod svg;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use error::BenchError;
pub use options::{BenchArgs, Options};
pub use report::Summary;

use connection::Client;
use driver::Budget;
use progress::Progress;
use recorder::Recorder;
use report::Measured;

/// Runs `mtls-proxy bench` with command-line arguments: the run, then the summary on stdout
/// (text or JSON) and the SVG if asked for.
pub fn run_cli(args: BenchArgs) -> Result<Summary, BenchError> {
    let opts = Options::from_args(args)?;
    let live = std::io::stderr().is_terminal();
    let (summary, latency) = run(&opts, live)?;
    if let Some(path) = &opts.histogram {
        let title = format!(
            "mtls-proxy bench: {}",
            summary.to_text().lines().next().unwrap_or("")
        );
        std::fs::write(path, svg::render(&title, &latency, &summary.timeline))
            .map_err(|source| write_error(path.clone(), source))?;
    }
    let out = if opts.json {
        summary.to_json() + "\n"
    } else {
        summary.to_text()
    };
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .map_err(|source| write_error(PathBuf::from("stdout"), source))?;
    Ok(summary)
}

/// Runs one benchmark; `live` draws the progress line on stderr. Returns the summary and the
/// full latency histogram.
pub fn run(opts: &Options, live: bool) -> Result<(Summary, histogram::Histogram), BenchError> {
    let client = Arc::new(Client::new(opts, client_config::client_config(opts)?)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.threads)
        .enable_all()
        .build()
        .map_err(BenchError::Runtime)?;
    let client_before = cpu::process_cpu(None);
    let server_before = server_cpu(opts);
    let (elapsed, rec, timeline) = runtime.block_on(drive(opts, client, live));
    let client_cpu = cpu::process_cpu(None)
        .zip(client_before)
        .map(|(after, before)| after.saturating_sub(before));
    let server_cpu = server_cpu(opts)
        .zip(server_before)
        .map(|(after, before)| after.saturating_sub(before));
    let latency = rec.latency();
    let measured = Measured {
        elapsed,
        latency: latency.clone(),
        connections: rec.connections(),
        failures: rec.failures(),
        client_cpu,
        server_cpu,
        timeline,
    };
    Ok((Summary::new(opts, measured), latency))
}

fn server_cpu(opts: &Options) -> Option<Duration> {
    if opts.server_pids.is_empty() {
        None
    } else {
        cpu::processes_cpu(&opts.server_pids)
    }
}

/// Starts the connections, ticks the progress once a second until all have ended.
async fn drive(
    opts: &Options,
    client: Arc<Client>,
    live: bool,
) -> (Duration, Arc<Recorder>, Vec<progress::Point>) {
    let rec = Arc::new(Recorder::default());
    let start = Instant::now();
    let budget = Arc::new(Budget::new(opts.stop, start));
    let work = match opts.rate {
        Some(rate) => tokio::spawn(driver::open_loop(
            client,
            rec.clone(),
            budget,
            opts.concurrency,
            rate,
        )),
        None => tokio::spawn(driver::closed_loop(
            client,
            rec.clone(),
            budget,
            opts.concurrency,
        )),
    };
    tokio::pin!(work);
    let mut progress = Progress::new(start, live);
    let second = Duration::from_secs(1);
    let mut ticks = tokio::time::interval_at(start + second, second);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut work => break,
            _ = ticks.tick() => progress.tick(&rec, Instant::now()),
        }
    }
    let end = Instant::now();
    let timeline = progress.finish(&rec, end);
    (end - start, rec, timeline)
}

fn write_error(path: PathBuf, source: std::io::Error) -> BenchError {
    BenchError::Write { path, source }
}
