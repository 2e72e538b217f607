//! Create and delete private keys.

use super::change::PrivateKeyFields;
use super::ControlError;
use crate::model::{id, pki, validate, Kind, PrivateKey, Record};
use crate::store::WriteTx;

const RESOURCE: &str = "private key";

/// Create from PEM (PKCS#8, SEC1 or PKCS#1); the same key cannot be uploaded twice, so a
/// certificate always pairs with exactly one key.
pub fn create(tx: &mut dyn WriteTx, f: PrivateKeyFields, now: i64) -> Result<String, ControlError> {
    let pem = f
        .key
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| ControlError::invalid("key", "can't be blank"))?;
    validate::pem_text(&pem).map_err(|e| ControlError::invalid("key", e))?;
    let info = pki::parse_private_key(&pem).map_err(|e| ControlError::invalid("key", e))?;
    if let Some(existing) = tx.private_key_by_public_key(&info.public_key_sha1)? {
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
    tx.put(&Record::PrivateKey(key))?;
    Ok(id)
}

/// Delete; refused while a certificate uses the key.
pub fn delete(tx: &mut dyn WriteTx, id: &str) -> Result<String, ControlError> {
    let key = tx
        .private_key(id)?
        .ok_or(ControlError::NotFound { resource: RESOURCE })?;
    if tx.count_certificates_with_key(&key.public_key_sha1)? > 0 {
        return Err(ControlError::Conflict(
            "the private key is used by a TLS certificate; delete the certificate first".into(),
        ));
    }
    tx.delete(Kind::PrivateKey, id)?;
    Ok(id.to_string())
}
