//! The services' HTTP APIs, called with the signed-in user's token. The console has no other
//! way to the data: what a page shows is what the API gives that user.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Which service a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Intake,
    Routing,
    Supervision,
    Review,
    Notify,
}

/// Base URLs, e.g. `http://127.0.0.1:8080`.
#[derive(Debug, Clone)]
pub struct ServiceUrls {
    pub intake: String,
    pub routing: String,
    pub supervision: String,
    pub review: String,
    pub notify: String,
}

impl ServiceUrls {
    pub fn of(&self, s: Service) -> &str {
        match s {
            Service::Intake => &self.intake,
            Service::Routing => &self.routing,
            Service::Supervision => &self.supervision,
            Service::Review => &self.review,
            Service::Notify => &self.notify,
        }
    }
}

#[derive(Clone)]
pub struct Backend {
    pub(crate) http: reqwest::Client,
    pub urls: ServiceUrls,
}

/// A refused or failed call, as the service explained it (`error.field` names the field,
/// `error.rule` the rule it broke).
#[derive(Debug, Clone, Default)]
pub struct ApiFailure {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub field: Option<String>,
    pub rule: Option<String>,
    /// Seconds to wait, from a `429`'s `Retry-After`.
    pub retry_after: Option<u64>,
}

impl ApiFailure {
    pub fn unavailable(what: &str) -> Self {
        Self {
            status: 503,
            code: "unavailable".into(),
            message: format!("服务暂时不可用（{what}），请稍后重试"),
            field: None,
            rule: None,
            retry_after: None,
        }
    }

    /// One line for the page: the field, then the rule.
    pub fn line(&self) -> String {
        match &self.field {
            Some(f) => format!("{f}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

/// One call: the user's token (staff) or none (petitioner routes, where the query code is the
/// credential and `forwarded_for` names the petitioner's address for the rate limits).
#[derive(Debug, Clone, Copy, Default)]
pub struct CallOptions<'a> {
    pub token: Option<&'a str>,
    pub forwarded_for: Option<&'a str>,
}

impl Backend {
    pub fn new(urls: ServiceUrls) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()?;
        Ok(Self { http, urls })
    }

    pub async fn get(
        &self,
        s: Service,
        path: &str,
        token: Option<&str>,
    ) -> Result<Value, ApiFailure> {
        self.request(
            Method::GET,
            s,
            path,
            None,
            CallOptions {
                token,
                forwarded_for: None,
            },
        )
        .await
    }

    pub async fn post(
        &self,
        s: Service,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Result<Value, ApiFailure> {
        self.request(
            Method::POST,
            s,
            path,
            Some(body),
            CallOptions {
                token,
                forwarded_for: None,
            },
        )
        .await
    }

    pub async fn patch(
        &self,
        s: Service,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Result<Value, ApiFailure> {
        self.request(
            Method::PATCH,
            s,
            path,
            Some(body),
            CallOptions {
                token,
                forwarded_for: None,
            },
        )
        .await
    }

    /// GET of a non-JSON body (CSV exports).
    pub async fn get_text(
        &self,
        s: Service,
        path: &str,
        token: Option<&str>,
    ) -> Result<String, ApiFailure> {
        let opts = CallOptions {
            token,
            forwarded_for: None,
        };
        let resp = self.send(Method::GET, s, path, None, opts).await?;
        let status = resp.status();
        if !status.is_success() {
            let retry = retry_after(&resp);
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            return Err(failure(status, &v, retry));
        }
        resp.text()
            .await
            .map_err(|_| ApiFailure::unavailable("读取响应失败"))
    }

    async fn send(
        &self,
        method: Method,
        s: Service,
        path: &str,
        body: Option<&Value>,
        opts: CallOptions<'_>,
    ) -> Result<reqwest::Response, ApiFailure> {
        let url = format!("{}{path}", self.urls.of(s));
        let mut req = self.http.request(method, &url);
        if let Some(t) = opts.token {
            req = req.bearer_auth(t);
        }
        if let Some(f) = opts.forwarded_for {
            req = req.header("x-forwarded-for", f);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.map_err(|e| {
            // Without the URL: a petitioner's holds the query code.
            tracing::warn!(service = ?s, error = %e.without_url(), "service call failed");
            ApiFailure::unavailable("连接失败")
        })
    }

    /// Any call; the JSON answer, or the service's refusal.
    pub async fn request(
        &self,
        method: Method,
        s: Service,
        path: &str,
        body: Option<&Value>,
        opts: CallOptions<'_>,
    ) -> Result<Value, ApiFailure> {
        let resp = self.send(method, s, path, body, opts).await?;
        let status = resp.status();
        let retry = retry_after(&resp);
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(v)
        } else {
            Err(failure(status, &v, retry))
        }
    }
}

fn retry_after(resp: &reqwest::Response) -> Option<u64> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// The client's address as a proxy passes it on: what came before, then the peer.
pub fn forwarded_for(peer: std::net::SocketAddr, headers: &axum::http::HeaderMap) -> String {
    match headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
    {
        Some(prior) => format!("{prior}, {}", peer.ip()),
        None => peer.ip().to_string(),
    }
}

fn failure(status: StatusCode, v: &Value, retry_after: Option<u64>) -> ApiFailure {
    let e = &v["error"];
    ApiFailure {
        rule: e["rule"].as_str().map(str::to_owned),
        retry_after,
        status: status.as_u16(),
        code: e["code"].as_str().unwrap_or("error").to_owned(),
        message: e["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("请求未成功（HTTP {}）", status.as_u16())),
        field: e["field"].as_str().map(str::to_owned),
    }
}

/// Percent-encodes one path segment or query value.
pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
