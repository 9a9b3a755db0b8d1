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

#[derive(Clone)]
struct Health {
    service: &'static str,
    checks: Vec<Check>,
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
    (
        status,
        axum::Json(serde_json::json!({"service": h.service, "ready": ok, "checks": report})),
    )
        .into_response()
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

/// The service's routes plus health and metrics.
pub fn router(service: &'static str, checks: Vec<Check>, api: Router) -> Router {
    let health = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(Health { service, checks })
        .route("/metrics", get(metrics_text));
    api.merge(health).layer(middleware::from_fn(track))
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

/// Serves until `shutdown`, letting in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await?;
    Ok(())
}
