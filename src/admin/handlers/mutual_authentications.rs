//! `/tls/mutual_authentications`.

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
use crate::control::change::{MutualAuthenticationFields, Update};
use crate::control::Change;
use crate::model::{MutualAuthentication, State as Model};

const PATH: &str = "/tls/mutual_authentications";
const INCLUDES: &[&str] = &["tls_activations"];
const NOT_FOUND: &str = "mutual authentication";

fn included(ms: &[&MutualAuthentication], model: &Model) -> Vec<Value> {
    model
        .activations
        .iter()
        .filter(|a| {
            ms.iter()
                .any(|m| a.mutual_authentication_id.as_deref() == Some(&m.id))
        })
        .map(resources::activation)
        .collect()
}

/// GET list.
pub async fn list(
    State(s): State<AdminState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    // The real API defaults to 100 for this collection (recorded), 20 elsewhere.
    let page = q.page(100)?;
    let include = !q.includes(INCLUDES, &[])?.is_empty();
    let model = state(&s).await?;
    let all: Vec<&MutualAuthentication> = model.mutual_authentications.iter().collect();
    let total = all.len();
    let items = slice(all, page);
    let data = items
        .iter()
        .map(|m| resources::mutual_authentication(m, &model))
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

/// GET one.
pub async fn get(
    State(s): State<AdminState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let include = !q.includes(INCLUDES, &[])?.is_empty();
    let model = state(&s).await?;
    render(&model, &id, StatusCode::OK, include)
}

fn render(
    model: &Model,
    id: &str,
    status: StatusCode,
    include: bool,
) -> Result<Response, ApiError> {
    let m = model
        .mutual_authentication(id)
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    let inc = include.then(|| included(&[m], model));
    Ok(single(
        status,
        resources::mutual_authentication(m, model),
        inc,
    ))
}

fn fields(r: &ResourceObject) -> Result<MutualAuthenticationFields, ApiError> {
    Ok(MutualAuthenticationFields {
        name: r.string("name")?,
        cert_bundle: r.string("cert_bundle")?,
        enforced: r.boolean("enforced")?,
    })
}

/// POST: 201 with the created resource.
pub async fn create(State(s): State<AdminState>, body: Body) -> Result<Response, ApiError> {
    let change = |r: &ResourceObject| Ok(Change::CreateMutualAuthentication(fields(r)?));
    let (model, id) = write(&s, body, kind::MUTUAL_AUTHENTICATION, None, change).await?;
    render(&model, &id, StatusCode::CREATED, false)
}

/// PATCH: absent attributes unchanged.
pub async fn update(
    State(s): State<AdminState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let path_id = id.clone();
    let change = |r: &ResourceObject| {
        let fields = fields(r)?;
        Ok(Change::UpdateMutualAuthentication(Update { id, fields }))
    };
    let (model, id) = write(
        &s,
        body,
        kind::MUTUAL_AUTHENTICATION,
        Some(&path_id),
        change,
    )
    .await?;
    render(&model, &id, StatusCode::OK, false)
}

/// DELETE: 204; 409 while attached.
pub async fn delete(
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    apply(&s, Change::DeleteMutualAuthentication { id }).await?;
    Ok(no_content())
}
