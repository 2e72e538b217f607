//! Wiring: store → control → snapshot publisher → acceptor → proxy → origin, and the admin
//! listener; start, reload and stop.

mod origins;
mod reload;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use reload::ReloadReport;

use crate::acceptor::{self, AcceptorOptions};
use crate::admin::{self, token, AdminState, AdminToken};
use crate::control::{Control, ControlError, Prepare};
use crate::fleet::{self, Cache, CacheError, CacheWriter, FleetOptions, FleetView};
use crate::metrics::Metrics;
use crate::model::identity_pattern::AllowList;
use crate::model::origin::OriginRoute;
use crate::model::State;
use crate::origin::{OriginClient, OriginError, OriginOptions};
use crate::proxy::cert_headers::cache::HeaderCache;
use crate::proxy::serve::{handler, ConnLimits, Lifecycle};
use crate::proxy::service::ProxyContext;
use crate::revocation::fetch::Fetcher;
use crate::revocation::refresher::{FetchGate, Refresher};
use crate::settings::{ProxySettings, Settings, SettingsError};
use crate::snapshot::build::BuildInputs;
use crate::snapshot::publisher::Publisher;
use crate::snapshot::route::Route;
use crate::snapshot::tickets::TicketKeys;
use crate::store::postgres::{PgOptions, PgStore};
use crate::store::{SqliteStore, Store, StoreError};

/// Why the process could not start or reload.
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
    #[error("the configuration cannot be served: {0}")]
    Publish(#[from] ControlError),
    #[error("origin: {0}")]
    Origin(#[from] OriginError),
    #[error("invalid origin {0:?}: {1}")]
    OriginSpec(String, String),
    #[error("route {0}: {1}")]
    Route(String, String),
    #[error("{field}: {error}")]
    OriginIdentity { field: String, error: OriginError },
    #[error("demo import failed: {0}")]
    Demo(#[from] crate::demo::DemoError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("server task failed: {0}")]
    Task(String),
    #[error(transparent)]
    Fetcher(#[from] crate::revocation::fetch::FetcherError),
    #[error(
        "refusing to serve: the store is unreachable ({store}) and this node has no local cache \
         at {cache} (a node writes it once it has applied a revision from the store); start it \
         again once the store is reachable"
    )]
    NoCache { store: String, cache: PathBuf },
    #[error(
        "refusing to serve: the store is unreachable ({store}) and the local cache cannot be \
         used: {cache}"
    )]
    UnusableCache { store: String, cache: CacheError },
    #[error("the local cache: {0}")]
    Cache(#[from] CacheError),
    #[error("the store {store} holds the demo configuration, whose private keys and client CA are public (anyone could pass its mutual authentication), and proxy.listen {listen} is not a loopback address; use another store (store.path or store.url), or delete the demo resources through the API first: {resources}")]
    DemoExposed {
        store: String,
        listen: SocketAddr,
        /// The demo resources still present, `kind id` comma-separated.
        resources: String,
    },
}

/// A running instance: addresses it listens on and the handles to reload and stop it.
pub struct Running {
    pub admin_addr: SocketAddr,
    pub proxy_addr: SocketAddr,
    pub control: Arc<Control>,
    /// Owner of the live snapshot.
    pub publisher: Arc<Publisher>,
    pub metrics: Arc<Metrics>,
    pub token_source: token::TokenSource,
    /// What the demo import created, when it ran.
    pub demo: Option<crate::demo::DemoSummary>,
    /// This node's place in the fleet: its id, the store, the nodes, the cache.
    pub fleet: Arc<FleetView>,
    /// Whether it started from its local cache (the store was unreachable).
    pub started_from_cache: bool,
    /// The session-ticket secrets every snapshot's ticketers use.
    tickets: TicketKeys,
    cache: Option<Arc<CacheWriter>>,
    /// The settings in force (hot ones updated by reloads).
    settings: std::sync::Mutex<Settings>,
    /// The connection timeouts every proxy connection reads (swapped by reloads).
    limits: Arc<ArcSwap<ConnLimits>>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stop accepting, let in-flight requests finish, and wait for the listeners to close.
    pub async fn shutdown(self) -> Result<(), AppError> {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            t.await.map_err(|e| AppError::Task(e.to_string()))?;
        }
        if let Some(cache) = self.cache {
            // Everything applied is in the cache before the process goes.
            tokio::task::spawn_blocking(move || cache.finish())
                .await
                .map_err(|e| AppError::Task(e.to_string()))?;
        }
        Ok(())
    }

    /// Apply new settings (SIGHUP): validated and built first; nothing changes on error.
    pub fn reload(&self, new: Settings) -> Result<ReloadReport, AppError> {
        reload::apply(self, new)
    }
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, AppError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| AppError::Listen { what, addr, source })
}

