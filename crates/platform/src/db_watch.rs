//! Whether the service's PostgreSQL answers, watched in the background, so that while it does
//! not every HTTP call is answered at once — 503 with `Retry-After` — instead of hanging until
//! the pool's acquire timeout, and `/readyz` names it at once.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio_util::sync::CancellationToken;

/// How often the database is asked, and how long an answer may take.
const EVERY: Duration = Duration::from_millis(400);
const PATIENCE: Duration = Duration::from_millis(800);
/// What callers are told to wait before trying again, in seconds.
pub const RETRY_AFTER_SECS: u64 = 5;

/// Shared by the watcher, the HTTP guard and the readiness check.
#[derive(Clone)]
pub struct DbWatch {
    down: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for DbWatch {
    fn default() -> Self {
        Self {
            down: Arc::new(tokio::sync::watch::Sender::new(false)),
        }
    }
}

impl DbWatch {
    pub fn is_down(&self) -> bool {
        *self.down.borrow()
    }

    /// Resolves once the database is found down (at once if it is).
    pub async fn went_down(&self) {
        let mut rx = self.down.subscribe();
        // `wait_for` only fails when the sender is gone, which `self` prevents.
        let _ = rx.wait_for(|down| *down).await;
    }

    fn set(&self, down: bool) {
        let was = self.down.send_replace(down);
        match (was, down) {
            (false, true) => {
                tracing::warn!("postgres is not answering: HTTP calls get 503 until it does")
            }
            (true, false) => tracing::info!("postgres answers again"),
            _ => {}
        }
        metrics::gauge!("xf_postgres_up").set(if down { 0.0 } else { 1.0 });
    }

    /// Asks `select 1` every [`EVERY`] until shutdown, on a connection of its own (a busy pool
    /// is not an outage); no answer within [`PATIENCE`] is down.
    pub async fn run(self, pool: sqlx::PgPool, shutdown: CancellationToken) {
        use sqlx::Connection;
        let options = pool.connect_options();
        let mut conn: Option<sqlx::PgConnection> = None;
        loop {
            let ask = async {
                if conn.is_none() {
                    conn = Some(sqlx::PgConnection::connect_with(&options).await?);
                }
                match conn.as_mut() {
                    Some(c) => sqlx::query("select 1").execute(c).await.map(|_| ()),
                    None => Ok(()),
                }
            };
            let up = tokio::select! {
                r = tokio::time::timeout(PATIENCE, ask) => matches!(r, Ok(Ok(()))),
                _ = shutdown.cancelled() => return,
            };
            if !up {
                // A broken or stuck connection is not asked again.
                conn = None;
            }
            self.set(!up);
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }
}

/// The answer while the database is down: the API's error shape, 503, `Retry-After`.
pub fn unavailable() -> Response {
    let mut r = (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(serde_json::json!({"error": {
            "code": "unavailable",
            "message": "the database is not answering; try again shortly",
        }})),
    )
        .into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    r
}

/// Middleware: every route but health and metrics answers [`unavailable`] while the database
/// is down (health and metrics say what is wrong), and a call already waiting for it when it
/// is found down is answered so too: its transaction, never committed, is rolled back.
pub async fn guard(State(watch): State<DbWatch>, req: Request, next: Next) -> Response {
    if matches!(req.uri().path(), "/healthz" | "/readyz" | "/metrics") {
        return next.run(req).await;
    }
    if watch.is_down() {
        return unavailable();
    }
    tokio::select! {
        r = next.run(req) => r,
        _ = watch.went_down() => unavailable(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn while_down_calls_get_503_with_retry_after_and_health_still_answers() {
        let watch = DbWatch::default();
        let app = axum::Router::new()
            .route("/v1/x", axum::routing::get(|| async { "ok" }))
            .route("/readyz", axum::routing::get(|| async { "ready?" }))
            .layer(axum::middleware::from_fn_with_state(watch.clone(), guard));
        let call = |path: &'static str| {
            let app = app.clone();
            async move {
                use tower::ServiceExt;
                app.oneshot(Request::get(path).body(axum::body::Body::empty()).unwrap())
                    .await
                    .unwrap()
            }
        };
        assert_eq!(call("/v1/x").await.status(), 200);
        // A call waiting for the database when it is found down is answered at once.
        let app2 = axum::Router::new()
            .route(
                "/v1/slow",
                axum::routing::get(|| async {
                    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                    "late"
                }),
            )
            .layer(axum::middleware::from_fn_with_state(watch.clone(), guard));
        let waiting = tokio::spawn(async move {
            use tower::ServiceExt;
            app2.oneshot(
                Request::get("/v1/slow")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap()
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        watch.set(true);
        let r = tokio::time::timeout(std::time::Duration::from_secs(2), waiting)
            .await
            .expect("answered at once")
            .unwrap();
        assert_eq!(r.status(), 503);
        let r = call("/v1/x").await;
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()[header::RETRY_AFTER], "5");
        assert_eq!(call("/readyz").await.status(), 200);
        watch.set(false);
        assert_eq!(call("/v1/x").await.status(), 200);
    }
}
