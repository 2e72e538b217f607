//! Static settings: the TOML config file and its built-in defaults. Unknown keys are errors
//! that name the key, so a typo never silently changes behaviour.

pub mod duration;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::model::origin::{OriginHttp, OriginRoute, OriginSpec};

/// Why the settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read config file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("invalid config file {0}: {1}")]
    Parse(PathBuf, toml::de::Error),
    #[error("invalid config file {path}: {field}: {problem}")]
    Invalid {
        path: PathBuf,
        field: String,
        problem: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub admin: AdminSettings,
    pub store: StoreSettings,
    pub proxy: ProxySettings,
    pub routes: Vec<Route>,
    pub revocation: RevocationSettings,
    pub log: LogSettings,
    /// Import the demo configuration into an empty store (set when serving without a config).
    #[serde(skip)]
    pub demo: bool,
}

/// `[admin]`: the API, `/metrics` and health listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSettings {
    /// Loopback by default: the admin API must not be exposed by accident (rule 4,
    /// docs/architecture.md).
    pub listen: SocketAddr,
    /// The `Fastly-Key` clients must send; else `MTLS_PROXY_ADMIN_TOKEN`; else generated.
    pub token: Option<String>,
    /// Concurrent admin connections; more wait in the listen backlog (rule 6,
    /// docs/architecture.md). The admin listener also applies `proxy.request_header_timeout`.
    pub max_connections: usize,
}

impl Default for AdminSettings {
    fn default() -> Self {
        AdminSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            token: None,
            max_connections: 128,
        }
    }
}

/// The environment variable that overrides `[store] url`.
pub const STORE_URL_ENV: &str = "MTLS_PROXY_STORE_URL";

/// `[store]`: SQLite at `path` (one node), or PostgreSQL at `url` (a fleet).
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// SQLite file, created with its directory. Its directory also holds the generated admin
    /// token.
    pub path: PathBuf,
    /// PostgreSQL (`postgres://user[:password]@host[:port]/database[?sslmode=…]`); env
    /// `MTLS_PROXY_STORE_URL` overrides it. None: the SQLite store at `path`.
    pub url: Option<String>,
    /// With `url`: this node's cache of the last applied revision, served when it starts while
    /// PostgreSQL is unreachable.
    pub cache: PathBuf,
    /// With `url`: PEM CAs that verify PostgreSQL's TLS certificate instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// With `url`: pooled connections to PostgreSQL.
    pub pool_size: usize,
    /// With `url`: bound on connecting and on each store operation; past it the store counts as
    /// unavailable (writes answer 503, the node keeps serving).
    #[serde(deserialize_with = "duration::deserialize")]
    pub timeout: Duration,
    /// How often a node checks the store's revision (the fallback when a change notification is
    /// lost), heartbeats and refreshes the session-ticket keys.
    #[serde(deserialize_with = "duration::deserialize")]
    pub poll_interval: Duration,
    /// This node's id in the fleet list; default `<hostname>/<proxy listen address>`.
    pub node_id: Option<String>,
}

/// Never shows the URL, which may hold a password.
impl std::fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSettings")
            .field("path", &self.path)
            .field("url", &self.url.as_ref().map(|_| ".."))
            .field("cache", &self.cache)
            .field("ca_file", &self.ca_file)
            .field("pool_size", &self.pool_size)
            .field("timeout", &self.timeout)
            .field("poll_interval", &self.poll_interval)
            .field("node_id", &self.node_id)
            .finish()
    }
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            path: PathBuf::from("data/mtls-proxy.db"),
            url: None,
            cache: PathBuf::from("data/store-cache.db"),
            ca_file: None,
            pool_size: 8,
            timeout: Duration::from_secs(5),
            poll_interval: Duration::from_secs(1),
            node_id: None,
        }
    }
}

impl StoreSettings {
    /// The PostgreSQL URL in force: env `MTLS_PROXY_STORE_URL`, else `url`.
    pub fn effective_url(&self) -> Option<String> {
        std::env::var(STORE_URL_ENV)
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(|| self.url.clone())
    }
}

