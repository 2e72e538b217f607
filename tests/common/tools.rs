//! External programs some tests drive (curl, openssl, Python, Chromium, npm, PostgreSQL).
//!
//! `cargo test` alone must pass on a machine that has only the Rust toolchain, so a test whose
//! program is missing prints `skipped: <tool> not found` and returns. The README's test command
//! installs every such program and sets `MTLS_PROXY_REQUIRE_TOOLS=1`, which turns each skip into
//! a failure: there nothing may pass by skipping.
//!
//! ```ignore
//! let Some(curl) = common::tools::require("curl") else { return };
//! ```

use std::io::Write as _;
use std::path::PathBuf;

/// Set to `1` to make a missing program fail the test instead of skipping it.
pub const REQUIRE_ENV: &str = "MTLS_PROXY_REQUIRE_TOOLS";

/// Whether missing programs are failures (`MTLS_PROXY_REQUIRE_TOOLS=1`).
pub fn required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

/// The program `name` on `PATH` (or `name` itself when it is a path to an executable).
pub fn find(name: &str) -> Option<PathBuf> {
    let direct = PathBuf::from(name);
    if name.contains('/') {
        return is_executable(&direct).then_some(direct);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

/// The program `name`, or None after printing `skipped: <name> not found` (a panic instead
/// when `MTLS_PROXY_REQUIRE_TOOLS=1`).
pub fn require(name: &str) -> Option<PathBuf> {
    if let Some(p) = find(name) {
        return Some(p);
    }
    skip(name)
}

/// Report that `what` is missing: a skip, or a failure when programs are required.
pub fn skip<T>(what: &str) -> Option<T> {
    assert!(
        !required(),
        "{what} not found, and {REQUIRE_ENV}=1 forbids skipping (run `bash tests/run-all.sh`, \
         which installs it)"
    );
    // Straight to the stderr handle: eprintln! would be captured by the test harness and the
    // skip would not show for a passing test. The thread is named after the test.
    let test = std::thread::current().name().unwrap_or("?").to_string();
    let _ = writeln!(std::io::stderr(), "skipped: {what} not found ({test})");
    None
}

fn is_executable(p: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The directory holding PostgreSQL's server programs (`initdb`, `pg_ctl`, `postgres`,
/// `psql`): on `PATH`, else Debian's `/usr/lib/postgresql/<version>/bin` (newest version), or
/// None after reporting the skip.
pub fn require_postgres() -> Option<PathBuf> {
    let has_all = |dir: &std::path::Path| {
        ["initdb", "pg_ctl", "postgres", "psql"]
            .iter()
            .all(|p| is_executable(&dir.join(p)))
    };
    if let Some(dir) = find("pg_ctl").and_then(|p| p.parent().map(|d| d.to_path_buf())) {
        if has_all(&dir) {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, dir)| has_all(dir))
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, dir)) => Some(dir),
        None => skip("PostgreSQL (initdb, pg_ctl, postgres, psql; Debian package postgresql)"),
    }
}
