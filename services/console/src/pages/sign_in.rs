//! Sign-in and sign-out. A sign-in makes a service token for the user's role and scope that
//! expires with the session; sign-out revokes it. Failed sign-ins lock the user name for
//! `console.sign_in_lockout_secs` after `console.sign_in_attempts`.

use std::time::Duration;

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;

use super::PageError;
use crate::session::{self, CsrfToken, MaybeStaff, SESSION_COOKIE, Session};
use crate::state::AppState;
use crate::users::Refusal;

pub async fn home(MaybeStaff(s): MaybeStaff) -> Redirect {
    match s {
        Some(s) => Redirect::to(s.role.home()),
        None => Redirect::to("/login"),
    }
}

pub async fn form(
    State(state): State<AppState>,
    MaybeStaff(s): MaybeStaff,
    csrf: CsrfToken,
) -> Result<Response, PageError> {
    if let Some(s) = s {
        return Ok(Redirect::to(s.role.home()).into_response());
    }
    Ok(state
        .templates
        .page("login.html", None, &csrf, context! {})?
        .into_response())
}

#[derive(Deserialize)]
pub struct SignIn {
    username: String,
    password: String,
}

pub async fn sign_in(
    State(state): State<AppState>,
    csrf: CsrfToken,
    Form(f): Form<SignIn>,
) -> Result<Response, PageError> {
    let username = f.username.trim().to_lowercase();
    let again = |message: &str| {
        state.templates.page(
            "login.html",
            None,
            &csrf,
            context! { error => message, username => username.clone() },
        )
    };
    if username.is_empty() || username.len() > 64 || f.password.is_empty() || f.password.len() > 256
    {
        return Ok(again("请输入用户名和密码")?.into_response());
    }
    let limiter = &state.sign_in_attempts;
    match limiter.check(&username).await {
        Ok(Ok(())) => {}
        Ok(Err(locked)) => {
            let _ = state.users.record(&username, "locked").await;
            let minutes = locked.retry_after_secs.div_ceil(60);
            return Ok(again(&format!(
                "登录失败次数过多，该账号已锁定，请 {minutes} 分钟后再试"
            ))?
            .into_response());
        }
        Err(e) => {
            tracing::error!(error = %e, "sign-in limiter unavailable");
            return Err(PageError::Internal);
        }
    }
    let user = match state.users.verify(&username, &f.password).await {
        Ok(Ok(u)) => u,
        Ok(Err(refusal)) => {
            let (outcome, message) = match refusal {
                Refusal::WrongNameOrPassword => ("wrong_password", "用户名或密码错误"),
                Refusal::Disabled => ("disabled", "该账号已停用，请联系系统管理员"),
            };
            let _ = limiter.record_failure(&username).await;
            let _ = state.users.record(&username, outcome).await;
            return Ok(again(message)?.into_response());
        }
        Err(e) => {
            tracing::error!(error = %e, "sign-in check failed");
            return Err(PageError::Internal);
        }
    };
    let ttl = Duration::from_secs(state.settings.session_ttl_secs);
    let token = state
        .auth
        .create_expiring(
            user.role.api_role(),
            &user.scope,
            user.department.as_deref(),
            &format!("console session of {}", user.username),
            Some(ttl),
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "session token not issued");
            PageError::Internal
        })?;
    let s = Session {
        username: user.username.clone(),
        display_name: user.display_name,
        role: user.role,
        scope: user.scope,
        department: user.department,
        token: token.token,
        token_id: token.id,
        csrf: session::random(32),
    };
    let id = state.save_session(&s).await.map_err(|e| {
        tracing::error!(error = %e, "session not stored");
        PageError::Internal
    })?;
    let _ = state.users.record(&user.username, "ok").await;
    tracing::info!(user = %user.username, role = s.role.as_str(), "signed in");
    let mut resp = Redirect::to(s.role.home()).into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(
            &state,
            SESSION_COOKIE,
            &id,
            Some(state.settings.session_ttl_secs),
        ),
    );
    Ok(resp)
}

pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    MaybeStaff(s): MaybeStaff,
) -> Response {
    if let Some(id) = session::cookie(&headers, SESSION_COOKIE) {
        let _ = state.end_session(&id).await;
    }
    if let Some(s) = s {
        let _ = state.auth.revoke(&s.token_id).await;
        let _ = state.users.record(&s.username, "signed_out").await;
    }
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(&state, SESSION_COOKIE, "gone", Some(0)),
    );
    resp
}
