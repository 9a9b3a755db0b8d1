//! For the services' access tests: walks every route of a [`RouteTable`] over real HTTP and
//! asserts who is let in. Staff routes must answer 401 without a token, 403 or 404 to every
//! outsider (another county, another department of the county), and something else to the
//! insider the test names (which shows the probe named a real resource: a refusal of a request
//! for nothing proves nothing). Every refusal must be in the API's error shape.
//!
//! [`RouteTable`]: crate::route_table::RouteTable

use std::collections::BTreeMap;

use serde_json::Value;

use crate::route_table::{Access, RouteInfo};

/// How to call one route.
#[derive(Debug, Clone, Default)]
pub struct ProbeRequest {
    /// Query string without `?`.
    pub query: Option<String>,
    /// JSON body (sent for every caller, so only the caller differs).
    pub body: Option<Value>,
    /// Extra headers, sent for every caller.
    pub headers: Vec<(String, String)>,
    /// The token that is entitled to this route's resource.
    pub insider: String,
}

/// The service under test.
pub struct Probe {
    /// `http://127.0.0.1:port`
    pub base: String,
    /// Values for path parameters, by name (a real case, supervision, ...).
    pub params: BTreeMap<String, String>,
    pub http: reqwest::Client,
}

impl Probe {
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into(),
            params: BTreeMap::new(),
            http: reqwest::Client::new(),
        }
    }

    pub fn param(mut self, name: &str, value: impl Into<String>) -> Self {
        self.params.insert(name.to_owned(), value.into());
        self
    }

    /// The route's URL with its parameters filled; panics naming a parameter with no value.
    pub fn url(&self, route: &RouteInfo, query: Option<&str>) -> String {
        let mut path = route.path.clone();
        for name in route.params() {
            let value = self.params.get(name).unwrap_or_else(|| {
                panic!("{route}: no value for path parameter `{name}`; give one with Probe::param")
            });
            path = path.replace(&format!("{{{name}}}"), value);
        }
        match query {
            Some(q) => format!("{}{path}?{q}", self.base),
            None => format!("{}{path}", self.base),
        }
    }

    /// Sends the probe request as `token` (none: anonymous); the status and body.
    pub async fn send(
        &self,
        route: &RouteInfo,
        req: &ProbeRequest,
        token: Option<&str>,
    ) -> (u16, String) {
        let mut r = self
            .http
            .request(route.method(), self.url(route, req.query.as_deref()));
        for (k, v) in &req.headers {
            r = r.header(k, v);
        }
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = &req.body {
            r = r.json(b);
        }
        let resp = r
            .send()
            .await
            .unwrap_or_else(|e| panic!("{route}: request failed: {e}"));
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }
}

fn assert_error_shape(route: &RouteInfo, who: &str, status: u16, body: &str) {
    let v: Value = serde_json::from_str(body)
        .unwrap_or_else(|_| panic!("{route} as {who}: {status} body is not JSON: {body}"));
    let e = &v["error"];
    assert!(
        e["code"].is_string() && e["message"].is_string(),
        "{route} as {who}: {status} body is not {{error: {{code, message}}}}: {body}"
    );
}

/// Walks every staff route of `routes`. `request` says how to call each (it sees every route,
/// so a new route is probed as soon as it is in the table); `outsiders` are (label, token) of
/// callers who must be refused everywhere. Refusals are checked for all routes before any
/// insider call, as insider calls may change state.
pub async fn assert_staff_routes_guarded(
    probe: &Probe,
    routes: &[RouteInfo],
    request: impl Fn(&RouteInfo) -> ProbeRequest,
    outsiders: &[(&str, String)],
) {
    let staff: Vec<(&RouteInfo, ProbeRequest)> = routes
        .iter()
        .filter(|r| r.access == Access::Staff)
        .map(|r| (r, request(r)))
        .collect();
    assert!(!staff.is_empty(), "the table has no staff routes");
    for (route, req) in &staff {
        let (status, body) = probe.send(route, req, None).await;
        assert_eq!(status, 401, "{route} without a token: {body}");
        assert_error_shape(route, "anonymous", status, &body);
        for (who, token) in outsiders {
            let (status, body) = probe.send(route, req, Some(token)).await;
            assert!(
                status == 403 || status == 404,
                "{route} must refuse {who} (403/404), got {status}: {body}"
            );
            assert_error_shape(route, who, status, &body);
        }
    }
    for (route, req) in &staff {
        let (status, body) = probe.send(route, req, Some(&req.insider)).await;
        assert!(
            ![401, 403, 404].contains(&status),
            "{route}: the entitled caller must get through, got {status}: {body}"
        );
    }
}

/// Asserts the routes that take no token are exactly `expected` (`"GET /healthz"`, ...), so a
/// route cannot dodge the staff walk by being declared open.
pub fn assert_open_routes(routes: &[RouteInfo], expected: &[&str]) {
    let mut open: Vec<String> = routes
        .iter()
        .filter(|r| r.access != Access::Staff)
        .map(|r| r.to_string())
        .collect();
    open.sort();
    let mut want: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    want.sort();
    assert_eq!(open, want, "routes open without a token");
}
