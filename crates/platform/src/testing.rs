//! Test environment over the real local NATS, Postgres and Redis: a fresh database, a unique
//! city code `9NNN00` with one county `9NNN01` (so fresh streams), a unique Redis prefix, and
//! paths to the repository's config data. `stop()` removes all of it.

use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream;
use base64::Engine;
use tokio_util::sync::CancellationToken;
use xinfang_domain::county::CountyCode;
use xinfang_domain::subject;

use crate::config::{Loaded, PlatformSettings, Secret};
use crate::host::Infra;

/// The repository root (for config data files).
pub fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

pub struct TestEnv {
    pub city: CountyCode,
    pub county: CountyCode,
    pub db_name: String,
    pub infra: Infra,
    pub shutdown: CancellationToken,
}

/// A city number no other running test holds: a shared counter in the local Redis, so
/// concurrent tests (threads and processes) never share streams. Codes `90xx00`–`99xx00`
/// are no real division (provinces are 11–82), so a test never touches a deployment's data.
pub async fn unique_base() -> anyhow::Result<u32> {
    let client = redis::Client::open("redis://127.0.0.1:6379")?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let n: u64 = redis::cmd("INCR")
        .arg("xftest:city_seq")
        .query_async(&mut conn)
        .await?;
    Ok(9000 + (n % 1000) as u32)
}

/// Platform settings for a test: fresh database name, unique codes and prefix, fast retries.
pub async fn settings() -> anyhow::Result<(PlatformSettings, CountyCode, CountyCode)> {
    let n = uuid::Uuid::now_v7().as_u128();
    let base = unique_base().await?;
    let city = CountyCode::parse(&format!("{base}00")).expect("valid code");
    let county = CountyCode::parse(&format!("{base}01")).expect("valid code");
    let db_name = format!("xf_test_{}", uuid::Uuid::now_v7().simple());
    let root = repo_root();
    let key = |len: usize| {
        let bytes: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
        Secret::new(base64::engine::general_purpose::STANDARD.encode(bytes))
    };
    let mut p = PlatformSettings::default();
    p.deployment.name = "test".into();
    p.deployment.city = city.to_string();
    p.deployment.counties = vec![city.to_string(), county.to_string()];
    p.database.url = Secret::new(format!("postgres://postgres@127.0.0.1:5432/{db_name}"));
    p.database.max_connections = 5;
    p.redis.key_prefix = format!("xft{}", n % 100_000_000);
    p.consumer.ack_wait_secs = 5;
    p.consumer.backoff_initial_ms = 20;
    p.consumer.backoff_max_ms = 200;
    p.outbox.poll_interval_ms = 50;
    p.http.intake_port = 0;
    p.http.routing_port = 0;
    p.http.supervision_port = 0;
    p.http.review_port = 0;
    p.http.notify_port = 0;
    p.paths.calendar = root.join("config/calendar/holidays-cn.toml");
    p.paths.directory = root.join("config/directory.toml");
    p.paths.classification = root.join("config/classification");
    p.paths.templates = root.join("config/templates");
    p.security.data_key = key(32);
    p.security.hash_key = key(32);
    // Service tests speak to the APIs without tokens; auth tests turn this back on.
    p.security.auth_required = false;
    Ok((p, city, county))
}

/// A department directory for a test's `city` and `county`, with every department of
/// `config/departments.tsv` plus the people's government `gov`, and invented contacts.
pub fn directory_toml(city: &CountyCode, county: &CountyCode) -> String {
    let tsv =
        std::fs::read_to_string(repo_root().join("config/departments.tsv")).unwrap_or_default();
    let mut codes: Vec<(String, String)> = vec![("gov".into(), "人民政府".into())];
    for line in tsv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let mut cols = line.split('\t');
        if let (Some(code), Some(name)) = (cols.next(), cols.next()) {
            codes.push((code.into(), name.into()));
        }
    }
    let mut out = String::from("[directory]\nname = \"test\"\n");
    for (i, (code, name, parent)) in [(city, "测试市", None), (county, "测试县", Some(city))]
        .into_iter()
        .enumerate()
    {
        out += &format!("\n[[county]]\ncode = \"{code}\"\nname = \"{name}\"\n");
        if let Some(p) = parent {
            out += &format!("parent = \"{p}\"\n");
        }
        for (j, (d, n)) in codes.iter().enumerate() {
            out += &format!(
                "[[county.department]]\ncode = \"{d}\"\nname = \"{n}\"\ncontacts = {{ email = \"{d}-{code}@example.gov.cn\", mobile = \"1390000{i}{j:02}1\" }}\n"
            );
        }
    }
    out
}

