//! `/tls/configurations` (list, get, PATCH).

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{list_response, single, state, write, ListPage};
use crate::admin::error::ApiError;
use crate::admin::pagination::slice;
use crate::admin::query::Query;
use crate::admin::request::ResourceObject;
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
    let included = include.then(Vec::new);
    let list = ListPage {
        page,
        total,
        data,
        included,
    };
    Ok(list_response(&s, &headers, PATH, &q, list))
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
    let path_id = id.clone();
    let change = |r: &ResourceObject| {
        let fields = ConfigurationFields {
            name: r.string("name")?,
            tls_protocols: r.string_list("tls_protocols")?,
            http_protocols: r.string_list("http_protocols")?,
        };
        Ok(Change::UpdateConfiguration(Update { id, fields }))
    };
    let (model, id) = write(&s, body, kind::CONFIGURATION, Some(&path_id), change).await?;
    render(&model, &id, false)
}
