//! Bearer-token authentication for every service's HTTP API, and the audit log of
//! personal-data reads. Tokens are `xf_<id>_<secret>`; only SHA-256 of the whole token is
//! stored. Authorization rules are `xinfang_domain::access`.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Row};
use xinfang_domain::access::{Principal, Role};
use xinfang_domain::county::CountyCode;

use crate::config::Database;
use crate::db;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./auth_migrations");

pub const SCHEMA: &str = "auth";

/// Token store and audit log (schema `auth`).
#[derive(Clone)]
pub struct AuthStore {
    pool: PgPool,
}

/// A created token: the secret is shown once.
#[derive(Debug, Clone, Serialize)]
pub struct NewToken {
    pub id: String,
    pub token: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub role: String,
    pub scope: String,
    pub department: Option<String>,
    pub label: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub revoked: bool,
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn random(n: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

impl AuthStore {
    pub async fn connect(settings: &Database) -> anyhow::Result<Self> {
        let mut small = settings.clone();
        small.max_connections = small.max_connections.clamp(1, 3);
        let pool = db::connect(&small, SCHEMA).await?;
        let mut m = sqlx::migrate::Migrator::with_migrations(MIGRATOR.iter().cloned().collect());
        m.create_schema(SCHEMA.to_owned());
        m.dangerous_set_table_name(format!("{SCHEMA}._sqlx_migrations"));
        m.run(&pool).await?;
        Ok(Self { pool })
    }

    pub async fn create(
        &self,
        role: Role,
        scope: &CountyCode,
        department: Option<&str>,
        label: &str,
    ) -> anyhow::Result<NewToken> {
        self.create_expiring(role, scope, department, label, None)
            .await
    }

    /// [`Self::create`] for a token that stops working after `ttl` (a console session's).
    pub async fn create_expiring(
        &self,
        role: Role,
        scope: &CountyCode,
        department: Option<&str>,
        label: &str,
        ttl: Option<std::time::Duration>,
    ) -> anyhow::Result<NewToken> {
        if role == Role::Department {
            let ok =
                department.is_some_and(|d| xinfang_domain::subject::token("department", d).is_ok());
            if !ok {
                anyhow::bail!("department: a department token needs a department code such as rsj");
            }
        } else if department.is_some() {
            anyhow::bail!("department: only department tokens carry a department");
        }
        let label = label.trim();
        if label.is_empty() || label.chars().count() > 100 {
            anyhow::bail!("label: required, at most 100 characters (who holds the token)");
        }
        let id = format!("tok{}", random(8).to_lowercase());
        let token = format!("xf_{id}_{}", random(40));
        sqlx::query(
            "insert into tokens (id, token_hash, role, scope, department, label, expires_at)
             values ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))",
        )
        .bind(&id)
        .bind(digest(&token))
        .bind(role.as_str())
        .bind(scope.as_str())
        .bind(department)
        .bind(label)
        .bind(ttl.map(|t| t.as_secs_f64()))
        .execute(&self.pool)
        .await?;
        Ok(NewToken { id, token })
    }

