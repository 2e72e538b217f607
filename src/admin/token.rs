//! Where the admin token comes from: the config, else `MTLS_PROXY_ADMIN_TOKEN`, else a random
//! token generated once into `<store dir>/admin-token` with mode 0600.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::model::id::random_hex;

/// Environment variable consulted when the config has no token.
pub const TOKEN_ENV: &str = "MTLS_PROXY_ADMIN_TOKEN";

/// Where the token in use came from (logged at start, never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    Config,
    Env,
    File(PathBuf),
    Generated(PathBuf),
}

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read the admin token file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("cannot write the admin token file {0}: {1}")]
    Write(PathBuf, std::io::Error),
    #[error("the admin token file {0} is empty")]
    Empty(PathBuf),
}

/// Resolve the token; `store_dir` is where a generated token is kept.
pub fn resolve(
    configured: Option<&str>,
    env: Option<String>,
    store_dir: &Path,
) -> Result<(String, TokenSource), TokenError> {
    if let Some(t) = configured.filter(|t| !t.is_empty()) {
        return Ok((t.to_string(), TokenSource::Config));
    }
    if let Some(t) = env.filter(|t| !t.is_empty()) {
        return Ok((t, TokenSource::Env));
    }
    let path = store_dir.join("admin-token");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let t = text.trim().to_string();
            if t.is_empty() {
                return Err(TokenError::Empty(path));
            }
            Ok((t, TokenSource::File(path)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => generate(&path),
        Err(e) => Err(TokenError::Read(path, e)),
    }
}

fn generate(path: &Path) -> Result<(String, TokenSource), TokenError> {
    let token = random_hex(32);
    let err = |e| TokenError::Write(path.to_path_buf(), e);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    // create_new: never clobber a token another process just wrote; mode 0600 from creation,
    // so the secret is never readable by others even briefly.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    f.write_all(format!("{token}\n").as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)?;
    Ok((token, TokenSource::Generated(path.to_path_buf())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn precedence_and_generation() {
        let dir = tempfile::tempdir().unwrap();
        let (t, s) = resolve(Some("c"), Some("e".into()), dir.path()).unwrap();
        assert_eq!((t.as_str(), s), ("c", TokenSource::Config));
        let (t, s) = resolve(None, Some("e".into()), dir.path()).unwrap();
        assert_eq!((t.as_str(), s), ("e", TokenSource::Env));
        let (t1, s) = resolve(None, None, dir.path()).unwrap();
        assert!(matches!(s, TokenSource::Generated(_)));
        assert_eq!(t1.len(), 64);
        let mode = std::fs::metadata(dir.path().join("admin-token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (t2, s) = resolve(None, None, dir.path()).unwrap();
        assert_eq!(t1, t2);
        assert!(matches!(s, TokenSource::File(_)));
    }
}
