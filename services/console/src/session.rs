//! Sessions (in Redis, with the expiry of `console.session_ttl_secs`) and CSRF protection.
//!
//! The browser holds only a random session id (`xf_session`, HttpOnly, SameSite=Strict). The
//! session holds who signed in and the bearer token the console uses for them with the
//! services; the token expires with the session and is revoked at sign-out.
//!
//! Every POST must carry `_csrf` equal to the session's token, or, for petitioners who have
//! no session, to the `xf_csrf` cookie (double submit). [`guard`] checks it before any
//! handler runs, so no form can forget.

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use rand::Rng;
use rand::distr::Alphanumeric;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use xinfang_domain::county::CountyCode;

use crate::role::ConsoleRole;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "xf_session";
pub const CSRF_COOKIE: &str = "xf_csrf";
/// Forms are small; a petition text is at most a few thousand characters.
const MAX_FORM_BYTES: usize = 256 * 1024;

/// A signed-in user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub username: String,
    pub display_name: String,
    pub role: ConsoleRole,
    pub scope: CountyCode,
    pub department: Option<String>,
    /// Bearer token for the services (never sent to the browser).
    pub token: String,
    pub token_id: String,
    pub csrf: String,
}

/// The CSRF token the page's forms must carry.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

pub fn random(n: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

fn key(prefix: &str, id: &str) -> String {
    // The id itself is never a key: a read of Redis does not yield usable cookies.
    format!(
        "{prefix}:console:session:{}",
        hex::encode(Sha256::digest(id.as_bytes()))
    )
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_alphanumeric()))
}

pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        c += &format!("; Max-Age={age}");
    }
    if state.settings.secure_cookies {
        c += "; Secure";
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

impl AppState {
    pub async fn load_session(&self, id: &str) -> Option<Session> {
        let mut redis = self.redis.clone();
        let raw: Option<String> = redis.get(key(&self.key_prefix, id)).await.ok()?;
        raw.and_then(|r| serde_json::from_str(&r).ok())
    }

    /// Stores a new session; returns its id (the cookie value).
    pub async fn save_session(&self, s: &Session) -> anyhow::Result<String> {
        let id = random(43);
        let mut redis = self.redis.clone();
        let _: () = redis
            .set_ex(
                key(&self.key_prefix, &id),
                serde_json::to_string(s)?,
                self.settings.session_ttl_secs,
            )
            .await?;
        Ok(id)
    }

    pub async fn end_session(&self, id: &str) -> anyhow::Result<()> {
        let mut redis = self.redis.clone();
        let _: () = redis.del(key(&self.key_prefix, id)).await?;
        Ok(())
    }
}

/// Looks the session up once per request (an extension for [`Staff`] and [`MaybeStaff`]),
/// gives every page its CSRF token, and refuses a POST whose `_csrf` does not match.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let session = match cookie(&parts.headers, SESSION_COOKIE) {
        Some(id) => state.load_session(&id).await,
        None => None,
    };
    let anon = cookie(&parts.headers, CSRF_COOKIE);
    let mut new_anon = None;
    let csrf = match (&session, &anon) {
        (Some(s), _) => s.csrf.clone(),
        (None, Some(a)) => a.clone(),
        (None, None) => {
            let a = random(32);
            new_anon = Some(a.clone());
            a
        }
    };
    let body = if parts.method == Method::POST && !parts.uri.path().starts_with("/v1/") {
        let bytes = match to_bytes(body, MAX_FORM_BYTES).await {
            Ok(b) => b,
            Err(_) => {
                return (StatusCode::PAYLOAD_TOO_LARGE, "表单内容过长").into_response();
            }
        };
        let sent = form_field(&bytes, "_csrf");
        let expected = match &session {
            Some(s) => Some(s.csrf.as_str()),
            None => anon.as_deref(),
        };
        let ok = matches!((sent.as_deref(), expected), (Some(a), Some(b)) if constant_eq(a, b));
        if !ok {
            tracing::warn!(path = %parts.uri.path(), "form refused: missing or wrong CSRF token");
            return (
                StatusCode::FORBIDDEN,
                axum::response::Html(
                    "<!doctype html><meta charset=utf-8><title>表单已过期</title>\
                     <p>表单已过期或来源不明（CSRF 校验未通过）。请返回上一页刷新后重新提交。</p>",
                ),
            )
                .into_response();
        }
        Body::from(bytes)
    } else {
        body
    };
    parts.extensions.insert(CsrfToken(csrf));
    if let Some(s) = session {
        parts.extensions.insert(s);
    }
    let mut resp = next.run(Request::from_parts(parts, body)).await;
    if let Some(a) = new_anon {
        resp.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(&state, CSRF_COOKIE, &a, None),
        );
    }
    resp
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    let s = std::str::from_utf8(body).ok()?;
    s.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A signed-in user; anyone else is sent to the sign-in page.
pub struct Staff(pub Session);

/// The signed-in user, if any.
pub struct MaybeStaff(pub Option<Session>);

impl<S: Send + Sync> FromRequestParts<S> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Session>() {
            Some(s) => Ok(Staff(s.clone())),
            None => Err(Redirect::to("/login").into_response()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for MaybeStaff {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(MaybeStaff(parts.extensions.get::<Session>().cloned()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<CsrfToken>()
            .cloned()
            .unwrap_or(CsrfToken(String::new())))
    }
}

impl Session {
    /// Refuses users of other roles with a 403 page.
    pub fn require(&self, roles: &[ConsoleRole]) -> Result<(), crate::pages::PageError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(crate::pages::PageError::Forbidden(format!(
                "此页面不对{}开放",
                self.role.title()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_by_name_and_odd_values_are_ignored() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; xf_session=abcDEF123; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abcDEF123"));
        h.insert(header::COOKIE, HeaderValue::from_static("xf_session=a%3Bb"));
        assert_eq!(cookie(&h, SESSION_COOKIE), None);
    }

    #[test]
    fn the_csrf_field_is_found_and_compared_whole() {
        assert_eq!(
            form_field(b"x=1&_csrf=abc&y=2", "_csrf").as_deref(),
            Some("abc")
        );
        assert_eq!(form_field(b"x=1", "_csrf"), None);
        assert!(constant_eq("abc", "abc"));
        assert!(!constant_eq("abc", "abd"));
        assert!(!constant_eq("abc", "ab"));
    }
}