impl TestEnv {
    /// Starts with default test settings; `configure` may change them, `services_toml` adds
    /// service sections.
    pub async fn start(
        configure: impl FnOnce(&mut PlatformSettings),
        services_toml: &str,
    ) -> anyhow::Result<TestEnv> {
        let (mut p, city, county) = settings().await?;
        // The demo directory has no test county: write one that does (tests may override).
        let dir_file =
            std::env::temp_dir().join(format!("xf-test-dir-{}.toml", uuid::Uuid::now_v7()));
        std::fs::write(&dir_file, directory_toml(&city, &county))?;
        p.paths.directory = dir_file;
        configure(&mut p);
        let db_name = p
            .database
            .url
            .expose()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let shutdown = CancellationToken::new();
        let loaded = Loaded::from_parts(p, services_toml)?;
        let infra = Infra::connect(loaded, "test", shutdown.clone()).await?;
        for s in infra.streams.values() {
            s.purge().await?;
        }
        Ok(TestEnv {
            city,
            county,
            db_name,
            infra,
            shutdown,
        })
    }

    pub fn js(&self) -> &jetstream::Context {
        &self.infra.js
    }

    /// Every message stored under `filter` in `county`'s stream, oldest first.
    pub async fn read(&self, county: &CountyCode, filter: &str) -> Vec<async_nats::Message> {
        let Ok(stream) = self.infra.stream(county) else {
            return Vec::new();
        };
        crate::nats::read_all(&stream, filter)
            .await
            .map(|msgs| msgs.into_iter().map(|m| m.message).collect())
            .unwrap_or_default()
    }

    /// Publishes `data` as a `case.<kind>` event about `case_no` on `county`'s stream, as an
    /// upstream service would, and waits for JetStream's ack.
    pub async fn publish_case<T: serde::Serialize>(
        &self,
        county: &CountyCode,
        kind: &str,
        case_no: &str,
        data: &T,
    ) {
        self.publish_case_at(county, kind, case_no, data, chrono::Utc::now())
            .await;
    }

    /// [`TestEnv::publish_case`] with the envelope's time set to `at`.
    pub async fn publish_case_at<T: serde::Serialize>(
        &self,
        county: &CountyCode,
        kind: &str,
        case_no: &str,
        data: &T,
        at: chrono::DateTime<chrono::Utc>,
    ) {
        let subj = subject::case_event(county, kind).expect("valid case subject");
        let env = xinfang_domain::envelope::Envelope::new(
            kind,
            Some(case_no.to_owned()),
            county.clone(),
            at,
            data,
        )
        .expect("valid envelope");
        crate::nats::publish(&self.infra.js, &subj, &env)
            .await
            .expect("published")
            .await
            .expect("acked");
    }

    /// Polls `f` every 50 ms for up to `secs`; panics with `what` on timeout.
    pub async fn wait_for(&self, what: &str, secs: u64, mut f: impl AsyncFnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while tokio::time::Instant::now() < deadline {
            if f().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out after {secs}s waiting for {what}");
    }

    /// Stops tasks and removes the database, streams and Redis keys of this test.
    pub async fn stop(self) {
        let dir_file = &self.infra.settings.platform.paths.directory;
        if dir_file
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("xf-test-dir-"))
        {
            let _ = std::fs::remove_file(dir_file);
        }
        self.shutdown.cancel();
        self.infra.drain(Duration::from_secs(15)).await;
        for county in self.infra.streams.keys() {
            let _ = self
                .infra
                .js
                .delete_stream(subject::stream_name(county))
                .await;
        }
        let mut redis = self.infra.redis.clone();
        let pattern = format!("{}:*", self.infra.settings.platform.redis.key_prefix);
        if let Ok(keys) = redis::cmd("KEYS")
            .arg(&pattern)
            .query_async::<Vec<String>>(&mut redis)
            .await
            && !keys.is_empty()
        {
            let _ = redis::cmd("DEL")
                .arg(keys)
                .query_async::<()>(&mut redis)
                .await;
        }
        if let Ok(admin) =
            sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres").await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "drop database if exists \"{}\" with (force)",
                self.db_name
            )))
            .execute(&admin)
            .await;
            admin.close().await;
        }
    }
}
