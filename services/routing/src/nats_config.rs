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
//!   `xf.<county>.dept.<dept>.>` and to its own reply inbox `_INBOX.<county>_<dept>.>`,
//!   publish only on `xf.<county>.cmd.<dept>.>`, and use exactly its own durable feed
//!   `dept_<dept>` on `XF_<county>` ([`crate::dept_feed`]): pull from it, acknowledge on it
//!   and read its info — no other consumer, no consumer creation or deletion, no stream.
//!   Department clients therefore set their inbox prefix to `_INBOX.<county>_<dept>`
//!   (async-nats `custom_inbox_prefix`, nats.py `inbox_prefix`, `nats --inbox-prefix`);
//!   routing answers nowhere else.
//!
//! Passwords are generated (random, 32 characters); the configuration holds only their bcrypt
//! hashes (`$2a$`, which nats-server checks a login against). The passwords go to one
//! credential file per user ([`write_credential_files`]), and a later generation keeps them
//! ([`KeptPasswords`]) except for the users rotated — and, given the configuration it replaces,
//! their hashes too ([`KeptPasswords::keep_hashes_from_config`]): regenerating after a directory
//! change (a department added, renamed or removed) changes only the lines of the users that
//! changed, and every other user's login, connected clients included, is untouched by the
//! server's reload.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};
use xinfang_domain::directory::{Directory, OrganRef};
use xinfang_domain::subject;

/// The services of a deployment, each of which gets a user `svc_<name>`.
pub const SERVICES: &[&str] = &[
    "intake",
    "routing",
    "supervision",
    "review",
    "notify",
    "console",
];

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
        // `report`: the weekly analysis (周研判), which notify e-mails (through its JetStream
        // consumer, so notify needs no core subscription for it).
        "supervision" => &["case", "deadline", "dept", "report"],
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

/// Core (non-durable) subscriptions: the console's live updates hear every case and
/// department event of the deployment and pass each page only what its user may see.
fn service_listens(service: &str) -> &'static [&'static str] {
    match service {
        "console" => &["xf.*.case.>", "xf.*.dept.>", "xf.*.review.>"],
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
        for subject in service_listens(name) {
            push(&mut p.subscribe, (*subject).to_owned());
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
    push(
        &mut p.subscribe,
        format!("{}.>", subject::inbox_prefix(user)),
    );
    // Routing listens on every department's commands (`xf.*.cmd.*.*`), which would include
    // intake's: a clerk's repeat decision carries the clerk's bearer token.
    if names.contains(&"routing") && !names.contains(&"intake") {
        p.subscribe_deny.push("xf.*.cmd.intake.>".to_owned());
    }
    p
}

/// The permissions of department `organ`: its commands, and exactly its own durable feed —
/// pull the next message, acknowledge (ack, nak, in progress, term) and read the consumer's
/// info. Named in full: a NATS wildcard is a whole token (`XF_*` matches no `XF_411282`), and
/// `*` in the consumer's place would open every department's feed of the county.
pub fn department_permissions(organ: &OrganRef) -> Permissions {
    let stream = subject::stream_name(&organ.county);
    let consumer = subject::department_consumer(&organ.dept);
    Permissions {
        publish: vec![
            format!("xf.{}.cmd.{}.>", organ.county, organ.dept),
            format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"),
            format!("$JS.ACK.{stream}.{consumer}.>"),
            format!("$JS.API.CONSUMER.INFO.{stream}.{consumer}"),
        ],
        publish_deny: Vec::new(),
        subscribe: vec![
            subject::department_feed(&organ.county, &organ.dept),
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
    /// bcrypt cost of the password hashes (4–31). Every login costs the server one check.
    pub bcrypt_cost: u32,
}

/// bcrypt cost of the generated hashes: about 50 ms a hash (generation hashes every user's
/// password, the server checks one per login).
pub const BCRYPT_COST: u32 = 10;

impl Default for NatsConfigOptions {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 4222,
            store_dir: PathBuf::from("/var/lib/nats/jetstream"),
            services: SERVICES.iter().map(|s| (*s).to_owned()).collect(),
            account: "XF".into(),
            bcrypt_cost: BCRYPT_COST,
        }
    }
}

/// One user's credentials, as handed over in its credential file (`<user>.json`, JSON).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub user: String,
    pub password: String,
    /// The inbox prefix the client must use.
    pub inbox_prefix: Option<String>,
    /// A department's: where it hears, pulls and sends.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub department: Option<DepartmentAccess>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"***")
            .field("inbox_prefix", &self.inbox_prefix)
            .field("department", &self.department)
            .finish()
    }
}

