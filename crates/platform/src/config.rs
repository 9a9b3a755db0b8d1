//! Layered configuration: built-in defaults → `config/default.toml` → `config/$XF_ENV.toml`
//! → environment variables `XF__SECTION__KEY`. Platform sections are typed here; each service
//! reads its own section from the same layers with [`Loaded::section`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xinfang_domain::case_source::{CaseSource, CaseSources};
use xinfang_domain::county::CountyCode;
use xinfang_domain::deadline::DeadlineRules;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration {key}: {message}")]
    Invalid { key: String, message: String },
}

/// A secret string: never printed by `Debug`.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// Human name of this deployment, e.g. "三门峡市信访局 (demo)".
    pub name: String,
    /// The city (prefecture) code: escalations go to its subjects.
    pub city: String,
    /// County codes this deployment serves (streams and consumers are made for each).
    pub counties: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    pub url: Secret,
    pub max_connections: u32,
    /// Create the database if it does not exist (local and demo use).
    pub create_if_missing: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nats {
    pub url: String,
    /// Optional user/password for servers that enforce permissions (see `xinfang nats-config`).
    pub user: Option<String>,
    pub password: Option<Secret>,
    /// JetStream replicas for the county streams (1 locally, 3 on a cluster).
    pub replicas: usize,
    /// Window in which JetStream drops a repeated `Nats-Msg-Id`.
    pub duplicate_window_secs: u64,
    /// How long a stream keeps events.
    pub max_age_days: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redis {
    pub url: Secret,
    /// Prefix of every key this deployment writes; tests use their own.
    pub key_prefix: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// OTLP/HTTP body encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OtlpProtocol {
    Protobuf,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Telemetry {
    pub format: LogFormat,
    /// `tracing` filter directives, e.g. "info,sqlx=warn".
    pub filter: String,
    /// OTLP/HTTP (protobuf) traces endpoint, e.g. `http://127.0.0.1:4318/v1/traces`;
    /// empty disables export.
    pub otlp_endpoint: String,
    pub otlp_protocol: OtlpProtocol,
    /// Spans the exporter may queue before dropping (the SDK default, 2048, loses bursts).
    pub otlp_queue_size: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consumer {
    /// Messages handled in one Postgres transaction.
    pub batch_size: usize,
    /// Deliveries before a failing message is dead-lettered.
    pub max_deliveries: i64,
    pub ack_wait_secs: u64,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outbox {
    pub batch_size: i64,
    /// Fallback poll when no NOTIFY arrives.
    pub poll_interval_ms: u64,
    /// Published rows older than this are deleted.
    pub retention_hours: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    pub host: String,
    /// Ports per service; 0 picks a free port (tests).
    pub intake_port: u16,
    pub routing_port: u16,
    pub supervision_port: u16,
    pub review_port: u16,
    pub notify_port: u16,
    /// Reverse proxies (addresses or CIDR networks) whose `X-Forwarded-For` names the client
    /// for the petitioner rate limits; empty: the TCP peer is the client.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paths {
    /// Public holidays and make-up workdays.
    pub calendar: PathBuf,
    /// Counties, departments and contacts.
    pub directory: PathBuf,
    /// Classification rules and gazetteer.
    pub classification: PathBuf,
    /// Notice templates.
    pub templates: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Security {
    /// Base64 of 32 bytes: AES-256-GCM key for personal data at rest.
    pub data_key: Secret,
    /// Base64 of ≥32 bytes: HMAC key for petitioner hashes.
    pub hash_key: Secret,
    /// Require bearer tokens on the HTTP APIs (off only for local development and tests).
    pub auth_required: bool,
    /// Demo only: `xinfang up` creates and prints a clerk token for the city.
    pub demo_token: bool,
}

/// Everything the platform needs; services add their own sections.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformSettings {
    pub deployment: Deployment,
    pub database: Database,
    pub nats: Nats,
    pub redis: Redis,
    pub telemetry: Telemetry,
    pub consumer: Consumer,
    pub outbox: Outbox,
    pub http: Http,
    pub paths: Paths,
    pub security: Security,
    /// The one `[deadlines]` section (day counting, Art 203 roll-over switches per kind,
    /// handling days per type and branch, evaluation window): read once here and used by every
    /// service, so a bureau's settings reach routing, supervision and review alike. Not part of
    /// the serialized defaults: only what the files and the environment set is layered over
    /// [`DeadlineRules::default`] (the Decisions).
    #[serde(default, skip_serializing)]
    pub deadlines: DeadlineRules,
    /// `[[case_sources]]`: where matters come from (一般信访, 中央巡视移交, 省联席办交办, …) and
    /// which are listed matters (清单). Like `deadlines`, not in the serialized defaults: a
    /// deployment's list replaces the built-in one whole.
    #[serde(
        default = "xinfang_domain::case_source::default_sources",
        skip_serializing
    )]
    pub case_sources: Vec<CaseSource>,
}

impl Default for PlatformSettings {
    fn default() -> Self {
        Self {
            deployment: Deployment {
                name: "xinfang".into(),
                city: "411200".into(),
                counties: vec!["411200".into()],
            },
            database: Database {
                url: Secret::new("postgres://postgres@127.0.0.1:5432/xinfang"),
                max_connections: 10,
                create_if_missing: true,
            },
            nats: Nats {
                url: "nats://127.0.0.1:4222".into(),
                user: None,
                password: None,
                replicas: 1,
                duplicate_window_secs: 600,
                max_age_days: 365,
            },
            redis: Redis {
                url: Secret::new("redis://127.0.0.1:6379"),
                key_prefix: "xf".into(),
            },
            telemetry: Telemetry {
                format: LogFormat::Pretty,
                filter: "info,sqlx=warn,async_nats=warn".into(),
                otlp_endpoint: String::new(),
                otlp_protocol: OtlpProtocol::Protobuf,
                otlp_queue_size: 65_536,
            },
            consumer: Consumer {
                batch_size: 500,
                max_deliveries: 5,
                ack_wait_secs: 30,
                backoff_initial_ms: 500,
                backoff_max_ms: 60_000,
            },
            outbox: Outbox {
                batch_size: 500,
                poll_interval_ms: 500,
                retention_hours: 72,
            },
            http: Http {
                host: "127.0.0.1".into(),
                intake_port: 8080,
                routing_port: 8081,
                supervision_port: 8082,
                review_port: 8083,
                notify_port: 8084,
                trusted_proxies: Vec::new(),
            },
            paths: Paths {
                calendar: "config/calendar/holidays-cn.toml".into(),
                directory: "config/directory.toml".into(),
                classification: "config/classification".into(),
                templates: "config/templates".into(),
            },
            security: Security {
                data_key: Secret::default(),
                hash_key: Secret::default(),
                auth_required: true,
                demo_token: false,
            },
            deadlines: DeadlineRules::default(),
            case_sources: xinfang_domain::case_source::default_sources(),
        }
    }
}

impl PlatformSettings {
    /// Checks what serde cannot: codes, ranges, consistency.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.to_owned(),
            message,
        };
        CountyCode::parse(&self.deployment.city)
            .map_err(|e| invalid("deployment.city", e.message))?;
        if self.deployment.counties.is_empty() {
            return Err(invalid(
                "deployment.counties",
                "must list at least one county code".into(),
            ));
        }
        for c in &self.deployment.counties {
            CountyCode::parse(c).map_err(|e| invalid("deployment.counties", e.message))?;
        }
        if !(1..=10_000).contains(&self.consumer.batch_size) {
            return Err(invalid(
                "consumer.batch_size",
                "must be between 1 and 10000".into(),
            ));
        }
        if self.consumer.max_deliveries < 1 {
            return Err(invalid(
                "consumer.max_deliveries",
                "must be at least 1".into(),
            ));
        }
        if !(1..=5).contains(&self.nats.replicas) {
            return Err(invalid("nats.replicas", "must be between 1 and 5".into()));
        }
        crate::rate_limit::TrustedProxies::parse(&self.http.trusted_proxies)
            .map_err(|e| invalid("http.trusted_proxies", e))?;
        CaseSources::new(self.case_sources.clone())
            .map_err(|e| invalid("case_sources", e.message))?;
        if self.redis.key_prefix.is_empty() || self.redis.key_prefix.contains(['{', '}', ' ']) {
            return Err(invalid(
                "redis.key_prefix",
                "must be non-empty without braces or spaces".into(),
            ));
        }
        Ok(())
    }

    /// The counties as parsed codes (validated by [`Self::validate`]).
    pub fn counties(&self) -> Vec<CountyCode> {
        self.deployment
            .counties
            .iter()
            .filter_map(|c| CountyCode::parse(c).ok())
            .collect()
    }

    pub fn city(&self) -> Option<CountyCode> {
        CountyCode::parse(&self.deployment.city).ok()
    }

    /// The configured case sources (checked by [`Self::validate`]; the built-in list if a
    /// caller skipped validation and the list is bad).
    pub fn sources(&self) -> CaseSources {
        CaseSources::new(self.case_sources.clone()).unwrap_or_default()
    }
}