/// `[proxy]`: the TLS data plane.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxySettings {
    pub listen: SocketAddr,
    /// Origin for domains without a route: `echo`, `http://host:port`, `h2c://host:port` or
    /// `https://host:port`.
    pub default_origin: String,
    /// Activated domain whose certificate answers handshakes without SNI or with an unknown
    /// SNI (never with client authentication). None: such handshakes get `unrecognized_name`.
    pub default_domain: Option<String>,
    /// One deadline for reading the ClientHello and completing the handshake.
    #[serde(deserialize_with = "duration::deserialize")]
    pub handshake_timeout: Duration,
    /// Concurrent client connections; further connections wait in the listen backlog.
    pub max_connections: usize,
    /// On SIGINT/SIGTERM, how long in-flight requests may take before connections are cut.
    #[serde(deserialize_with = "duration::deserialize")]
    pub shutdown_timeout: Duration,
    /// After a change under which a connection is no longer admitted as it was (domain
    /// deactivated; mutual authentication attached, detached or replaced; bundle rotated or
    /// `enforced` turned on so that its certificate no longer passes or gets another verdict),
    /// how long its in-flight requests may take before it is closed.
    #[serde(deserialize_with = "duration::deserialize")]
    pub drain_timeout: Duration,
    /// Forward the client's Host to the origin (true) or the origin's authority (false).
    pub preserve_host: bool,
    /// Add Envoy's `x-forwarded-client-cert` for verified client certificates.
    pub xfcc: bool,
    #[serde(deserialize_with = "duration::deserialize")]
    pub origin_connect_timeout: Duration,
    /// Time from sending a request to an origin until its response headers arrive.
    #[serde(deserialize_with = "duration::deserialize")]
    pub origin_response_timeout: Duration,
    /// PEM CA file trusted for `https://` origins instead of the system roots.
    pub origin_ca_file: Option<PathBuf>,
    /// From the end of the handshake, or from the previous response, to a complete request
    /// head; then the connection is closed (HTTP/1.1: 408 when part of a request arrived).
    #[serde(deserialize_with = "duration::deserialize")]
    pub request_header_timeout: Duration,
    /// A connection with no request in flight is closed after this long (HTTP/1.1 and
    /// HTTP/2).
    #[serde(deserialize_with = "duration::deserialize")]
    pub idle_timeout: Duration,
    /// HTTP/2: how often the proxy sends PING; `"off"` sends none.
    #[serde(deserialize_with = "duration::deserialize_opt")]
    pub h2_keepalive_interval: Option<Duration>,
    /// HTTP/2: an unanswered PING closes the connection after this long.
    #[serde(deserialize_with = "duration::deserialize")]
    pub h2_keepalive_timeout: Duration,
    /// Connections are closed gracefully at this age, so long-lived clients handshake (and
    /// are judged) again; `"off"` (the default) for no limit.
    #[serde(deserialize_with = "duration::deserialize_opt")]
    pub max_connection_age: Option<Duration>,
    /// PEM certificate chain (leaf first) presented to `https://` origins that ask for a
    /// client certificate; with `origin_client_key`. A route's own pair replaces it.
    pub origin_client_cert: Option<PathBuf>,
    /// PEM private key of `origin_client_cert`.
    pub origin_client_key: Option<PathBuf>,
    /// How often the session-ticket key shared by the fleet is replaced; a ticket stays
    /// accepted for one to two periods. Set the same on every node.
    #[serde(deserialize_with = "duration::deserialize")]
    pub ticket_key_rotation: Duration,
}

impl Default for ProxySettings {
    fn default() -> Self {
        ProxySettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            default_origin: "echo".to_string(),
            default_domain: None,
            handshake_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            shutdown_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(30),
            preserve_host: true,
            xfcc: false,
            origin_connect_timeout: Duration::from_secs(5),
            origin_response_timeout: Duration::from_secs(30),
            origin_ca_file: None,
            request_header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            h2_keepalive_interval: Some(Duration::from_secs(30)),
            h2_keepalive_timeout: Duration::from_secs(10),
            max_connection_age: None,
            origin_client_cert: None,
            origin_client_key: None,
            ticket_key_rotation: Duration::from_secs(3600),
        }
    }
}