fn local_addr(
    what: &'static str,
    l: &TcpListener,
    addr: SocketAddr,
) -> Result<SocketAddr, AppError> {
    l.local_addr()
        .map_err(|source| AppError::Listen { what, addr, source })
}

/// The store in use, and with a shared one the node's local cache.
struct Backend {
    store: Arc<dyn Store>,
    shared: Option<Shared>,
}

/// A shared store (PostgreSQL) and the node's cache of it.
struct Shared {
    store: Arc<PgStore>,
    cache: Cache,
}

fn open_backend(settings: &Settings) -> Result<Backend, AppError> {
    let s = &settings.store;
    let Some(url) = s.effective_url() else {
        return Ok(Backend {
            store: Arc::new(SqliteStore::open(&s.path)?),
            shared: None,
        });
    };
    let store = Arc::new(PgStore::open(&PgOptions {
        url,
        pool_size: s.pool_size,
        timeout: s.timeout,
        ca_file: s.ca_file.clone(),
    })?);
    Ok(Backend {
        store: store.clone(),
        shared: Some(Shared {
            store,
            cache: Cache::open(&s.cache)?,
        }),
    })
}

/// What a node serves first: the store's state, or, with a shared store that is unreachable,
/// its verified local cache; with neither it refuses to start (fail closed).
enum First {
    Store,
    Cached(State),
}

fn first_state(shared: &Shared) -> Result<First, AppError> {
    let error = match shared.store.connect() {
        Ok(()) => return Ok(First::Store),
        Err(e) if e.is_unavailable() => e,
        Err(e) => return Err(e.into()),
    };
    let store = format!("{}: {error}", shared.store.describe());
    match shared.cache.load() {
        Ok(Some(state)) => {
            tracing::warn!(%store, revision = state.revision, cache = %shared.cache.path().display(),
                "the store is unreachable: serving the local cache until it is back");
            Ok(First::Cached(state))
        }
        Ok(None) => Err(AppError::NoCache {
            store,
            cache: shared.cache.path().to_path_buf(),
        }),
        Err(cache) => Err(AppError::UnusableCache { store, cache }),
    }
}