/// The merged layers plus the typed platform part.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub platform: PlatformSettings,
    raw: config::Config,
}

impl Loaded {
    /// A service's own section, e.g. `loaded.section::<IntakeSettings>("intake")`, falling back
    /// to the type's defaults for a missing section.
    pub fn section<T: serde::de::DeserializeOwned + Default>(
        &self,
        name: &str,
    ) -> Result<T, ConfigError> {
        match self.raw.get::<T>(name) {
            Ok(v) => Ok(v),
            Err(config::ConfigError::NotFound(_)) => Ok(T::default()),
            Err(e) => Err(ConfigError::Invalid {
                key: name.to_owned(),
                message: e.to_string(),
            }),
        }
    }

    /// Builds settings from defaults and explicit overrides only (tests).
    pub fn from_platform(platform: PlatformSettings) -> Result<Self, ConfigError> {
        Self::from_parts(platform, "")
    }

    /// Platform settings plus service sections given as TOML text (tests, tools).
    pub fn from_parts(
        mut platform: PlatformSettings,
        services_toml: &str,
    ) -> Result<Self, ConfigError> {
        platform.validate()?;
        let raw = config::Config::builder()
            .add_source(config::Config::try_from(&platform)?)
            .add_source(config::File::from_str(
                services_toml,
                config::FileFormat::Toml,
            ))
            .build()?;
        if let Some(rules) = deadlines_view(&raw)? {
            platform.deadlines = rules;
        }
        Ok(Self { platform, raw })
    }
}

