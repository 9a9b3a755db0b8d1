//! The `[notify]` configuration section (docs/examples/notify.toml is a commented example).
//! Secrets are [`Secret`]s: they never print.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use xinfang_platform::config::Secret;

use crate::notice::{Audience, Notice};
use crate::quiet::{QuietHours, QuietHoursSettings};
use crate::templates::SmsLimits;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifySettings {
    /// Name used in notices (`{{ bureau }}`); empty = `deployment.name`.
    pub bureau_name: String,
    /// Where petitioners query and evaluate with their query code (`{{ query_url }}`).
    pub query_url: String,
    /// Evaluation window told to the petitioner, in days (`{{ eval_days }}`).
    pub eval_days: u32,
    /// Notices that skip quiet hours (none by default).
    pub urgent_notices: Vec<String>,
    pub sender: SenderSettings,
    pub quiet_hours: QuietHoursSettings,
    pub email: EmailSettings,
    pub sms: SmsSettings,
    /// Who receives the weekly analysis (周研判) by e-mail.
    pub weekly_report: WeeklyReportSettings,
}

/// `[notify.weekly_report]`: the leaders the weekly analysis is e-mailed to (HTML, with the
/// CSV attached), from supervision's `xf.<county>.report.weekly`.
///
/// ```toml
/// [notify.weekly_report]
/// recipients = ["leader@xf.example.cn"]          # every report: the city's and each county's
/// [notify.weekly_report.counties]
/// 411202 = ["hubin-leader@xf.example.cn"]         # also that county's report
/// ```
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WeeklyReportSettings {
    pub recipients: Vec<String>,
    pub counties: BTreeMap<String, Vec<String>>,
}

impl WeeklyReportSettings {
    /// The addresses a report of `county` goes to, each once (case-insensitively).
    pub fn recipients_for(&self, county: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let extra = self.counties.get(county).into_iter().flatten();
        for a in self.recipients.iter().chain(extra) {
            let a = a.trim();
            if !a.is_empty() && !out.iter().any(|o| o.eq_ignore_ascii_case(a)) {
                out.push(a.to_owned());
            }
        }
        out
    }
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            bureau_name: String::new(),
            query_url: String::new(),
            eval_days: 30,
            urgent_notices: Vec::new(),
            sender: SenderSettings::default(),
            quiet_hours: QuietHoursSettings::default(),
            email: EmailSettings::default(),
            sms: SmsSettings::default(),
            weekly_report: WeeklyReportSettings::default(),
        }
    }
}

/// `[notify.sender]`: the loop that sends pending deliveries.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SenderSettings {
    /// Sends in flight at once, per channel (SMS and e-mail have a lane each).
    pub concurrency: usize,
    /// At most this many deliveries claimed per query.
    pub batch_size: i64,
    /// Fallback poll when no wake-up arrives.
    pub poll_interval_ms: u64,
    /// A claimed delivery comes back to others after this long (crashed sender).
    pub lease_secs: u64,
    /// Attempts before a transiently failing delivery is dead.
    pub max_attempts: i32,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
}

impl Default for SenderSettings {
    fn default() -> Self {
        Self {
            concurrency: 8,
            batch_size: 64,
            poll_interval_ms: 1000,
            lease_secs: 120,
            max_attempts: 8,
            backoff_initial_ms: 30_000,
            backoff_max_ms: 3_600_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (required), usually port 587.
    Starttls,
    /// TLS from the first byte (SMTPS), usually port 465.
    Tls,
    /// No encryption: local relays and tests only.
    Plain,
}

/// `[notify.email]`: SMTP.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailSettings {
    pub enabled: bool,
    pub host: String,
    /// 0 = the usual port for `security` (587, 465, 25).
    pub port: u16,
    pub security: SmtpSecurity,
    /// Empty = no authentication.
    pub username: String,
    pub password: Secret,
    /// `Display Name <address>` or a bare address.
    pub from: String,
    /// Pooled SMTP connections (sends in flight share them).
    pub pool_max: u32,
    pub timeout_secs: u64,
    /// Name sent in EHLO; empty = this host's name.
    pub hello_name: String,
    /// PEM file of further root certificates to trust for TLS (a bureau's internal CA);
    /// the public web roots are always trusted.
    pub ca_file: Option<std::path::PathBuf>,
}

impl Default for EmailSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            host: "127.0.0.1".into(),
            port: 0,
            security: SmtpSecurity::Starttls,
            username: String::new(),
            password: Secret::default(),
            from: "信访局 <noreply@localhost>".into(),
            pool_max: 8,
            timeout_secs: 30,
            hello_name: String::new(),
            ca_file: None,
        }
    }
}