/// `[revocation]`: how revocation lists are applied and refreshed.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RevocationSettings {
    /// A chain whose issuer's CRL is past its nextUpdate fails like a revoked one (enforced) or
    /// gets verdict `revoked` (fail-open). Off: a stale CRL still applies its revocations and
    /// is reported. Reloaded with SIGHUP.
    pub require_fresh: bool,
    /// Lists with a `url` are fetched at least this often (and before their nextUpdate).
    #[serde(deserialize_with = "duration::deserialize")]
    pub refresh: Duration,
    /// One deadline for a whole fetch: connect, TLS, redirects and body.
    #[serde(deserialize_with = "duration::deserialize")]
    pub fetch_timeout: Duration,
    /// PEM CAs trusted for `https://` CRL URLs instead of the system roots.
    pub ca_file: Option<PathBuf>,
}

impl Default for RevocationSettings {
    fn default() -> Self {
        RevocationSettings {
            require_fresh: false,
            refresh: Duration::from_secs(3600),
            fetch_timeout: Duration::from_secs(10),
            ca_file: None,
        }
    }
}

/// `[log]`: what the process logs to stderr. Read at start (a change needs a restart).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// A `tracing` filter: `info`, `debug`, `info,mtls_proxy::request=off`. The environment
    /// variable `MTLS_PROXY_LOG` overrides it.
    pub level: String,
    /// `text` or `json` (one JSON object per line); `serve --log-format` overrides it.
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            level: "info".to_string(),
            format: LogFormat::Text,
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable `key=value` lines.
    #[default]
    Text,
    /// One JSON object per line, event fields at the top level.
    Json,
}

/// `[[routes]]`: a domain (exact or `*.` wildcard), optionally a path prefix, to an origin,
/// optionally admitting only some client identities. (`Default` is for code that builds
/// routes: `Route { domain, origin, ..Route::default() }`; a config must name both.)
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub domain: String,
    pub origin: String,
    /// `auto`, `h1` or `h2`: the HTTP version requests take to the origin.
    #[serde(default)]
    pub origin_http: OriginHttp,
    /// PEM certificate chain presented to this route's `https://` origin (replaces
    /// `[proxy] origin_client_cert`); with `origin_client_key`.
    #[serde(default)]
    pub origin_client_cert: Option<PathBuf>,
    /// PEM private key of `origin_client_cert`.
    #[serde(default)]
    pub origin_client_key: Option<PathBuf>,
    /// Requests whose (normalised) path starts with this; among the routes of one domain the
    /// longest matching prefix wins, and a route without one matches every path.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Identity patterns (`uri:`, `dns:`, `email:`, `cn:`, `spki-sha256:`, `sha256:`): when set,
    /// only connections with verdict `ok` whose leaf matches one of them are forwarded.
    #[serde(default)]
    pub allow: Option<Vec<String>>,
}

impl Route {
    /// How the route is named in 403 answers and logs: its domain and path prefix as written
    /// (`api.example.com/admin`), never its patterns.
    pub fn name(&self) -> String {
        format!(
            "{}{}",
            self.domain,
            self.path_prefix.as_deref().unwrap_or("")
        )
    }
}

