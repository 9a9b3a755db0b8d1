//! E-mail through a submission relay as bureaus run them: STARTTLS (or SMTPS) and AUTH required, and
//! a certificate issued by the bureau's own CA (trusted through `notify.email.ca_file`). The
//! relay is a real SMTP server (aiosmtpd, tests/support/smtp_tls_auth.py) on a free port; the
//! certificates are made with openssl for each run.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{ensure_aiosmtpd, free_port, wait_listening};
use xinfang_notify::providers::SendError;
use xinfang_notify::providers::email::{EmailMessage, EmailSender};
use xinfang_notify::settings::{EmailSettings, SmtpSecurity};
use xinfang_platform::config::Secret;
use xinfang_platform::testing::repo_root;

const USER: &str = "xinfang";
const PASSWORD: &str = "relay-password-1";

struct Relay {
    child: Child,
    port: u16,
    dir: PathBuf,
    security: SmtpSecurity,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(
        status.is_ok_and(|s| s.success()),
        "openssl {args:?} failed (is openssl installed? infra/test-tools.sh installs it)"
    );
}

/// A CA, and a server certificate for 127.0.0.1 / localhost issued by it.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=xinfang test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         extendedKeyUsage=serverAuth\n",
    )
    .expect("write ext.cnf");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

impl Relay {
    async fn start() -> Relay {
        Self::start_with(SmtpSecurity::Starttls).await
    }

    /// `Starttls` (submission, port 587 style) or `Tls` (SMTPS, port 465 style).
    async fn start_with(security: SmtpSecurity) -> Relay {
        ensure_aiosmtpd();
        let dir = std::env::temp_dir().join(format!("xf-relay-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        certificates(&dir);
        let port = free_port();
        let script = repo_root().join("services/notify/tests/support/smtp_tls_auth.py");
        let child = Command::new("python3")
            .arg(script)
            .args(["127.0.0.1", &port.to_string()])
            .arg(dir.join("maildir"))
            .arg(dir.join("server.pem"))
            .arg(dir.join("server.key"))
            .args([USER, PASSWORD])
            .arg(if security == SmtpSecurity::Tls {
                "tls"
            } else {
                "starttls"
            })
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 starts the relay");
        let relay = Relay {
            child,
            port,
            dir,
            security,
        };
        wait_listening(port, "the relay").await;
        relay
    }

    fn settings(&self, password: &str, trust_ca: bool) -> EmailSettings {
        EmailSettings {
            enabled: true,
            host: "127.0.0.1".into(),
            port: self.port,
            security: self.security,
            username: USER.into(),
            password: Secret::new(password),
            from: "三门峡市信访局 <noreply@xf.example.cn>".into(),
            timeout_secs: 10,
            ca_file: trust_ca.then(|| self.dir.join("ca.pem")),
            ..EmailSettings::default()
        }
    }

    /// Raw messages the relay stored.
    fn stored(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.dir.join("maildir/new")) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok())
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .collect()
    }
}

fn message(id: uuid::Uuid) -> EmailMessage<'static> {
    EmailMessage {
        id,
        to: "li@example.com",
        subject: "信访事项受理告知",
        body: "您的信访事项已受理。",
    }
}

#[tokio::test]
async fn mail_goes_out_over_starttls_with_authentication_to_a_relay_of_the_bureaus_own_ca() {
    let relay = Relay::start().await;
    let sender = EmailSender::new(&relay.settings(PASSWORD, true)).expect("sender");
    let id = uuid::Uuid::now_v7();
    let code = sender.send(message(id)).await.expect("sent");
    assert_eq!(code.as_deref(), Some("250"));
    let stored = relay.stored();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].contains(&id.to_string()), "{}", stored[0]);
    assert!(stored[0].contains("li@example.com"));
}

#[tokio::test]
async fn mail_goes_out_over_implicit_tls_with_authentication() {
    let relay = Relay::start_with(SmtpSecurity::Tls).await;
    let sender = EmailSender::new(&relay.settings(PASSWORD, true)).expect("sender");
    let id = uuid::Uuid::now_v7();
    sender.send(message(id)).await.expect("sent");
    let stored = relay.stored();
    assert_eq!(stored.len(), 1);
    assert!(stored[0].contains(&id.to_string()), "{}", stored[0]);
}

#[tokio::test]
async fn an_untrusted_certificate_sends_nothing() {
    // Without the bureau's CA the certificate is not trusted: no plaintext fallback.
    let relay = Relay::start().await;
    let sender = EmailSender::new(&relay.settings(PASSWORD, false)).expect("sender");
    let err = sender
        .send(message(uuid::Uuid::now_v7()))
        .await
        .unwrap_err();
    assert!(!err.to_string().contains(PASSWORD), "{err}");
    assert!(relay.stored().is_empty());
}

#[tokio::test]
async fn a_wrong_password_is_refused_for_good() {
    let relay = Relay::start().await;
    let sender = EmailSender::new(&relay.settings("wrong-password", true)).expect("sender");
    let err = sender
        .send(message(uuid::Uuid::now_v7()))
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Permanent(_)), "{err}");
    assert!(!err.to_string().contains("wrong-password"), "{err}");
    assert!(relay.stored().is_empty());
}

#[tokio::test]
async fn a_ca_file_that_is_missing_or_not_a_certificate_fails_at_start_naming_the_key() {
    let dir = std::env::temp_dir().join(format!("xf-ca-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let not_pem = dir.join("not.pem");
    std::fs::write(&not_pem, "not a certificate").expect("write");
    for ca in [dir.join("missing.pem"), not_pem] {
        let s = EmailSettings {
            enabled: true,
            ca_file: Some(ca),
            ..EmailSettings::default()
        };
        let err = EmailSender::new(&s).err().expect("refused").to_string();
        assert!(err.contains("notify.email.ca_file"), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
