//! The `[console]` configuration section.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleSettings {
    /// Port of the console (pages and the API gateway); 0 = any (tests).
    pub port: u16,
    /// A session ends this long after sign-in, used or not (and its service token with it).
    pub session_ttl_secs: u64,
    /// Failed sign-ins per user name before the name is locked…
    pub sign_in_attempts: u32,
    /// …for this long (counted in a fixed window).
    pub sign_in_lockout_secs: u64,
    /// Send cookies with `Secure` (HTTPS deployments behind a TLS proxy). Off for the
    /// plain-HTTP demo on 127.0.0.1.
    pub secure_cookies: bool,
    /// Where the services' HTTP APIs are; empty = this host's `[http]` ports.
    pub services: ServiceUrls,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            port: 8090,
            session_ttl_secs: 8 * 3600,
            sign_in_attempts: 5,
            sign_in_lockout_secs: 900,
            secure_cookies: false,
            services: ServiceUrls::default(),
        }
    }
}

/// `[console.services]`: base URLs (`http://10.0.0.5:8080`) of services on other hosts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceUrls {
    pub intake: String,
    pub routing: String,
    pub supervision: String,
    pub review: String,
    pub notify: String,
}

impl ConsoleSettings {
    /// Every broken rule, each naming its key.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if !(300..=7 * 24 * 3600).contains(&self.session_ttl_secs) {
            problems.push("console.session_ttl_secs: between 300 and 604800".to_owned());
        }
        if self.sign_in_attempts == 0 {
            problems.push("console.sign_in_attempts: at least 1".to_owned());
        }
        for (name, url) in [
            ("intake", &self.services.intake),
            ("routing", &self.services.routing),
            ("supervision", &self.services.supervision),
            ("review", &self.services.review),
            ("notify", &self.services.notify),
        ] {
            if !url.is_empty() && reqwest::Url::parse(url).is_err() {
                problems.push(format!(
                    "console.services.{name}: an http(s) URL such as http://10.0.0.5:8080"
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}
