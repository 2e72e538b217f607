//! The `mtls-proxy` command line: `serve`, `certs init` and `bench`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use mtls_proxy::admin::token::TokenSource;
use mtls_proxy::devpki::{self, DevPkiError};
use mtls_proxy::settings::{LogFormat, LogSettings, Settings};

#[derive(Parser)]
#[command(
    name = "mtls-proxy",
    version,
    about = "mTLS-terminating reverse proxy with a Fastly-compatible TLS API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy and admin listeners.
    Serve {
        /// TOML config file; without it the built-in defaults are used.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Log line format; overrides `[log] format` from the config.
        #[arg(long, value_enum)]
        log_format: Option<CliLogFormat>,
    },
    /// Development certificates for local mTLS testing.
    Certs {
        #[command(subcommand)]
        command: CertsCommand,
    },
    /// Load generator for any TLS server: handshakes or requests per second, latency, TLS
    /// alerts by name, resumption; presents client certificates.
    Bench(Box<mtls_proxy::bench::BenchArgs>),
}

#[derive(Subcommand)]
enum CertsCommand {
    /// Write a dev PKI (server CA and certificate for localhost, client CA, valid, expired and
    /// unknown-CA client certificates) and a README into DIR.
    ///
    /// For local testing only: the keys are unencrypted. Refuses to overwrite an existing set
    /// unless --force is given.
    Init {
        /// Directory to write into (created if missing).
        #[arg(long, value_name = "DIR", default_value = "certs")]
        dir: PathBuf,
        /// Replace an existing set (all files are regenerated).
        #[arg(long)]
        force: bool,
    },
}

/// `--log-format` values.
#[derive(Clone, Copy, ValueEnum)]
enum CliLogFormat {
    Text,
    Json,
}

impl From<CliLogFormat> for LogFormat {
    fn from(f: CliLogFormat) -> LogFormat {
        match f {
            CliLogFormat::Text => LogFormat::Text,
            CliLogFormat::Json => LogFormat::Json,
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, log_format } => {
            let settings = load_settings(config.as_deref())?;
            init_logging(&settings.log, log_format.map(LogFormat::from));
            serve(settings, config)
        }
        Command::Certs {
            command: CertsCommand::Init { dir, force },
        } => {
            init_logging(&LogSettings::default(), None);
            certs_init(&dir, force)
        }
        Command::Bench(args) => {
            mtls_proxy::bench::run_cli(*args)?;
            Ok(())
        }
    }
}

/// Logs go to stderr: level from `MTLS_PROXY_LOG`, else `[log] level`; format from
/// `--log-format`, else `[log] format`.
fn init_logging(log: &LogSettings, format: Option<LogFormat>) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MTLS_PROXY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format.unwrap_or(log.format) {
        // Colour codes only for a terminal: logs captured to files or CI stay plain text.
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        // One object per line with the event's fields at the top level, for log shippers.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}

fn load_settings(config: Option<&Path>) -> anyhow::Result<Settings> {
    Ok(match config {
        Some(path) => Settings::load(path)?,
        // Without a config: built-in defaults, and the demo imported into an empty store.
        None => Settings {
            demo: true,
            ..Settings::default()
        },
    })
}

fn serve(settings: Settings, config: Option<PathBuf>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let running = mtls_proxy::app::start(settings).await?;
        if let Some(summary) = &running.demo {
            tracing::info!("{summary}");
        }
        tracing::info!(proxy = %running.proxy_addr, "proxy listening");
        tracing::info!(admin = %running.admin_addr, "admin API listening");
        match &running.token_source {
            TokenSource::Config => tracing::info!("admin token: from the config file"),
            TokenSource::Env => tracing::info!("admin token: from MTLS_PROXY_ADMIN_TOKEN"),
            TokenSource::File(p) | TokenSource::Generated(p) => {
                tracing::info!(path = %p.display(), "admin token: read it from this file")
            }
        }
        wait_for_stop(&running, config.as_deref()).await?;
        tracing::info!("shutting down");
        running.shutdown().await?;
        Ok(())
    })
}

fn certs_init(dir: &Path, force: bool) -> anyhow::Result<()> {
    let pki = devpki::generate()?;
    let written = match devpki::write_dir(&pki, dir, force) {
        Ok(written) => written,
        // Name the flag, not the library parameter; nothing was written (write_dir checks all
        // targets before writing any).
        Err(DevPkiError::Exists(path)) => anyhow::bail!(
            "{} already exists; nothing was written (pass --force to replace the whole set)",
            path.display()
        ),
        Err(e) => return Err(e.into()),
    };
    for path in &written {
        println!("wrote {}", path.display());
    }
    println!("{}", next_steps(dir));
    Ok(())
}

fn next_steps(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "\nNext steps:
  mtls-proxy serve    (with no config, on an empty store: demo domains localhost, mTLS enforced, and open.localhost, fail-open)
  curl --cacert {d}/server-ca.pem --cert {d}/client.pem --key {d}/client-key.pem https://localhost:8443/
See {d}/README.md for the other client certificates (expired, unknown CA)."
    )
}

/// Wait for SIGINT/SIGTERM; reload the config file on every SIGHUP meanwhile.
async fn wait_for_stop(
    running: &mtls_proxy::app::Running,
    config: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot install SIGHUP handler")?;
    loop {
        tokio::select! {
            r = tokio::signal::ctrl_c() => return r.context("cannot wait for SIGINT"),
            _ = term.recv() => return Ok(()),
            // A reload commits through control: a store write (an fsync, or a round trip to
            // PostgreSQL that may wait up to the store timeout). The runtime is multi-threaded,
            // so block_in_place lets the other tasks move to another worker meanwhile.
            _ = hup.recv() => tokio::task::block_in_place(|| reload(running, config)),
        }
    }
}

/// One SIGHUP: an invalid file or a configuration that does not build changes nothing.
fn reload(running: &mtls_proxy::app::Running, config: Option<&std::path::Path>) {
    let Some(path) = config else {
        tracing::warn!(
            "SIGHUP ignored: serving built-in defaults, there is no config file to reload"
        );
        return;
    };
    let settings = match Settings::load(path) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "config reload refused; nothing changed");
            return;
        }
    };
    match running.reload(settings) {
        Ok(report) => {
            tracing::info!(revision = report.revision, "config reloaded");
            for key in report.need_restart {
                tracing::warn!(
                    setting = key,
                    "changed, but only takes effect after a restart"
                );
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "config reload refused; the running configuration keeps serving")
        }
    }
}