impl EmailSettings {
    /// The longest one send may take: connecting, the greeting and the message's commands,
    /// each within `timeout_secs`.
    pub fn whole_send(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_secs.max(1) * 3)
    }

    pub fn effective_port(&self) -> u16 {
        match (self.port, self.security) {
            (0, SmtpSecurity::Starttls) => 587,
            (0, SmtpSecurity::Tls) => 465,
            (0, SmtpSecurity::Plain) => 25,
            (p, _) => p,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsProviderKind {
    /// SMS disabled: deliveries are recorded as failed ("no provider").
    None,
    /// Generic HTTP JSON gateway with an HMAC-SHA256 signed body.
    Http,
    /// Alibaba Cloud SMS (dysmsapi SendSms).
    Aliyun,
}

/// `[notify.sms]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsSettings {
    pub provider: SmsProviderKind,
    pub max_segments: u32,
    pub reserve_chars: usize,
    pub max_field_chars: usize,
    pub http: HttpSmsSettings,
    pub aliyun: AliyunSettings,
}

impl Default for SmsSettings {
    fn default() -> Self {
        let l = SmsLimits::default();
        Self {
            provider: SmsProviderKind::None,
            max_segments: l.max_segments,
            reserve_chars: l.reserve_chars,
            max_field_chars: l.max_field_chars,
            http: HttpSmsSettings::default(),
            aliyun: AliyunSettings::default(),
        }
    }
}

impl SmsSettings {
    pub fn limits(&self) -> SmsLimits {
        SmsLimits {
            max_segments: self.max_segments,
            reserve_chars: self.reserve_chars,
            max_field_chars: self.max_field_chars,
        }
    }
}

/// `[notify.sms.http]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSmsSettings {
    pub url: String,
    /// HMAC-SHA256 key for the body signature.
    pub secret: Secret,
    /// Header carrying `sha256=<hex>` of the body.
    pub signature_header: String,
    pub timeout_secs: u64,
}

impl Default for HttpSmsSettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            secret: Secret::default(),
            signature_header: "X-Xf-Signature".into(),
            timeout_secs: 10,
        }
    }
}

/// `[notify.sms.aliyun]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AliyunSettings {
    pub endpoint: String,
    pub access_key_id: String,
    pub access_key_secret: Secret,
    /// Approved signature (签名), e.g. 三门峡市信访局.
    pub sign_name: String,
    pub region_id: String,
    /// Approved template code per notice name (`receipt = "SMS_123456789"`); the notice's
    /// variables are sent as TemplateParam.
    pub templates: BTreeMap<String, String>,
    /// Template parameter values are clipped to this many characters.
    pub param_max_chars: usize,
    pub timeout_secs: u64,
}

impl Default for AliyunSettings {
    fn default() -> Self {
        Self {
            endpoint: "https://dysmsapi.aliyuncs.com/".into(),
            access_key_id: String::new(),
            access_key_secret: Secret::default(),
            sign_name: String::new(),
            region_id: "cn-hangzhou".into(),
            templates: BTreeMap::new(),
            param_max_chars: 35,
            timeout_secs: 10,
        }
    }
}