    /// Revokes a token by id; false if there was no such active token.
    pub async fn revoke(&self, id: &str) -> anyhow::Result<bool> {
        let r = sqlx::query(
            "update tokens set revoked_at = now() where id = $1 and revoked_at is null",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn list(&self) -> anyhow::Result<Vec<TokenInfo>> {
        let rows = sqlx::query(
            "select id, role, scope, department, label, created_at, revoked_at is not null as revoked
             from tokens order by created_at",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenInfo {
                    id: r.try_get("id")?,
                    role: r.try_get("role")?,
                    scope: r.try_get("scope")?,
                    department: r.try_get("department")?,
                    label: r.try_get("label")?,
                    created_at: r.try_get("created_at")?,
                    revoked: r.try_get("revoked")?,
                })
            })
            .collect()
    }

    /// The principal a token stands for, if it is known and not revoked.
    pub async fn authenticate(&self, token: &str) -> anyhow::Result<Option<Principal>> {
        if token.len() > 200 || !token.starts_with("xf_") {
            return Ok(None);
        }
        let row = sqlx::query(
            "select id, role, scope, department from tokens
             where token_hash = $1 and revoked_at is null
               and (expires_at is null or expires_at > now())",
        )
        .bind(digest(token))
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let role: String = r.try_get("role")?;
        let scope: String = r.try_get("scope")?;
        let (Some(role), Ok(scope)) = (Role::parse(&role), CountyCode::parse(&scope)) else {
            return Ok(None);
        };
        Ok(Some(Principal {
            id: r.try_get("id")?,
            role,
            scope,
            department: r.try_get("department")?,
        }))
    }

    /// Appends to the audit log (who, when, which case, why).
    pub async fn audit(
        &self,
        who: &Principal,
        action: &str,
        case_no: Option<&str>,
        reason: &str,
    ) -> anyhow::Result<()> {
        sqlx::query("insert into audit_log (actor, role, action, case_no, reason) values ($1, $2, $3, $4, $5)")
            .bind(&who.id)
            .bind(who.role.as_str())
            .bind(action)
            .bind(case_no)
            .bind(reason)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Audit entries of one case, oldest first.
    pub async fn audit_of(&self, case_no: &str) -> anyhow::Result<Vec<(String, String, String)>> {
        let rows = sqlx::query(
            "select actor, action, reason from audit_log where case_no = $1 order by id",
        )
        .bind(case_no)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("actor")?,
                    r.try_get("action")?,
                    r.try_get("reason")?,
                ))
            })
            .collect()
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// What a service's HTTP state carries: the store, or nothing when auth is disabled (local
/// development and tests), in which case every caller is an operator of `open_scope`.
#[derive(Clone)]
pub struct Auth {
    store: Option<AuthStore>,
    open_scope: CountyCode,
}

impl Auth {
    pub fn required(store: AuthStore, city: CountyCode) -> Self {
        Self {
            store: Some(store),
            open_scope: city,
        }
    }

    pub fn disabled(city: CountyCode) -> Self {
        Self {
            store: None,
            open_scope: city,
        }
    }

    pub fn store(&self) -> Option<&AuthStore> {
        self.store.as_ref()
    }

    /// Records a personal-data read; a no-op when auth is disabled.
    pub async fn audit(
        &self,
        who: &Principal,
        action: &str,
        case_no: Option<&str>,
        reason: &str,
    ) -> anyhow::Result<()> {
        match &self.store {
            Some(s) => s.audit(who, action, case_no, reason).await,
            None => Ok(()),
        }
    }
}

impl Auth {
    /// The caller named by `headers`: `Ok(None)` when no token is sent (for endpoints that are
    /// also open to petitioners), an error for a bad one. With auth disabled, an operator.
    pub async fn caller(
        &self,
        headers: &axum::http::HeaderMap,
    ) -> Result<Option<Principal>, Unauthorized> {
        let Some(store) = &self.store else {
            return Ok(Some(Principal {
                id: "auth-disabled".into(),
                role: Role::Operator,
                scope: self.open_scope.clone(),
                department: None,
            }));
        };
        let Some(header) = headers.get(axum::http::header::AUTHORIZATION) else {
            return Ok(None);
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or(Unauthorized(
                "the Authorization header must be `Bearer <token>`",
                StatusCode::UNAUTHORIZED,
            ))?;
        match store.authenticate(token.trim()).await {
            Ok(Some(p)) => Ok(Some(p)),
            Ok(None) => Err(Unauthorized(
                "unknown or revoked token",
                StatusCode::UNAUTHORIZED,
            )),
            Err(e) => {
                tracing::error!(error = %e, "token lookup failed");
                Err(Unauthorized(
                    "authentication is unavailable",
                    StatusCode::SERVICE_UNAVAILABLE,
                ))
            }
        }
    }
}

/// The authenticated caller of a request.
pub struct Caller(pub Principal);

/// 401 without or with a bad token; 403 is the handlers' (they know the resource).
pub struct Unauthorized(&'static str, StatusCode);

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        (
            self.1,
            [("www-authenticate", "Bearer")],
            axum::Json(serde_json::json!({"error": {"code": "unauthorized", "message": self.0}})),
        )
            .into_response()
    }
}

impl<S> FromRequestParts<S> for Caller
where
    Auth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Unauthorized;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Auth::from_ref(state).caller(&parts.headers).await? {
            Some(p) => Ok(Caller(p)),
            None => Err(Unauthorized(
                "an Authorization: Bearer token is required",
                StatusCode::UNAUTHORIZED,
            )),
        }
    }
}
