//! Origin routes from the settings: each route's spec, HTTP version and client certificate,
//! with the certificate files read (and checked) now, so a start or a SIGHUP reload with a bad
//! file fails naming it and changes nothing.

use std::path::PathBuf;
use std::sync::Arc;

use super::AppError;
use crate::model::origin::{OriginHttp, OriginIdentity, OriginRoute, OriginSpec};
use crate::origin::load_identity;
use crate::settings::Settings;

/// `[[routes]]` as (domain, route) and the default origin's route.
pub(super) fn routes(
    settings: &Settings,
) -> Result<(Vec<(String, OriginRoute)>, OriginRoute), AppError> {
    let p = &settings.proxy;
    let shared = identity(
        "proxy.origin_client_cert",
        &p.origin_client_cert,
        &p.origin_client_key,
    )?;
    let mut routes = Vec::new();
    for (i, r) in settings.routes.iter().enumerate() {
        let field = format!("routes[{i}].origin_client_cert");
        let own = identity(&field, &r.origin_client_cert, &r.origin_client_key)?;
        let route = route(&r.origin, r.origin_http, own.or_else(|| shared.clone()))?;
        routes.push((r.domain.clone(), route));
    }
    let default = route(&p.default_origin, OriginHttp::Auto, shared)?;
    Ok((routes, default))
}

/// A route; the client certificate is kept for `https://` origins only (the shared one
/// applies to every https origin; a route's own was refused for others by the settings).
fn route(
    origin: &str,
    http: OriginHttp,
    identity: Option<Arc<OriginIdentity>>,
) -> Result<OriginRoute, AppError> {
    let spec: OriginSpec = origin
        .parse()
        .map_err(|e: crate::model::origin::OriginSpecError| {
            AppError::OriginSpec(origin.to_string(), e.problem)
        })?;
    let identity = identity.filter(|_| matches!(spec, OriginSpec::Https { .. }));
    let route = OriginRoute {
        spec,
        http,
        identity,
    };
    match route.problem() {
        Some(problem) => Err(AppError::OriginSpec(origin.to_string(), problem)),
        None => Ok(route),
    }
}

fn identity(
    field: &str,
    cert: &Option<PathBuf>,
    key: &Option<PathBuf>,
) -> Result<Option<Arc<OriginIdentity>>, AppError> {
    let (Some(cert), Some(key)) = (cert, key) else {
        return Ok(None);
    };
    let identity = load_identity(cert, key).map_err(|e| AppError::OriginIdentity {
        field: field.to_string(),
        error: e,
    })?;
    Ok(Some(Arc::new(identity)))
}
