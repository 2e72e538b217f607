//! The `mtls-proxy` command line: `serve`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use mtls_proxy::admin::token::TokenSource;
use mtls_proxy::settings::Settings;

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
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MTLS_PROXY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Serve { config } => serve(config),
    }
}

fn serve(config: Option<PathBuf>) -> anyhow::Result<()> {
    let settings = match &config {
        Some(path) => Settings::load(path)?,
        None => Settings::default(),
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let running = mtls_proxy::app::start(settings).await?;
        tracing::info!(admin = %running.admin_addr, "admin API listening");
        match &running.token_source {
            TokenSource::Config => tracing::info!("admin token: from the config file"),
            TokenSource::Env => tracing::info!("admin token: from MTLS_PROXY_ADMIN_TOKEN"),
            TokenSource::File(p) | TokenSource::Generated(p) => {
                tracing::info!(path = %p.display(), "admin token: read it from this file")
            }
        }
        wait_for_signal().await?;
        tracing::info!("shutting down");
        running.shutdown().await?;
        Ok(())
    })
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("cannot wait for SIGINT")?,
        _ = term.recv() => {}
    }
    Ok(())
}