impl Settings {
    /// Load and validate a config file.
    pub fn load(path: &Path) -> Result<Settings, SettingsError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SettingsError::Read(path.to_path_buf(), e))?;
        Settings::parse(&text, path)
    }

    /// Parse and validate config text (`path` is for messages).
    pub fn parse(text: &str, path: &Path) -> Result<Settings, SettingsError> {
        let s: Settings =
            toml::from_str(text).map_err(|e| SettingsError::Parse(path.to_path_buf(), e))?;
        s.validate()
            .map_err(|(field, problem)| SettingsError::Invalid {
                path: path.to_path_buf(),
                field,
                problem,
            })?;
        Ok(s)
    }

    fn validate(&self) -> Result<(), (String, String)> {
        check_origin(&self.proxy.default_origin).map_err(|p| ("proxy.default_origin".into(), p))?;
        check_pair(
            "proxy.origin_client",
            &self.proxy.origin_client_cert,
            &self.proxy.origin_client_key,
        )?;
        check_routes(&self.routes)?;
        if let Some(d) = &self.proxy.default_domain {
            crate::model::pki::canonical_domain(d)
                .map_err(|e| ("proxy.default_domain".to_string(), e.to_string()))?;
        }
        if self.proxy.max_connections == 0 {
            return Err(("proxy.max_connections".into(), "must be at least 1".into()));
        }
        if self.revocation.refresh < Duration::from_secs(1) {
            return Err(("revocation.refresh".into(), "must be at least 1s".into()));
        }
        if self.revocation.fetch_timeout.is_zero() {
            return Err((
                "revocation.fetch_timeout".into(),
                "must be more than 0".into(),
            ));
        }
        let p = &self.proxy;
        for (field, value) in [
            ("proxy.handshake_timeout", p.handshake_timeout),
            ("proxy.request_header_timeout", p.request_header_timeout),
            ("proxy.idle_timeout", p.idle_timeout),
            ("proxy.h2_keepalive_timeout", p.h2_keepalive_timeout),
        ] {
            if value.is_zero() {
                return Err((field.into(), "must be more than 0".into()));
            }
        }
        if self.admin.max_connections == 0 {
            return Err(("admin.max_connections".into(), "must be at least 1".into()));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| ("log.level".to_string(), e.to_string()))?;
        if self.store.path.as_os_str().is_empty() {
            return Err(("store.path".into(), "can't be blank".into()));
        }
        self.validate_fleet()
    }

    fn validate_fleet(&self) -> Result<(), (String, String)> {
        let store = &self.store;
        if let Some(url) = &store.url {
            // The parser's message never echoes the URL (it may hold a password).
            url.parse::<tokio_postgres::Config>()
                .map_err(|e| ("store.url".to_string(), e.to_string()))?;
        }
        if store.cache.as_os_str().is_empty() {
            return Err(("store.cache".into(), "can't be blank".into()));
        }
        if !(1..=1000).contains(&store.pool_size) {
            return Err(("store.pool_size".into(), "must be 1 to 1000".into()));
        }
        let at_least = |field: &str, value: Duration, min: Duration| {
            if value < min {
                return Err((field.to_string(), format!("must be at least {min:?}")));
            }
            Ok(())
        };
        at_least("store.timeout", store.timeout, Duration::from_millis(100))?;
        at_least(
            "store.poll_interval",
            store.poll_interval,
            Duration::from_millis(50),
        )?;
        if store.poll_interval > Duration::from_secs(60) {
            return Err(("store.poll_interval".into(), "must be at most 60s".into()));
        }
        if store
            .node_id
            .as_deref()
            .is_some_and(|id| id.is_empty() || id.len() > 255 || id.chars().any(char::is_control))
        {
            return Err((
                "store.node_id".into(),
                "must be 1 to 255 bytes without control characters".into(),
            ));
        }
        at_least(
            "proxy.ticket_key_rotation",
            self.proxy.ticket_key_rotation,
            Duration::from_secs(1),
        )?;
        if self.proxy.ticket_key_rotation > Duration::from_secs(7 * 24 * 3600) {
            return Err((
                "proxy.ticket_key_rotation".into(),
                "must be at most 7 days".into(),
            ));
        }
        Ok(())
    }
}

/// Each route on its own, then that no two share a domain and path prefix (the second would
/// never be used).
fn check_routes(routes: &[Route]) -> Result<(), (String, String)> {
    let mut seen: std::collections::HashMap<(String, Option<&str>), usize> =
        std::collections::HashMap::new();
    for (i, r) in routes.iter().enumerate() {
        let domain = crate::model::pki::canonical_domain(&r.domain)
            .map_err(|e| (format!("routes[{i}].domain"), e.to_string()))?;
        check_route(r).map_err(|(field, p)| (format!("routes[{i}].{field}"), p))?;
        if let Some(prefix) = &r.path_prefix {
            check_path_prefix(prefix).map_err(|p| (format!("routes[{i}].path_prefix"), p))?;
        }
        if let Some(allow) = &r.allow {
            check_allow(allow).map_err(|(field, p)| (format!("routes[{i}].allow{field}"), p))?;
        }
        if let Some(first) = seen.insert((domain, r.path_prefix.as_deref()), i) {
            return Err((
                format!("routes[{i}]"),
                format!(
                    "has the same domain and path_prefix as routes[{first}] ({})",
                    r.name()
                ),
            ));
        }
    }
    Ok(())
}

/// A path prefix must be a normalised absolute path, as request paths are when matched.
fn check_path_prefix(prefix: &str) -> Result<(), String> {
    use crate::model::request_path::normalize;
    // Paths are matched without their `;` parameters (servlet containers drop them), so a
    // prefix holding one could never match.
    if prefix.contains(';') {
        return Err(format!(
            "{prefix:?} holds a ; (path parameters are not matched)"
        ));
    }
    match normalize(prefix) {
        Ok(n) if n == prefix => Ok(()),
        Ok(n) => Err(format!("{prefix:?} is not in normal form; write {n:?}")),
        Err(e) => Err(format!(
            "{prefix:?}: {}",
            e.to_string().replace("the request path ", "")
        )),
    }
}

