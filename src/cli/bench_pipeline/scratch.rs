//! The scratch deployment: the configured servers (Postgres, NATS, Redis), a fresh database,
//! a city `9NNN00` no other run holds with `K` counties `9NNN01`.., their own streams, Redis
//! prefix, keys and directory file; notify wired to the local sinks. Removed afterwards.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use sqlx::{Connection, Executor};
use xinfang_domain::access::Role;
use xinfang_domain::county::CountyCode;
use xinfang_platform::config::{Database, Loaded, PlatformSettings, Secret};
use xinfang_platform::host::Infra;
use xinfang_platform::testing::{self, TestEnv};

/// Connections per service pool at most: six pools plus the token stores' and the outbox
/// listeners stay well inside a local server's 100 connections, which others share.
const POOL_SIZE: u32 = 5;

/// Where notify sends.
pub struct Sinks {
    pub sms_url: String,
    pub sms_secret: String,
    pub smtp_port: u16,
}

pub struct Scratch {
    /// The city, the first county, the database name, the infra; `stop` removes them.
    pub env: TestEnv,
    /// The counties petitions are registered in.
    pub counties: Vec<CountyCode>,
    dir_file: PathBuf,
    database: Database,
}

impl Scratch {
    pub async fn create(loaded: &Loaded, k: usize, sinks: &Sinks) -> anyhow::Result<Scratch> {
        // Test settings give a city code no other run holds, and fresh keys.
        let (fresh, city, _) = testing::settings()
            .await
            .context("a unique county code from the local Redis (xftest:city_seq)")?;
        let base = &city.as_str()[..4];
        let counties = (1..=k)
            .map(|i| CountyCode::parse(&format!("{base}{i:02}")))
            .collect::<Result<Vec<_>, _>>()?;
        let db_name = format!("xf_bench_pipeline_{}", uuid::Uuid::now_v7().simple());
        let mut p: PlatformSettings = loaded.platform.clone();
        p.deployment.name = "bench pipeline".into();
        p.deployment.city = city.to_string();
        p.deployment.counties = std::iter::once(&city)
            .chain(&counties)
            .map(|c| c.to_string())
            .collect();
        p.database.url = Secret::new(xinfang_platform::db::with_database(
            p.database.url.expose(),
            &db_name,
        )?);
        p.database.create_if_missing = true;
        p.database.max_connections = p.database.max_connections.min(POOL_SIZE);
        p.redis.key_prefix = format!("xfbp{}", uuid::Uuid::now_v7().as_u128() % 100_000_000);
        p.http.intake_port = 0;
        p.http.routing_port = 0;
        p.http.supervision_port = 0;
        p.http.review_port = 0;
        p.http.notify_port = 0;
        p.security.data_key = fresh.security.data_key.clone();
        p.security.hash_key = fresh.security.hash_key.clone();
        // Tokens on, as a deployment runs (the console refuses to start without).
        p.security.auth_required = true;
        p.security.demo_token = false;
        let dir_file = std::env::temp_dir().join(format!(
            "xf-bench-pipeline-dir-{}.toml",
            uuid::Uuid::now_v7()
        ));
        std::fs::write(&dir_file, directory_toml(&city, &counties)?)
            .with_context(|| format!("writing {}", dir_file.display()))?;
        p.paths.directory = dir_file.clone();
        let database = p.database.clone();
        let settings = Loaded::from_parts(p, &services_toml(sinks))?;
        let connected = async {
            let shutdown = xinfang_platform::shutdown::on_signals();
            let infra = Infra::connect(settings, "bench-pipeline", shutdown.clone())
                .await
                .context("connecting to NATS, Redis and Postgres as configured")?;
            for s in infra.streams.values() {
                // Codes come round again after a thousand runs: start from empty streams.
                s.purge().await?;
            }
            anyhow::Ok((infra, shutdown))
        }
        .await;
        let (infra, shutdown) = match connected {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_file(&dir_file);
                return Err(e);
            }
        };
        Ok(Scratch {
            env: TestEnv {
                county: counties.first().cloned().unwrap_or_else(|| city.clone()),
                city,
                db_name,
                infra,
                shutdown,
            },
            counties,
            dir_file,
            database,
        })
    }

    /// Runs ANALYZE on the scratch database once, `after` from now (see `--analyze-secs`).
    pub fn analyze_after(&self, after: Duration) -> tokio::task::JoinHandle<()> {
        let url = self.database.url.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let round = async {
                let mut c = sqlx::PgConnection::connect(url.expose()).await?;
                c.execute("analyze").await?;
                c.close().await
            };
            if let Err(e) = round.await {
                eprintln!("warning: ANALYZE of the scratch database failed: {e}");
            }
        })
    }

    /// Stops the services and removes the database, streams, Redis keys and directory file.
    pub async fn remove(self) {
        self.env.stop().await;
        // TestEnv drops the database on the local server; this one is wherever settings say.
        if let Err(e) = xinfang_platform::db::drop_database(&self.database).await {
            eprintln!("warning: could not drop the scratch database: {e:#}");
        }
        let _ = std::fs::remove_file(&self.dir_file);
    }
}

