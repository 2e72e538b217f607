//! Update TLS configurations (they are not created or deleted through the API).

use super::change::{ConfigurationFields, Update};
use super::{next_version, ControlError};
use crate::model::{validate, Record};
use crate::store::WriteTx;

/// Update the name and, as an extension of Fastly's API, the protocol lists the proxy serves.
pub fn update(
    tx: &mut dyn WriteTx,
    u: Update<ConfigurationFields>,
    now: i64,
) -> Result<String, ControlError> {
    let mut c = tx.configuration(&u.id)?.ok_or(ControlError::NotFound {
        resource: "TLS configuration",
    })?;
    if let Some(name) = u.fields.name {
        if name.is_empty() {
            return Err(ControlError::invalid("name", "can't be blank"));
        }
        validate::name(&name).map_err(|e| ControlError::invalid("name", e))?;
        c.name = name;
    }
    if let Some(list) = u.fields.tls_protocols {
        c.tls_protocols = validate::protocol_list(&list, validate::TLS_PROTOCOLS)
            .map_err(|e| ControlError::invalid("tls_protocols", e))?;
    }
    if let Some(list) = u.fields.http_protocols {
        c.http_protocols = validate::protocol_list(&list, validate::HTTP_PROTOCOLS)
            .map_err(|e| ControlError::invalid("http_protocols", e))?;
    }
    c.updated_at = next_version(c.updated_at, now);
    let id = c.id.clone();
    tx.put(&Record::Configuration(c))?;
    Ok(id)
}
