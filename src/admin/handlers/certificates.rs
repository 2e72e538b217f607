//! `/tls/certificates` and `/tls/certificates/{id}/blob`.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::{apply, list_response, single, state, write, ListPage};
use crate::admin::document::{json, no_content};
use crate::admin::error::ApiError;
use crate::admin::pagination::slice;
use crate::admin::query::Query;
use crate::admin::request::ResourceObject;
use crate::admin::resources::{self, kind};
use crate::admin::AdminState;
use crate::control::change::{CertificateFields, Update};
use crate::control::Change;
use crate::model::{pki, timestamp, Certificate, State as Model};

const PATH: &str = "/tls/certificates";
const INCLUDES: &[&str] = &["tls_activations"];
const NOT_FOUND: &str = "TLS certificate";

/// `filter[not_after]` and its `[lte]`/`[lt]`/`[gte]`/`[gt]` forms (plain means lte: "expire
/// prior to the date").
fn not_after_filters(q: &Query) -> Result<Vec<(&'static str, i64)>, ApiError> {
    let mut out = Vec::new();
    for (suffix, op) in [
        ("", "lte"),
        ("[lte]", "lte"),
        ("[lt]", "lt"),
        ("[gte]", "gte"),
        ("[gt]", "gt"),
    ] {
        let key = format!("filter[not_after]{suffix}");
        if let Some(v) = q.get(&key).filter(|v| !v.is_empty()) {
            let ms = timestamp::parse_filter_date(v).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{key} must be a date (2020-05-05) or RFC 3339 time"
                ))
            })?;
            out.push((op, ms / 1000));
        }
    }
    Ok(out)
}

fn matches_not_after(c: &Certificate, filters: &[(&str, i64)]) -> bool {
    filters.iter().all(|(op, t)| match *op {
        "lt" => c.not_after < *t,
        "gte" => c.not_after >= *t,
        "gt" => c.not_after > *t,
        _ => c.not_after <= *t,
    })
}

fn first_activation(c: &Certificate, model: &Model) -> i64 {
    model
        .activations
        .iter()
        .filter(|a| a.certificate_id == c.id)
        .map(|a| a.created_at)
        .min()
        .unwrap_or(i64::MAX)
}

fn sort(items: &mut [&Certificate], q: &Query, model: &Model) -> Result<(), ApiError> {
    let Some(spec) = q.get("sort").filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    let (desc, field) = spec.strip_prefix('-').map_or((false, spec), |f| (true, f));
    let key = |c: &Certificate| -> i64 {
        match field {
            "not_before" => c.not_before,
            "not_after" => c.not_after,
            "tls_activations.created_at" => first_activation(c, model),
            _ => c.created_at,
        }
    };
    if ![
        "created_at",
        "not_before",
        "not_after",
        "tls_activations.created_at",
    ]
    .contains(&field)
    {
        return Err(ApiError::bad_request(format!(
            "sort {spec:?} is not supported"
        )));
    }
    items.sort_by_key(|c| key(c));
    if desc {
        items.reverse();
    }
    Ok(())
}

fn included(certs: &[&Certificate], model: &Model) -> Vec<Value> {
    model
        .activations
        .iter()
        .filter(|a| certs.iter().any(|c| c.id == a.certificate_id))
        .map(resources::activation)
        .collect()
}

/// GET list with `filter[in_use]`, `filter[not_after]`, `filter[tls_domains.id]`, `sort`, `include`.
pub async fn list(
    State(s): State<AdminState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let page = q.page(20)?;
    let include = !q.includes(INCLUDES, &[])?.is_empty();
    let in_use = q.bool_filter("filter[in_use]")?;
    let not_after = not_after_filters(&q)?;
    let domain = q.get("filter[tls_domains.id]").filter(|d| !d.is_empty());
    let domain = domain.map(|d| pki::canonical_domain(d).unwrap_or_else(|_| d.to_string()));
    let model = state(&s).await?;
    let mut all: Vec<&Certificate> = model
        .certificates
        .iter()
        .filter(|c| {
            in_use.is_none_or(|f| model.activations.iter().any(|a| a.certificate_id == c.id) == f)
        })
        .filter(|c| matches_not_after(c, &not_after))
        .filter(|c| domain.as_ref().is_none_or(|d| c.dns_names.contains(d)))
        .collect();
    sort(&mut all, &q, &model)?;
    let total = all.len();
    let items = slice(all, page);
    let data = items
        .iter()
        .map(|c| resources::certificate(c, &model, include))
        .collect();
    let inc = include.then(|| included(&items, &model));
    let list = ListPage {
        page,
        total,
        data,
        included: inc,
    };
    Ok(list_response(&s, &headers, PATH, &q, list))
}

fn find<'a>(model: &'a Model, id: &str) -> Result<&'a Certificate, ApiError> {
    model
        .certificate(id)
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))
}

fn render(
    model: &Model,
    id: &str,
    status: StatusCode,
    include: bool,
) -> Result<Response, ApiError> {
    let c = find(model, id)?;
    let inc = include.then(|| included(&[c], model));
    Ok(single(
        status,
        resources::certificate(c, model, include),
        inc,
    ))
}

/// GET one (`include=tls_activations` accepted).
pub async fn get(
    State(s): State<AdminState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let include = !q.includes(INCLUDES, &[])?.is_empty();
    render(&state(&s).await?, &id, StatusCode::OK, include)
}

/// GET blob: plain JSON `{"cert_blob": …}` (the certificate is public; the key never is).
pub async fn blob(
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let model = state(&s).await?;
    let c = find(&model, &id)?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "cert_blob": c.cert_blob }),
    ))
}

fn fields(r: &ResourceObject) -> Result<CertificateFields, ApiError> {
    // `allow_untrusted_root` is accepted and has no effect: certificates are served as uploaded.
    r.boolean("allow_untrusted_root")?;
    Ok(CertificateFields {
        name: r.string("name")?,
        cert_blob: r.string("cert_blob")?,
    })
}

/// POST: 201; needs an uploaded key matching the certificate.
pub async fn create(State(s): State<AdminState>, body: Body) -> Result<Response, ApiError> {
    let change = |r: &ResourceObject| Ok(Change::CreateCertificate(fields(r)?));
    let (model, id) = write(&s, body, kind::CERTIFICATE, None, change).await?;
    render(&model, &id, StatusCode::CREATED, false)
}

/// PATCH: rename and/or replace the blob.
pub async fn update(
    State(s): State<AdminState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let path_id = id.clone();
    let change = |r: &ResourceObject| {
        let fields = fields(r)?;
        Ok(Change::UpdateCertificate(Update { id, fields }))
    };
    let (model, id) = write(&s, body, kind::CERTIFICATE, Some(&path_id), change).await?;
    render(&model, &id, StatusCode::OK, false)
}

/// DELETE: 204; 409 while activated.
pub async fn delete(
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    apply(&s, Change::DeleteCertificate { id }).await?;
    Ok(no_content())
}
