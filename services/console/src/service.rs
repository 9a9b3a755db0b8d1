//! Start-up: settings, schema `console` (accounts), templates, the live feed and HTTP.
//! The console needs the services' bearer-token checks: with `security.auth_required = false`
//! every call would be an operator's, whatever the user's role, so it refuses to start.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use xinfang_platform::attempts::FailedAttempts;
use xinfang_platform::auth::AuthStore;
use xinfang_platform::host::Infra;

use crate::backend::{Backend, ServiceUrls};
use crate::live::{self, LiveHub};
use crate::pages::{self, Templates};
use crate::settings::ConsoleSettings;
use crate::state::AppState;
use crate::users::UserStore;
use crate::{gateway, session};

pub const NAME: &str = "console";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A running console.
#[derive(Clone)]
pub struct Console {
    pub http: SocketAddr,
    pub state: AppState,
}

pub fn settings(infra: &Infra) -> anyhow::Result<ConsoleSettings> {
    let s: ConsoleSettings = infra.settings.section("console")?;
    s.validate()
        .map_err(|p| anyhow::anyhow!("configuration [console]: {}", p.join("; ")))?;
    Ok(s)
}

/// The services' base URLs: `[console.services]`, else this host's `[http]` ports.
pub fn service_urls(infra: &Infra, s: &ConsoleSettings) -> ServiceUrls {
    let h = &infra.settings.platform.http;
    let local = |port: u16| format!("http://{}:{port}", h.host);
    let pick = |configured: &str, port: u16| {
        if configured.is_empty() {
            local(port)
        } else {
            configured.trim_end_matches('/').to_owned()
        }
    };
    ServiceUrls {
        intake: pick(&s.services.intake, h.intake_port),
        routing: pick(&s.services.routing, h.routing_port),
        supervision: pick(&s.services.supervision, h.supervision_port),
        review: pick(&s.services.review, h.review_port),
        notify: pick(&s.services.notify, h.notify_port),
    }
}

/// Opens the account store (for `xinfang users`), migrating the schema.
pub async fn user_store(db: &xinfang_platform::config::Database) -> anyhow::Result<UserStore> {
    let mut small = db.clone();
    small.max_connections = small.max_connections.clamp(1, 3);
    let pool = xinfang_platform::db::connect(&small, NAME).await?;
    xinfang_platform::db::migrate(&pool, NAME, &MIGRATOR).await?;
    Ok(UserStore::new(pool))
}

/// Starts with the services found at `urls` (in `xinfang up`, those just started).
pub async fn start(infra: Infra, urls: ServiceUrls) -> anyhow::Result<Console> {
    let p = &infra.settings.platform;
    let settings = settings(&infra)?;
    if !p.security.auth_required {
        anyhow::bail!(
            "console: security.auth_required is false, so the services would treat every console user as an operator; turn it on"
        );
    }
    let users = user_store(&p.database).await?;
    let auth = AuthStore::connect(&p.database).await?;
    let names = crate::names::Names::new(infra.directory()?);
    let templates = Templates::load(names.clone())?;
    let live = LiveHub::new();
    infra.tracker.spawn(live.clone().follow(
        infra.nats.clone(),
        infra.streams.keys().cloned().collect(),
        infra.shutdown.clone(),
    ));
    let sign_in_attempts = FailedAttempts::new(
        infra.redis.clone(),
        &p.redis.key_prefix,
        "console_sign_in",
        settings.sign_in_attempts,
        Duration::from_secs(settings.sign_in_lockout_secs),
    );
    let state = AppState {
        settings: Arc::new(settings),
        users,
        auth,
        redis: infra.redis.clone(),
        key_prefix: p.redis.key_prefix.clone(),
        backend: Backend::new(urls)?,
        templates,
        names,
        sign_in_attempts,
        live,
        served: Arc::new(infra.streams.keys().map(|c| c.to_string()).collect()),
        sources: Arc::new(infra.settings.platform.sources()),
    };
    let listener = xinfang_platform::http::bind(&p.http.host, state.settings.port).await?;
    let addr = listener.local_addr()?;
    let app = router(state.clone());
    let shutdown = infra.shutdown.clone();
    infra.tracker.spawn(async move {
        if let Err(e) = xinfang_platform::http::serve(listener, app, shutdown).await {
            tracing::error!(service = NAME, error = %e, "http server failed");
        }
    });
    tracing::info!(service = NAME, %addr, "console listening");
    Ok(Console { http: addr, state })
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::sign_in::home))
        .route(
            "/login",
            get(pages::sign_in::form).post(pages::sign_in::sign_in),
        )
        .route("/logout", post(pages::sign_in::sign_out))
        .route("/events", get(live::events))
        .route("/check/{field}", post(pages::checks::check))
        .route("/static/console.css", get(css))
        .route("/static/console.js", get(js))
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/{*rest}", axum::routing::any(gateway::forward))
        .merge(pages::clerk::routes())
        .merge(pages::department::routes())
        .merge(pages::supervisor::routes())
        .merge(pages::reviewer::routes())
        .merge(pages::petitioner::routes())
        .merge(pages::practices::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            session::guard,
        ))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

/// No framing, no sniffing, no referrer leaking a case number, scripts only from here.
async fn security_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::X_FRAME_OPTIONS,
        header::HeaderValue::from_static("DENY"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
    }
    resp
}

async fn not_found() -> pages::PageError {
    pages::PageError::NotFound("没有这个页面".into())
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("../static/console.css"),
    )
}

async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("../static/console.js"),
    )
}
