//! Create, update and delete certificates.

use super::change::{CertificateFields, Update};
use super::{next_version, ControlError};
use crate::model::{id, pki, validate, Certificate, Kind, Record};
use crate::store::{Uses, WriteTx};

const RESOURCE: &str = "TLS certificate";

/// Parse a chain and require that its key was uploaded.
fn parse_blob(tx: &dyn WriteTx, pem: &str) -> Result<pki::CertInfo, ControlError> {
    if pem.trim().is_empty() {
        return Err(ControlError::invalid("cert_blob", "can't be blank"));
    }
    validate::pem_text(pem).map_err(|e| ControlError::invalid("cert_blob", e))?;
    let info =
        pki::parse_certificate_chain(pem).map_err(|e| ControlError::invalid("cert_blob", e))?;
    if tx
        .private_key_by_public_key(&info.public_key_sha1)?
        .is_none()
    {
        return Err(ControlError::invalid(
            "cert_blob",
            "has no matching private key: upload the key to /tls/private_keys first",
        ));
    }
    Ok(info)
}

fn check_name(name: &str) -> Result<(), ControlError> {
    validate::name(name).map_err(|e| ControlError::invalid("name", e))
}

fn apply_info(c: &mut Certificate, pem: String, info: pki::CertInfo) {
    c.cert_blob = pem;
    c.issued_to = info.issued_to;
    c.issuer = info.issuer;
    c.serial_number = info.serial_number;
    c.signature_algorithm = info.signature_algorithm;
    c.not_before = info.not_before;
    c.not_after = info.not_after;
    c.dns_names = info.dns_names;
    c.public_key_sha1 = info.public_key_sha1;
}

/// Create; the name defaults to the certificate's common name (or first SAN).
pub fn create(
    tx: &mut dyn WriteTx,
    f: CertificateFields,
    now: i64,
) -> Result<String, ControlError> {
    let pem = f
        .cert_blob
        .ok_or_else(|| ControlError::invalid("cert_blob", "can't be blank"))?;
    let info = parse_blob(tx, &pem)?;
    let name = match f.name.filter(|n| !n.is_empty()) {
        Some(n) => {
            check_name(&n)?;
            n
        }
        None => info.issued_to.clone(),
    };
    let mut cert = Certificate {
        id: id::new_id(),
        name,
        cert_blob: String::new(),
        issued_to: String::new(),
        issuer: String::new(),
        serial_number: String::new(),
        signature_algorithm: String::new(),
        not_before: 0,
        not_after: 0,
        dns_names: Vec::new(),
        public_key_sha1: String::new(),
        created_at: now,
        updated_at: now,
    };
    apply_info(&mut cert, pem, info);
    let id = cert.id.clone();
    tx.put(&Record::Certificate(cert))?;
    Ok(id)
}

/// Update the name and/or replace the blob; a new blob must still cover every domain
/// activated with this certificate.
pub fn update(
    tx: &mut dyn WriteTx,
    u: Update<CertificateFields>,
    now: i64,
) -> Result<String, ControlError> {
    let mut cert = tx
        .certificate(&u.id)?
        .ok_or(ControlError::NotFound { resource: RESOURCE })?;
    if let Some(name) = u.fields.name {
        if name.is_empty() {
            return Err(ControlError::invalid("name", "can't be blank"));
        }
        check_name(&name)?;
        cert.name = name;
    }
    if let Some(pem) = u.fields.cert_blob {
        let info = parse_blob(tx, &pem)?;
        for a in tx.activations_using(Uses::Certificate(&cert.id))? {
            if !info
                .dns_names
                .iter()
                .any(|san| pki::san_covers(san, &a.domain))
            {
                return Err(ControlError::invalid(
                    "cert_blob",
                    format!(
                        "does not cover {}, which is activated with this certificate",
                        a.domain
                    ),
                ));
            }
        }
        apply_info(&mut cert, pem, info);
    }
    cert.updated_at = next_version(cert.updated_at, now);
    let id = cert.id.clone();
    tx.put(&Record::Certificate(cert))?;
    Ok(id)
}

/// Delete; refused while activated.
pub fn delete(tx: &mut dyn WriteTx, id: &str) -> Result<String, ControlError> {
    if tx.certificate(id)?.is_none() {
        return Err(ControlError::NotFound { resource: RESOURCE });
    }
    let n = tx.count_activations_using(Uses::Certificate(id))?;
    if n > 0 {
        return Err(ControlError::Conflict(format!(
            "the TLS certificate is used by {n} TLS activation(s); delete them first"
        )));
    }
    tx.delete(Kind::Certificate, id)?;
    Ok(id.to_string())
}
