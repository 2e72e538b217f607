//! `/tls/configurations` (list, get, PATCH).

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{apply, base_url, read_body, single, state};
use crate::admin::document::jsonapi;
use crate::admin::error::ApiError;
use crate::admin::pagination::{document, slice, ListContext};
use crate::admin::query::Query;
use crate::admin::request::parse;
use crate::admin::resources::{self, kind};
use crate::admin::AdminState;
use crate::control::change::{ConfigurationFields, Update};
use crate::control::Change;
use crate::model::{Configuration, State as Model};

const PATH: &str = "/tls/configurations";
// dns_records are a Fastly edge concept with nothing to show here: accepted, included empty.
const KNOWN_INCLUDES: &[&str] = &["dns_records"];

/// GET list; `filter[bulk]=true` matches nothing (no bulk configurations exist here).
pub async fn list(
    State(s): State<AdminState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let page = q.page(20)?;
    let include = q.get("include").is_some();
    q.includes(&[], KNOWN_INCLUDES)?;
    let bulk = q.bool_filter("filter[bulk]")?;
    let model = state(&s).await?;
    let all: Vec<&Configuration> = model
        .configurations
        .iter()
        .filter(|_| bulk != Some(true))
        .collect();
    let total = all.len();
    let data = slice(all, page)
        .into_iter()
        .map(resources::configuration)
        .collect();
    let base = base_url(&s, &headers);
    let ctx = ListContext {
        base_url: &base,
        path: PATH,
        query: &q,
    };
    let inc = include.then(Vec::new);
    Ok(jsonapi(
        StatusCode::OK,
        &document(&ctx, page, total, data, inc),
    ))
}

fn render(model: &Model, id: &str, include: bool) -> Result<Response, ApiError> {
    let c = model
        .configuration(id)
        .ok_or_else(|| ApiError::not_found("TLS configuration"))?;
    Ok(single(
        StatusCode::OK,
        resources::configuration(c),
        include.then(Vec::new),
    ))
}

/// GET one.
pub async fn get(
    State(s): State<AdminState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    q.includes(&[], KNOWN_INCLUDES)?;
    render(&state(&s).await?, &id, q.get("include").is_some())
}

/// PATCH: name, and (an extension) `tls_protocols` / `http_protocols`.
pub async fn update(
    State(s): State<AdminState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_body(body).await?;
    let r = parse(&body, kind::CONFIGURATION, Some(&id))?;
    let fields = ConfigurationFields {
        name: r.string("name")?,
        tls_protocols: r.string_list("tls_protocols")?,
        http_protocols: r.string_list("http_protocols")?,
    };
    let applied = apply(&s, Change::UpdateConfiguration(Update { id, fields })).await?;
    render(&state(&s).await?, &applied.id, false)
}
