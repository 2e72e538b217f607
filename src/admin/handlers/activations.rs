//! `/tls/activations`: the join of domain, certificate, configuration and (optionally) a
//! mutual authentication.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::{apply, list_response, single, state, write, ListPage};
use crate::admin::document::no_content;
use crate::admin::error::ApiError;
use crate::admin::pagination::slice;
use crate::admin::query::Query;
use crate::admin::request::ResourceObject;
use crate::admin::resources::{self, kind};
use crate::admin::AdminState;
use crate::control::change::{ActivationFields, Update};
use crate::control::{Change, RelationshipChange};
use crate::model::{Activation, State as Model};

const PATH: &str = "/tls/activations";
const INCLUDES: &[&str] = &[
    "tls_certificate",
    "tls_configuration",
    "tls_domain",
    "mutual_authentication",
];

fn included(acts: &[&Activation], includes: &[String], model: &Model) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut push = |v: Value| {
        if !out
            .iter()
            .any(|o| o.get("id") == v.get("id") && o.get("type") == v.get("type"))
        {
            out.push(v);
        }
    };
    for a in acts {
        for inc in includes {
            match inc.as_str() {
                "tls_certificate" => {
                    if let Some(c) = model.certificate(&a.certificate_id) {
                        push(resources::certificate(c, model, false));
                    }
                }
                "tls_configuration" => {
                    if let Some(c) = model.configuration(&a.configuration_id) {
                        push(resources::configuration(c));
                    }
                }
                "tls_domain" => push(resources::domain(&a.domain, model)),
                _ => {
                    let ma = a.mutual_authentication_id.as_deref();
                    if let Some(m) = ma.and_then(|id| model.mutual_authentication(id)) {
                        push(resources::mutual_authentication(m, model));
                    }
                }
            }
        }
    }
    out
}

/// GET list with `filter[tls_certificate.id]`, `filter[tls_configuration.id]`, `filter[tls_domain.id]`.
pub async fn list(
    State(s): State<AdminState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let page = q.page(20)?;
    let includes = q.includes(INCLUDES, &[])?;
    let f = |k: &str| q.get(k).filter(|v| !v.is_empty()).map(str::to_string);
    let (cert, conf) = (
        f("filter[tls_certificate.id]"),
        f("filter[tls_configuration.id]"),
    );
    let domain = f("filter[tls_domain.id]").map(|d| d.trim_end_matches('.').to_ascii_lowercase());
    let model = state(&s).await?;
    let all: Vec<&Activation> = model
        .activations
        .iter()
        .filter(|a| cert.as_ref().is_none_or(|c| &a.certificate_id == c))
        .filter(|a| conf.as_ref().is_none_or(|c| &a.configuration_id == c))
        .filter(|a| domain.as_ref().is_none_or(|d| &a.domain == d))
        .collect();
    let total = all.len();
    let items = slice(all, page);
    let data = items.iter().map(|a| resources::activation(a)).collect();
    let inc = (!includes.is_empty()).then(|| included(&items, &includes, &model));
    let list = ListPage {
        page,
        total,
        data,
        included: inc,
    };
    Ok(list_response(&s, &headers, PATH, &q, list))
}

fn render(
    model: &Model,
    id: &str,
    status: StatusCode,
    includes: &[String],
) -> Result<Response, ApiError> {
    let a = model
        .activations
        .iter()
        .find(|a| a.id == id)
        .ok_or_else(|| ApiError::not_found("TLS activation"))?;
    let inc = (!includes.is_empty()).then(|| included(&[a], includes, model));
    Ok(single(status, resources::activation(a), inc))
}

/// GET one.
pub async fn get(
    State(s): State<AdminState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let includes = q.includes(INCLUDES, &[])?;
    render(&state(&s).await?, &id, StatusCode::OK, &includes)
}

fn fields(r: &ResourceObject) -> Result<ActivationFields, ApiError> {
    let domain = match r.relationship("tls_domain", kind::DOMAIN)? {
        RelationshipChange::Set(d) => Some(d),
        _ => None,
    };
    Ok(ActivationFields {
        domain,
        certificate: r.relationship("tls_certificate", kind::CERTIFICATE)?,
        configuration: r.relationship("tls_configuration", kind::CONFIGURATION)?,
        mutual_authentication: r
            .relationship("mutual_authentication", kind::MUTUAL_AUTHENTICATION)?,
    })
}

/// POST: 201.
pub async fn create(State(s): State<AdminState>, body: Body) -> Result<Response, ApiError> {
    let change = |r: &ResourceObject| Ok(Change::CreateActivation(fields(r)?));
    let (model, id) = write(&s, body, kind::ACTIVATION, None, change).await?;
    render(&model, &id, StatusCode::CREATED, &[])
}

/// PATCH: attach/detach a mutual authentication, swap the certificate.
pub async fn update(
    State(s): State<AdminState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let path_id = id.clone();
    let change = |r: &ResourceObject| {
        let mut fields = fields(r)?;
        // A null certificate means "unchanged" on PATCH (go-fastly sends it when only attaching).
        if fields.certificate == RelationshipChange::Clear {
            fields.certificate = RelationshipChange::Absent;
        }
        Ok(Change::UpdateActivation(Update { id, fields }))
    };
    let (model, id) = write(&s, body, kind::ACTIVATION, Some(&path_id), change).await?;
    render(&model, &id, StatusCode::OK, &[])
}

/// DELETE: 204.
pub async fn delete(
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    apply(&s, Change::DeleteActivation { id }).await?;
    Ok(no_content())
}
