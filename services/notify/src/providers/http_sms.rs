//! Generic HTTP JSON SMS gateway: `POST <url>` with a JSON body, the body's HMAC-SHA256
//! (`sha256=<hex>`) in a configurable header and the delivery id as `Idempotency-Key`.
//!
//! Body: `{"id": "<uuid>", "to": "<mobile>", "text": "<rendered>", "notice": "<name>",
//! "params": {..}, "sent_at": "<RFC 3339>"}`. A 2xx is success (an optional JSON `{"id"}`
//! is kept as the provider's id); 408/425/429/5xx and network errors are retried; any other
//! status is permanent.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::BoxFuture;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{SendError, SmsMessage, SmsProvider, classify_reqwest};
use crate::mask;
use crate::settings::HttpSmsSettings;

/// `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub fn sign_body(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a signature header against the body in constant time (for gateways and tests).
pub fn verify_body(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// The JSON body sent to the gateway.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GatewayRequest {
    pub id: uuid::Uuid,
    pub to: String,
    pub text: String,
    pub notice: String,
    pub params: BTreeMap<String, String>,
    pub sent_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Deserialize)]
struct GatewayResponse {
    id: Option<String>,
}

pub struct HttpSms {
    settings: HttpSmsSettings,
    client: reqwest::Client,
}

impl HttpSms {
    pub fn new(settings: HttpSmsSettings) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.timeout_secs.max(1)))
            .build()?;
        Ok(Self { settings, client })
    }

    async fn send_one(&self, msg: SmsMessage<'_>) -> Result<Option<String>, SendError> {
        let req = GatewayRequest {
            id: msg.id,
            to: msg.to.to_owned(),
            text: msg.text.to_owned(),
            notice: msg.notice.name().to_owned(),
            params: msg.params.clone(),
            sent_at: chrono::Utc::now(),
        };
        let body = serde_json::to_vec(&req)
            .map_err(|e| SendError::Permanent(format!("gateway body: {e}")))?;
        let sig = sign_body(self.settings.secret.expose().as_bytes(), &body);
        let resp = self
            .client
            .post(&self.settings.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(self.settings.signature_header.as_str(), sig)
            .header("Idempotency-Key", msg.id.to_string())
            .body(body)
            .send()
            .await
            .map_err(classify_reqwest)?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if status.is_success() {
            let id = serde_json::from_str::<GatewayResponse>(&text)
                .ok()
                .and_then(|r| r.id);
            return Ok(id);
        }
        let detail = mask::scrub(&text.chars().take(200).collect::<String>());
        let message = format!("sms gateway: HTTP {status}: {detail}");
        if status.is_server_error() || matches!(status.as_u16(), 408 | 425 | 429) {
            Err(SendError::Transient(message))
        } else {
            Err(SendError::Permanent(message))
        }
    }
}

impl SmsProvider for HttpSms {
    fn name(&self) -> &'static str {
        "http"
    }

    fn send<'a>(&'a self, msg: SmsMessage<'a>) -> BoxFuture<'a, Result<Option<String>, SendError>> {
        Box::pin(self.send_one(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_rfc_4231_and_verifies() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign_body(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let sig = sign_body(b"k", b"{\"a\":1}");
        assert!(verify_body(b"k", b"{\"a\":1}", &sig));
        assert!(!verify_body(b"k", b"{\"a\":2}", &sig));
        assert!(!verify_body(b"other", b"{\"a\":1}", &sig));
        assert!(!verify_body(b"k", b"{\"a\":1}", "md5=00"));
        assert!(!verify_body(b"k", b"{\"a\":1}", "sha256=zz"));
    }
}
