//! `/tls/private_keys` (no PATCH, as in Fastly's API).

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{apply, list_response, single, state, write, ListPage};
use crate::admin::document::no_content;
use crate::admin::error::ApiError;
use crate::admin::pagination::slice;
use crate::admin::query::Query;
use crate::admin::request::ResourceObject;
use crate::admin::resources::{self, kind};
use crate::admin::AdminState;
use crate::control::change::PrivateKeyFields;
use crate::control::Change;
use crate::model::{PrivateKey, State as Model};

const PATH: &str = "/tls/private_keys";
const NOT_FOUND: &str = "private key";

fn in_use(k: &PrivateKey, model: &Model) -> bool {
    model
        .certificates
        .iter()
        .any(|c| c.public_key_sha1 == k.public_key_sha1)
}

/// GET list; `filter[in_use]=false` lists keys no certificate uses.
pub async fn list(
    State(s): State<AdminState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let page = q.page(20)?;
    let filter = q.bool_filter("filter[in_use]")?;
    let model = state(&s).await?;
    let all: Vec<&PrivateKey> = model
        .private_keys
        .iter()
        .filter(|k| filter.is_none_or(|f| in_use(k, &model) == f))
        .collect();
    let total = all.len();
    let data = slice(all, page)
        .into_iter()
        .map(resources::private_key)
        .collect();
    let list = ListPage {
        page,
        total,
        data,
        included: None,
    };
    Ok(list_response(&s, &headers, PATH, &q, list))
}

fn render(model: &Model, id: &str, status: StatusCode) -> Result<Response, ApiError> {
    let k = model
        .private_keys
        .iter()
        .find(|k| k.id == id)
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    Ok(single(status, resources::private_key(k), None))
}

/// GET one.
pub async fn get(
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    render(&state(&s).await?, &id, StatusCode::OK)
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
    let (model, id) = write(&s, body, kind::PRIVATE_KEY, None, change).await?;
    render(&model, &id, StatusCode::CREATED)
}

/// DELETE: 204; 409 while a certificate uses the key.
pub async fn delete(
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    apply(&s, Change::DeletePrivateKey { id }).await?;
    Ok(no_content())
}