/// Every pattern parses, and the list is not empty (it would admit nobody).
fn check_allow(allow: &[String]) -> Result<(), (String, String)> {
    if allow.is_empty() {
        return Err((
            String::new(),
            "is empty; remove it to admit every client, or list at least one pattern".into(),
        ));
    }
    crate::model::identity_pattern::AllowList::parse(allow)
        .map(|_| ())
        .map_err(|e| (format!("[{}]", e.index), e.to_string()))
}

/// An origin as `OriginSpec` parses it (one parser for config and runtime).
fn check_origin(origin: &str) -> Result<(), String> {
    origin
        .parse::<OriginSpec>()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A route's origin, and its version and client certificate settings against it. The
/// certificate files themselves are read (and refused, naming them) when the settings are
/// applied.
fn check_route(r: &Route) -> Result<(), (String, String)> {
    let spec = r
        .origin
        .parse::<OriginSpec>()
        .map_err(|e| ("origin".to_string(), e.to_string()))?;
    check_pair("origin_client", &r.origin_client_cert, &r.origin_client_key)?;
    let route = OriginRoute {
        http: r.origin_http,
        ..OriginRoute::new(spec.clone())
    };
    if let Some(problem) = route.problem() {
        return Err(("origin_http".to_string(), problem));
    }
    if r.origin_client_cert.is_some() && !matches!(spec, OriginSpec::Https { .. }) {
        return Err((
            "origin_client_cert".to_string(),
            format!("is only presented to https:// origins, not {spec}"),
        ));
    }
    Ok(())
}

/// `{prefix}_cert` and `{prefix}_key` are set together or not at all.
fn check_pair(
    prefix: &str,
    cert: &Option<PathBuf>,
    key: &Option<PathBuf>,
) -> Result<(), (String, String)> {
    match (cert, key) {
        (Some(_), None) => Err((
            format!("{prefix}_key"),
            format!("is required with {prefix}_cert"),
        )),
        (None, Some(_)) => Err((
            format!("{prefix}_cert"),
            format!("is required with {prefix}_key"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Settings, SettingsError> {
        Settings::parse(t, Path::new("test.toml"))
    }

    #[test]
    fn defaults_are_loopback_and_echo() {
        let s = parse("").unwrap();
        assert!(s.admin.listen.ip().is_loopback());
        assert!(s.proxy.listen.ip().is_loopback());
        assert_eq!(s.proxy.default_origin, "echo");
        assert_eq!(s.store.path, PathBuf::from("data/mtls-proxy.db"));
    }

    #[test]
    fn full_example_parses() {
        let s = parse(
            r#"
            [admin]
            listen = "127.0.0.1:9080"
            token = "t"
            [store]
            path = "x.db"
            [proxy]
            listen = "127.0.0.1:9443"
            default_origin = "echo"
            [[routes]]
            domain = "api.example.com"
            origin = "http://127.0.0.1:9000"
            "#,
        )
        .unwrap();
        assert_eq!(s.routes.len(), 1);
        assert_eq!(s.admin.token.as_deref(), Some("t"));
    }

    #[test]
    fn shipped_example_config_parses_to_the_defaults() {
        let s = parse(include_str!("../config/mtls-proxy.toml")).unwrap();
        let d = Settings::default();
        assert_eq!(s.admin.listen, d.admin.listen);
        assert_eq!(s.proxy.listen, d.proxy.listen);
        assert_eq!(s.proxy.handshake_timeout, d.proxy.handshake_timeout);
        assert_eq!(s.proxy.max_connections, d.proxy.max_connections);
        assert_eq!(
            s.proxy.request_header_timeout,
            d.proxy.request_header_timeout
        );
        assert_eq!(s.proxy.idle_timeout, d.proxy.idle_timeout);
        assert_eq!(s.proxy.h2_keepalive_interval, d.proxy.h2_keepalive_interval);
        assert_eq!(s.proxy.h2_keepalive_timeout, d.proxy.h2_keepalive_timeout);
        assert_eq!(s.proxy.max_connection_age, d.proxy.max_connection_age);
        assert_eq!(s.admin.max_connections, d.admin.max_connections);
        assert_eq!(s.store, d.store);
        assert_eq!(s.proxy.ticket_key_rotation, d.proxy.ticket_key_rotation);
        assert_eq!(s.log, d.log);
        assert_eq!(s.revocation, d.revocation);
        assert!(s.routes.is_empty());
    }

    #[test]
    fn store_settings_select_postgresql_and_are_checked() {
        let s = parse("[store]\nurl = \"postgres://app:secret@db.internal:5433/proxy\"\n").unwrap();
        assert_eq!(
            s.store.url.as_deref(),
            Some("postgres://app:secret@db.internal:5433/proxy")
        );
        assert!(
            !format!("{s:?}").contains("secret"),
            "the URL's password never reaches Debug output"
        );
        assert_eq!(s.store.poll_interval, Duration::from_secs(1));
        let e = parse("[store]\nurl = \"postgres://a:secret@h/db?sslmode=bogus\"\n").unwrap_err();
        assert!(e.to_string().contains("store.url"), "{e}");
        assert!(!e.to_string().contains("secret"), "{e}");
        let e = parse("[store]\npool_size = 0\n").unwrap_err();
        assert!(e.to_string().contains("store.pool_size"), "{e}");
        let e = parse("[store]\npoll_interval = \"2m\"\n").unwrap_err();
        assert!(e.to_string().contains("store.poll_interval"), "{e}");
        let e = parse("[store]\nnode_id = \"\"\n").unwrap_err();
        assert!(e.to_string().contains("store.node_id"), "{e}");
        let e = parse("[proxy]\nticket_key_rotation = \"0s\"\n").unwrap_err();
        assert!(e.to_string().contains("proxy.ticket_key_rotation"), "{e}");
    }

    #[test]
    fn log_settings() {
        let s =
            parse("[log]\nlevel = \"debug,mtls_proxy::request=off\"\nformat = \"json\"\n").unwrap();
        assert_eq!(s.log.format, LogFormat::Json);
        assert_eq!(s.log.level, "debug,mtls_proxy::request=off");
        let e = parse("[log]\nformat = \"xml\"\n").unwrap_err();
        assert!(e.to_string().contains("xml"), "{e}");
        let e = parse("[log]\nlevel = \"info,=[\"\n").unwrap_err();
        assert!(e.to_string().contains("log.level"), "{e}");
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = parse("[admin]\nlisten = \"127.0.0.1:1\"\ntokn = \"x\"\n").unwrap_err();
        assert!(e.to_string().contains("tokn"), "{e}");
        let e = parse("[nope]\n").unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }

    #[test]
    fn routes_take_path_prefixes_and_allow_lists() {
        let s = parse(
            r#"
            [[routes]]
            domain = "api.example.com"
            origin = "echo"
            [[routes]]
            domain = "api.example.com"
            origin = "echo"
            path_prefix = "/admin"
            allow = ["uri:spiffe://example.org/ns/prod/*", "cn:billing"]
            "#,
        )
        .unwrap();
        assert_eq!(s.routes[1].name(), "api.example.com/admin");
        assert_eq!(s.routes[0].name(), "api.example.com");
        assert_eq!(s.routes[1].allow.as_ref().map(Vec::len), Some(2));
    }

    #[test]
    fn bad_routes_name_the_route_and_the_pattern() {
        let route = |extra: &str| {
            format!("[[routes]]\ndomain = \"a.example.com\"\norigin = \"echo\"\n{extra}\n")
        };
        let e = parse(&route("allow = [\"cn:a\", \"dns:a*.example.org\"]")).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("routes[0].allow[1]"), "{text}");
        assert!(text.contains("\"dns:a*.example.org\""), "{text}");
        let e = parse(&route("allow = []")).unwrap_err();
        assert!(e.to_string().contains("routes[0].allow"), "{e}");
        let e = parse(&route("path_prefix = \"admin\"")).unwrap_err();
        assert!(e.to_string().contains("routes[0].path_prefix"), "{e}");
        let e = parse(&route("path_prefix = \"//admin\"")).unwrap_err();
        assert!(e.to_string().contains("\"/admin\""), "{e}");
        let e = parse(&route("path_prefix = \"/a/../b\"")).unwrap_err();
        assert!(e.to_string().contains("routes[0].path_prefix"), "{e}");
        let e = parse(&route("path_prefix = \"/admin;x\"")).unwrap_err();
        assert!(e.to_string().contains("routes[0].path_prefix"), "{e}");
        let twice = format!(
            "{}{}",
            route("path_prefix = \"/x\""),
            route("path_prefix = \"/x\"")
        );
        let e = parse(&twice).unwrap_err();
        assert!(e.to_string().contains("routes[1]"), "{e}");
        assert!(e.to_string().contains("routes[0]"), "{e}");
        let e = parse(&route("alow = [\"cn:a\"]")).unwrap_err();
        assert!(e.to_string().contains("alow"), "{e}");
    }

    #[test]
    fn routes_take_an_http_version_and_a_client_certificate() {
        let s = parse(
            r#"
            [proxy]
            origin_client_cert = "c.pem"
            origin_client_key = "k.pem"
            [[routes]]
            domain = "grpc.example.com"
            origin = "h2c://127.0.0.1:50051"
            [[routes]]
            domain = "api.example.com"
            origin = "https://api.internal:8443"
            origin_http = "h1"
            origin_client_cert = "api.pem"
            origin_client_key = "api-key.pem"
            "#,
        )
        .unwrap();
        assert_eq!(s.routes[0].origin_http, OriginHttp::Auto);
        assert_eq!(s.routes[1].origin_http, OriginHttp::H1);
        assert_eq!(
            s.routes[1].origin_client_key,
            Some(PathBuf::from("api-key.pem"))
        );
        assert_eq!(s.proxy.origin_client_cert, Some(PathBuf::from("c.pem")));
    }

    #[test]
    fn contradictory_origin_settings_are_named() {
        let route = |extra: &str| {
            let text = format!("[[routes]]\ndomain = \"a.com\"\n{extra}\n");
            parse(&text).unwrap_err().to_string()
        };
        let e = route("origin = \"h2c://x:1\"\norigin_http = \"h1\"");
        assert!(
            e.contains("routes[0].origin_http") && e.contains("h2c://x:1"),
            "{e}"
        );
        let e = route("origin = \"http://x:1\"\norigin_http = \"http3\"");
        assert!(e.contains("http3"), "{e}");
        let e =
            route("origin = \"http://x:1\"\norigin_client_cert = \"c\"\norigin_client_key = \"k\"");
        assert!(
            e.contains("routes[0].origin_client_cert") && e.contains("https://"),
            "{e}"
        );
        let e = route("origin = \"https://x:1\"\norigin_client_cert = \"c\"");
        assert!(e.contains("routes[0].origin_client_key"), "{e}");
        assert!(e.contains("is required with origin_client_cert"), "{e}");
        let e = parse("[proxy]\norigin_client_key = \"k\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("proxy.origin_client_cert"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        let e = parse("[[routes]]\ndomain = \"a.com\"\norigin = \"ftp://x\"\n").unwrap_err();
        assert!(e.to_string().contains("routes[0].origin"), "{e}");
        let e = parse("[proxy]\ndefault_origin = \"http://h/path\"\n").unwrap_err();
        assert!(e.to_string().contains("proxy.default_origin"), "{e}");
        assert!(parse("[admin]\nlisten = \"nope\"\n").is_err());
        let e = parse("[proxy]\nidle_timeout = \"0s\"\n").unwrap_err();
        assert!(e.to_string().contains("proxy.idle_timeout"), "{e}");
        let e = parse("[admin]\nmax_connections = 0\n").unwrap_err();
        assert!(e.to_string().contains("admin.max_connections"), "{e}");
    }

    #[test]
    fn connection_limits_parse() {
        let s = parse(
            "[proxy]\nrequest_header_timeout = \"2s\"\nmax_connection_age = \"1h\"\n\
             h2_keepalive_interval = \"off\"\n",
        )
        .unwrap();
        assert_eq!(s.proxy.request_header_timeout, Duration::from_secs(2));
        assert_eq!(s.proxy.max_connection_age, Some(Duration::from_secs(3600)));
        assert_eq!(s.proxy.h2_keepalive_interval, None);
        assert_eq!(Settings::default().proxy.max_connection_age, None);
    }
}
