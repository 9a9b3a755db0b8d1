//! What every service does at start: connect to NATS, Redis and its Postgres schema, run its
//! migrations, make sure the county streams exist, run its outbox relay and consumers, serve
//! health and metrics, and stop cleanly. Services supply only their schema, handlers and
//! routes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use redis::aio::ConnectionManager;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use xinfang_domain::county::CountyCode;

use crate::calendar::CalendarHandle;
use crate::config::Loaded;
use crate::consumer::{self, ConsumerSpec, Handler};
use crate::directory::DirectoryHandle;
use crate::http::{self, Check};
use crate::{db, nats, outbox};

/// Connections shared by the services of one process.
#[derive(Clone)]
pub struct Infra {
    pub settings: Arc<Loaded>,
    pub nats: async_nats::Client,
    pub js: jetstream::Context,
    pub redis: ConnectionManager,
    pub streams: Arc<BTreeMap<CountyCode, jetstream::stream::Stream>>,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
    /// The holiday calendar (`paths.calendar`), shared by every service of the process and
    /// reloadable without a restart ([`crate::calendar`]).
    pub calendar: Arc<CalendarHandle>,
    /// The department directory (`paths.directory`), shared by the services of the process
    /// that read it: loaded by the first that asks ([`Infra::directory`]), reloadable without
    /// a restart ([`crate::directory`]).
    directory: Arc<std::sync::Mutex<Option<Arc<DirectoryHandle>>>>,
    /// Why the process is stopping on its own (a fatal task failure), if it is.
    failure: Arc<std::sync::Mutex<Option<String>>>,
}

impl Infra {
    /// Stops the process because a task cannot go on; the runner exits non-zero so a
    /// supervisor (systemd `Restart=on-failure`) restarts it.
    pub fn fail(&self, reason: String) {
        if let Ok(mut f) = self.failure.lock() {
            f.get_or_insert(reason);
        }
        self.shutdown.cancel();
    }

    /// The fatal failure that stopped the process, if any.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    pub async fn connect(
        settings: Loaded,
        client_name: &str,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        // Install the metrics recorder before anything records: metrics recorded earlier go
        // to the no-op recorder and are lost.
        let _ = crate::metrics::handle();
        let p = &settings.platform;
        // Every service refuses to start on a missing or bad calendar file, naming it.
        let calendar = Arc::new(CalendarHandle::load(&p.paths.calendar)?);
        let nats_client = nats::connect(&p.nats, client_name)
            .instrument(tracing::info_span!("init nats"))
            .await?;
        let js = nats::jetstream(nats_client.clone());
        let mut streams = BTreeMap::new();
        let mut counties = p.counties();
        if let Some(city) = p.city()
            && !counties.contains(&city)
        {
            // Escalations are published on the city's subjects even by county deployments.
            counties.push(city);
        }
        for county in counties {
            let s = nats::ensure_stream(&js, &county, &p.nats)
                .instrument(tracing::info_span!("init stream", %county))
                .await?;
            streams.insert(county, s);
        }
        let redis = crate::redis::connect(&p.redis)
            .instrument(tracing::info_span!("init redis"))
            .await?;
        let tracker = TaskTracker::new();
        tracker.spawn(refresh_calendar_metrics(calendar.clone(), shutdown.clone()));
        tracker.spawn(crate::memory::trim_periodically(
            crate::memory::TRIM_EVERY,
            shutdown.clone(),
        ));
        Ok(Self {
            settings: Arc::new(settings),
            nats: nats_client,
            js,
            redis,
            streams: Arc::new(streams),
            shutdown,
            tracker,
            calendar,
            directory: Arc::default(),
            failure: Arc::default(),
        })
    }

    /// The process's department directory: loaded from `paths.directory` by the first service
    /// that asks (a missing or invalid file is an error naming it and every problem), the same
    /// handle for every later one. Services serving its reload endpoint take it through
    /// [`ServiceHost::directory`].
    pub fn directory(&self) -> anyhow::Result<Arc<DirectoryHandle>> {
        let mut slot = self
            .directory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(h) = slot.as_ref() {
            return Ok(h.clone());
        }
        let handle = Arc::new(DirectoryHandle::load(
            &self.settings.platform.paths.directory,
        )?);
        *slot = Some(handle.clone());
        Ok(handle)
    }

    /// The directory if a service of the process loaded it (what `SIGHUP` reloads).
    pub fn loaded_directory(&self) -> Option<Arc<DirectoryHandle>> {
        self.directory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The counties this deployment serves (not the city added only for escalation).
    pub fn counties(&self) -> Vec<CountyCode> {
        self.settings.platform.counties()
    }

    pub fn stream(&self, county: &CountyCode) -> anyhow::Result<jetstream::stream::Stream> {
        self.streams
            .get(county)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("county {county} is not served by this deployment"))
    }

    /// Waits for every task started through this infra, at most `grace`.
    pub async fn drain(&self, grace: Duration) -> bool {
        crate::shutdown::drain(&self.tracker, grace).await
    }
}