/// What a department's client needs besides its login (in its credential file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepartmentAccess {
    pub county: String,
    pub dept: String,
    /// Its county's stream, `XF_<county>`.
    pub stream: String,
    /// Its durable pull consumer on that stream, `dept_<dept>`.
    pub consumer: String,
    /// What the consumer holds: `xf.<county>.dept.<dept>.>`.
    pub feed: String,
    /// Commands go to `<commands>.<action>`: `xf.<county>.cmd.<dept>`.
    pub commands: String,
}

impl DepartmentAccess {
    pub fn of(organ: &OrganRef) -> Self {
        Self {
            county: organ.county.to_string(),
            dept: organ.dept.clone(),
            stream: subject::stream_name(&organ.county),
            consumer: subject::department_consumer(&organ.dept),
            feed: subject::department_feed(&organ.county, &organ.dept),
            commands: format!("xf.{}.cmd.{}", organ.county, organ.dept),
        }
    }
}

/// Passwords of an earlier generation to keep, by user (read back from the credential files):
/// every user not in here gets a new one. Optionally also the earlier configuration's password
/// hashes ([`KeptPasswords::keep_hashes_from_config`]), so a generation for an unchanged user
/// writes the same line again.
#[derive(Clone, Default)]
pub struct KeptPasswords {
    passwords: BTreeMap<String, String>,
    hashes: BTreeMap<String, String>,
}

impl std::fmt::Debug for KeptPasswords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.passwords.keys()).finish()
    }
}

impl KeptPasswords {
    pub fn insert(&mut self, user: impl Into<String>, password: impl Into<String>) {
        self.passwords.insert(user.into(), password.into());
    }

    /// Forgets `user`'s password so it gets a new one; whether there was one.
    pub fn remove(&mut self, user: &str) -> bool {
        self.hashes.remove(user);
        self.passwords.remove(user).is_some()
    }

    pub fn contains(&self, user: &str) -> bool {
        self.passwords.contains_key(user)
    }

    pub fn len(&self) -> usize {
        self.passwords.len()
    }

    pub fn is_empty(&self) -> bool {
        self.passwords.is_empty()
    }

    /// Takes the password hashes of `config`, an earlier configuration generated by
    /// [`generate_keeping`] (the file about to be replaced), and returns how many. A kept
    /// password whose earlier hash still matches it (and has the cost asked for) keeps that
    /// hash: bcrypt salts every hash anew, so without this every user's line would change at
    /// every generation, and the difference a directory change makes would be lost among them.
    pub fn keep_hashes_from_config(&mut self, config: &str) -> usize {
        let mut n = 0;
        for (user, hash) in config.lines().filter_map(user_and_hash) {
            self.hashes.insert(user, hash);
            n += 1;
        }
        n
    }

    /// The earlier hash of `user` if it is `password`'s at `cost`.
    fn hash_for(&self, user: &str, password: &str, cost: u32) -> Option<String> {
        let hash = self.hashes.get(user)?;
        if self.passwords.get(user).map(String::as_str) != Some(password)
            || !hash.starts_with(&format!("$2a${cost:02}$"))
        {
            return None;
        }
        bcrypt::verify(password, hash)
            .ok()
            .filter(|ok| *ok)
            .map(|_| hash.clone())
    }

    /// The passwords in the credential files (`*.json`) of `dir`; none when `dir` does not
    /// exist. A file that is not a credential file stops it, naming the file: generating
    /// anew would silently rotate that user.
    pub fn read_dir(dir: &Path) -> anyhow::Result<Self> {
        let mut kept = Self::default();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(kept),
            Err(e) => anyhow::bail!("{}: {e}", dir.display()),
        };
        for entry in entries {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let c = read_credentials(&path)?;
            kept.insert(c.user, c.password);
        }
        Ok(kept)
    }
}

