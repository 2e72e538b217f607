//! `[[routes]]` as the data plane reads them: per request host, the routes of that host ordered
//! longest path prefix first, each with its origin and, optionally, the client identities it
//! admits.

use std::sync::Arc;

use super::verdict::Verdict;
use crate::identity::ClientIdentity;
use crate::model::identity_pattern::AllowList;
use crate::model::origin::OriginRoute;
use crate::model::request_path::{self, PathError};

/// One route.
#[derive(Debug)]
pub struct Route {
    /// Domain and path prefix as configured (`api.example.com/admin`): named in 403 answers
    /// and logs instead of the patterns.
    pub name: Arc<str>,
    /// Normalised path prefix; None matches every path.
    pub path_prefix: Option<String>,
    pub origin: Arc<OriginRoute>,
    /// When set, only verdict `ok` with a leaf matching a pattern is forwarded.
    pub allow: Option<AllowList>,
}

impl Route {
    /// Whether a connection with `verdict` and leaf `identity` may use this route: any
    /// connection when it has no identity rules; with them, only verdict `ok` and a leaf that
    /// matches one of its patterns.
    pub fn admits(&self, verdict: Option<Verdict>, identity: Option<&ClientIdentity>) -> bool {
        let Some(allow) = &self.allow else {
            return true;
        };
        match (verdict, identity) {
            (Some(Verdict::Ok), Some(id)) => allow.admits(id),
            _ => false,
        }
    }
}

/// The routes of one host (one entry of the domain table: exact or wildcard).
#[derive(Debug, Default)]
pub struct HostRoutes {
    /// Longest prefix first; routes without a prefix last.
    routes: Vec<Arc<Route>>,
    /// Some route has a path prefix, so the choice depends on the (normalised) path.
    by_path: bool,
}

/// The route a request takes.
#[derive(Debug, Clone, Copy)]
pub struct Routing<'a> {
    /// None: no route matched; the default origin serves it without identity rules.
    pub route: Option<&'a Route>,
}

/// A route decision that changed the path: the normalised path the origin must receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten(pub String);

impl HostRoutes {
    /// Add a route.
    pub fn push(&mut self, route: Arc<Route>) {
        self.by_path |= route.path_prefix.is_some();
        self.routes.push(route);
        let len = |r: &Arc<Route>| r.path_prefix.as_ref().map_or(0, |p| p.len() + 1);
        self.routes.sort_by_key(|r| std::cmp::Reverse(len(r)));
    }

    /// The route for `path` (origin-form, without the query) and, when the choice depended on
    /// the path and normalising changed it, the path to forward instead. A path that cannot be
    /// normalised is refused rather than guessed at.
    pub fn pick(&self, path: &str) -> Result<(Routing<'_>, Option<Rewritten>), PathError> {
        if !self.by_path {
            return Ok((
                Routing {
                    route: self.routes.first().map(AsRef::as_ref),
                },
                None,
            ));
        }
        let normal = request_path::normalize(path)?;
        let route = self.routes.iter().map(AsRef::as_ref).find(|r| {
            r.path_prefix
                .as_deref()
                .is_none_or(|p| request_path::under(&normal, p))
        });
        let rewritten = match normal {
            std::borrow::Cow::Owned(p) => Some(Rewritten(p)),
            std::borrow::Cow::Borrowed(_) => None,
        };
        Ok((Routing { route }, rewritten))
    }

    /// Every route, longest prefix first.
    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter().map(AsRef::as_ref)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(prefix: Option<&str>, origin: &str) -> Arc<Route> {
        Arc::new(Route {
            name: Arc::from(format!("h{}", prefix.unwrap_or(""))),
            path_prefix: prefix.map(str::to_owned),
            origin: Arc::new(OriginRoute::new(origin.parse().unwrap())),
            allow: None,
        })
    }

    fn picked(h: &HostRoutes, path: &str) -> Option<String> {
        h.pick(path).unwrap().0.route.map(|r| r.name.to_string())
    }

    #[test]
    fn longest_prefix_wins_and_no_prefix_catches_the_rest() {
        let mut h = HostRoutes::default();
        h.push(route(None, "echo"));
        h.push(route(Some("/api"), "http://127.0.0.1:1"));
        h.push(route(Some("/api/admin"), "http://127.0.0.1:2"));
        assert_eq!(picked(&h, "/api/admin/x").as_deref(), Some("h/api/admin"));
        assert_eq!(picked(&h, "/api/other").as_deref(), Some("h/api"));
        assert_eq!(picked(&h, "/apix").as_deref(), Some("h/api"));
        assert_eq!(picked(&h, "/").as_deref(), Some("h"));
        assert_eq!(picked(&h, "//api//admin").as_deref(), Some("h/api/admin"));
        assert_eq!(picked(&h, "/%61pi/admin").as_deref(), Some("h/api/admin"));
        let (_, rewritten) = h.pick("//api//admin").unwrap();
        assert_eq!(rewritten, Some(Rewritten("/api/admin".into())));
        assert_eq!(h.pick("/api/../x").unwrap_err(), PathError::DotSegment);
    }

    #[test]
    fn prefixed_routes_only_leave_other_paths_unrouted() {
        let mut h = HostRoutes::default();
        h.push(route(Some("/admin"), "echo"));
        assert_eq!(picked(&h, "/public"), None);
        assert_eq!(picked(&h, "/admin").as_deref(), Some("h/admin"));
    }

    #[test]
    fn without_prefixes_the_path_is_not_looked_at() {
        let mut h = HostRoutes::default();
        h.push(route(None, "echo"));
        let (routing, rewritten) = h.pick("/a/../b").unwrap();
        assert!(routing.route.is_some());
        assert_eq!(rewritten, None);
    }
}