/// Where the layered files live: `$XF_CONFIG_DIR` or `./config`.
pub fn config_dir() -> PathBuf {
    std::env::var_os("XF_CONFIG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("config"))
}

/// Loads the layers from [`config_dir`], `$XF_ENV` and the process environment.
pub fn load() -> Result<Loaded, ConfigError> {
    let env = std::env::var("XF_ENV").ok();
    load_from(&config_dir(), env.as_deref())
}

pub fn load_from(dir: &Path, env: Option<&str>) -> Result<Loaded, ConfigError> {
    let mut builder = config::Config::builder()
        .add_source(config::Config::try_from(&PlatformSettings::default())?)
        .add_source(config::File::from(dir.join("default.toml")).required(false));
    if let Some(env) = env.filter(|e| !e.is_empty()) {
        let file = dir.join(format!("{env}.toml"));
        if !file.exists() {
            return Err(ConfigError::Invalid {
                key: "XF_ENV".into(),
                message: format!("no configuration file {}", file.display()),
            });
        }
        builder = builder.add_source(config::File::from(file).required(true));
    }
    let raw = builder
        .add_source(
            config::Environment::with_prefix("XF")
                .prefix_separator("__")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("deployment.counties")
                .with_list_parse_key("http.trusted_proxies")
                .try_parsing(true),
        )
        .build()?;
    let mut platform: PlatformSettings = platform_view(&raw)?;
    match raw.get::<Vec<CaseSource>>("case_sources") {
        Ok(list) => platform.case_sources = list,
        Err(config::ConfigError::NotFound(_)) => {}
        Err(e) => {
            return Err(ConfigError::Invalid {
                key: "case_sources".into(),
                message: e.to_string(),
            });
        }
    }
    platform.validate()?;
    // A start-up token is for the bundled demo alone: a deployment with its own environment
    // file (production, a county's) never hands one out, whatever the environment says.
    if platform.security.demo_token && env.is_some_and(|e| !e.is_empty() && e != "demo") {
        return Err(ConfigError::Invalid {
            key: "security.demo_token".into(),
            message: format!(
                "must be false outside the demo configuration (XF_ENV={})",
                env.unwrap_or_default()
            ),
        });
    }
    if let Some(rules) = deadlines_view(&raw)? {
        platform.deadlines = rules;
    }
    Ok(Loaded { platform, raw })
}

/// The `[deadlines]` section over the Decisions' defaults; `None` when no layer sets it.
/// Errors name the key (`deadlines`, then the rule, e.g. `kinds.D6.days`).
fn deadlines_view(raw: &config::Config) -> Result<Option<DeadlineRules>, ConfigError> {
    match raw.get::<DeadlineRules>("deadlines") {
        Ok(rules) => Ok(Some(rules)),
        Err(config::ConfigError::NotFound(_)) => Ok(None),
        Err(e) => Err(
            locate_bad_deadline_value(raw).unwrap_or_else(|| ConfigError::Invalid {
                key: "deadlines".into(),
                message: e.to_string(),
            }),
        ),
    }
}

/// The first value of the `[deadlines]` section with the wrong type, named by its full key
/// (serde's message for the whole section only says what was expected).
fn locate_bad_deadline_value(raw: &config::Config) -> Option<ConfigError> {
    let mut keys: Vec<(String, bool)> = vec![
        ("deadlines.evaluation_window_days".into(), false),
        ("deadlines.evaluation_roll_over".into(), true),
        ("deadlines.remand_handling_days".into(), false),
    ];
    if let Ok(kinds) = raw.get_table("deadlines.kinds") {
        for (kind, fields) in kinds {
            let Ok(fields) = fields.into_table() else {
                continue;
            };
            for field in fields.keys() {
                let boolean = field != "days";
                keys.push((format!("deadlines.kinds.{kind}.{field}"), boolean));
            }
        }
    }
    keys.into_iter().find_map(|(key, boolean)| {
        let checked = if boolean {
            raw.get::<bool>(&key).map(|_| ())
        } else {
            raw.get::<u32>(&key).map(|_| ())
        };
        match checked {
            Err(config::ConfigError::NotFound(_)) | Ok(()) => None,
            Err(e) => Some(ConfigError::Invalid {
                key,
                message: e.to_string(),
            }),
        }
    })
}

/// Deserializes only the platform's sections, so service sections may sit beside them.
fn platform_view(raw: &config::Config) -> Result<PlatformSettings, ConfigError> {
    let get = |k: &str| -> Result<config::Value, ConfigError> {
        raw.get::<config::Value>(k)
            .map_err(|e| ConfigError::Invalid {
                key: k.to_owned(),
                message: e.to_string(),
            })
    };
    let mut map = config::Map::new();
    for key in [
        "deployment",
        "database",
        "nats",
        "redis",
        "telemetry",
        "consumer",
        "outbox",
        "http",
        "paths",
        "security",
    ] {
        map.insert(key.to_owned(), get(key)?);
    }
    let value = config::Value::new(None, config::ValueKind::Table(map));
    value.try_deserialize().map_err(|e| ConfigError::Invalid {
        key: "settings".into(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xf-config-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, body) in files {
            std::fs::write(dir.join(name), body).unwrap();
        }
        dir
    }

    #[test]
    fn case_sources_come_from_the_files_and_are_checked() {
        let loaded = load_from(&dir_with(&[("default.toml", "")]), None).unwrap();
        assert_eq!(
            loaded.platform.sources().listed().count(),
            4,
            "built-in list"
        );
        let own = "[[case_sources]]\ncode = \"ordinary\"\nname = \"一般\"\n\
                   [[case_sources]]\ncode = \"petition_office\"\nname = \"信访联席会议交办\"\nlisted = true\n";
        let loaded = load_from(&dir_with(&[("default.toml", own)]), None).unwrap();
        let sources = loaded.platform.sources();
        assert_eq!(sources.all().len(), 2);
        assert!(sources.get("petition_office").unwrap().listed);
        let bad = "[[case_sources]]\ncode = \"superior\"\nname = \"上级交办\"\nlisted = true\n";
        let err = load_from(&dir_with(&[("default.toml", bad)]), None).unwrap_err();
        assert!(err.to_string().contains("case_sources"), "{err}");
        // The bundled configuration's list loads.
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        let loaded = load_from(&repo, None).unwrap();
        assert!(loaded.platform.sources().get("provincial_joint").is_some());
    }

    #[test]
    fn layers_override_in_order() {
        let dir = dir_with(&[
            (
                "default.toml",
                "[consumer]\nbatch_size = 100\n[intake]\nanswer = 1\n",
            ),
            ("prod.toml", "[consumer]\nbatch_size = 200\n"),
        ]);
        let loaded = load_from(&dir, None).unwrap();
        assert_eq!(loaded.platform.consumer.batch_size, 100);
        assert_eq!(loaded.platform.nats.url, "nats://127.0.0.1:4222");
        let loaded = load_from(&dir, Some("prod")).unwrap();
        assert_eq!(loaded.platform.consumer.batch_size, 200);
        #[derive(Deserialize, Default)]
        struct Intake {
            answer: u32,
        }
        assert_eq!(loaded.section::<Intake>("intake").unwrap().answer, 1);
    }

    #[test]
    fn the_demo_token_is_off_in_the_bundled_files_and_refused_outside_the_demo() {
        let root = crate::testing::repo_root().join("config");
        assert!(!load_from(&root, None).unwrap().platform.security.demo_token);
        let dir = dir_with(&[
            ("default.toml", "[security]\ndemo_token = true\n"),
            ("county.toml", "[deployment]\nname = \"a county\"\n"),
        ]);
        assert!(load_from(&dir, None).unwrap().platform.security.demo_token);
        let e = load_from(&dir, Some("county")).unwrap_err().to_string();
        assert!(e.contains("security.demo_token"), "{e}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let dir = dir_with(&[("default.toml", "[deployment]\ncounties = [\"4112\"]\n")]);
        let err = load_from(&dir, None).unwrap_err().to_string();
        assert!(err.contains("deployment.counties"), "{err}");
        let dir = dir_with(&[("default.toml", "[consumer]\nbatch_size = \"many\"\n")]);
        assert!(load_from(&dir, None).is_err());
        let dir = dir_with(&[("default.toml", "[nats]\nbogus = 1\n")]);
        let err = load_from(&dir, None).unwrap_err().to_string();
        assert!(err.contains("bogus"), "{err}");
        assert!(load_from(&dir_with(&[]), Some("missing")).is_err());
        let bad = "[http]\ntrusted_proxies = [\"10.0.0.0/33\"]\n";
        let err = load_from(&dir_with(&[("default.toml", bad)]), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("http.trusted_proxies"), "{err}");
        let good = "[http]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n";
        let loaded = load_from(&dir_with(&[("default.toml", good)]), None).unwrap();
        assert_eq!(loaded.platform.http.trusted_proxies.len(), 2);
    }

    #[test]
    fn one_deadlines_section_reaches_the_platform_settings() {
        use xinfang_domain::deadline::DeadlineKind;
        // No section: the Decisions (roll-over on for every kind).
        let loaded = load_from(&dir_with(&[("default.toml", "")]), None).unwrap();
        assert_eq!(loaded.platform.deadlines, DeadlineRules::default());
        let dir = dir_with(&[(
            "default.toml",
            "[deadlines]\nevaluation_window_days = 20\n[deadlines.kinds.D7]\nroll_over = false\n[deadlines.handling_by_type]\nsuggestion = \"none\"\n",
        )]);
        let d = load_from(&dir, None).unwrap().platform.deadlines;
        assert_eq!(d.evaluation_window_days(), 20);
        assert_eq!(d.rule(DeadlineKind::D7).map(|r| r.roll_over), Some(false));
        assert_eq!(d.rule(DeadlineKind::D9).map(|r| r.roll_over), Some(true));
        assert_eq!(
            d.handling_days(
                Some(xinfang_domain::petition::PetitionType::Suggestion),
                None
            ),
            None
        );
        // Tests and tools give it as TOML beside the service sections.
        let loaded = Loaded::from_parts(
            PlatformSettings::default(),
            "[deadlines.kinds.D3]\nroll_over = false\n",
        )
        .unwrap();
        assert_eq!(
            loaded
                .platform
                .deadlines
                .rule(DeadlineKind::D3)
                .map(|r| r.roll_over),
            Some(false)
        );
    }

    #[test]
    fn a_bad_deadline_setting_fails_naming_the_key() {
        for (body, key) in [
            ("[deadlines.kinds.D6]\ndays = 45\n", "kinds.D6.days"),
            ("[deadlines.kinds.D1]\nroll_over = \"maybe\"\n", "roll_over"),
            (
                "[deadlines]\nevaluation_window_days = 0\n",
                "evaluation_window_days",
            ),
            ("[deadlines.kinds.D12]\ndays = 3\n", "D12"),
            ("[deadlines]\nbogus = 1\n", "bogus"),
        ] {
            let err = load_from(&dir_with(&[("default.toml", body)]), None)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("deadlines") && err.contains(key),
                "{body}: {err}"
            );
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let s = PlatformSettings::default();
        assert!(!format!("{s:?}").contains("postgres://"));
    }
}