/// Reads a credential file written by [`write_credential_files`].
pub fn read_credentials(path: &Path) -> anyhow::Result<Credentials> {
    let raw =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let c: Credentials = serde_json::from_str(&raw)
        .map_err(|e| anyhow::anyhow!("{}: not a credential file: {e}", path.display()))?;
    anyhow::ensure!(
        !c.user.is_empty() && !c.password.is_empty(),
        "{}: a credential file needs a user and a password",
        path.display()
    );
    // bcrypt reads at most 72 bytes: a longer password would match on its first 72.
    anyhow::ensure!(
        c.password.len() <= 72,
        "{}: the password is longer than 72 bytes",
        path.display()
    );
    Ok(c)
}

/// The credential file of `user` in `dir`: `<dir>/<user>.json`.
pub fn credential_path(dir: &Path, user: &str) -> PathBuf {
    dir.join(format!("{user}.json"))
}

/// Writes one credential file per user of `cfg` into `dir` (created mode 0700; files mode
/// 0600, each replaced atomically) and returns how many.
pub fn write_credential_files(dir: &Path, cfg: &NatsConfig) -> anyhow::Result<usize> {
    create_private_dir(dir)?;
    let mut n = 0;
    for c in cfg.users() {
        let mut text = serde_json::to_string_pretty(c)?;
        text.push('\n');
        write_private_atomic(&credential_path(dir, &c.user), &text)?;
        n += 1;
    }
    Ok(n)
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))
}

/// Writes `text` to `path` with mode 0600 through a temporary file renamed over it.
pub fn write_private_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let result = (|| -> std::io::Result<()> {
        let mut f = opts.open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        anyhow::bail!("{}: {e}", path.display());
    }
    Ok(())
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

impl NatsConfig {
    /// Every user: services (the all-in-one included), the operator, departments.
    pub fn users(&self) -> impl Iterator<Item = &Credentials> {
        self.services
            .values()
            .chain(std::iter::once(&self.operator))
            .chain(self.departments.values())
    }

    /// The credentials of `user`, if the configuration has that user.
    pub fn user(&self, user: &str) -> Option<&Credentials> {
        self.users().find(|c| c.user == user)
    }
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

fn user_line(out: &mut String, user: &str, hash: &str, p: &Permissions) -> std::fmt::Result {
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
        q(user),
        q(hash),
        list(&p.publish),
        deny(&p.publish_deny),
        list(&p.subscribe),
        deny(&p.subscribe_deny),
    )
}

/// The user and password hash of a user line written by [`user_line`].
fn user_and_hash(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix("{ user: ")?;
    let mut values = serde_json::Deserializer::from_str(rest).into_iter::<String>();
    let user = values.next()?.ok()?;
    let rest = rest
        .get(values.byte_offset()..)?
        .strip_prefix(", password: ")?;
    let hash = serde_json::Deserializer::from_str(rest)
        .into_iter::<String>()
        .next()?
        .ok()?;
    Some((user, hash))
}

/// The bcrypt hash nats-server takes for `password` (`$2a$<cost>$…`).
pub fn hash_password(password: &str, cost: u32) -> anyhow::Result<String> {
    let parts = bcrypt::hash_with_result(password, cost)
        .map_err(|e| anyhow::anyhow!("bcrypt (cost {cost}): {e}"))?;
    Ok(parts.format_for_version(bcrypt::Version::TwoA))
}

/// Hashes every password, on as many threads as there are cores (cost 10 is ~50 ms each); a
/// password given with its earlier hash keeps it ([`KeptPasswords::hash_for`]).
fn hash_all(
    users: &[(&str, &str)],
    kept: &KeptPasswords,
    cost: u32,
) -> anyhow::Result<Vec<String>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let chunk = users.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let parts: Vec<_> = users
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(
                            |(user, password)| match kept.hash_for(user, password, cost) {
                                Some(h) => Ok(h),
                                None => hash_password(password, cost),
                            },
                        )
                        .collect::<anyhow::Result<Vec<_>>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(users.len());
        for part in parts {
            let hashed = part
                .join()
                .map_err(|_| anyhow::anyhow!("a password hashing thread panicked"))??;
            out.extend(hashed);
        }
        Ok(out)
    })
}

