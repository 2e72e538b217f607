//! Create and delete private keys.

use rusqlite::Connection;

use super::change::PrivateKeyFields;
use super::ControlError;
use crate::model::{id, pki, validate, PrivateKey};
use crate::store::records::{certificates, private_keys as rows};

const RESOURCE: &str = "private key";

/// Create from PEM (PKCS#8, SEC1 or PKCS#1); the same key cannot be uploaded twice, so a
/// certificate always pairs with exactly one key.
pub fn create(conn: &Connection, f: PrivateKeyFields, now: i64) -> Result<String, ControlError> {
    let pem = f
        .key
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| ControlError::invalid("key", "can't be blank"))?;
    validate::pem_text(&pem).map_err(|e| ControlError::invalid("key", e))?;
    let info = pki::parse_private_key(&pem).map_err(|e| ControlError::invalid("key", e))?;
    if let Some(existing) = rows::by_public_key(conn, &info.public_key_sha1)? {
        return Err(ControlError::Conflict(format!(
            "this private key was already uploaded as {}",
            existing.id
        )));
    }
    let id = id::new_id();
    let name = match f.name.filter(|n| !n.is_empty()) {
        Some(n) => {
            validate::name(&n).map_err(|e| ControlError::invalid("name", e))?;
            n
        }
        None => format!("Private key {id}"),
    };
    let key = PrivateKey {
        id: id.clone(),
        name,
        key_pem: pem,
        key_type: info.key_type.to_string(),
        key_length: info.key_length,
        public_key_sha1: info.public_key_sha1,
        created_at: now,
    };
    rows::insert(conn, &key)?;
    Ok(id)
}

/// Delete; refused while a certificate uses the key.
pub fn delete(conn: &Connection, id: &str) -> Result<String, ControlError> {
    let key = rows::get(conn, id)?.ok_or(ControlError::NotFound { resource: RESOURCE })?;
    if certificates::uses_public_key(conn, &key.public_key_sha1)? {
        return Err(ControlError::Conflict(
            "the private key is used by a TLS certificate; delete the certificate first".into(),
        ));
    }
    rows::delete(conn, id)?;
    Ok(id.to_string())
}
