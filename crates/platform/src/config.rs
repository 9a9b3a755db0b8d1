//! Layered configuration: built-in defaults → `config/default.toml` → `config/$XF_ENV.toml`
//! → environment variables `XF__SECTION__KEY`. Platform sections are typed here; each service
//! reads its own section from the same layers with [`Loaded::section`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use xinfang_domain::county::CountyCode;

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
        platform: PlatformSettings,
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
                .try_parsing(true),
        )
        .build()?;
    let platform: PlatformSettings = platform_view(&raw)?;
    platform.validate()?;
    Ok(Loaded { platform, raw })
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
    }

    #[test]
    fn secrets_do_not_print() {
        let s = PlatformSettings::default();
        assert!(!format!("{s:?}").contains("postgres://"));
    }
}