/// Open the store, publish the stored configuration, and start both listeners.
pub async fn start(settings: Settings) -> Result<Running, AppError> {
    let (token, token_source) = resolve_token(&settings)?;
    let metrics = Arc::new(Metrics::new()?);
    let tickets = TicketKeys::default();
    let publisher = Arc::new(Publisher::new(
        build_inputs(&settings, &tickets)?,
        metrics.clone(),
    ));
    let backend = {
        let settings = settings.clone();
        tokio::task::spawn_blocking(move || open_backend(&settings))
            .await
            .map_err(|e| AppError::Task(e.to_string()))??
    };
    let described = backend.store.describe();
    let (first, cache) = match backend.shared {
        Some(shared) => {
            let first = tokio::task::spawn_blocking(move || {
                first_state(&shared).map(|first| (first, shared.cache))
            })
            .await
            .map_err(|e| AppError::Task(e.to_string()))??;
            (first.0, Some(CacheWriter::start(first.1)))
        }
        None => (First::Store, None),
    };
    let started_from_cache = matches!(first, First::Cached(_));
    let store = backend.store;
    let control = Arc::new(Control::new(
        store.clone(),
        prepare_fn(publisher.clone(), cache.clone()),
    ));
    let (demo, marked, rotation) = {
        let (control, store, settings, tickets) = (
            control.clone(),
            store.clone(),
            settings.clone(),
            tickets.clone(),
        );
        tokio::task::spawn_blocking(move || -> Result<_, AppError> {
            match first {
                First::Store => control.publish_current()?,
                First::Cached(state) => control.publish_state(state)?,
            };
            let demo = match settings.demo && !started_from_cache {
                true => crate::demo::import_if_empty(&control, &demo_certs_dir(&settings))?,
                false => None,
            };
            // A node starting from its cache cannot read the marks (see refuse_exposed_demo).
            let marked = match started_from_cache {
                true => Vec::new(),
                false => control.read(|r| r.demo_resources())?,
            };
            let rotation = fleet::ticket_rotation(
                &control,
                &*store,
                tickets,
                settings.proxy.ticket_key_rotation,
                settings.store.poll_interval,
            );
            Ok((demo, marked, rotation))
        })
        .await
        .map_err(|e| AppError::Task(e.to_string()))??
    };
    refuse_exposed_demo(&settings, &described, &marked)?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let admin_listener = bind("admin", settings.admin.listen).await?;
    let admin_addr = local_addr("admin", &admin_listener, settings.admin.listen)?;
    let proxy_listener = bind("proxy", settings.proxy.listen).await?;
    let proxy_addr = local_addr("proxy", &proxy_listener, settings.proxy.listen)?;
    let node_id = settings
        .store
        .node_id
        .clone()
        .unwrap_or_else(|| fleet::default_node_id(proxy_addr));
    let view = Arc::new(FleetView::new(
        node_id.clone(),
        described,
        cache.clone(),
        settings.store.poll_interval,
        tickets.clone(),
    ));
    let state = AdminState {
        control: control.clone(),
        token: AdminToken::new(&token),
        metrics: metrics.clone(),
        publisher: publisher.clone(),
        fleet: view.clone(),
        listen_addr: admin_addr,
    };
    let admin_limits = admin::listener::ListenerLimits {
        max_connections: settings.admin.max_connections,
        header_timeout: settings.proxy.request_header_timeout,
    };
    let admin_task = tokio::spawn(admin::listener::serve(
        admin_listener,
        admin::router(state),
        admin_limits,
        shutdown_rx.clone(),
    ));
    let sampler = tokio::spawn(crate::metrics::history::run(
        metrics.clone(),
        shutdown_rx.clone(),
    ));
    let follower = fleet::spawn(
        control.clone(),
        store,
        metrics.clone(),
        view.clone(),
        rotation,
        FleetOptions {
            node_id,
            proxy_listen: proxy_addr,
            admin_listen: admin_addr,
            poll_interval: settings.store.poll_interval,
            started_from_cache,
        },
        shutdown_rx.clone(),
    );
    let refresher = spawn_refresher(
        &settings,
        &control,
        &publisher,
        &metrics,
        &view,
        &shutdown_rx,
    )?;
    let limits = Arc::new(ArcSwap::from_pointee(conn_limits(&settings.proxy)));
    let proxy_task = spawn_proxy(
        &settings,
        proxy_listener,
        &publisher,
        &metrics,
        &limits,
        shutdown_rx,
    )?;
    Ok(Running {
        admin_addr,
        proxy_addr,
        control,
        publisher,
        metrics,
        token_source,
        demo,
        fleet: view,
        started_from_cache,
        tickets,
        cache,
        settings: std::sync::Mutex::new(settings),
        limits,
        shutdown,
        tasks: vec![admin_task, proxy_task, sampler, follower, refresher],
    })
}

/// The demo must never guard a public listener: its keys are in every checkout. `present` are
/// the demo resources still stored.
///
/// Checked at every start that reaches the store. A node starting from its cache (the store is
/// unreachable) cannot read the marks; it serves what it served before, which passed this check
/// when it started with the store (the check only ever runs at start), and is checked again at
/// its next start.
fn refuse_exposed_demo(
    settings: &Settings,
    store: &str,
    present: &[(String, String)],
) -> Result<(), AppError> {
    if settings.proxy.listen.ip().is_loopback() {
        return Ok(());
    }
    if present.is_empty() {
        return Ok(());
    }
    let resources: Vec<String> = present
        .iter()
        .map(|(kind, id)| format!("{kind} {id}"))
        .collect();
    Err(AppError::DemoExposed {
        store: store.to_string(),
        listen: settings.proxy.listen,
        resources: resources.join(", "),
    })
}

/// The dry-run build control runs before committing a change, publishing once it commits; with
/// a shared store each published update then goes to the local cache.
fn prepare_fn(publisher: Arc<Publisher>, cache: Option<Arc<CacheWriter>>) -> Box<Prepare> {
    Box::new(move |update| {
        let prepared = publisher.prepare(update).map_err(|e| e.to_string())?;
        let publisher = publisher.clone();
        let cached = cache.clone().map(|writer| (writer, update.clone()));
        Ok(Box::new(move || {
            publisher.publish(prepared);
            if let Some((writer, update)) = cached {
                writer.send(update);
            }
        }))
    })
}

/// The repo's committed `certs/` when run from a checkout, else a set generated beside the store.
fn demo_certs_dir(settings: &Settings) -> PathBuf {
    let repo = std::path::Path::new("certs");
    if repo.join("server.pem").is_file() {
        return repo.to_path_buf();
    }
    store_dir(settings).join("demo-certs")
}

fn store_dir(settings: &Settings) -> PathBuf {
    settings
        .store
        .path
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default()
}

