//! `xinfang nats-config`: a nats-server configuration whose permissions enforce who may say
//! and hear what, generated from the directory.
//!
//! One account (`XF`, JetStream enabled) holds every user so requests and replies flow:
//! - each service gets a user with broad permissions;
//! - each department `<county>:<dept>` gets user `<county>_<dept>` that may subscribe only to
//!   `xf.<county>.dept.<dept>.>` and to its own reply inbox `_INBOX.<county>_<dept>.>`, and
//!   publish only on `xf.<county>.cmd.<dept>.>`. Department clients therefore set their
//!   inbox prefix to `_INBOX.<county>_<dept>` (async-nats `custom_inbox_prefix`, `nats
//!   --inbox-prefix`), so no department can read another's replies.
//!
//! Passwords are generated (random, 32 characters) and written in clear into the config:
//! keep the file as secret as the passwords (mode 0600).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use rand::Rng;
use rand::distr::Alphanumeric;
use xinfang_domain::directory::{Directory, OrganRef};

/// The services of a deployment, each of which gets a user `svc_<name>`.
pub const SERVICES: &[&str] = &["intake", "routing", "supervision", "review", "notify"];

#[derive(Debug, Clone)]
pub struct NatsConfigOptions {
    pub host: String,
    pub port: u16,
    /// JetStream file storage.
    pub store_dir: PathBuf,
    pub services: Vec<String>,
    /// The one account all users share.
    pub account: String,
}

impl Default for NatsConfigOptions {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 4222,
            store_dir: PathBuf::from("/var/lib/nats/jetstream"),
            services: SERVICES.iter().map(|s| (*s).to_owned()).collect(),
            account: "XF".into(),
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
    /// The inbox prefix the client must use (departments only).
    pub inbox_prefix: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"***")
            .field("inbox_prefix", &self.inbox_prefix)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct NatsConfig {
    /// The nats-server configuration text.
    pub config: String,
    /// Service name → credentials.
    pub services: BTreeMap<String, Credentials>,
    /// Department → credentials.
    pub departments: BTreeMap<OrganRef, Credentials>,
}

fn password() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// The user name of a department: `411282_rsj`.
pub fn department_user(organ: &OrganRef) -> String {
    format!("{}_{}", organ.county, organ.dept)
}

/// The reply inbox prefix a department's client must use: `_INBOX.411282_rsj`.
pub fn department_inbox(organ: &OrganRef) -> String {
    format!("_INBOX.{}", department_user(organ))
}

/// Quotes a string for the nats-server config (a JSON string is a valid one).
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Generates the configuration for `dir` (department and service codes are subject tokens,
/// validated by the directory, so they cannot widen a permission).
pub fn generate(dir: &Directory, opts: &NatsConfigOptions) -> anyhow::Result<NatsConfig> {
    for s in &opts.services {
        xinfang_domain::subject::token("service", s)?;
    }
    xinfang_domain::subject::token("account", &opts.account.to_lowercase())?;
    let mut services = BTreeMap::new();
    let mut departments = BTreeMap::new();
    let mut users = String::new();
    for s in &opts.services {
        let c = Credentials {
            user: format!("svc_{s}"),
            password: password(),
            inbox_prefix: None,
        };
        writeln!(
            users,
            "      {{ user: {}, password: {}, permissions: {{ publish: {{ allow: [\">\"] }}, subscribe: {{ allow: [\">\"] }} }} }}",
            q(&c.user),
            q(&c.password)
        )?;
        services.insert(s.clone(), c);
    }
    for (organ, _) in dir.organs() {
        let inbox = department_inbox(&organ);
        let c = Credentials {
            user: department_user(&organ),
            password: password(),
            inbox_prefix: Some(inbox.clone()),
        };
        writeln!(
            users,
            "      # {} {}",
            organ,
            dir.organ_name(&organ).replace('\n', " ")
        )?;
        writeln!(
            users,
            "      {{ user: {}, password: {}, permissions: {{ publish: {{ allow: [{}] }}, subscribe: {{ allow: [{}, {}] }} }} }}",
            q(&c.user),
            q(&c.password),
            q(&format!("xf.{}.cmd.{}.>", organ.county, organ.dept)),
            q(&format!("xf.{}.dept.{}.>", organ.county, organ.dept)),
            q(&format!("{inbox}.>")),
        )?;
        departments.insert(organ, c);
    }
    let mut config = String::new();
    writeln!(
        config,
        "# nats-server configuration generated by `xinfang nats-config`"
    )?;
    writeln!(config, "# from the directory {:?}.", dir.name)?;
    writeln!(
        config,
        "# It contains passwords: keep it secret (mode 0600)."
    )?;
    writeln!(config, "host: {}", q(&opts.host))?;
    writeln!(config, "port: {}", opts.port)?;
    writeln!(config)?;
    writeln!(config, "jetstream {{")?;
    writeln!(
        config,
        "  store_dir: {}",
        q(&opts.store_dir.display().to_string())
    )?;
    writeln!(config, "}}")?;
    writeln!(config)?;
    writeln!(config, "accounts {{")?;
    writeln!(config, "  {} {{", opts.account)?;
    writeln!(config, "    jetstream: enabled")?;
    writeln!(config, "    users: [")?;
    config.push_str(&users);
    writeln!(config, "    ]")?;
    writeln!(config, "  }}")?;
    writeln!(config, "}}")?;
    Ok(NatsConfig {
        config,
        services,
        departments,
    })
}

/// [`generate`] for the directory file at `path` (for `xinfang nats-config`).
pub fn generate_from_file(
    path: &std::path::Path,
    opts: &NatsConfigOptions,
) -> anyhow::Result<NatsConfig> {
    let loaded = crate::directory::load(path)?;
    generate(&loaded.directory, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_department_gets_narrow_permissions() {
        let dir = Directory::from_toml_str(include_str!("../../../config/directory.toml")).unwrap();
        let cfg = generate(&dir, &NatsConfigOptions::default()).unwrap();
        assert_eq!(cfg.departments.len(), dir.department_count());
        assert_eq!(cfg.services.len(), SERVICES.len());
        let rsj = OrganRef::parse("411282:rsj").unwrap();
        let c = &cfg.departments[&rsj];
        assert_eq!(c.user, "411282_rsj");
        assert_eq!(c.password.len(), 32);
        let line = cfg
            .config
            .lines()
            .find(|l| l.contains("\"411282_rsj\""))
            .unwrap();
        assert!(
            line.contains("publish: { allow: [\"xf.411282.cmd.rsj.>\"] }"),
            "{line}"
        );
        assert!(
            line.contains(
                "subscribe: { allow: [\"xf.411282.dept.rsj.>\", \"_INBOX.411282_rsj.>\"] }"
            ),
            "{line}"
        );
        assert!(!format!("{c:?}").contains(&c.password));
        // Passwords differ.
        let other = &cfg.departments[&OrganRef::parse("411282:zjj").unwrap()];
        assert_ne!(other.password, c.password);
    }
}