impl NotifySettings {
    /// Checks what serde cannot; every message names its key.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut p = Vec::new();
        if let Err(e) = QuietHours::from_settings(&self.quiet_hours) {
            p.push(e);
        }
        for n in &self.urgent_notices {
            if Notice::parse(n).is_none() {
                p.push(format!("notify.urgent_notices: unknown notice {n:?}"));
            }
        }
        let s = &self.sender;
        if s.concurrency == 0 || s.concurrency > 256 {
            p.push("notify.sender.concurrency: must be 1..=256".into());
        }
        if !(1..=10_000).contains(&s.batch_size) {
            p.push("notify.sender.batch_size: must be 1..=10000".into());
        }
        if s.max_attempts < 1 {
            p.push("notify.sender.max_attempts: must be at least 1".into());
        }
        if s.backoff_initial_ms == 0 || s.backoff_max_ms < s.backoff_initial_ms {
            p.push("notify.sender.backoff_*: need 0 < backoff_initial_ms <= backoff_max_ms".into());
        }
        if s.lease_secs == 0 {
            p.push("notify.sender.lease_secs: must be positive".into());
        }
        let e = &self.email;
        if e.enabled {
            if e.host.trim().is_empty() {
                p.push("notify.email.host: required when email is enabled".into());
            }
            if e.from.parse::<lettre::message::Mailbox>().is_err() {
                p.push("notify.email.from: must be an address, optionally `Name <address>`".into());
            }
            if e.pool_max == 0 {
                p.push("notify.email.pool_max: must be positive".into());
            }
            if !e.username.is_empty() && e.password.is_empty() {
                p.push("notify.email.password: required with a username".into());
            }
        }
        let sms = &self.sms;
        if !(1..=10).contains(&sms.max_segments) {
            p.push("notify.sms.max_segments: must be 1..=10".into());
        }
        if sms.max_field_chars < 8 {
            p.push("notify.sms.max_field_chars: must be at least 8".into());
        }
        match sms.provider {
            SmsProviderKind::None => {}
            SmsProviderKind::Http => {
                let h = &sms.http;
                if !(h.url.starts_with("http://") || h.url.starts_with("https://")) {
                    p.push("notify.sms.http.url: must be an http(s) URL".into());
                }
                if h.secret.expose().len() < 16 {
                    p.push("notify.sms.http.secret: must be at least 16 characters".into());
                }
                if h.signature_header
                    .parse::<reqwest::header::HeaderName>()
                    .is_err()
                {
                    p.push("notify.sms.http.signature_header: not a valid header name".into());
                }
            }
            SmsProviderKind::Aliyun => {
                let a = &sms.aliyun;
                if !(a.endpoint.starts_with("http://") || a.endpoint.starts_with("https://")) {
                    p.push("notify.sms.aliyun.endpoint: must be an http(s) URL".into());
                }
                if a.access_key_id.is_empty() {
                    p.push("notify.sms.aliyun.access_key_id: required".into());
                }
                if a.access_key_secret.is_empty() {
                    p.push("notify.sms.aliyun.access_key_secret: required".into());
                }
                if a.sign_name.is_empty() {
                    p.push("notify.sms.aliyun.sign_name: required".into());
                }
                for n in Notice::ALL {
                    if !a.templates.contains_key(n.name()) {
                        p.push(format!(
                            "notify.sms.aliyun.templates.{}: template code required",
                            n.name()
                        ));
                    }
                }
                for k in a.templates.keys() {
                    if Notice::parse(k).is_none() {
                        p.push(format!("notify.sms.aliyun.templates.{k}: unknown notice"));
                    }
                }
            }
        }
        let w = &self.weekly_report;
        for (i, a) in w.recipients.iter().enumerate() {
            if !xinfang_domain::directory::valid_email(a.trim()) {
                p.push(format!(
                    "notify.weekly_report.recipients[{i}]: not an e-mail address"
                ));
            }
        }
        for (county, list) in &w.counties {
            if xinfang_domain::county::CountyCode::parse(county).is_err() {
                p.push(format!(
                    "notify.weekly_report.counties.{county}: not a division code"
                ));
            }
            for (i, a) in list.iter().enumerate() {
                if !xinfang_domain::directory::valid_email(a.trim()) {
                    p.push(format!(
                        "notify.weekly_report.counties.{county}[{i}]: not an e-mail address"
                    ));
                }
            }
        }
        if p.is_empty() { Ok(()) } else { Err(p) }
    }

    pub fn is_urgent(&self, notice: Notice) -> bool {
        notice.audience() == Audience::Department
            || self.urgent_notices.iter().any(|n| n == notice.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_secrets_hidden() {
        let mut s = NotifySettings::default();
        s.validate().unwrap();
        s.sms.http.secret = Secret::new("very-secret-value-123");
        assert!(!format!("{s:?}").contains("very-secret"));
    }

    #[test]
    fn problems_name_their_keys() {
        let mut s = NotifySettings::default();
        s.sms.provider = SmsProviderKind::Aliyun;
        s.sms
            .aliyun
            .templates
            .insert("bogus".into(), "SMS_1".into());
        s.email.enabled = true;
        s.email.from = "not an address".into();
        s.sender.concurrency = 0;
        s.weekly_report.recipients = vec!["ok@example.com".into(), "nobody".into()];
        s.weekly_report
            .counties
            .insert("4112".into(), vec!["x@example.com".into()]);
        let p = s.validate().unwrap_err().join("\n");
        for key in [
            "notify.weekly_report.recipients[1]",
            "notify.weekly_report.counties.4112",
            "notify.sms.aliyun.access_key_id",
            "notify.sms.aliyun.sign_name",
            "notify.sms.aliyun.templates.receipt",
            "notify.sms.aliyun.templates.bogus",
            "notify.email.from",
            "notify.sender.concurrency",
        ] {
            assert!(p.contains(key), "{key} in {p}");
        }
    }

    #[test]
    fn the_documented_example_parses_and_is_valid() {
        #[derive(Deserialize)]
        struct File {
            notify: NotifySettings,
        }
        let f: File = toml::from_str(include_str!("../../../docs/examples/notify.toml")).unwrap();
        f.notify.validate().unwrap();
        assert_eq!(
            f.notify.sender.max_attempts,
            SenderSettings::default().max_attempts
        );
    }

    #[test]
    fn section_parses_from_toml() {
        let s: NotifySettings = toml::from_str(
            r#"
            query_url = "https://q"
            [sms]
            provider = "http"
            [sms.http]
            url = "http://127.0.0.1:9/sms"
            secret = "0123456789abcdef"
            [email]
            enabled = true
            security = "plain"
            port = 2525
            [quiet_hours]
            start = "09:00"
            "#,
        )
        .unwrap();
        s.validate().unwrap();
        assert_eq!(s.email.effective_port(), 2525);
        assert_eq!(s.quiet_hours.end, "21:00");
        assert!(toml::from_str::<NotifySettings>("[sms]\nbogus = 1").is_err());
    }

    #[test]
    fn weekly_report_recipients_are_everyones_plus_the_countys_once() {
        let s: NotifySettings = toml::from_str(
            r#"
            [weekly_report]
            recipients = ["a@example.com", "b@example.com"]
            [weekly_report.counties]
            411202 = ["c@example.com", "A@example.com"]
            "#,
        )
        .unwrap();
        s.validate().unwrap();
        let w = &s.weekly_report;
        assert_eq!(
            w.recipients_for("411202"),
            vec!["a@example.com", "b@example.com", "c@example.com"]
        );
        assert_eq!(w.recipients_for("411200").len(), 2);
    }
}