fn resolve_token(settings: &Settings) -> Result<(String, token::TokenSource), AppError> {
    let env = std::env::var(token::TOKEN_ENV).ok();
    Ok(token::resolve(
        settings.admin.token.as_deref(),
        env,
        &store_dir(settings),
    )?)
}

/// The hot-reloadable inputs of every snapshot build, from the settings (client certificate
/// files for origins are read here, on every start and reload), with the node's session-ticket
/// secrets.
fn build_inputs(settings: &Settings, tickets: &TicketKeys) -> Result<BuildInputs, AppError> {
    let (origins, default_origin) = origins::routes(settings)?;
    let mut routes = Vec::new();
    for (r, (domain, origin)) in settings.routes.iter().zip(origins) {
        routes.push((domain, Arc::new(route(r, origin)?)));
    }
    Ok(BuildInputs {
        routes,
        default_origin,
        default_domain: settings.proxy.default_domain.clone(),
        preserve_host: settings.proxy.preserve_host,
        xfcc: settings.proxy.xfcc,
        require_fresh: settings.revocation.require_fresh,
        tickets: tickets.clone(),
    })
}

/// One `[[routes]]` entry for the data plane, with its origin resolved (settings validated the
/// patterns already; a failure here names the route all the same).
fn route(r: &crate::settings::Route, origin: OriginRoute) -> Result<Route, AppError> {
    let allow = match &r.allow {
        Some(patterns) => {
            Some(AllowList::parse(patterns).map_err(|e| AppError::Route(r.name(), e.to_string()))?)
        }
        None => None,
    };
    Ok(Route {
        name: Arc::from(r.name()),
        path_prefix: r.path_prefix.clone(),
        origin: Arc::new(origin),
        allow,
    })
}

/// The task keeping revocation lists with a `url` current (it writes through control only).
/// Only the node that leads the fleet (the first live node by id, which a single node always
/// is once its heartbeat is stored) fetches; every node follows the lists.
fn spawn_refresher(
    settings: &Settings,
    control: &Arc<Control>,
    publisher: &Publisher,
    metrics: &Arc<Metrics>,
    fleet: &Arc<FleetView>,
    shutdown: &watch::Receiver<bool>,
) -> Result<JoinHandle<()>, AppError> {
    let r = &settings.revocation;
    let fetcher = Fetcher::new(r.fetch_timeout, r.ca_file.as_deref())?;
    let fleet = fleet.clone();
    let leads: FetchGate = Arc::new(move || fleet.leads());
    let refresher = Refresher::new(control.clone(), fetcher, metrics.clone(), r.refresh)
        .fetch_when(leads, settings.store.poll_interval);
    Ok(tokio::spawn(
        refresher.run(publisher.subscribe(), shutdown.clone()),
    ))
}

/// The connection timeouts `[proxy]` sets (reloadable).
fn conn_limits(p: &ProxySettings) -> ConnLimits {
    ConnLimits {
        request_header_timeout: p.request_header_timeout,
        idle_timeout: p.idle_timeout,
        h2_keepalive_interval: p.h2_keepalive_interval,
        h2_keepalive_timeout: p.h2_keepalive_timeout,
        max_connection_age: p.max_connection_age,
    }
}

fn spawn_proxy(
    settings: &Settings,
    listener: TcpListener,
    publisher: &Publisher,
    metrics: &Arc<Metrics>,
    limits: &Arc<ArcSwap<ConnLimits>>,
    rx: watch::Receiver<bool>,
) -> Result<JoinHandle<()>, AppError> {
    let p = &settings.proxy;
    let origin_opts = OriginOptions {
        connect_timeout: p.origin_connect_timeout,
        response_timeout: p.origin_response_timeout,
        ca_file: p.origin_ca_file.clone(),
        ..OriginOptions::default()
    };
    let ctx = Arc::new(ProxyContext {
        origins: OriginClient::new(&origin_opts)?,
        metrics: metrics.clone(),
        live: publisher.live(),
        cert_headers: HeaderCache::default(),
    });
    let opts = AcceptorOptions {
        handshake_timeout: p.handshake_timeout,
        max_connections: p.max_connections,
    };
    let lifecycle = Lifecycle {
        live: publisher.live(),
        changes: publisher.subscribe(),
        shutdown_timeout: p.shutdown_timeout,
        drain_timeout: p.drain_timeout,
        limits: limits.clone(),
    };
    let handler = handler(ctx, lifecycle);
    Ok(tokio::spawn(acceptor::run(
        listener,
        publisher.live(),
        opts,
        handler,
        metrics.clone(),
        rx,
    )))
}
