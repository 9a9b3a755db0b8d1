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
    http: reqwest::Client,
    pub urls: ServiceUrls,
}

/// A refused or failed call, as the service explained it (`error.field` names the field).
#[derive(Debug, Clone)]
pub struct ApiFailure {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub field: Option<String>,
}

impl ApiFailure {
    fn unavailable(what: &str) -> Self {
        Self {
            status: 503,
            code: "unavailable".into(),
            message: format!("服务暂时不可用（{what}），请稍后重试"),
            field: None,
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

impl Backend {
    pub fn new(urls: ServiceUrls) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()?;
        Ok(Self { http, urls })
    }

    pub async fn get(&self, s: Service, path: &str, token: Option<&str>) -> Result<Value, ApiFailure> {
        self.call(Method::GET, s, path, token, None).await
    }

    pub async fn post(
        &self,
        s: Service,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Result<Value, ApiFailure> {
        self.call(Method::POST, s, path, token, Some(body)).await
    }

    /// GET of a non-JSON body (CSV exports).
    pub async fn get_text(&self, s: Service, path: &str, token: Option<&str>) -> Result<String, ApiFailure> {
        let resp = self.send(Method::GET, s, path, token, None).await?;
        let status = resp.status();
        if !status.is_success() {
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            return Err(failure(status, &v));
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
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<reqwest::Response, ApiFailure> {
        let url = format!("{}{path}", self.urls.of(s));
        let mut req = self.http.request(method, &url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.map_err(|e| {
            tracing::warn!(service = ?s, error = %e, "service call failed");
            ApiFailure::unavailable("连接失败")
        })
    }

    async fn call(
        &self,
        method: Method,
        s: Service,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value, ApiFailure> {
        let resp = self.send(method, s, path, token, body).await?;
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(v)
        } else {
            Err(failure(status, &v))
        }
    }
}

fn failure(status: StatusCode, v: &Value) -> ApiFailure {
    let e = &v["error"];
    ApiFailure {
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
