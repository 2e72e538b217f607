//! Config reload (SIGHUP): the new file is parsed and validated by the caller, its hot
//! settings are built into a snapshot through control, and only a successful build replaces
//! the running ones; the connection timeouts are swapped in after it. Settings that need a
//! restart are named, never half-applied.

use std::sync::Arc;

use super::{build_inputs, AppError, Running};
use crate::settings::Settings;

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    /// The revision served after the reload.
    pub revision: u64,
    /// Changed settings that only take effect after a restart (dotted keys).
    pub need_restart: Vec<&'static str>,
}

/// Keys whose change needs a restart, compared between the running and the new settings.
fn restart_only(old: &Settings, new: &Settings) -> Vec<&'static str> {
    let (o, n) = (&old.proxy, &new.proxy);
    let (ro, rn) = (&old.revocation, &new.revocation);
    let checks: [(&'static str, bool); 14] = [
        ("admin.listen", old.admin.listen != new.admin.listen),
        (
            "admin.max_connections",
            old.admin.max_connections != new.admin.max_connections,
        ),
        ("admin.token", old.admin.token != new.admin.token),
        ("store.*", old.store != new.store),
        ("proxy.listen", o.listen != n.listen),
        (
            "proxy.max_connections",
            o.max_connections != n.max_connections,
        ),
        (
            "proxy.handshake_timeout",
            o.handshake_timeout != n.handshake_timeout,
        ),
        (
            "proxy.shutdown_timeout",
            o.shutdown_timeout != n.shutdown_timeout,
        ),
        ("proxy.drain_timeout", o.drain_timeout != n.drain_timeout),
        (
            "proxy.origin_connect_timeout / origin_response_timeout",
            o.origin_connect_timeout != n.origin_connect_timeout
                || o.origin_response_timeout != n.origin_response_timeout,
        ),
        ("proxy.origin_ca_file", o.origin_ca_file != n.origin_ca_file),
        (
            "proxy.ticket_key_rotation",
            o.ticket_key_rotation != n.ticket_key_rotation,
        ),
        ("log.level / log.format", old.log != new.log),
        (
            "revocation.refresh / fetch_timeout / ca_file",
            ro.refresh != rn.refresh
                || ro.fetch_timeout != rn.fetch_timeout
                || ro.ca_file != rn.ca_file,
        ),
    ];
    checks
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(k, _)| k)
        .collect()
}

/// Rebuild with the new hot settings; on failure the running snapshot and settings stay.
pub fn apply(running: &Running, new: Settings) -> Result<ReloadReport, AppError> {
    let inputs = Arc::new(build_inputs(&new, &running.tickets)?);
    let publisher = running.publisher.clone();
    let revision = running.control.publish_with(|state| {
        let prepared = publisher
            .prepare_with(state, inputs)
            .map_err(|e| e.to_string())?;
        let publisher = publisher.clone();
        Ok(Box::new(move || publisher.publish(prepared)))
    })?;
    running
        .limits
        .store(Arc::new(super::conn_limits(&new.proxy)));
    let mut current = running.settings.lock().unwrap_or_else(|e| e.into_inner());
    let need_restart = restart_only(&current, &new);
    // Keep the restart-only values of the running process so a later reload compares
    // against what is actually in force.
    let mut kept = new;
    kept.admin = current.admin.clone();
    kept.store = current.store.clone();
    kept.proxy.listen = current.proxy.listen;
    kept.proxy.max_connections = current.proxy.max_connections;
    kept.proxy.handshake_timeout = current.proxy.handshake_timeout;
    kept.proxy.shutdown_timeout = current.proxy.shutdown_timeout;
    kept.proxy.drain_timeout = current.proxy.drain_timeout;
    kept.proxy.origin_connect_timeout = current.proxy.origin_connect_timeout;
    kept.proxy.origin_response_timeout = current.proxy.origin_response_timeout;
    kept.proxy.origin_ca_file = current.proxy.origin_ca_file.clone();
    kept.proxy.ticket_key_rotation = current.proxy.ticket_key_rotation;
    kept.log = current.log.clone();
    kept.revocation.refresh = current.revocation.refresh;
    kept.revocation.fetch_timeout = current.revocation.fetch_timeout;
    kept.revocation.ca_file = current.revocation.ca_file.clone();
    kept.demo = current.demo;
    *current = kept;
    Ok(ReloadReport {
        revision,
        need_restart,
    })
}
