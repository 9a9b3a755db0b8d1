//! `xinfang nats-config`: a nats-server configuration whose permissions enforce who may say
//! and hear what, generated from the directory.
//!
//! One account (`XF`, JetStream enabled) holds every user so requests and replies flow.
//! Every user has its own reply inbox `_INBOX.<user>` and may subscribe only there for
//! replies (the platform sets that prefix whenever a NATS user is configured), so nobody
//! reads another's replies.
//! - each service gets `svc_<service>` with least privilege: it publishes only the event
//!   families it owns (`xf.*.<family>.>`), its dead letters and, for the two services that
//!   answer requests (intake, routing), replies into inboxes; it may use only the JetStream
//!   API calls a service makes (stream info/create/update, consumer info/create, pull, ack),
//!   and purging or deleting a stream, a consumer or a message is denied outright;
//! - `svc_all` is the union, for the all-in-one process (`xinfang up`);
//! - `ops` is the operator's CLI user (dead-letter replay, maintenance): everything;
//! - each department `<county>:<dept>` gets user `<county>_<dept>` that may subscribe only to
//!   `xf.<county>.dept.<dept>.>` and to its own reply inbox `_INBOX.<county>_<dept>.>`, and
//!   publish only on `xf.<county>.cmd.<dept>.>`. Department clients therefore set their
//!   inbox prefix to `_INBOX.<county>_<dept>` (async-nats `custom_inbox_prefix`, `nats
//!   --inbox-prefix`); routing answers nowhere else.
//!
//! Passwords are generated (random, 32 characters) and written in clear into the config:
//! keep the file as secret as the passwords (mode 0600).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use rand::Rng;
use rand::distr::Alphanumeric;
use xinfang_domain::directory::{Directory, OrganRef};
use xinfang_domain::subject;

/// The services of a deployment, each of which gets a user `svc_<name>`.
pub const SERVICES: &[&str] = &["intake", "routing", "supervision", "review", "notify"];

/// The user of the all-in-one process, with the union of the services' permissions.
pub const ALL_IN_ONE: &str = "all";

/// The operator's user (the `xinfang` CLI's dead-letter replay and maintenance).
pub const OPERATOR_USER: &str = "ops";

/// JetStream API calls a service makes on county `c`'s stream `XF_<c>`: stream and consumer
/// set-up at start, pulls, acks. (Stream names are one subject token: a wildcard cannot say
/// "any XF_ stream", so each county served is listed.)
fn service_js_api(county: &str) -> Vec<String> {
    let s = format!("XF_{county}");
    vec![
        format!("$JS.API.STREAM.INFO.{s}"),
        format!("$JS.API.STREAM.CREATE.{s}"),
        format!("$JS.API.STREAM.UPDATE.{s}"),
        format!("$JS.API.CONSUMER.INFO.{s}.*"),
        format!("$JS.API.CONSUMER.CREATE.{s}.>"),
        format!("$JS.API.CONSUMER.DURABLE.CREATE.{s}.*"),
        format!("$JS.API.CONSUMER.MSG.NEXT.{s}.*"),
        format!("$JS.ACK.{s}.>"),
    ]
}

/// Destructive JetStream calls no service may make, whatever else a later edit allows.
const SERVICE_JS_DENY: &[&str] = &[
    "$JS.API.STREAM.PURGE.>",
    "$JS.API.STREAM.DELETE.>",
    "$JS.API.STREAM.MSG.DELETE.>",
    "$JS.API.CONSUMER.DELETE.>",
    "$JS.API.ACCOUNT.PURGE.>",
];

/// The event families `service` publishes (design.md "Data ownership").
pub fn service_families(service: &str) -> &'static [&'static str] {
    match service {
        "intake" => &["case"],
        "routing" => &["case", "dept"],
        "supervision" => &["case", "deadline", "dept"],
        "review" => &["case", "review"],
        "notify" => &["case"],
        _ => &[],
    }
}

/// Services answering NATS requests (`xf.<county>.cmd.…`), with the subjects they listen on.
fn service_commands(service: &str) -> &'static [&'static str] {
    match service {
        // Registration, and a clerk's decision on a repeat link (token-authenticated).
        "intake" => &["xf.*.cmd.intake.register", "xf.*.cmd.intake.repeat"],
        "routing" => &["xf.*.cmd.*.*"],
        _ => &[],
    }
}

/// What a user may publish and subscribe to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    pub publish: Vec<String>,
    pub publish_deny: Vec<String>,
    pub subscribe: Vec<String>,
    pub subscribe_deny: Vec<String>,
}

/// The least-privilege permissions of the services `names` sharing one user `user`, for the
/// deployment's `counties` (every county of the directory, the city included).
pub fn service_permissions(names: &[&str], user: &str, counties: &[String]) -> Permissions {
    let mut p = Permissions::default();
    let push = |v: &mut Vec<String>, s: String| {
        if !v.contains(&s) {
            v.push(s);
        }
    };
    for name in names {
        for family in service_families(name) {
            push(&mut p.publish, format!("xf.*.{family}.>"));
        }
        for cmd in service_commands(name) {
            push(&mut p.subscribe, (*cmd).to_owned());
            // Replies go into the requester's inbox; the handlers check the prefix.
            push(&mut p.publish, "_INBOX.>".to_owned());
        }
    }
    push(&mut p.publish, "xf.*.dlq.>".to_owned());
    push(&mut p.publish, "$JS.API.INFO".to_owned());
    for c in counties {
        for api in service_js_api(c) {
            push(&mut p.publish, api);
        }
    }
    p.publish_deny = SERVICE_JS_DENY.iter().map(|s| (*s).to_owned()).collect();
    push(&mut p.subscribe, format!("{}.>", subject::inbox_prefix(user)));
    // Routing listens on every department's commands (`xf.*.cmd.*.*`), which would include
    // intake's: a clerk's repeat decision carries the clerk's bearer token.
    if names.contains(&"routing") && !names.contains(&"intake") {
        p.subscribe_deny.push("xf.*.cmd.intake.>".to_owned());
    }
    p
}

