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
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use error::BenchError;
pub use options::{BenchArgs, Options};
pub use report::Summary;

use connection::Client;
use driver::{Budget, Share};
use options::Trust;
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
    if opts.trust == Trust::Insecure {
        eprintln!("warning: --insecure: the server's certificate is not verified");
    }
    let client_before = cpu::process_cpu(None);
    let server_before = server_cpu(opts);
    let Driven {
        elapsed,
        rec,
        per_worker,
        timeline,
    } = drive(opts, client, live)?;
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
        per_worker,
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

/// What one worker thread sends when it is done: its index and completed operations, or why
/// it could not run.
type WorkerDone = (usize, Result<u64, BenchError>);

/// What the workers of a run produced together.
struct Driven {
    elapsed: Duration,
    rec: Arc<Recorder>,
    per_worker: Vec<u64>,
    timeline: Vec<progress::Point>,
}

/// Runs the workers, one thread each, and ticks the progress once a second on this thread
/// until all of them have ended.
fn drive(opts: &Options, client: Arc<Client>, live: bool) -> Result<Driven, BenchError> {
    let rec = Arc::new(Recorder::default());
    let start = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel::<WorkerDone>();
    let mut per_worker = vec![0; opts.workers];
    let mut failure = None;
    let mut progress = Progress::new(start, live);
    let end = std::thread::scope(|scope| {
        for index in 0..opts.workers {
            let share = Share {
                index,
                of: opts.workers,
            };
            let (client, rec, tx) = (client.clone(), rec.clone(), tx.clone());
            scope.spawn(move || {
                let _ = tx.send((index, worker(opts, share, client, rec, start)));
            });
        }
        drop(tx);
        let second = Duration::from_secs(1);
        let mut next_tick = start + second;
        let mut running = opts.workers;
        while running > 0 {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok((index, outcome)) => {
                    running -= 1;
                    match outcome {
                        Ok(done) => {
                            if let Some(slot) = per_worker.get_mut(index) {
                                *slot = done;
                            }
                        }
                        Err(e) => failure = Some(e),
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    progress.tick(&rec, Instant::now());
                    next_tick += second;
                }
                // Every worker has sent its result or died; the scope joins them.
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        Instant::now()
    });
    if let Some(e) = failure {
        return Err(e);
    }
    let timeline = progress.finish(&rec, end);
    Ok(Driven {
        elapsed: end - start,
        rec,
        per_worker,
        timeline,
    })
}

/// One worker thread: its own single-threaded event loop running its share of the run.
fn worker(
    opts: &Options,
    share: Share,
    client: Arc<Client>,
    rec: Arc<Recorder>,
    start: Instant,
) -> Result<u64, BenchError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(BenchError::Runtime)?;
    let budget = Arc::new(Budget::new(share.stop(opts.stop), start));
    let concurrency = share.concurrency(opts.concurrency);
    Ok(runtime.block_on(async move {
        match opts.rate {
            Some(rate) => {
                driver::open_loop(client, rec, budget, (concurrency, share), (start, rate)).await
            }
            None => driver::closed_loop(client, rec, budget, concurrency).await,
        }
    }))
}

fn write_error(path: PathBuf, source: std::io::Error) -> BenchError {
    BenchError::Write { path, source }
}