/// The credentials of `user`: the kept password if there is one, else a new one.
fn credentials(user: String, inbox_prefix: String, kept: &KeptPasswords) -> Credentials {
    Credentials {
        password: kept.passwords.get(&user).cloned().unwrap_or_else(password),
        inbox_prefix: Some(inbox_prefix),
        user,
        department: None,
    }
}

/// One user of the configuration, before its password is hashed.
struct Entry {
    comment: Option<String>,
    creds: Credentials,
    perms: Permissions,
    organ: Option<OrganRef>,
}

/// Generates the configuration for `dir` with new passwords for every user.
pub fn generate(dir: &Directory, opts: &NatsConfigOptions) -> anyhow::Result<NatsConfig> {
    generate_keeping(dir, opts, &KeptPasswords::default())
}

/// Generates the configuration for `dir` (department and service codes are subject tokens,
/// validated by the directory, so they cannot widen a permission). Users in `kept` keep their
/// password; every other user gets a new one.
pub fn generate_keeping(
    dir: &Directory,
    opts: &NatsConfigOptions,
    kept: &KeptPasswords,
) -> anyhow::Result<NatsConfig> {
    for s in &opts.services {
        subject::token("service", s)?;
        // The console publishes nothing (it only listens): known by name, not by families.
        anyhow::ensure!(
            SERVICES.contains(&s.as_str()),
            "unknown service {s:?}: expected one of {SERVICES:?}"
        );
    }
    subject::token("account", &opts.account.to_lowercase())?;
    let names: Vec<&str> = opts.services.iter().map(String::as_str).collect();
    let counties: Vec<String> = dir.counties.iter().map(|c| c.code.to_string()).collect();
    let service_entry = |user: String, names: &[&str], comment: Option<String>| {
        let creds = credentials(user.clone(), subject::inbox_prefix(&user), kept);
        Entry {
            comment,
            perms: service_permissions(names, &user, &counties),
            creds,
            organ: None,
        }
    };
    let mut entries = Vec::new();
    for s in &names {
        entries.push(service_entry(format!("svc_{s}"), &[s], None));
    }
    entries.push(service_entry(
        format!("svc_{ALL_IN_ONE}"),
        &names,
        Some("the all-in-one process (xinfang up)".into()),
    ));
    entries.push(Entry {
        comment: Some("the operator's CLI: everything".into()),
        creds: credentials(
            OPERATOR_USER.to_owned(),
            subject::inbox_prefix(OPERATOR_USER),
            kept,
        ),
        perms: Permissions {
            publish: vec![">".into()],
            subscribe: vec![">".into()],
            ..Default::default()
        },
        organ: None,
    });
    for (organ, _) in dir.organs() {
        let mut creds = credentials(department_user(&organ), department_inbox(&organ), kept);
        creds.department = Some(DepartmentAccess::of(&organ));
        entries.push(Entry {
            comment: Some(format!(
                "{} {}",
                organ,
                dir.organ_name(&organ).replace('\n', " ")
            )),
            perms: department_permissions(&organ),
            creds,
            organ: Some(organ),
        });
    }
    let users: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.creds.user.as_str(), e.creds.password.as_str()))
        .collect();
    let hashes = hash_all(&users, kept, opts.bcrypt_cost)?;
    let mut users = String::new();
    let mut services = BTreeMap::new();
    let mut operator = None;
    let mut departments = BTreeMap::new();
    for (e, hash) in entries.into_iter().zip(&hashes) {
        if let Some(c) = &e.comment {
            writeln!(users, "      # {c}")?;
        }
        user_line(&mut users, &e.creds.user, hash, &e.perms)?;
        if let Some(organ) = e.organ {
            departments.insert(organ, e.creds);
        } else if e.creds.user == OPERATOR_USER {
            operator = Some(e.creds);
        } else if let Some(service) = e.creds.user.strip_prefix("svc_").map(str::to_owned) {
            services.insert(service, e.creds);
        }
    }
    let operator = operator.ok_or_else(|| anyhow::anyhow!("no operator user generated"))?;
    let mut config = String::new();
    writeln!(
        config,
        "# nats-server configuration generated by `xinfang nats-config`"
    )?;
    writeln!(config, "# from the directory {:?}.", dir.name)?;
    writeln!(
        config,
        "# Passwords are bcrypt hashes; the passwords are in the per-user credential files."
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
    fn the_console_listens_to_case_and_department_events_and_publishes_none() {
        let p = service_permissions(&["console"], "svc_console", &["411282".to_owned()]);
        assert!(p.subscribe.contains(&"xf.*.case.>".to_owned()));
        assert!(p.subscribe.contains(&"xf.*.dept.>".to_owned()));
        assert!(
            !p.publish
                .iter()
                .any(|s| s.starts_with("xf.*.case") || s.starts_with("xf.*.dept")),
            "{:?}",
            p.publish
        );
        assert!(
            !p.subscribe.iter().any(|s| s.contains(".cmd.")),
            "{:?}",
            p.subscribe
        );
    }

    #[test]
    fn supervision_alone_publishes_reports() {
        let counties = ["411282".to_owned()];
        let p = service_permissions(&["supervision"], "svc_supervision", &counties);
        assert!(p.publish.contains(&"xf.*.report.>".to_owned()), "{p:?}");
        for other in ["notify", "intake", "routing", "review", "console"] {
            let p = service_permissions(&[other], "svc_x", &counties);
            assert!(
                !p.publish.iter().any(|s| s.contains(".report.")),
                "{other}: {p:?}"
            );
        }
    }

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
            line.contains(
                "publish: { allow: [\"xf.411282.cmd.rsj.>\", \
                 \"$JS.API.CONSUMER.MSG.NEXT.XF_411282.dept_rsj\", \
                 \"$JS.ACK.XF_411282.dept_rsj.>\", \
                 \"$JS.API.CONSUMER.INFO.XF_411282.dept_rsj\"] }"
            ),
            "{line}"
        );
        // The configuration holds a bcrypt hash of the password, never the password.
        let hash = line
            .split("password: \"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap();
        assert!(hash.starts_with("$2a$10$") && hash.len() == 60, "{hash}");
        assert!(bcrypt::verify(&c.password, hash).unwrap());
        for u in cfg.users() {
            assert!(
                !cfg.config.contains(&u.password),
                "{}'s password in clear",
                u.user
            );
        }
        assert_eq!(
            c.department.as_ref().map(|d| d.consumer.as_str()),
            Some("dept_rsj")
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
        assert!(
            review.contains("deny: [\"$JS.API.STREAM.PURGE.>\""),
            "{review}"
        );
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

    #[test]
    fn credential_files_round_trip_and_keep_every_password_but_the_rotated() {
        let dir = Directory::from_toml_str(include_str!("../../../config/directory.toml")).unwrap();
        let opts = NatsConfigOptions {
            bcrypt_cost: 4,
            ..Default::default()
        };
        let first = generate(&dir, &opts).unwrap();
        let tmp = std::env::temp_dir().join(format!("xf-creds-{}", uuid::Uuid::now_v7()));
        let n = write_credential_files(&tmp, &first).unwrap();
        assert_eq!(n, first.users().count());
        let rsj = read_credentials(&credential_path(&tmp, "411282_rsj")).unwrap();
        assert_eq!(
            &rsj,
            &first.departments[&OrganRef::parse("411282:rsj").unwrap()]
        );
        let mut kept = KeptPasswords::read_dir(&tmp).unwrap();
        assert_eq!(kept.len(), n);
        assert!(!format!("{kept:?}").contains(&rsj.password), "{kept:?}");
        assert!(kept.remove("411282_rsj"));
        let second = generate_keeping(&dir, &opts, &kept).unwrap();
        for c in second.users() {
            let before = first.user(&c.user).unwrap();
            if c.user == "411282_rsj" {
                assert_ne!(c.password, before.password);
            } else {
                assert_eq!(c.password, before.password, "{}", c.user);
            }
        }
        // A stray JSON file is not silently taken for nobody's: it stops the read.
        std::fs::write(tmp.join("notes.json"), "{}").unwrap();
        let e = KeptPasswords::read_dir(&tmp).unwrap_err().to_string();
        assert!(e.contains("notes.json"), "{e}");
        let _ = std::fs::remove_dir_all(&tmp);
    }

    #[test]
    fn regenerating_after_a_directory_change_changes_only_the_users_that_changed() {
        let raw = include_str!("../../../config/directory.toml");
        let dir = Directory::from_toml_str(raw).unwrap();
        let opts = NatsConfigOptions {
            bcrypt_cost: 4,
            ..Default::default()
        };
        let first = generate(&dir, &opts).unwrap();
        let kept_from = |cfg: &NatsConfig| {
            let mut kept = KeptPasswords::default();
            for c in cfg.users() {
                kept.insert(c.user.clone(), c.password.clone());
            }
            assert_eq!(
                kept.keep_hashes_from_config(&cfg.config),
                cfg.users().count()
            );
            kept
        };
        // The same directory again: byte for byte the same configuration.
        let again = generate_keeping(&dir, &opts, &kept_from(&first)).unwrap();
        assert_eq!(again.config, first.config);
        // Kept passwords without the earlier configuration still log in, with new salts.
        let mut passwords_only = KeptPasswords::default();
        for c in first.users() {
            passwords_only.insert(c.user.clone(), c.password.clone());
        }
        let salted = generate_keeping(&dir, &opts, &passwords_only).unwrap();
        assert_ne!(salted.config, first.config);
        assert_eq!(
            salted.user("411282_rsj").map(|c| &c.password),
            first.user("411282_rsj").map(|c| &c.password)
        );

        // A new department.
        let changed = raw
            .replacen(
                "[[county.department]]\ncode = \"zjj\"",
                "[[county.department]]\ncode = \"xdept\"\nname = \"新设局\"\n\n[[county.department]]\ncode = \"zjj\"",
                1,
            );
        assert_ne!(changed, raw, "the shipped directory has zjj");
        let changed_dir = Directory::from_toml_str(&changed).unwrap();
        let xdept = OrganRef::parse(&format!(
            "{}:xdept",
            changed_dir
                .counties
                .iter()
                .find(|c| c.department("xdept").is_some())
                .unwrap()
                .code
        ))
        .unwrap();
        let second = generate_keeping(&changed_dir, &opts, &kept_from(&first)).unwrap();
        let old: std::collections::BTreeSet<&str> = first.config.lines().collect();
        let new: std::collections::BTreeSet<&str> = second.config.lines().collect();
        let added: Vec<&&str> = new.difference(&old).collect();
        let removed: Vec<&&str> = old.difference(&new).collect();
        assert!(removed.is_empty(), "{removed:?}");
        assert_eq!(added.len(), 2, "the new user's comment and line: {added:?}");
        let user = department_user(&xdept);
        assert!(
            added
                .iter()
                .any(|l| l.contains(&format!("{{ user: \"{user}\""))),
            "{added:?}"
        );
        assert!(!kept_from(&first).contains(&user));
        // Every user there before kept its password; the new one has its own.
        for c in first.users() {
            assert_eq!(second.user(&c.user).map(|x| &x.password), Some(&c.password));
        }
        assert!(second.departments.contains_key(&xdept));

        // Rotating one user changes its line only.
        let mut kept = kept_from(&second);
        assert!(kept.remove("411282_rsj"));
        let rotated = generate_keeping(&changed_dir, &opts, &kept).unwrap();
        let before: std::collections::BTreeSet<&str> = second.config.lines().collect();
        let after: std::collections::BTreeSet<&str> = rotated.config.lines().collect();
        let gone: Vec<&&str> = before.difference(&after).collect();
        assert_eq!(gone.len(), 1, "{gone:?}");
        assert!(gone[0].contains("\"411282_rsj\""), "{gone:?}");
    }
}
