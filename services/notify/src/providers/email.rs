//! E-mail over SMTP with lettre: STARTTLS (required), implicit TLS, or plain (local relays
//! and tests); optional authentication; a connection pool shared by concurrent sends.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::SendError;
use crate::mask;
use crate::settings::{EmailSettings, SmtpSecurity};

/// One e-mail to send.
#[derive(Debug, Clone, Copy)]
pub struct EmailMessage<'a> {
    /// Delivery id: becomes the Message-ID, so a resend is recognisable downstream.
    pub id: uuid::Uuid,
    pub to: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
}

pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
}

impl EmailSender {
    /// Builds the pooled transport; call inside a Tokio runtime (the pool spawns a task).
    pub fn new(s: &EmailSettings) -> anyhow::Result<Self> {
        let from: Mailbox = s
            .from
            .parse()
            .map_err(|_| anyhow::anyhow!("notify.email.from: not an e-mail address"))?;
        let tls = || -> anyhow::Result<TlsParameters> {
            let mut params = TlsParameters::builder(s.host.clone());
            if let Some(path) = &s.ca_file {
                let pem = std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("notify.email.ca_file {}: {e}", path.display()))?;
                // `from_pem` accepts a file without any certificate in it.
                if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
                    anyhow::bail!(
                        "notify.email.ca_file {}: holds no PEM certificate",
                        path.display()
                    );
                }
                let cert = Certificate::from_pem(&pem).map_err(|e| {
                    anyhow::anyhow!(
                        "notify.email.ca_file {}: not a PEM certificate: {e}",
                        path.display()
                    )
                })?;
                params = params.add_root_certificate(cert);
            }
            Ok(params.build()?)
        };
        let b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host);
        let mut b = match s.security {
            SmtpSecurity::Tls => b.tls(Tls::Wrapper(tls()?)),
            SmtpSecurity::Starttls => b.tls(Tls::Required(tls()?)),
            SmtpSecurity::Plain => b,
        };
        b = b
            .port(s.effective_port())
            .timeout(Some(Duration::from_secs(s.timeout_secs.max(1))))
            .pool_config(PoolConfig::new().max_size(s.pool_max.max(1)));
        if !s.username.is_empty() {
            b = b.credentials(Credentials::new(
                s.username.clone(),
                s.password.expose().to_owned(),
            ));
        }
        if !s.hello_name.is_empty() {
            b = b.hello_name(ClientId::Domain(s.hello_name.clone()));
        }
        let domain = from.email.domain().to_owned();
        Ok(Self {
            transport: b.build(),
            from,
            domain,
        })
    }

    /// Builds the message (plain text, UTF-8).
    pub fn message(&self, m: EmailMessage<'_>) -> Result<Message, SendError> {
        let to: Mailbox = m
            .to
            .parse()
            .map_err(|_| SendError::Permanent(format!("invalid address {}", mask::email(m.to))))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(m.subject)
            .message_id(Some(format!("<{}@{}>", m.id, self.domain)))
            .header(ContentType::TEXT_PLAIN)
            .body(m.body.to_owned())
            .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))
    }

    /// Sends one message; 5xx replies are permanent, everything else may be retried.
    pub async fn send(&self, m: EmailMessage<'_>) -> Result<Option<String>, SendError> {
        let msg = self.message(m)?;
        match self.transport.send(msg).await {
            Ok(resp) => Ok(Some(resp.code().to_string())),
            Err(e) => {
                let text = mask::scrub(&format!("smtp: {e}"));
                if e.is_permanent() || e.is_client() {
                    Err(SendError::Permanent(text))
                } else {
                    Err(SendError::Transient(text))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_carry_the_delivery_id_and_refuse_bad_addresses() {
        let s = EmailSettings {
            enabled: true,
            security: SmtpSecurity::Plain,
            from: "三门峡市信访局 <noreply@xf.example.cn>".into(),
            ..Default::default()
        };
        let sender = EmailSender::new(&s).unwrap();
        let id = uuid::Uuid::now_v7();
        let m = sender
            .message(EmailMessage {
                id,
                to: "li@example.com",
                subject: "信访事项受理告知",
                body: "您好",
            })
            .unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        assert!(raw.contains(&format!("<{id}@xf.example.cn>")), "{raw}");
        let err = sender
            .message(EmailMessage {
                id,
                to: "zhangsan-at-example",
                subject: "s",
                body: "b",
            })
            .unwrap_err();
        assert!(matches!(err, SendError::Permanent(_)));
        assert!(!err.to_string().contains("zhangsan"), "{err}");
    }
}
