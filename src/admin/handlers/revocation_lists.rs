//! `/tls/revocation_lists`: our extension resource (not a Fastly one), in the same JSON:API
//! conventions. The CRL is accepted as PEM and never returned.

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
use crate::control::change::{RevocationListFields, Update};
use crate::control::reads::RevocationListQuery;
use crate::control::{Change, RelationshipChange};

const PATH: &str = "/tls/revocation_lists";
const NOT_FOUND: &str = "revocation list";

/// GET list with `filter[mutual_authentication.id]`: one page, filtered in the store.
pub async fn list(
    State(s): State<AdminState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let page = q.page(20)?;
    let query = RevocationListQuery {
        mutual_authentication_id: q
            .get("filter[mutual_authentication.id]")
            .filter(|v| !v.is_empty())
            .map(str::to_string),
    };
    let list = read(&s, move |r| {
        let found = r.list_revocation_lists(&query, window(page))?;
        Ok(ListPage {
            page,
            total: found.total,
            data: found.items.iter().map(resources::revocation_list).collect(),
            included: None,
        })
    })
    .await?;
    Ok(list_response(&s, &headers, PATH, &q, list))
}

async fn render(s: &AdminState, id: String, status: StatusCode) -> Result<Response, ApiError> {
    read(s, move |r| {
        let l = r
            .revocation_list(&id)?
            .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
        Ok(single(status, resources::revocation_list(&l), None))
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

fn fields(r: &ResourceObject) -> Result<RevocationListFields, ApiError> {
    let mutual_authentication =
        match r.relationship("mutual_authentication", kind::MUTUAL_AUTHENTICATION)? {
            RelationshipChange::Set(id) => Some(id),
            _ => None,
        };
    Ok(RevocationListFields {
        name: r.string("name")?,
        crl: r.string("crl")?,
        url: r.nullable_string("url")?,
        mutual_authentication,
    })
}

/// POST: 201.
pub async fn create(State(s): State<AdminState>, body: Body) -> Result<Response, ApiError> {
    let change = |r: &ResourceObject| Ok(Change::CreateRevocationList(fields(r)?));
    let id = write(&s, body, kind::REVOCATION_LIST, None, change).await?;
    render(&s, id, StatusCode::CREATED).await
}

/// PATCH: replace `crl`, `name` or `url` (`url: null` or `""` stops the refreshing); the
/// mutual authentication cannot change.
pub async fn update(
    State(s): State<AdminState>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let path_id = id.clone();
    let change = |r: &ResourceObject| {
        let mut fields = fields(r)?;
        if fields.mutual_authentication.take().is_some() {
            return Err(ApiError::bad_request(
                "data.relationships.mutual_authentication can't be changed; create a list for the other mutual authentication",
            ));
        }
        Ok(Change::UpdateRevocationList(Update { id, fields }))
    };
    let id = write(&s, body, kind::REVOCATION_LIST, Some(&path_id), change).await?;
    render(&s, id, StatusCode::OK).await
}

/// DELETE: 204.
pub async fn delete(
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    apply(&s, Change::DeleteRevocationList { id }).await?;
    Ok(no_content())
}
