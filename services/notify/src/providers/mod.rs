//! Delivery providers: SMTP e-mail and SMS gateways behind one outcome type.

pub mod aliyun;
pub mod email;
pub mod http_sms;
pub mod sha1;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::mask;
use crate::notice::Notice;
use crate::settings::{NotifySettings, SmsProviderKind};

/// How a send failed. Messages are scrubbed of addresses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// May succeed later (network, 4xx SMTP reply, 5xx/429 from a gateway, throttling).
    #[error("transient: {0}")]
    Transient(String),
    /// Will not succeed by retrying (bad address, refused, misconfigured template).
    #[error("permanent: {0}")]
    Permanent(String),
}

/// One SMS to send.
#[derive(Debug, Clone, Copy)]
pub struct SmsMessage<'a> {
    /// Delivery id: idempotency key for gateways that de-duplicate.
    pub id: uuid::Uuid,
    pub to: &'a str,
    pub text: &'a str,
    pub notice: Notice,
    /// The notice's variables as strings (template-based providers such as Alibaba Cloud).
    pub params: &'a BTreeMap<String, String>,
}

/// An SMS gateway. Returns the provider's message id when it gives one.
pub trait SmsProvider: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn send<'a>(&'a self, msg: SmsMessage<'a>) -> BoxFuture<'a, Result<Option<String>, SendError>>;
}

/// The configured providers; a `None` channel is disabled.
#[derive(Clone, Default)]
pub struct Providers {
    pub email: Option<Arc<email::EmailSender>>,
    pub sms: Option<Arc<dyn SmsProvider>>,
}

impl Providers {
    /// The provider name a channel's deliveries go through (a metrics label).
    pub fn name_for(&self, channel: &str) -> &'static str {
        match channel {
            "email" if self.email.is_some() => "smtp",
            "sms" => self.sms.as_ref().map_or("none", |p| p.name()),
            _ => "none",
        }
    }

    /// Builds the providers `[notify]` configures.
    pub fn from_settings(s: &NotifySettings) -> anyhow::Result<Self> {
        let email = if s.email.enabled {
            // A send must end before its lease does, or another sender takes the row; the
            // claim may have waited up to `sender::wait_bound` of it for a slot.
            let lease = std::time::Duration::from_secs(s.sender.lease_secs);
            Some(Arc::new(
                email::EmailSender::new(&s.email)?.within(crate::sender::send_bound(lease)),
            ))
        } else {
            None
        };
        let sms: Option<Arc<dyn SmsProvider>> = match s.sms.provider {
            SmsProviderKind::None => None,
            SmsProviderKind::Http => Some(Arc::new(http_sms::HttpSms::new(s.sms.http.clone())?)),
            SmsProviderKind::Aliyun => {
                Some(Arc::new(aliyun::AliyunSms::new(s.sms.aliyun.clone())?))
            }
        };
        Ok(Self { email, sms })
    }
}

/// Network errors are transient; a request that cannot even be built is not.
pub(crate) fn classify_reqwest(e: reqwest::Error) -> SendError {
    // reqwest's Display may include the URL (never a phone here, but scrub anyway).
    let text = mask::scrub(&format!("{e}"));
    if e.is_builder() {
        SendError::Permanent(text)
    } else {
        SendError::Transient(text)
    }
}

/// At most `n` characters, `…` marking a cut.
pub(crate) fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}
