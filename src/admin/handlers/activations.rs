//! `/tls/activations`: the join of domain, certificate, configuration and (optionally) a
//! mutual authentication.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::{activation_ids, apply, list_response, read, single, write, ListPage};
use crate::admin::document::no_content;
use crate::admin::error::ApiError;
use crate::admin::pagination::window;
use crate::admin::query::Query;
use crate::admin::request::ResourceObject;
use crate::admin::resources::{self, kind};
use crate::admin::AdminState;
use crate::control::change::{ActivationFields, Update};
use crate::control::reads::{ActivationQuery, Reads, Uses};
use crate::control::{Change, RelationshipChange};
use crate::model::Activation;

const PATH: &str = "/tls/activations";
const INCLUDES: &[&str] = &[
    "tls_certificate",
    "tls_configuration",
    "tls_domain",
    "mutual_authentication",
];

/// A TLS domain resource object, read with its relationships.
pub fn domain_object(r: &dyn Reads, name: &str) -> Result<Value, ApiError> {
    let acts: Vec<String> = r
        .activation_by_domain(name)?
        .map(|a| a.id)
        .into_iter()
        .collect();
    let certs: Vec<String> = r
        .certificates_naming(name)?
        .into_iter()
        .map(|c| c.id)
        .collect();
    Ok(resources::domain(name, &acts, &certs))
}

/// The resources the activations refer to, once each, as `include` asks.
fn included(
    r: &dyn Reads,
    acts: &[Activation],
    includes: &[String],
) -> Result<Vec<Value>, ApiError> {
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
                    if let Some(c) = r.certificate(&a.certificate_id)? {
                        push(resources::certificate(&c, None));
                    }
                }
                "tls_configuration" => {
                    if let Some(c) = r.configuration(&a.configuration_id)? {
                        push(resources::configuration(&c));
                    }
                }
                "tls_domain" => push(domain_object(r, &a.domain)?),
                _ => {
                    let ma = a.mutual_authentication_id.as_deref();
                    if let Some(m) = ma
                        .map(|id| r.mutual_authentication(id))
                        .transpose()?
                        .flatten()
                    {
                        let ids = activation_ids(r, Uses::MutualAuthentication(&m.id))?;
                        push(resources::mutual_authentication(&m, &ids));
                    }
                }
            }
        }
    }
    Ok(out)
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
    let query = ActivationQuery {
        certificate_id: cert,
        configuration_id: conf,
        domain,
    };
    let list = read(&s, move |r| {
        let found = r.list_activations(&query, window(page))?;
        let inc = match includes.is_empty() {
            true => None,
            false => Some(included(r, &found.items, &includes)?),
        };
        Ok(ListPage {
            page,
            total: found.total,
            data: found.items.iter().map(resources::activation).collect(),
            included: inc,
        })
    })
    .await?;
    Ok(list_response(&s, &headers, PATH, &q, list))
}

async fn render(
    s: &AdminState,
    id: String,
    status: StatusCode,
    includes: Vec<String>,
) -> Result<Response, ApiError> {
    read(s, move |r| {
        let a = r
            .activation(&id)?
            .ok_or_else(|| ApiError::not_found("TLS activation"))?;
        let inc = match includes.is_empty() {
            true => None,
            false => Some(included(r, std::slice::from_ref(&a), &includes)?),
        };
        Ok(single(status, resources::activation(&a), inc))
    })
    .await
}

/// GET one.
pub async fn get(
    State(s): State<AdminState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let includes = q.includes(INCLUDES, &[])?;
    render(&s, id, StatusCode::OK, includes).await
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
    let id = write(&s, body, kind::ACTIVATION, None, change).await?;
    render(&s, id, StatusCode::CREATED, Vec::new()).await
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
    let id = write(&s, body, kind::ACTIVATION, Some(&path_id), change).await?;
    render(&s, id, StatusCode::OK, Vec::new()).await
}

/// DELETE: 204.
pub async fn delete(
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    apply(&s, Change::DeleteActivation { id }).await?;
    Ok(no_content())
}
