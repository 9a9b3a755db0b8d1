//! Every service builds its router through a [`RouteTable`], which records each route's
//! method, path and [`Access`]. The table is what the access tests walk (every staff route
//! must refuse callers of another county or department) and what the OpenAPI documents are
//! checked against, so a route cannot be added without being seen by both.

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, on};

/// Who a route lets in, and so what the access tests expect of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No caller to check: health, metrics, the OpenAPI document.
    Open,
    /// The petitioner's own endpoints: guarded by the query code (and ID number) the request
    /// carries, not by a token.
    Petitioner,
    /// Staff: a bearer token whose role, county and department the handler checks against the
    /// resource (`xinfang_domain::access`).
    Staff,
}

/// The methods the APIs use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Verb {
    pub fn method(self) -> Method {
        match self {
            Verb::Get => Method::GET,
            Verb::Post => Method::POST,
            Verb::Put => Method::PUT,
            Verb::Patch => Method::PATCH,
            Verb::Delete => Method::DELETE,
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Put => MethodFilter::PUT,
            Verb::Patch => MethodFilter::PATCH,
            Verb::Delete => MethodFilter::DELETE,
        }
    }
}

/// One registered route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub verb: Verb,
    /// axum's template, e.g. `/v1/cases/{case_no}`.
    pub path: String,
    pub access: Access,
}

impl RouteInfo {
    pub fn method(&self) -> Method {
        self.verb.method()
    }

    /// Names of the path's `{parameters}`, in order.
    pub fn params(&self) -> Vec<&str> {
        self.path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .collect()
    }
}

impl std::fmt::Display for RouteInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method(), self.path)
    }
}

/// A router under construction plus the list of what it routes.
pub struct RouteTable<S = ()> {
    router: Router<S>,
    routes: Vec<RouteInfo>,
}

impl<S> Default for RouteTable<S>
where
    S: Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<S> RouteTable<S>
where
    S: Clone + Send + Sync + 'static,
{
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            routes: Vec::new(),
        }
    }

    /// Adds `handler` for `verb path`, recording who it lets in.
    pub fn route<H, T>(mut self, verb: Verb, path: &str, access: Access, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        self.router = self.router.route(path, on(verb.filter(), handler));
        self.routes.push(RouteInfo {
            verb,
            path: path.to_owned(),
            access,
        });
        self
    }

    pub fn routes(&self) -> &[RouteInfo] {
        &self.routes
    }

    /// Changes the router without adding routes (layers such as the body limit).
    pub fn map_router(mut self, f: impl FnOnce(Router<S>) -> Router<S>) -> Self {
        self.router = f(self.router);
        self
    }

    /// The finished router.
    pub fn with_state(self, state: S) -> Router {
        self.router.with_state(state)
    }
}

/// The routes the platform adds to every service (`crate::http::router`).
pub fn platform_routes() -> Vec<RouteInfo> {
    ["/healthz", "/readyz", "/metrics"]
        .into_iter()
        .map(|p| RouteInfo {
            verb: Verb::Get,
            path: p.to_owned(),
            access: Access::Open,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_recorded_with_their_parameters() {
        let t: RouteTable = RouteTable::new()
            .route(Verb::Get, "/v1/cases/{case_no}", Access::Staff, || async {
                ""
            })
            .route(Verb::Post, "/v1/cases/{case_no}", Access::Staff, || async {
                ""
            })
            .route(Verb::Get, "/openapi.json", Access::Open, || async { "" });
        let r = t.routes();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].params(), vec!["case_no"]);
        assert_eq!(r[1].to_string(), "POST /v1/cases/{case_no}");
        assert!(r[2].params().is_empty());
        let _router = t.with_state(());
    }
}