/// Keeps `xf_calendar_days_left` current between scrapes of `/readyz` (the day changes).
async fn refresh_calendar_metrics(calendar: Arc<CalendarHandle>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tokio::select! {
            _ = tick.tick() => calendar.record_metrics(crate::calendar::today()),
            _ = shutdown.cancelled() => return,
        }
    }
}

/// One service's running parts.
#[derive(Clone)]
pub struct ServiceHost {
    pub name: &'static str,
    pub schema: &'static str,
    pub pool: PgPool,
    pub infra: Infra,
    /// Bearer-token authentication for this service's HTTP API.
    pub auth: crate::auth::Auth,
    /// Set by [`ServiceHost::directory`]: [`ServiceHost::serve_http`] then serves
    /// `POST /v1/directory/reload`.
    directory: Arc<std::sync::OnceLock<Arc<DirectoryHandle>>>,
    /// Whether the pool's database answers (HTTP calls get 503 at once while it does not).
    pub db_watch: crate::db_watch::DbWatch,
}

impl ServiceHost {
    /// Connects the schema's pool, migrates it, and starts its outbox relay.
    pub async fn start(
        infra: &Infra,
        name: &'static str,
        schema: &'static str,
        migrator: &sqlx::migrate::Migrator,
    ) -> anyhow::Result<Self> {
        let p = &infra.settings.platform;
        let pool = db::connect(&p.database, schema)
            .instrument(tracing::info_span!("init postgres", service = name))
            .await?;
        db::migrate(&pool, schema, migrator)
            .instrument(tracing::info_span!("migrate", service = name))
            .await?;
        let city = p
            .city()
            .ok_or_else(|| anyhow::anyhow!("deployment.city is not a division code"))?;
        let auth = if p.security.auth_required {
            crate::auth::Auth::required(crate::auth::AuthStore::connect(&p.database).await?, city)
        } else {
            crate::auth::Auth::disabled(city)
        };
        let host = Self {
            name,
            schema,
            pool,
            infra: infra.clone(),
            auth,
            directory: Arc::default(),
            db_watch: crate::db_watch::DbWatch::default(),
        };
        infra.tracker.spawn(
            host.db_watch
                .clone()
                .run(host.pool.clone(), infra.shutdown.clone()),
        );
        infra.tracker.spawn(outbox::run_relay(
            host.pool.clone(),
            schema.to_owned(),
            infra.js.clone(),
            p.outbox.clone(),
            infra.shutdown.clone(),
        ));
        Ok(host)
    }

    /// Runs a durable consumer `<service>_<name>` on `filter` of `county`'s stream.
    pub fn spawn_consumer<H: Handler>(
        &self,
        county: &CountyCode,
        name: &str,
        filter: String,
        handler: Arc<H>,
    ) -> anyhow::Result<()> {
        self.spawn_consumers(
            std::slice::from_ref(county),
            name,
            |_| Ok(filter.clone()),
            handler,
        )
    }

