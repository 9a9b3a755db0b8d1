//! E-mail over SMTP with lettre: STARTTLS (required), implicit TLS, or plain (local relays
//! and tests); optional authentication; a connection pool shared by concurrent sends.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
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

/// What a report e-mail adds to [`EmailMessage`]: an HTML body, a file.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmailExtras<'a> {
    /// The body is HTML (sent with a plain-text alternative).
    pub html: bool,
    /// An attached file: name and UTF-8 content (CSV).
    pub attachment: Option<(&'a str, &'a str)>,
}

/// A plain-text rendering of an HTML page, for mail clients that show no HTML: tags dropped,
/// block ends as line breaks, the common entities decoded.
pub fn html_to_text(html: &str) -> String {
    let body = html
        .split_once("<body")
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(_, rest)| rest)
        .unwrap_or(html);
    let mut out = String::with_capacity(body.len() / 2);
    let mut in_tag = false;
    let mut tag = String::new();
    let mut skip = false;
    for c in body.chars() {
        if in_tag {
            if c == '>' {
                in_tag = false;
                let t = tag.trim_start_matches('/').to_ascii_lowercase();
                let name = t.split([' ', '/']).next().unwrap_or_default().to_owned();
                if name == "svg" || name == "style" {
                    skip = !tag.starts_with('/');
                }
                if matches!(
                    name.as_str(),
                    "p" | "tr" | "h1" | "h2" | "h3" | "br" | "table"
                ) && !out.ends_with('\n')
                {
                    out.push('\n');
                } else if matches!(name.as_str(), "td" | "th") && tag.starts_with('/') {
                    out.push('\t');
                }
                tag.clear();
            } else {
                tag.push(c);
            }
        } else if c == '<' {
            in_tag = true;
        } else if !skip {
            out.push(c);
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
    /// Bound on one whole send. lettre's timeout covers single commands, and a relay that
    /// accepts the connection and never greets held sends past it (over 30 s with 10 s set),
    /// long enough to outlive the delivery's lease and let another sender take the row.
    whole_send: Duration,
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
            whole_send: s.whole_send(),
        })
    }

    /// Caps one whole send at `limit` when that is shorter than the settings' bound (the
    /// delivery's lease: past it another sender may take the row while this one still sends).
    pub fn within(mut self, limit: Duration) -> Self {
        self.whole_send = self.whole_send.min(limit.max(Duration::from_secs(1)));
        self
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

    /// A message with an HTML body (and its text alternative) and an attachment, as
    /// `extras` asks; plain text without extras.
    pub fn message_with(
        &self,
        m: EmailMessage<'_>,
        extras: EmailExtras<'_>,
    ) -> Result<Message, SendError> {
        if !extras.html && extras.attachment.is_none() {
            return self.message(m);
        }
        let to: Mailbox = m
            .to
            .parse()
            .map_err(|_| SendError::Permanent(format!("invalid address {}", mask::email(m.to))))?;
        let body = if extras.html {
            MultiPart::alternative()
                .singlepart(SinglePart::plain(html_to_text(m.body)))
                .singlepart(SinglePart::html(m.body.to_owned()))
        } else {
            MultiPart::mixed().singlepart(SinglePart::plain(m.body.to_owned()))
        };
        let mut all = MultiPart::mixed().multipart(body);
        if let Some((name, content)) = extras.attachment {
            let ct = ContentType::parse("text/csv; charset=utf-8")
                .map_err(|e| SendError::Permanent(format!("content type: {e}")))?;
            all = all.singlepart(Attachment::new(name.to_owned()).body(content.to_owned(), ct));
        }
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(m.subject)
            .message_id(Some(format!("<{}@{}>", m.id, self.domain)))
            .multipart(all)
            .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))
    }

    /// Sends one message; 5xx replies are permanent, everything else may be retried.
    pub async fn send(&self, m: EmailMessage<'_>) -> Result<Option<String>, SendError> {
        self.send_with(m, EmailExtras::default()).await
    }

    /// [`EmailSender::send`] with an HTML body and an attachment.
    pub async fn send_with(
        &self,
        m: EmailMessage<'_>,
        extras: EmailExtras<'_>,
    ) -> Result<Option<String>, SendError> {
        let msg = self.message_with(m, extras)?;
        let sent = tokio::time::timeout(self.whole_send, self.transport.send(msg)).await;
        match sent {
            Err(_) => Err(SendError::Transient(format!(
                "smtp: no answer within {} s",
                self.whole_send.as_secs()
            ))),
            Ok(Ok(resp)) => Ok(Some(resp.code().to_string())),
            Ok(Err(e)) => {
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

    /// Sends one message that must fail; the error and how long the send took.
    async fn failed_send(sender: &EmailSender) -> (SendError, Duration) {
        let started = std::time::Instant::now();
        let err = sender
            .send(EmailMessage {
                id: uuid::Uuid::now_v7(),
                to: "li@example.com",
                subject: "s",
                body: "b",
            })
            .await
            .unwrap_err();
        (err, started.elapsed())
    }

    #[tokio::test]
    async fn a_relay_that_never_greets_fails_the_send_within_the_bound() {
        let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = relay.local_addr().unwrap().port();
        let held = tokio::spawn(async move {
            let mut sockets = Vec::new();
            while let Ok((socket, _)) = relay.accept().await {
                sockets.push(socket);
            }
        });
        let s = EmailSettings {
            enabled: true,
            security: SmtpSecurity::Plain,
            port,
            timeout_secs: 1,
            from: "noreply@xf.example.cn".into(),
            ..Default::default()
        };
        let sender = EmailSender::new(&s).unwrap();
        let (err, took) = failed_send(&sender).await;
        assert!(matches!(err, SendError::Transient(_)), "{err}");
        assert!(
            took <= s.whole_send() + Duration::from_millis(500),
            "held {took:?}, bound {:?}",
            s.whole_send()
        );
        // A lease shorter than that bound caps it.
        let s = EmailSettings {
            timeout_secs: 10,
            ..s
        };
        let sender = EmailSender::new(&s).unwrap().within(Duration::from_secs(1));
        let (err, took) = failed_send(&sender).await;
        assert!(matches!(err, SendError::Transient(_)), "{err}");
        assert!(took < Duration::from_millis(1500), "held {took:?}");
        held.abort();
    }

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

    #[tokio::test]
    async fn reports_go_as_html_with_a_text_alternative_and_the_csv_attached() {
        let s = EmailSettings {
            enabled: true,
            security: SmtpSecurity::Plain,
            from: "noreply@xf.example.cn".into(),
            ..Default::default()
        };
        let sender = EmailSender::new(&s).unwrap();
        let page = "<html><head><style>p{color:red}</style></head><body><h1>周研判</h1>\
                    <svg><text>图</text></svg><table><tr><th>件数</th><td>3</td></tr></table></body></html>";
        let m = sender
            .message_with(
                EmailMessage {
                    id: uuid::Uuid::now_v7(),
                    to: "leader@example.com",
                    subject: "周研判",
                    body: page,
                },
                EmailExtras {
                    html: true,
                    attachment: Some(("weekly-411202-2026-W10.csv", "section,key\r\n")),
                },
            )
            .unwrap();
        let raw = String::from_utf8(m.formatted()).unwrap();
        assert!(raw.contains("multipart/mixed"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("text/html"), "{raw}");
        assert!(raw.contains("text/csv"), "{raw}");
        assert!(raw.contains("weekly-411202-2026-W10.csv"), "{raw}");
        let text = html_to_text(page);
        assert!(
            text.contains("周研判") && text.contains("件数\t3"),
            "{text:?}"
        );
        assert!(!text.contains("color") && !text.contains('图'), "{text:?}");
    }
}
