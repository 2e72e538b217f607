//! Create, update and delete mutual authentications.

use super::change::{MutualAuthenticationFields, Update};
use super::{next_version, ControlError};
use crate::model::{id, pki, validate, Kind, MutualAuthentication, Record};
use crate::store::{Uses, WriteTx};

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
    tx: &mut dyn WriteTx,
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
    tx.put(&Record::MutualAuthentication(ma))?;
    Ok(id)
}

/// Update: absent attributes stay; a present `enforced: false` is applied; a new bundle
/// replaces the trust store.
pub fn update(
    tx: &mut dyn WriteTx,
    u: Update<MutualAuthenticationFields>,
    now: i64,
) -> Result<String, ControlError> {
    let mut ma = tx
        .mutual_authentication(&u.id)?
        .ok_or(ControlError::NotFound { resource: RESOURCE })?;
    if let Some(name) = u.fields.name {
        if name.is_empty() {
            return Err(ControlError::invalid("name", "can't be blank"));
        }
        check_name(&name)?;
        ma.name = name;
    }
    if let Some(bundle) = u.fields.cert_bundle {
        check_bundle(&bundle)?;
        super::revocation_lists::check_bundle_keeps_issuers(tx, &ma.id, &bundle)?;
        ma.cert_bundle = bundle;
    }
    if let Some(enforced) = u.fields.enforced {
        ma.enforced = enforced;
    }
    ma.updated_at = next_version(ma.updated_at, now);
    let id = ma.id.clone();
    tx.put(&Record::MutualAuthentication(ma))?;
    Ok(id)
}

/// Delete, with its revocation lists (each deletion logged like any other); refused while an
/// activation uses it.
pub fn delete(tx: &mut dyn WriteTx, id: &str) -> Result<String, ControlError> {
    if tx.mutual_authentication(id)?.is_none() {
        return Err(ControlError::NotFound { resource: RESOURCE });
    }
    let n = tx.count_activations_using(Uses::MutualAuthentication(id))?;
    if n > 0 {
        return Err(ControlError::Conflict(format!(
            "the mutual authentication is attached to {n} TLS activation(s); detach it first"
        )));
    }
    super::revocation_lists::delete_of(tx, id)?;
    tx.delete(Kind::MutualAuthentication, id)?;
    Ok(id.to_string())
}
