//! `/tls/private_keys` (no PATCH, as in Fastly's API).

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{apply, list_response, read, single, write, ListPage};
use crate::admin::document::no_content;
use crate::admin::error::ApiError;
use crate::admin::pagination::window;
use crate::admin::query::Query;
use crate::admin::request::ResourceObject;
use crate::admin::resources::{self, kind};
use crate::admin::AdminState;
use crate::control::change::PrivateKeyFields;
use crate::control::Change;

const PATH: &str = "/tls/private_keys";
const NOT_FOUND: &str = "private key";

/// GET list; `filter[in_use]=false` lists keys no certificate uses.
pub async fn list(
    State(s): State<AdminState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let page = q.page(20)?;
    let filter = q.bool_filter("filter[in_use]")?;
    let list = read(&s, move |r| {
        let found = r.list_private_keys(filter, window(page))?;
        Ok(ListPage {
            page,
            total: found.total,
            data: found.items.iter().map(resources::private_key).collect(),
            included: None,
        })
    })
    .await?;
    Ok(list_response(&s, &headers, PATH, &q, list))
}

async fn render(s: &AdminState, id: String, status: StatusCode) -> Result<Response, ApiError> {
    read(s, move |r| {
        let k = r
            .private_key(&id)?
            .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
        Ok(single(status, resources::private_key(&k), None))
    })
    .await
}

/// GET one.
pub async fn get(
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    render(&s, id, StatusCode::OK).await
}

/// POST: 201. go-fastly sends `"type": ""` here, which is accepted.
pub async fn create(State(s): State<AdminState>, body: Body) -> Result<Response, ApiError> {
    let change = |r: &ResourceObject| {
        let fields = PrivateKeyFields {
            name: r.string("name")?,
            key: r.string("key")?,
        };
        Ok(Change::CreatePrivateKey(fields))
    };
    let id = write(&s, body, kind::PRIVATE_KEY, None, change).await?;
    render(&s, id, StatusCode::CREATED).await
}

/// DELETE: 204; 409 while a certificate uses the key.
pub async fn delete(
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    apply(&s, Change::DeletePrivateKey { id }).await?;
    Ok(no_content())
}
