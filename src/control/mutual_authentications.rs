//! Create, update and delete mutual authentications.

use rusqlite::Connection;

use super::change::{MutualAuthenticationFields, Update};
use super::{next_version, ControlError};
use crate::model::{id, pki, validate, MutualAuthentication};
use crate::store::records::activations::{self, Reference};
use crate::store::records::mutual_authentications as rows;

const RESOURCE: &str = "mutual authentication";

/// Validate a bundle; the bundle is stored as uploaded once it parses.
fn check_bundle(pem: &str) -> Result<(), ControlError> {
    validate::pem_text(pem).map_err(|e| ControlError::invalid("cert_bundle", e))?;
    // Empty, unparseable and key-holding bundles are refused here, so the verifier can never
    // be built from nothing and never falls back to system roots (Caddy CVE-2026-27586).
    pki::parse_ca_bundle(pem)
        .map(|_| ())
        .map_err(|e| ControlError::invalid("cert_bundle", e))
}

fn check_name(name: &str) -> Result<(), ControlError> {
    validate::name(name).map_err(|e| ControlError::invalid("name", e))
}

/// Create; `enforced` defaults to true (fail closed), `name` is generated when absent.
pub fn create(
    conn: &Connection,
    f: MutualAuthenticationFields,
    now: i64,
) -> Result<String, ControlError> {
    let bundle = f
        .cert_bundle
        .ok_or_else(|| ControlError::invalid("cert_bundle", "can't be blank"))?;
    check_bundle(&bundle)?;
    let id = id::new_id();
    let name = match f.name.filter(|n| !n.is_empty()) {
        Some(n) => {
            check_name(&n)?;
            n
        }
        None => format!("Mutual authentication {id}"),
    };
    let ma = MutualAuthentication {
        id: id.clone(),
        name,
        enforced: f.enforced.unwrap_or(true),
        cert_bundle: bundle,
        created_at: now,
        updated_at: now,
    };
    rows::put(conn, &ma)?;
    Ok(id)
}

/// Update: absent attributes stay; a present `enforced: false` is applied; a new bundle
/// replaces the trust store.
pub fn update(
    conn: &Connection,
    u: Update<MutualAuthenticationFields>,
    now: i64,
) -> Result<String, ControlError> {
    let mut ma = rows::get(conn, &u.id)?.ok_or(ControlError::NotFound { resource: RESOURCE })?;
    if let Some(name) = u.fields.name {
        if name.is_empty() {
            return Err(ControlError::invalid("name", "can't be blank"));
        }
        check_name(&name)?;
        ma.name = name;
    }
    if let Some(bundle) = u.fields.cert_bundle {
        check_bundle(&bundle)?;
        super::revocation_lists::check_bundle_keeps_issuers(conn, &ma.id, &bundle)?;
        ma.cert_bundle = bundle;
    }
    if let Some(enforced) = u.fields.enforced {
        ma.enforced = enforced;
    }
    ma.updated_at = next_version(ma.updated_at, now);
    rows::put(conn, &ma)?;
    Ok(ma.id)
}

/// Delete, with its revocation lists; refused while an activation uses it.
pub fn delete(conn: &Connection, id: &str) -> Result<String, ControlError> {
    if rows::get(conn, id)?.is_none() {
        return Err(ControlError::NotFound { resource: RESOURCE });
    }
    let n = activations::count_referencing(conn, Reference::MutualAuthentication, id)?;
    if n > 0 {
        return Err(ControlError::Conflict(format!(
            "the mutual authentication is attached to {n} TLS activation(s); detach it first"
        )));
    }
    super::revocation_lists::delete_of(conn, id)?;
    rows::delete(conn, id)?;
    Ok(id.to_string())
}
