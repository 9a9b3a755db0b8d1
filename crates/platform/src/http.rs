//! Each service's HTTP surface: `/healthz`, `/readyz` (checks real dependencies),
//! `/metrics`, plus the service's own routes, with request metrics and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::http_error;

type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A named readiness check, e.g. ("postgres", select 1).
#[derive(Clone)]
pub struct Check {
    pub name: &'static str,
    pub run: Arc<dyn Fn() -> CheckFuture + Send + Sync>,
}

impl Check {
    pub fn new<F, Fut>(name: &'static str, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self {
            name,
            run: Arc::new(move || Box::pin(f())),
        }
    }

    pub fn postgres(pool: sqlx::PgPool) -> Self {
        Self::new("postgres", move || {
            let pool = pool.clone();
            async move {
                sqlx::query("select 1")
                    .execute(&pool)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        })
    }

    pub fn nats(client: async_nats::Client) -> Self {
        Self::new("nats", move || {
            let state = client.connection_state();
            async move {
                if state == async_nats::connection::State::Connected {
                    Ok(())
                } else {
                    Err(format!("{state:?}"))
                }
            }
        })
    }

    pub fn redis(conn: redis::aio::ConnectionManager) -> Self {
        Self::new("redis", move || {
            let mut conn = conn.clone();
            async move {
                redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        })
    }
}

/// What an advisory reports: `warn` shows in `/readyz` (top-level `"status": "warn"`, the
/// check's entry `"warn"`, and `detail` under the advisory's name) without making the service
/// unready: it still answers 200.
#[derive(Debug, Clone)]
pub struct AdvisoryReport {
    pub warn: bool,
    pub detail: serde_json::Value,
}

/// A readiness note that never fails readiness (e.g. the holiday calendar running out).
#[derive(Clone)]
pub struct Advisory {
    pub name: &'static str,
    pub run: Arc<dyn Fn() -> AdvisoryReport + Send + Sync>,
}

impl Advisory {
    pub fn new(name: &'static str, f: impl Fn() -> AdvisoryReport + Send + Sync + 'static) -> Self {
        Self {
            name,
            run: Arc::new(f),
        }
    }
}

#[derive(Clone)]
struct Health {
    service: &'static str,
    checks: Vec<Check>,
    advisories: Vec<Advisory>,
}

async fn healthz(State(h): State<Health>) -> impl IntoResponse {
    axum::Json(serde_json::json!({"service": h.service, "status": "ok"}))
}

async fn readyz(State(h): State<Health>) -> Response {
    let mut report = serde_json::Map::new();
    let mut ok = true;
    for c in &h.checks {
        let r = tokio::time::timeout(std::time::Duration::from_secs(3), (c.run)()).await;
        let v = match r {
            Ok(Ok(())) => "ok".to_owned(),
            Ok(Err(e)) => {
                ok = false;
                e
            }
            Err(_) => {
                ok = false;
                "timeout".to_owned()
            }
        };
        report.insert(c.name.to_owned(), v.into());
    }
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut warn = false;
    let mut details = Vec::new();
    for a in &h.advisories {
        let r = (a.run)();
        warn |= r.warn;
        report.insert(a.name.to_owned(), if r.warn { "warn" } else { "ok" }.into());
        details.push((a.name, r.detail));
    }
    let overall = match (ok, warn) {
        (false, _) => "unavailable",
        (true, true) => "warn",
        (true, false) => "ok",
    };
    let mut body =
        serde_json::json!({"service": h.service, "ready": ok, "status": overall, "checks": report});
    for (name, detail) in details {
        body[name] = detail;
    }
    if !ok {
        // The error shape every non-2xx answer has, beside the report.
        body["error"] = serde_json::json!({
            "code": "not_ready",
            "message": "a dependency is not answering; see checks",
        });
    }
    (status, axum::Json(body)).into_response()
}

async fn metrics_text() -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        crate::metrics::handle().render(),
    )
}

async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let start = Instant::now();
    // The route template, never the concrete path: paths can carry query codes.
    let span = tracing::info_span!(
        "http",
        otel.name = %format!("{method} {route}"),
        http.method = %method,
        http.route = %route,
        http.status = tracing::field::Empty,
    );
    let resp = next.run(req).instrument(span.clone()).await;
    span.record("http.status", resp.status().as_u16());
    let status = resp.status().as_u16().to_string();
    let labels = [("route", route), ("method", method), ("status", status)];
    metrics::counter!("xf_http_requests_total", &labels).increment(1);
    metrics::histogram!("xf_http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    resp
}

/// The service's routes plus health and metrics (`crate::route_table::platform_routes`), with
/// every error in the API's JSON shape (`crate::http_error`).
pub fn router(service: &'static str, checks: Vec<Check>, api: Router) -> Router {
    router_with(service, checks, Vec::new(), api)
}

/// [`router`] with readiness advisories (reported, never failing readiness).
pub fn router_with(
    service: &'static str,
    checks: Vec<Check>,
    advisories: Vec<Advisory>,
    api: Router,
) -> Router {
    let health = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(Health {
            service,
            checks,
            advisories,
        })
        .route("/metrics", get(metrics_text));
    api.merge(health)
        .fallback(http_error::no_route)
        .layer(middleware::from_fn(http_error::catch_panic))
        .layer(middleware::from_fn(http_error::json_errors))
        .layer(middleware::from_fn(track))
}

/// A bound listener, so callers learn the real port before serving (port 0 in tests).
pub async fn bind(host: &str, port: u16) -> anyhow::Result<tokio::net::TcpListener> {
    let addr: SocketAddr = format!("{host}:{port}")
        .parse()
        .map_err(|e| anyhow::anyhow!("http address {host}:{port}: {e}"))?;
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("http: cannot listen on {addr}: {e}"))
}

/// Serves until `shutdown`, letting in-flight requests finish. Handlers see the peer's address
/// as `ConnectInfo<SocketAddr>` (the rate limits of [`crate::rate_limit`] count by it).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await?;
    Ok(())
}
