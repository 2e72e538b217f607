//! `/tls/configurations` (list, get, PATCH).

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{list_response, read, single, write, ListPage};
use crate::admin::error::ApiError;
use crate::admin::pagination::window;
use crate::admin::query::Query;
use crate::admin::request::ResourceObject;
use crate::admin::resources::{self, kind};
use crate::admin::AdminState;
use crate::control::change::{ConfigurationFields, Update};
use crate::control::reads::Page;
use crate::control::Change;

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
    let list = read(&s, move |r| {
        let found = match bulk {
            Some(true) => Page {
                items: Vec::new(),
                total: 0,
            },
            _ => r.list_configurations(window(page))?,
        };
        Ok(ListPage {
            page,
            total: found.total,
            data: found.items.iter().map(resources::configuration).collect(),
            included: include.then(Vec::new),
        })
    })
    .await?;
    Ok(list_response(&s, &headers, PATH, &q, list))
}

async fn render(s: &AdminState, id: String, include: bool) -> Result<Response, ApiError> {
    read(s, move |r| {
        let c = r
            .configuration(&id)?
            .ok_or_else(|| ApiError::not_found("TLS configuration"))?;
        Ok(single(
            StatusCode::OK,
            resources::configuration(&c),
            include.then(Vec::new),
        ))
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
    q.includes(&[], KNOWN_INCLUDES)?;
    render(&s, id, q.get("include").is_some()).await
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
    let id = write(&s, body, kind::CONFIGURATION, Some(&path_id), change).await?;
    render(&s, id, false).await
}
