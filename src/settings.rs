//! Static settings: the TOML config file and its built-in defaults. Unknown keys are errors
//! that name the key, so a typo never silently changes behaviour.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

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
}

/// `[admin]`: the API, `/metrics` and health listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSettings {
    /// Loopback by default: the admin API must not be exposed by accident (DESIGN rule 4).
    pub listen: SocketAddr,
    /// The `Fastly-Key` clients must send; else `MTLS_PROXY_ADMIN_TOKEN`; else generated.
    pub token: Option<String>,
}

impl Default for AdminSettings {
    fn default() -> Self {
        AdminSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            token: None,
        }
    }
}

/// `[store]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// SQLite file, created with its directory.
    pub path: PathBuf,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            path: PathBuf::from("data/mtls-proxy.db"),
        }
    }
}

/// `[proxy]`: the TLS data plane.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxySettings {
    pub listen: SocketAddr,
    /// Origin for domains without a route: `echo`, `http://host:port` or `https://host:port`.
    pub default_origin: String,
}

impl Default for ProxySettings {
    fn default() -> Self {
        ProxySettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            default_origin: "echo".to_string(),
        }
    }
}

/// `[[routes]]`: a domain (exact or `*.` wildcard) to an origin.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub domain: String,
    pub origin: String,
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
        for (i, r) in self.routes.iter().enumerate() {
            crate::model::pki::canonical_domain(&r.domain)
                .map_err(|e| (format!("routes[{i}].domain"), e.to_string()))?;
            check_origin(&r.origin).map_err(|p| (format!("routes[{i}].origin"), p))?;
        }
        if self.store.path.as_os_str().is_empty() {
            return Err(("store.path".into(), "can't be blank".into()));
        }
        Ok(())
    }
}

/// An origin is `echo` or an `http://` / `https://` URL with a host and no path.
pub fn check_origin(origin: &str) -> Result<(), String> {
    if origin == "echo" {
        return Ok(());
    }
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .ok_or_else(|| {
            format!("{origin:?} must be \"echo\", http://host:port or https://host:port")
        })?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return Err(format!(
            "{origin:?} must be scheme://host[:port] without a path"
        ));
    }
    Ok(())
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
    fn unknown_keys_are_named() {
        let e = parse("[admin]\nlisten = \"127.0.0.1:1\"\ntokn = \"x\"\n").unwrap_err();
        assert!(e.to_string().contains("tokn"), "{e}");
        let e = parse("[nope]\n").unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        let e = parse("[[routes]]\ndomain = \"a.com\"\norigin = \"ftp://x\"\n").unwrap_err();
        assert!(e.to_string().contains("routes[0].origin"), "{e}");
        let e = parse("[proxy]\ndefault_origin = \"http://h/path\"\n").unwrap_err();
        assert!(e.to_string().contains("proxy.default_origin"), "{e}");
        assert!(parse("[admin]\nlisten = \"nope\"\n").is_err());
    }
}
