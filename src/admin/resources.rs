//! Rendering of stored resources as JSON:API resource objects, exactly as Fastly shapes them
//! (docs/admin-api.md). Key material and bundles are never rendered (rule 4,
//! docs/architecture.md).

use serde_json::{json, Value};

use super::document::{identifier, to_many, to_one};
use crate::model::timestamp::{format_ms, format_secs};
use crate::model::{
    Activation, Certificate, Configuration, MutualAuthentication, PrivateKey, RevocationList,
};

/// Type strings (singular; the Python client validates them).
pub mod kind {
    pub const MUTUAL_AUTHENTICATION: &str = "mutual_authentication";
    pub const ACTIVATION: &str = "tls_activation";
    pub const CERTIFICATE: &str = "tls_certificate";
    pub const DOMAIN: &str = "tls_domain";
    pub const CONFIGURATION: &str = "tls_configuration";
    pub const PRIVATE_KEY: &str = "tls_private_key";
    pub const SUBSCRIPTION: &str = "tls_subscription";
    /// Our extension: not a Fastly type.
    pub const REVOCATION_LIST: &str = "tls_revocation_list";
}

fn ids(list: &[String]) -> impl Iterator<Item = &str> {
    list.iter().map(String::as_str)
}

/// A mutual authentication (never its bundle) with the ids of its activations.
pub fn mutual_authentication(m: &MutualAuthentication, activations: &[String]) -> Value {
    let acts = ids(activations);
    json!({
        "id": m.id,
        "type": kind::MUTUAL_AUTHENTICATION,
        "attributes": {
            "created_at": format_ms(m.created_at),
            "enforced": m.enforced,
            "name": m.name,
            "updated_at": format_ms(m.updated_at),
        },
        "relationships": { "tls_activations": to_many(kind::ACTIVATION, acts) },
    })
}

/// An activation; certificate, configuration and domain linkage are never null.
pub fn activation(a: &Activation) -> Value {
    json!({
        "id": a.id,
        "type": kind::ACTIVATION,
        "attributes": {
            "created_at": format_ms(a.created_at),
            "updated_at": format_ms(a.updated_at),
        },
        "relationships": {
            "tls_certificate": to_one(kind::CERTIFICATE, Some(&a.certificate_id)),
            "tls_configuration": to_one(kind::CONFIGURATION, Some(&a.configuration_id)),
            "tls_domain": to_one(kind::DOMAIN, Some(&a.domain)),
            "mutual_authentication": to_one(kind::MUTUAL_AUTHENTICATION, a.mutual_authentication_id.as_deref()),
        },
    })
}

/// A certificate with its derived attributes; the ids of its activations, when given, add
/// that relationship.
pub fn certificate(c: &Certificate, activations: Option<&[String]>) -> Value {
    let mut v = json!({
        "id": c.id,
        "type": kind::CERTIFICATE,
        "attributes": {
            "created_at": format_ms(c.created_at),
            "issued_to": c.issued_to,
            "issuer": c.issuer,
            "name": c.name,
            "not_after": format_secs(c.not_after),
            "not_before": format_secs(c.not_before),
            "replace": false,
            "serial_number": c.serial_number,
            "signature_algorithm": c.signature_algorithm,
            "updated_at": format_ms(c.updated_at),
        },
        "relationships": {
            "tls_domains": to_many(kind::DOMAIN, c.dns_names.iter().map(String::as_str)),
        },
    });
    if let Some(activations) = activations {
        let acts = ids(activations);
        if let Some(rel) = v.get_mut("relationships").and_then(Value::as_object_mut) {
            rel.insert("tls_activations".into(), to_many(kind::ACTIVATION, acts));
        }
    }
    v
}

/// A revocation list (our extension): what the CRL says, never the CRL itself.
pub fn revocation_list(l: &RevocationList) -> Value {
    json!({
        "id": l.id,
        "type": kind::REVOCATION_LIST,
        "attributes": {
            "created_at": format_ms(l.created_at),
            "issuer": l.issuer,
            "last_fetch_error": l.last_fetch_error,
            "name": l.name,
            "next_update": format_secs(l.next_update),
            "revoked_count": l.revoked_count,
            "this_update": format_secs(l.this_update),
            "updated_at": format_ms(l.updated_at),
            "url": l.url,
        },
        "relationships": {
            "mutual_authentication": to_one(kind::MUTUAL_AUTHENTICATION, Some(&l.mutual_authentication_id)),
        },
    })
}

/// A private key: type, length and public-key hash only.
pub fn private_key(k: &PrivateKey) -> Value {
    json!({
        "id": k.id,
        "type": kind::PRIVATE_KEY,
        "attributes": {
            "created_at": format_ms(k.created_at),
            "key_length": k.key_length,
            "key_type": k.key_type,
            "name": k.name,
            "public_key_sha1": k.public_key_sha1,
            "replace": false,
        },
    })
}

/// A TLS configuration.
pub fn configuration(c: &Configuration) -> Value {
    json!({
        "id": c.id,
        "type": kind::CONFIGURATION,
        "attributes": {
            "bulk": false,
            "created_at": format_ms(c.created_at),
            "default": c.default,
            "http_protocols": c.http_protocols,
            "name": c.name,
            "tls_protocols": c.tls_protocols,
            "updated_at": format_ms(c.updated_at),
        },
        "relationships": { "dns_records": { "data": [] } },
    })
}

/// A TLS domain (no attributes; its id is the name) with the ids of its activation and of the
/// certificates whose SANs list it exactly.
pub fn domain(name: &str, activations: &[String], certificates: &[String]) -> Value {
    json!({
        "id": name,
        "type": kind::DOMAIN,
        "relationships": {
            "tls_activations": to_many(kind::ACTIVATION, ids(activations)),
            "tls_certificates": to_many(kind::CERTIFICATE, ids(certificates)),
            "tls_subscriptions": { "data": [] },
        },
    })
}

/// A bare identifier, for `included` arrays that refer to a domain.
pub fn domain_identifier(name: &str) -> Value {
    identifier(kind::DOMAIN, name)
}
