//! The services' APIs on the console's origin: `/v1/...` is passed to the service that owns
//! the path, unchanged (the bearer token travels in the request; cookies do not, so a page
//! cannot be made to call the API with the user's session). Clients and the console's pages
//! then share one address for the whole system.

use std::net::SocketAddr;

use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::backend::Service;
use crate::state::AppState;

/// Petitions carry at most a few attachments' worth of text; the services have their own,
/// lower limits.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Request headers passed on; everything else (cookies first of all) stays here.
const PASS_UP: [HeaderName; 4] = [
    header::AUTHORIZATION,
    header::CONTENT_TYPE,
    header::ACCEPT,
    header::ACCEPT_LANGUAGE,
];

/// Response headers passed back.
const PASS_DOWN: [HeaderName; 5] = [
    header::CONTENT_TYPE,
    header::CONTENT_DISPOSITION,
    header::RETRY_AFTER,
    header::WWW_AUTHENTICATE,
    header::LOCATION,
];

/// Which service answers `path` (`None`: no API route of that shape).
pub fn owner(path: &str) -> Option<Service> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if segs.first() != Some(&"v1") {
        return None;
    }
    Some(match segs.get(1..).unwrap_or_default() {
        ["petitions"] | ["query", _] | ["cases"] | ["cases.csv"] => Service::Intake,
        ["cases", _] | ["cases", _, "classification"] | ["cases", _, "repeat"] => Service::Intake,
        ["cases", _, "actions", _] => Service::Routing,
        ["cases", _, "deliveries"] => Service::Notify,
        ["schemas", ..] | ["directory", ..] => Service::Routing,
        ["deadlines"] | ["stats"] | ["supervisions", ..] => Service::Supervision,
        ["stats", "comparison"] | ["listed", ..] | ["sources"] => Service::Supervision,
        ["conferences", ..]
        | ["advisers", ..]
        | ["advice"]
        | ["leaders", ..]
        | ["reception-days", ..] => Service::Supervision,
        ["reviews", ..] | ["evaluations"] | ["terminations", ..] => Service::Review,
        ["reports", ..] => Service::Supervision,
        _ => return None,
    })
}

pub async fn forward(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let Some(service) = owner(req.uri().path()) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(
                serde_json::json!({"error": {"code": "not_found", "message": "no such API route"}}),
            ),
        )
            .into_response();
    };
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let url = format!("{}{path_and_query}", state.backend.urls.of(service));
    let mut up = state.backend.http.request(parts.method.clone(), &url);
    for name in PASS_UP {
        for v in parts.headers.get_all(&name) {
            up = up.header(name.clone(), v.clone());
        }
    }
    // The petitioner rate limits count by client: name it (services believe it only from
    // addresses in `http.trusted_proxies`).
    up = up.header(
        "x-forwarded-for",
        crate::backend::forwarded_for(peer, &parts.headers),
    );
    let resp = match up.body(bytes).send().await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(service = ?service, error = %e, "gateway: service unreachable");
            return (
                StatusCode::BAD_GATEWAY,
                axum::Json(serde_json::json!({"error": {"code": "unavailable", "message": "the service is unreachable"}})),
            )
                .into_response();
        }
    };
    let status = resp.status();
    let headers: Vec<(HeaderName, header::HeaderValue)> = PASS_DOWN
        .iter()
        .filter_map(|n| resp.headers().get(n).map(|v| (n.clone(), v.clone())))
        .collect();
    let body = match resp.bytes().await {
        Ok(b) => b,
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    let mut out = Response::new(Body::from(body));
    *out.status_mut() = status;
    for (n, v) in headers {
        out.headers_mut().insert(n, v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_path_goes_to_its_owner() {
        assert_eq!(owner("/v1/petitions"), Some(Service::Intake));
        assert_eq!(owner("/v1/cases/XF-1/repeat"), Some(Service::Intake));
        assert_eq!(
            owner("/v1/cases/XF-1/actions/accept"),
            Some(Service::Routing)
        );
        assert_eq!(owner("/v1/cases/XF-1/deliveries"), Some(Service::Notify));
        assert_eq!(
            owner("/v1/supervisions/abc/response"),
            Some(Service::Supervision)
        );
        assert_eq!(owner("/v1/reviews/XF-1/decision"), Some(Service::Review));
        assert_eq!(owner("/v1/terminations/search"), Some(Service::Review));
        assert_eq!(owner("/v1/nothing"), None);
        assert_eq!(owner("/clerk"), None);
    }
}
