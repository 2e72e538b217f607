//! `/tls/certificates` and `/tls/certificates/{id}/blob`.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::{apply, list_response, read, single, write, ListPage};
use crate::admin::document::{json, no_content};
use crate::admin::error::ApiError;
use crate::admin::pagination::window;
use crate::admin::query::Query;
use crate::admin::request::ResourceObject;
use crate::admin::resources::{self, kind};
use crate::admin::AdminState;
use crate::control::change::{CertificateFields, Update};
use crate::control::reads::{CertificateQuery, CertificateSort, NotAfter, Reads, Uses};
use crate::control::Change;
use crate::model::{pki, timestamp, Certificate};

const PATH: &str = "/tls/certificates";
const INCLUDES: &[&str] = &["tls_activations"];
const NOT_FOUND: &str = "TLS certificate";

/// `filter[not_after]` and its `[lte]`/`[lt]`/`[gte]`/`[gt]` forms (plain means lte: "expire
/// prior to the date").
fn not_after_filters(q: &Query) -> Result<Vec<NotAfter>, ApiError> {
    let mut out = Vec::new();
    type Bound = fn(i64) -> NotAfter;
    let bounds: [(&str, Bound); 5] = [
        ("", NotAfter::AtMost),
        ("[lte]", NotAfter::AtMost),
        ("[lt]", NotAfter::Before),
        ("[gte]", NotAfter::AtLeast),
        ("[gt]", NotAfter::After),
    ];
    for (suffix, bound) in bounds {
        let key = format!("filter[not_after]{suffix}");
        if let Some(v) = q.get(&key).filter(|v| !v.is_empty()) {
            let ms = timestamp::parse_filter_date(v).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{key} must be a date (2020-05-05) or RFC 3339 time"
                ))
            })?;
            out.push(bound(ms / 1000));
        }
    }
    Ok(out)
}

/// `sort`: a field, `-` first for descending.
fn sort(q: &Query) -> Result<(CertificateSort, bool), ApiError> {
    let Some(spec) = q.get("sort").filter(|s| !s.is_empty()) else {
        return Ok((CertificateSort::CreatedAt, false));
    };
    let (desc, field) = spec.strip_prefix('-').map_or((false, spec), |f| (true, f));
    let key = match field {
        "created_at" => CertificateSort::CreatedAt,
        "not_before" => CertificateSort::NotBefore,
        "not_after" => CertificateSort::NotAfter,
        "tls_activations.created_at" => CertificateSort::FirstActivation,
        _ => {
            return Err(ApiError::bad_request(format!(
                "sort {spec:?} is not supported"
            )))
        }
    };
    Ok((key, desc))
}

/// The resource object (with its activations' ids when `include` asks) and those activations.
fn rendered(
    r: &dyn Reads,
    c: &Certificate,
    include: bool,
) -> Result<(Value, Vec<Value>), ApiError> {
    if !include {
        return Ok((resources::certificate(c, None), Vec::new()));
    }
    let acts = r.activations_using(Uses::Certificate(&c.id))?;
    let ids: Vec<String> = acts.iter().map(|a| a.id.clone()).collect();
    let included = acts.iter().map(resources::activation).collect();
    Ok((resources::certificate(c, Some(&ids)), included))
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
    let (sort, descending) = sort(&q)?;
    let query = CertificateQuery {
        in_use,
        not_after,
        domain,
        sort,
        descending,
    };
    let list = read(&s, move |r| {
        let found = r.list_certificates(&query, window(page))?;
        let (mut data, mut inc) = (Vec::new(), Vec::new());
        for c in &found.items {
            let (v, acts) = rendered(r, c, include)?;
            data.push(v);
            inc.extend(acts);
        }
        Ok(ListPage {
            page,
            total: found.total,
            data,
            included: include.then_some(inc),
        })
    })
    .await?;
    Ok(list_response(&s, &headers, PATH, &q, list))
}

async fn render(
    s: &AdminState,
    id: String,
    status: StatusCode,
    include: bool,
) -> Result<Response, ApiError> {
    read(s, move |r| {
        let c = r
            .certificate(&id)?
            .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
        let (data, inc) = rendered(r, &c, include)?;
        Ok(single(status, data, include.then_some(inc)))
    })
    .await
}

/// GET one (`include=tls_activations` accepted).
pub async fn get(
    State(s): State<AdminState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let include = !q.includes(INCLUDES, &[])?.is_empty();
    render(&s, id, StatusCode::OK, include).await
}

/// GET blob: plain JSON `{"cert_blob": …}` (the certificate is public; the key never is).
pub async fn blob(
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    read(&s, move |r| {
        let c = r
            .certificate(&id)?
            .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
        Ok(json(
            StatusCode::OK,
            &serde_json::json!({ "cert_blob": c.cert_blob }),
        ))
    })
    .await
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
    let id = write(&s, body, kind::CERTIFICATE, None, change).await?;
    render(&s, id, StatusCode::CREATED, false).await
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
    let id = write(&s, body, kind::CERTIFICATE, Some(&path_id), change).await?;
    render(&s, id, StatusCode::OK, false).await
}

/// DELETE: 204; 409 while activated.
pub async fn delete(
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    apply(&s, Change::DeleteCertificate { id }).await?;
    Ok(no_content())
}
