//! HTTP helpers the end-to-end tests share.
#![allow(dead_code)]

use serde_json::Value;

/// POSTs `body` as JSON; the status and the JSON answer (`Null` when there is none).
pub async fn post(http: &reqwest::Client, url: &str, body: Value) -> (u16, Value) {
    let r = http.post(url).json(&body).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// GETs `url`; the status and the JSON answer (`Null` when there is none).
pub async fn get(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let r = http.get(url).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}
