//! Wiring: store → control → (snapshot publisher) and the admin listener; start and stop.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::{self, token, AdminState, AdminToken};
use crate::control::{Control, ControlError};
use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::store::{Store, StoreError};

/// Why the process could not start.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Token(#[from] token::TokenError),
    #[error("cannot listen on {addr} ({what}): {source}")]
    Listen {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the stored configuration cannot be served: {0}")]
    Publish(#[from] ControlError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("server task failed: {0}")]
    Task(String),
}

/// A running instance: addresses it listens on and the handle to stop it.
pub struct Running {
    pub admin_addr: SocketAddr,
    pub control: Arc<Control>,
    pub token_source: token::TokenSource,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl Running {
    /// Stop accepting, let in-flight requests finish, and wait for the listeners to close.
    pub async fn shutdown(self) -> Result<(), AppError> {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            t.await
                .map_err(|e| AppError::Task(e.to_string()))?
                .map_err(|e| AppError::Task(e.to_string()))?;
        }
        Ok(())
    }
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, AppError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| AppError::Listen { what, addr, source })
}

/// Open the store, publish the stored configuration, and start the listeners.
pub async fn start(settings: Settings) -> Result<Running, AppError> {
    let store = Arc::new(Store::open(&settings.store.path)?);
    let store_dir = settings
        .store
        .path
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let (token, token_source) = token::resolve(
        settings.admin.token.as_deref(),
        std::env::var(token::TOKEN_ENV).ok(),
        &store_dir,
    )?;
    let metrics = Arc::new(Metrics::new()?);
    let control = Arc::new(Control::new(store, publisher(metrics.clone())));
    control.publish_current()?;
    let ready = Arc::new(AtomicBool::new(true));
    let (shutdown, shutdown_rx) = watch::channel(false);
    let admin_listener = bind("admin", settings.admin.listen).await?;
    let admin_addr = admin_listener
        .local_addr()
        .map_err(|source| AppError::Listen {
            what: "admin",
            addr: settings.admin.listen,
            source,
        })?;
    let state = AdminState {
        control: control.clone(),
        token: AdminToken::new(&token),
        metrics,
        ready: ready.clone(),
        listen_addr: admin_addr,
    };
    let app = admin::router(state);
    let mut rx = shutdown_rx.clone();
    let admin_task = tokio::spawn(async move {
        axum::serve(admin_listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.wait_for(|v| *v).await;
            })
            .await
    });
    ready.store(true, Ordering::Release);
    Ok(Running {
        admin_addr,
        control,
        token_source,
        shutdown,
        tasks: vec![admin_task],
    })
}

/// The snapshot publisher handed to control. For now it records the revision it publishes.
fn publisher(metrics: Arc<Metrics>) -> Box<crate::control::Prepare> {
    Box::new(move |state| {
        let metrics = metrics.clone();
        let revision = i64::try_from(state.revision).unwrap_or(i64::MAX);
        Ok(Box::new(move || metrics.config_revision.set(revision)))
    })
}