/// The service sections: routing sends every petition on (no clerk triage, so every one
/// reaches a department), no quiet hours for the receipt SMS, SMS to the gateway sink and
/// e-mail to the SMTP sink; everything else at its defaults.
fn services_toml(s: &Sinks) -> String {
    format!(
        "[routing]\noperator = \"bench\"\nhold_for_triage = false\n\
         [console]\nport = 0\n\
         [notify.quiet_hours]\nenabled = false\n\
         [notify.sms]\nprovider = \"http\"\n\
         [notify.sms.http]\nurl = \"{}\"\nsecret = \"{}\"\n\
         [notify.email]\nenabled = true\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"plain\"\nhello_name = \"bench\"\n",
        s.sms_url, s.sms_secret, s.smtp_port
    )
}

/// The running system: intake's address and a city clerk's token for the load generator.
pub struct Running {
    pub intake: SocketAddr,
    pub token: String,
}

/// The five services and the console in this process, as `xinfang up` starts them.
pub async fn start_services(infra: &Infra) -> anyhow::Result<Running> {
    let intake = xinfang_intake::service::start(infra.clone())
        .await
        .context("starting intake")?;
    let routing = xinfang_routing::service::start(infra.clone())
        .await
        .context("starting routing")?;
    let supervision = xinfang_supervision::service::start(infra.clone())
        .await
        .context("starting supervision")?;
    let review = xinfang_review::service::start(infra.clone())
        .await
        .context("starting review")?;
    let notify = xinfang_notify::service::start(infra.clone())
        .await
        .context("starting notify")?;
    let urls = xinfang_console::backend::ServiceUrls {
        intake: format!("http://{}", intake.http),
        routing: format!("http://{}", routing.http),
        supervision: format!("http://{}", supervision.http),
        review: format!("http://{}", review.http),
        notify: format!("http://{}", notify.http),
    };
    xinfang_console::service::start(infra.clone(), urls)
        .await
        .context("starting the console")?;
    let city = infra
        .settings
        .platform
        .city()
        .context("deployment.city is not a division code")?;
    let store = intake
        .host
        .auth
        .store()
        .context("intake runs without a token store")?;
    let token = store
        .create(Role::Clerk, &city, None, "bench pipeline: load generator")
        .await?
        .token;
    Ok(Running {
        intake: intake.http,
        token,
    })
}

/// A directory with the city and the counties, each with every department of
/// `departments.tsv` plus the people's government, with invented contacts (an e-mail and a
/// `137…` mobile each, so a department notice goes to both sinks).
fn directory_toml(city: &CountyCode, counties: &[CountyCode]) -> anyhow::Result<String> {
    let path = xinfang_platform::config::config_dir().join("departments.tsv");
    let tsv =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut codes: Vec<(String, String)> = vec![("gov".into(), "人民政府".into())];
    for line in tsv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let mut cols = line.split('\t');
        if let (Some(code), Some(name)) = (cols.next(), cols.next()) {
            codes.push((code.into(), name.into()));
        }
    }
    anyhow::ensure!(
        codes.len() < 100,
        "{}: more departments than the invented mobiles allow",
        path.display()
    );
    let mut out = String::from("[directory]\nname = \"bench pipeline\"\n");
    let all = std::iter::once((city, "测试市".to_owned(), None)).chain(
        counties
            .iter()
            .enumerate()
            .map(|(i, c)| (c, format!("测试县{}", i + 1), Some(city))),
    );
    for (i, (code, name, parent)) in all.enumerate() {
        out += &format!("\n[[county]]\ncode = \"{code}\"\nname = \"{name}\"\n");
        if let Some(p) = parent {
            out += &format!("parent = \"{p}\"\n");
        }
        for (j, (d, n)) in codes.iter().enumerate() {
            out += &format!(
                "[[county.department]]\ncode = \"{d}\"\nname = \"{n}\"\ncontacts = {{ email = \"{d}-{code}@example.gov.cn\", mobile = \"137{i:02}{j:02}0000\" }}\n"
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_has_every_county_with_valid_contacts() {
        let city = CountyCode::parse("912300").unwrap();
        let counties: Vec<_> = ["912301", "912302"]
            .iter()
            .map(|c| CountyCode::parse(c).unwrap())
            .collect();
        let toml = directory_toml(&city, &counties).unwrap();
        for c in ["912300", "912301", "912302"] {
            assert!(toml.contains(&format!("code = \"{c}\"")), "{c}");
        }
        assert!(toml.contains("mobile = \"13702"));
        let mobiles: Vec<&str> = toml
            .split("mobile = \"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .collect();
        assert!(
            mobiles
                .iter()
                .all(|m| xinfang_domain::validation::Mobile::parse(m).is_ok())
        );
    }
}
