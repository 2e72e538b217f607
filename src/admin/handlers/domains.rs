//! `GET /tls/domains`: derived from certificate SANs and activations.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use super::activations::domain_object;
use super::{list_response, read, ListPage};
use crate::admin::error::ApiError;
use crate::admin::pagination::window;
use crate::admin::query::Query;
use crate::admin::resources;
use crate::admin::AdminState;
use crate::control::reads::{DomainQuery, DomainSort, Page, Reads};

const PATH: &str = "/tls/domains";
const INCLUDES: &[&str] = &["tls_activations", "tls_certificates"];
// Fastly-managed certificate subscriptions do not exist here: accepted, nothing included.
const KNOWN: &[&str] = &[
    "tls_subscriptions",
    "tls_authorizations",
    "tls_subscriptions.tls_authorizations",
    "tls_authorizations.globalsign_email_challenge",
];

fn sort(q: &Query) -> Result<DomainSort, ApiError> {
    Ok(match q.get("sort").unwrap_or("") {
        "" | "id" => DomainSort::Name,
        "-id" => DomainSort::NameDescending,
        "tls_activations.created_at" => DomainSort::Activated,
        "-tls_activations.created_at" => DomainSort::ActivatedDescending,
        other => {
            return Err(ApiError::bad_request(format!(
                "sort {other:?} is not supported"
            )))
        }
    })
}

/// The activations and certificates of the listed names, as `include` asks (each once).
fn included(r: &dyn Reads, names: &[String], includes: &[String]) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::new();
    if includes.iter().any(|i| i == "tls_activations") {
        for name in names {
            if let Some(a) = r.activation_by_domain(name)? {
                out.push(resources::activation(&a));
            }
        }
    }
    if includes.iter().any(|i| i == "tls_certificates") {
        let mut seen = std::collections::HashSet::new();
        for name in names {
            for c in r.certificates_naming(name)? {
                if seen.insert(c.id.clone()) {
                    out.push(resources::certificate(&c, None));
                }
            }
        }
    }
    Ok(out)
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
    let query = DomainQuery {
        in_use,
        certificate_id: cert.map(str::to_string),
        sort: sort(&q)?,
    };
    let wants_included = !includes.is_empty() || q.get("include").is_some();
    // No subscription exists here, so filtering by one matches nothing.
    let none = subscription.is_some();
    let list = read(&s, move |r| {
        let found = match none {
            true => Page {
                items: Vec::new(),
                total: 0,
            },
            false => r.list_domains(&query, window(page))?,
        };
        let data = found
            .items
            .iter()
            .map(|n| domain_object(r, n))
            .collect::<Result<_, _>>()?;
        let inc = match wants_included {
            true => Some(included(r, &found.items, &includes)?),
            false => None,
        };
        Ok(ListPage {
            page,
            total: found.total,
            data,
            included: inc,
        })
    })
    .await?;
    Ok(list_response(&s, &headers, PATH, &q, list))
}