/// The permissions of department `organ`.
pub fn department_permissions(organ: &OrganRef) -> Permissions {
    Permissions {
        publish: vec![format!("xf.{}.cmd.{}.>", organ.county, organ.dept)],
        publish_deny: Vec::new(),
        subscribe: vec![
            format!("xf.{}.dept.{}.>", organ.county, organ.dept),
            format!("{}.>", department_inbox(organ)),
        ],
        subscribe_deny: Vec::new(),
    }
}

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
    /// The inbox prefix the client must use.
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
    /// Service name → credentials (plus [`ALL_IN_ONE`]).
    pub services: BTreeMap<String, Credentials>,
    /// The operator's credentials.
    pub operator: Credentials,
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
    subject::department_user(&organ.county, &organ.dept)
}

/// The reply inbox prefix a department's client must use: `_INBOX.411282_rsj`.
pub fn department_inbox(organ: &OrganRef) -> String {
    subject::department_inbox(&organ.county, &organ.dept)
}

/// Quotes a string for the nats-server config (a JSON string is a valid one).
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn list(items: &[String]) -> String {
    items.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ")
}

fn user_line(out: &mut String, c: &Credentials, p: &Permissions) -> std::fmt::Result {
    let deny = |d: &[String]| {
        if d.is_empty() {
            String::new()
        } else {
            format!(", deny: [{}]", list(d))
        }
    };
    writeln!(
        out,
        "      {{ user: {}, password: {}, permissions: {{ publish: {{ allow: [{}]{} }}, subscribe: {{ allow: [{}]{} }} }} }}",
        q(&c.user),
        q(&c.password),
        list(&p.publish),
        deny(&p.publish_deny),
        list(&p.subscribe),
        deny(&p.subscribe_deny),
    )
}

fn service_credentials(user: String) -> Credentials {
    Credentials {
        inbox_prefix: Some(subject::inbox_prefix(&user)),
        user,
        password: password(),
    }
}

/// Generates the configuration for `dir` (department and service codes are subject tokens,
/// validated by the directory, so they cannot widen a permission).
pub fn generate(dir: &Directory, opts: &NatsConfigOptions) -> anyhow::Result<NatsConfig> {
    for s in &opts.services {
        subject::token("service", s)?;
        anyhow::ensure!(
            !service_families(s).is_empty(),
            "unknown service {s:?}: expected one of {SERVICES:?}"
        );
    }
    subject::token("account", &opts.account.to_lowercase())?;
    let mut services = BTreeMap::new();
    let mut departments = BTreeMap::new();
    let mut users = String::new();
    let names: Vec<&str> = opts.services.iter().map(String::as_str).collect();
    let counties: Vec<String> = dir.counties.iter().map(|c| c.code.to_string()).collect();
    for s in &names {
        let c = service_credentials(format!("svc_{s}"));
        user_line(&mut users, &c, &service_permissions(&[s], &c.user, &counties))?;
        services.insert((*s).to_owned(), c);
    }
    let all = service_credentials(format!("svc_{ALL_IN_ONE}"));
    writeln!(users, "      # the all-in-one process (xinfang up)")?;
    user_line(
        &mut users,
        &all,
        &service_permissions(&names, &all.user, &counties),
    )?;
    services.insert(ALL_IN_ONE.to_owned(), all);
    let operator = service_credentials(OPERATOR_USER.to_owned());
    writeln!(users, "      # the operator's CLI: everything")?;
    user_line(
        &mut users,
        &operator,
        &Permissions {
            publish: vec![">".into()],
            subscribe: vec![">".into()],
            ..Default::default()
        },
    )?;
    for (organ, _) in dir.organs() {
        let c = Credentials {
            user: department_user(&organ),
            password: password(),
            inbox_prefix: Some(department_inbox(&organ)),
        };
        writeln!(
            users,
            "      # {} {}",
            organ,
            dir.organ_name(&organ).replace('\n', " ")
        )?;
        user_line(&mut users, &c, &department_permissions(&organ))?;
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
        operator,
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
        assert_eq!(cfg.services.len(), SERVICES.len() + 1);
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
        // Services: only their own families, no stream purge or delete.
        let review = cfg
            .config
            .lines()
            .find(|l| l.contains("\"svc_review\""))
            .unwrap();
        assert!(review.contains("\"xf.*.review.>\""), "{review}");
        assert!(!review.contains("\"xf.*.dept.>\""), "{review}");
        assert!(!review.contains("\">\""), "{review}");
        assert!(review.contains("deny: [\"$JS.API.STREAM.PURGE.>\""), "{review}");
        assert!(review.contains("\"_INBOX.svc_review.>\""), "{review}");
        assert!(!review.contains("\"_INBOX.>\""), "{review}");
        let routing = cfg
            .config
            .lines()
            .find(|l| l.contains("\"svc_routing\""))
            .unwrap();
        assert!(
            routing.contains("subscribe: { allow: [\"xf.*.cmd.*.*\"")
                && routing.contains("deny: [\"xf.*.cmd.intake.>\"]"),
            "{routing}"
        );
        // Passwords differ.
        let other = &cfg.departments[&OrganRef::parse("411282:zjj").unwrap()];
        assert_ne!(other.password, c.password);
    }
}
