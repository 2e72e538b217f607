//! `/tls/mutual_authentications`.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::{apply, list_response, read, single, write, ListPage};
use crate::admin::document::no_content;
use crate::admin::error::ApiError;
use crate::admin::pagination::window;
use crate::admin::query::Query;
use crate::admin::request::ResourceObject;
use crate::admin::resources::{self, kind};
use crate::admin::AdminState;
use crate::control::change::{MutualAuthenticationFields, Update};
use crate::control::reads::{Reads, Uses};
use crate::control::Change;
use crate::model::MutualAuthentication;

const PATH: &str = "/tls/mutual_authentications";
const INCLUDES: &[&str] = &["tls_activations"];
const NOT_FOUND: &str = "mutual authentication";

/// The resource object, and its activations when `include` asks for them.
fn rendered(
    r: &dyn Reads,
    m: &MutualAuthentication,
    include: bool,
) -> Result<(Value, Vec<Value>), ApiError> {
    let acts = r.activations_using(Uses::MutualAuthentication(&m.id))?;
    let ids: Vec<String> = acts.iter().map(|a| a.id.clone()).collect();
    let included = match include {
        true => acts.iter().map(resources::activation).collect(),
        false => Vec::new(),
    };
    Ok((resources::mutual_authentication(m, &ids), included))
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
    let list = read(&s, move |r| {
        let found = r.list_mutual_authentications(window(page))?;
        let (mut data, mut inc) = (Vec::new(), Vec::new());
        for m in &found.items {
            let (v, acts) = rendered(r, m, include)?;
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

/// GET one.
pub async fn get(
    State(s): State<AdminState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let include = !q.includes(INCLUDES, &[])?.is_empty();
    render(&s, id, StatusCode::OK, include).await
}

async fn render(
    s: &AdminState,
    id: String,
    status: StatusCode,
    include: bool,
) -> Result<Response, ApiError> {
    read(s, move |r| {
        let m = r
            .mutual_authentication(&id)?
            .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
        let (data, inc) = rendered(r, &m, include)?;
        Ok(single(status, data, include.then_some(inc)))
    })
    .await
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
    let id = write(&s, body, kind::MUTUAL_AUTHENTICATION, None, change).await?;
    render(&s, id, StatusCode::CREATED, false).await
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
    let id = write(
        &s,
        body,
        kind::MUTUAL_AUTHENTICATION,
        Some(&path_id),
        change,
    )
    .await?;
    render(&s, id, StatusCode::OK, false).await
}

/// DELETE: 204; 409 while attached.
pub async fn delete(
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    apply(&s, Change::DeleteMutualAuthentication { id }).await?;
    Ok(no_content())
}
