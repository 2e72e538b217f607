//! Create, update and delete TLS activations.

use super::change::{ActivationFields, RelationshipChange, Update};
use super::{next_version, ControlError};
use crate::model::{id, pki, Activation, Certificate, Kind, Record};
use crate::store::WriteTx;

const RESOURCE: &str = "TLS activation";

fn certificate(tx: &dyn WriteTx, id: &str) -> Result<Certificate, ControlError> {
    tx.certificate(id)?
        .ok_or_else(|| ControlError::invalid("tls_certificate", format!("{id:?} does not exist")))
}

fn require_covers(cert: &Certificate, domain: &str) -> Result<(), ControlError> {
    if cert
        .dns_names
        .iter()
        .any(|san| pki::san_covers(san, domain))
    {
        return Ok(());
    }
    Err(ControlError::invalid(
        "tls_domain",
        format!(
            "{domain:?} is not covered by the certificate's names ({})",
            cert.dns_names.join(", ")
        ),
    ))
}

/// The mutual authentication a relationship change leads to, checked to exist.
fn mutual_authentication(
    tx: &dyn WriteTx,
    change: RelationshipChange,
    current: Option<String>,
) -> Result<Option<String>, ControlError> {
    match change {
        RelationshipChange::Absent => Ok(current),
        RelationshipChange::Clear => Ok(None),
        RelationshipChange::Set(id) => match tx.mutual_authentication(&id)? {
            Some(_) => Ok(Some(id)),
            None => Err(ControlError::invalid(
                "mutual_authentication",
                format!("{id:?} does not exist"),
            )),
        },
    }
}

fn configuration_id(tx: &dyn WriteTx, change: RelationshipChange) -> Result<String, ControlError> {
    match change {
        RelationshipChange::Set(id) => match tx.configuration(&id)? {
            Some(c) => Ok(c.id),
            None => Err(ControlError::invalid(
                "tls_configuration",
                format!("{id:?} does not exist"),
            )),
        },
        _ => Ok(tx.default_configuration()?.id),
    }
}

/// Create: the domain must be covered by the certificate; one activation per domain; the
/// configuration defaults to the default one. A mutual authentication given here is applied
/// (Fastly ignores it at creation; accepting it is harmless and saves a PATCH).
pub fn create(tx: &mut dyn WriteTx, f: ActivationFields, now: i64) -> Result<String, ControlError> {
    let raw = f
        .domain
        .ok_or_else(|| ControlError::invalid("tls_domain", "can't be blank"))?;
    let domain = pki::canonical_domain(&raw).map_err(|e| ControlError::invalid("tls_domain", e))?;
    let cert_id = match f.certificate {
        RelationshipChange::Set(id) => id,
        _ => return Err(ControlError::invalid("tls_certificate", "can't be blank")),
    };
    let cert = certificate(tx, &cert_id)?;
    require_covers(&cert, &domain)?;
    if let Some(existing) = tx.activation_by_domain(&domain)? {
        return Err(ControlError::Conflict(format!(
            "{domain} is already activated ({})",
            existing.id
        )));
    }
    let activation = Activation {
        id: id::new_id(),
        domain,
        certificate_id: cert.id,
        configuration_id: configuration_id(tx, f.configuration)?,
        mutual_authentication_id: mutual_authentication(tx, f.mutual_authentication, None)?,
        created_at: now,
        updated_at: now,
    };
    let id = activation.id.clone();
    tx.put(&Record::Activation(activation))?;
    Ok(id)
}

/// Update: attach/detach a mutual authentication, swap the certificate (must still cover the
/// domain); absent or null certificate = unchanged (go-fastly sends null when only attaching).
pub fn update(
    tx: &mut dyn WriteTx,
    u: Update<ActivationFields>,
    now: i64,
) -> Result<String, ControlError> {
    let mut a = tx
        .activation(&u.id)?
        .ok_or(ControlError::NotFound { resource: RESOURCE })?;
    if let RelationshipChange::Set(cert_id) = u.fields.certificate {
        let cert = certificate(tx, &cert_id)?;
        require_covers(&cert, &a.domain)?;
        a.certificate_id = cert.id;
    }
    if let RelationshipChange::Set(_) = u.fields.configuration {
        a.configuration_id = configuration_id(tx, u.fields.configuration)?;
    }
    a.mutual_authentication_id = mutual_authentication(
        tx,
        u.fields.mutual_authentication,
        a.mutual_authentication_id,
    )?;
    a.updated_at = next_version(a.updated_at, now);
    let id = a.id.clone();
    tx.put(&Record::Activation(a))?;
    Ok(id)
}

/// Delete.
pub fn delete(tx: &mut dyn WriteTx, id: &str) -> Result<String, ControlError> {
    if !tx.delete(Kind::Activation, id)? {
        return Err(ControlError::NotFound { resource: RESOURCE });
    }
    Ok(id.to_string())
}
