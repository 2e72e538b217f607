//! `GET /tls/domains`: derived from certificate SANs and activations.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use super::{list_response, state, ListPage};
use crate::admin::error::ApiError;
use crate::admin::pagination::slice;
use crate::admin::query::Query;
use crate::admin::resources;
use crate::admin::AdminState;
use crate::model::State as Model;

const PATH: &str = "/tls/domains";
const INCLUDES: &[&str] = &["tls_activations", "tls_certificates"];
// Fastly-managed certificate subscriptions do not exist here: accepted, nothing included.
const KNOWN: &[&str] = &[
    "tls_subscriptions",
    "tls_authorizations",
    "tls_subscriptions.tls_authorizations",
    "tls_authorizations.globalsign_email_challenge",
];

fn activated_at(name: &str, model: &Model) -> i64 {
    model
        .activations
        .iter()
        .find(|a| a.domain == name)
        .map_or(i64::MAX, |a| a.created_at)
}

fn sort(names: &mut [String], q: &Query, model: &Model) -> Result<(), ApiError> {
    match q.get("sort").unwrap_or("") {
        "" | "id" => {}
        "-id" => names.reverse(),
        "tls_activations.created_at" => names.sort_by_key(|n| activated_at(n, model)),
        "-tls_activations.created_at" => {
            names.sort_by_key(|n| std::cmp::Reverse(activated_at(n, model)))
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "sort {other:?} is not supported"
            )))
        }
    }
    Ok(())
}

fn included(names: &[String], includes: &[String], model: &Model) -> Vec<Value> {
    let mut out = Vec::new();
    if includes.iter().any(|i| i == "tls_activations") {
        out.extend(
            model
                .activations
                .iter()
                .filter(|a| names.contains(&a.domain))
                .map(resources::activation),
        );
    }
    if includes.iter().any(|i| i == "tls_certificates") {
        out.extend(
            model
                .certificates
                .iter()
                .filter(|c| c.dns_names.iter().any(|n| names.contains(n)))
                .map(|c| resources::certificate(c, model, false)),
        );
    }
    out
}

/// GET list with `filter[in_use]`, `filter[tls_certificates.id]`, `filter[tls_subscriptions.id]`.
pub async fn list(
    State(s): State<AdminState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let page = q.page(20)?;
    let includes = q.includes(INCLUDES, KNOWN)?;
    let in_use = q.bool_filter("filter[in_use]")?;
    let cert = q
        .get("filter[tls_certificates.id]")
        .filter(|v| !v.is_empty());
    let subscription = q
        .get("filter[tls_subscriptions.id]")
        .filter(|v| !v.is_empty());
    let model = state(&s).await?;
    let mut names: Vec<String> = resources::domain_names(&model)
        .into_iter()
        .filter(|_| subscription.is_none())
        .filter(|n| in_use.is_none_or(|f| model.activations.iter().any(|a| &a.domain == n) == f))
        .filter(|n| {
            cert.is_none_or(|id| resources::certificates_listing(&model, n).any(|c| c.id == id))
        })
        .collect();
    sort(&mut names, &q, &model)?;
    let total = names.len();
    let items = slice(names, page);
    let data = items.iter().map(|n| resources::domain(n, &model)).collect();
    let inc = (!includes.is_empty() || q.get("include").is_some())
        .then(|| included(&items, &includes, &model));
    let list = ListPage {
        page,
        total,
        data,
        included: inc,
    };
    Ok(list_response(&s, &headers, PATH, &q, list))
}