    /// Runs the durable consumer `<service>_<name>` on each of `counties`' streams (`filter`
    /// gives each its subjects) as one loop that batches them together
    /// ([`consumer::run_merged`]).
    pub fn spawn_consumers<H: Handler>(
        &self,
        counties: &[CountyCode],
        name: &str,
        filter: impl Fn(&CountyCode) -> anyhow::Result<String>,
        handler: Arc<H>,
    ) -> anyhow::Result<()> {
        let name = format!("{}_{name}", self.name);
        xinfang_domain::subject::token("consumer", &name)?;
        let mut sources = Vec::with_capacity(counties.len());
        for county in counties {
            let spec = ConsumerSpec {
                county: county.clone(),
                name: name.clone(),
                filter: filter(county)?,
            };
            sources.push((self.infra.stream(county)?, spec));
        }
        let pool = self.pool.clone();
        let js = self.infra.js.clone();
        let settings = self.infra.settings.platform.consumer.clone();
        let shutdown = self.infra.shutdown.clone();
        let infra = self.infra.clone();
        self.infra.tracker.spawn(async move {
            if let Err(e) =
                consumer::run_merged(pool, js, sources, handler, settings, shutdown).await
            {
                tracing::error!(consumer = %name, error = %e, "consumer failed; stopping the process");
                infra.fail(format!("consumer {name}: {e:#}"));
            }
        });
        Ok(())
    }

    /// The process's department directory ([`Infra::directory`]) for a service that reads it;
    /// its HTTP API then also serves `POST /v1/directory/reload` ([`crate::directory::router`]).
    /// A service with its own route for that (routing) takes [`Infra::directory`] instead.
    pub fn directory(&self) -> anyhow::Result<Arc<DirectoryHandle>> {
        let handle = self.infra.directory()?;
        let _ = self.directory.set(handle.clone());
        Ok(handle)
    }

    /// The readiness checks every service has.
    pub fn checks(&self) -> Vec<Check> {
        let watch = self.db_watch.clone();
        let postgres = Check::postgres(self.pool.clone());
        vec![
            // Named at once while the watcher finds it down, instead of after a timeout.
            Check::new("postgres", move || {
                let down = watch.is_down();
                let run = (postgres.run)();
                async move {
                    if down {
                        Err("not answering".to_owned())
                    } else {
                        run.await
                    }
                }
            }),
            Check::nats(self.infra.nats.clone()),
            Check::redis(self.infra.redis.clone()),
        ]
    }

    /// Serves `api` plus health and metrics on `port` (0 = any) until shutdown; returns
    /// the bound address.
    pub async fn serve_http(&self, port: u16, api: axum::Router) -> anyhow::Result<SocketAddr> {
        let listener = http::bind(&self.infra.settings.platform.http.host, port).await?;
        let addr = listener.local_addr()?;
        let calendar = &self.infra.calendar;
        let mut api = api.merge(crate::calendar::router(calendar.clone(), self.auth.clone()));
        if let Some(directory) = self.directory.get() {
            api = api.merge(crate::directory::router(
                directory.clone(),
                self.auth.clone(),
                self.infra.streams.keys().cloned().collect(),
            ));
        }
        // While the database is down, every API route answers 503 at once (not health).
        let api = api.layer(axum::middleware::from_fn_with_state(
            self.db_watch.clone(),
            crate::db_watch::guard,
        ));
        let app = http::router_with(self.name, self.checks(), vec![calendar.advisory()], api);
        let shutdown = self.infra.shutdown.clone();
        let name = self.name;
        self.infra.tracker.spawn(async move {
            if let Err(e) = http::serve(listener, app, shutdown).await {
                tracing::error!(service = name, error = %e, "http server failed");
            }
        });
        tracing::info!(service = name, %addr, "http listening");
        Ok(addr)
    }
}

/// A started service: its host (pool, infra) and where its HTTP listens.
#[derive(Clone)]
pub struct Started {
    pub host: ServiceHost,
    pub http: SocketAddr,
}
