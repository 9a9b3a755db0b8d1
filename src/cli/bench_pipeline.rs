//! `xinfang bench pipeline`: the whole system end to end under load (issue #16 items 1–2).
//!
//! A scratch deployment of its own (a fresh database, unused county codes `9NNN01`.. and their
//! streams, its own Redis prefix and directory file) runs intake, routing, supervision, review,
//! notify and the console in this process, as `xinfang up` does. Notify sends SMS to a local
//! HTTP gateway sink and e-mail to a local SMTP sink, both counting what they get ([`sinks`]).
//! A load generator posts petitions to intake's `POST /v1/petitions` ([`load`]); core NATS
//! subscriptions see `case.registered`, `case.assigned` and `deadline.scheduled` of every
//! scratch county as they are published ([`probe`]). Per petition ([`timeline`]):
//! POST → 201, 201 → `case.registered`, registered → `deadline.scheduled` (D1), registered →
//! `case.assigned`, assigned → `deadline.scheduled` (D4, the department's clock), registered →
//! the receipt SMS at the sink, and end to end (POST → the last of them). Then the outbox
//! backlog and consumer lag ([`backlog`]), and in the same run the JetStream baseline
//! ([`baseline`]) the throughput is compared with ([`report`]).
//!
//! With `--external` nothing is started: the same load and probe run against a deployment
//! that is already up ([`external`]).

mod backlog;
mod baseline;
mod external;
mod load;
mod probe;
mod report;
mod scratch;
mod timeline;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use xinfang_notify::sinks;
use xinfang_platform::config::Loaded;

/// Arguments of `xinfang bench pipeline`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Petitions to post.
    #[arg(long, default_value_t = 1000)]
    pub n: usize,
    /// Petitions per second on a fixed schedule (open loop; latency counts from the scheduled
    /// time). Without it: as fast as `--concurrency` requests in flight allow.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Registering counties the petitions are spread over (scratch codes `9NNN01`..).
    #[arg(long, default_value_t = 3)]
    pub counties: usize,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Seconds after the last answer within which every accepted petition must have passed
    /// every hop; one that has not counts as lost.
    #[arg(long, default_value_t = 120)]
    pub timeout_secs: u64,
    /// Seconds the services idle after the run before their resident set is read (the
    /// all-in-one process's footprint at rest; the default covers the first 30-second memory
    /// trim after the fingerprints' segmenter has been idle for a minute); 0 skips it.
    #[arg(long, default_value_t = 95)]
    pub idle_secs: u64,
    /// All-in-one: before the measured run, register this many petitions of other
    /// petitioners, wait until every service has handled them and every notice is sent, and
    /// run ANALYZE; 0 skips it. The database is new: statements prepared on empty tables keep
    /// plans made for them (sequential scans of `deadlines` and `cases`, a nested loop over
    /// the KPI deltas) while the tables grow under the load. The warm-up measures a
    /// deployment that has cases and statistics, as one that has been up a while has.
    #[arg(long, default_value_t = 1000)]
    pub warmup: usize,
    /// All-in-one: also run ANALYZE this many seconds into the measured run; 0 never. (With
    /// `--warmup 0`, `--analyze-secs 2` is how sessions 12–14 measured: a stand-in for
    /// autovacuum's first round. Every 2 s cost more than it saved: 0.44 s of PostgreSQL's
    /// time each.)
    #[arg(long, default_value_t = 0)]
    pub analyze_secs: u64,
    /// Print one JSON object as the last line.
    #[arg(long)]
    pub json: bool,
    /// Load a deployment that is already running with the settings this command loads
    /// (`xinfang up`, or the services one by one) instead of a scratch one of its own. It
    /// registers real cases there: use a staging copy.
    #[arg(long)]
    pub external: bool,
    /// With `--external`: the API's base URL (default `http://127.0.0.1:<http.intake_port>`).
    #[arg(long, requires = "external")]
    pub api: Option<String>,
    /// With `--external`: the process id of the all-in-one `xinfang up`, whose peak and idle
    /// resident set are then reported.
    #[arg(long, requires = "external")]
    pub pid: Option<u32>,
}

/// How long to keep listening after the last petition completed, for late duplicates.
const SETTLE: Duration = Duration::from_secs(2);

pub async fn run(a: Args) -> anyhow::Result<ExitCode> {
    if let Err(e) = validate(&a) {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(2));
    }
    let loaded = xinfang_platform::config::load()?;
    let bar = Bar::new();
    let r = bench(&loaded, &a, &bar).await;
    bar.clear();
    let r = r?;
    println!("{}", r.human());
    if a.json {
        println!("{}", r.json_line());
    }
    Ok(if r.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn validate(a: &Args) -> Result<(), String> {
    if !(1..=1_000_000).contains(&a.n) {
        return Err("--n must be between 1 and 1000000".into());
    }
    if a.warmup > 100_000 {
        return Err("--warmup must be at most 100000".into());
    }
    if !(1..=99).contains(&a.counties) {
        return Err("--counties must be between 1 and 99".into());
    }
    if a.concurrency == 0 {
        return Err("--concurrency must be at least 1".into());
    }
    if let Some(r) = a.rate
        && !(r.is_finite() && r > 0.0)
    {
        return Err("--rate must be a positive number of petitions per second".into());
    }
    if let Some(api) = &a.api
        && !(api.starts_with("http://") || api.starts_with("https://"))
    {
        return Err("--api must be an http:// or https:// URL".into());
    }
    Ok(())
}

/// A spinner or a counting bar on the terminal (hidden when stderr is not one).
struct Bar {
    bar: ProgressBar,
    counting: ProgressStyle,
    phase: ProgressStyle,
}

impl Bar {
    fn new() -> Self {
        let bar = ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(120));
        Self {
            bar,
            counting: ProgressStyle::with_template(
                "{spinner} {msg} {pos}/{len} [{bar:30}] {per_sec} ({elapsed})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
            phase: ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        }
    }

    fn phase(&self, message: &str) {
        self.bar.set_style(self.phase.clone());
        self.bar.set_message(message.to_owned());
        self.bar.reset_elapsed();
    }

    fn count(&self, message: &str, len: usize) {
        self.bar.set_style(self.counting.clone());
        self.bar.set_length(len as u64);
        self.bar.set_position(0);
        self.bar.set_message(message.to_owned());
        self.bar.reset();
    }

    fn at(&self, n: usize) {
        self.bar.set_position(n as u64);
    }

    fn clear(&self) {
        self.bar.finish_and_clear();
    }
}

async fn bench(loaded: &Loaded, a: &Args, bar: &Bar) -> anyhow::Result<report::Report> {
    bar.phase("choosing texts from examples.jsonl that route to a department");
    let dir = loaded.platform.paths.classification.clone();
    let want = a.n.min(load::MAX_TEXTS);
    let texts = tokio::task::spawn_blocking(move || load::routable_texts(&dir, want))
        .await
        .context("classifying the example texts")??;
    if a.external {
        external_run(loaded, a, bar, texts).await
    } else {
        all_in_one(loaded, a, bar, texts).await
    }
}

/// The scratch deployment in this process, notify sending to local sinks.
async fn all_in_one(
    loaded: &Loaded,
    a: &Args,
    bar: &Bar,
    texts: load::Texts,
) -> anyhow::Result<report::Report> {
    bar.phase("starting the SMS and SMTP sinks and a scratch deployment");
    let secret = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let sms = sinks::SmsSink::start(secret.clone()).await?;
    let smtp = sinks::SmtpSink::start().await?;
    let wiring = scratch::Sinks {
        sms_url: sms.url(),
        sms_secret: secret,
        smtp_port: smtp.port(),
    };
    let scratch = scratch::Scratch::create(loaded, a.counties, &wiring).await?;
    let mut analyzer = None;
    let infra = &scratch.env.infra;
    let shutdown = infra.shutdown.clone();
    let outcome = tokio::select! {
        r = async {
            bar.phase("starting intake, routing, supervision, review, notify and the console");
            let running = scratch::start_services(infra).await?;
            let target = load::Target {
                url: format!("http://{}/v1/petitions", running.intake),
                token: running.token,
            };
            if a.warmup > 0 {
                // Petitioners of their own, far from the measured run's, so none is a repeat.
                let warm = System {
                    infra,
                    counties: &scratch.counties,
                    target: target.clone(),
                    receipts: Receipts::Sink(&sms),
                    first_petitioner: load::PETITIONER_SPACE / 2,
                };
                warm_up(&warm, a, &texts, bar).await?;
                bar.phase("warm-up: ANALYZE");
                scratch.analyze_after(Duration::ZERO).await?;
                sms.forget();
                smtp.forget();
            }
            analyzer = (a.analyze_secs > 0)
                .then(|| scratch.analyze_after(Duration::from_secs(a.analyze_secs)));
            let system = System {
                infra,
                counties: &scratch.counties,
                target,
                receipts: Receipts::Sink(&sms),
                first_petitioner: 0,
            };
            measure(&system, a, &texts, bar).await
        } => r,
        _ = shutdown.cancelled() => Err(match infra.failure() {
            Some(reason) => anyhow::anyhow!("the scratch deployment stopped: {reason}"),
            None => anyhow::anyhow!("interrupted"),
        }),
    };
    let idle_rss_kib = idle_rss(&outcome, a, bar, None).await;
    if let Some(analyzer) = analyzer {
        analyzer.abort();
    }
    bar.phase("removing the scratch deployment");
    let platform = infra.settings.platform.clone();
    scratch.remove().await;
    let measured = outcome?;
    let sinks = report::SinkCounts {
        emails: smtp.stats(),
        sms: sms.stats(),
    };
    sms.stop();
    smtp.stop();
    let baseline = baseline(&platform, a.n, &measured, bar).await;
    Ok(report::Report::new(
        a,
        &texts,
        measured,
        Some(sinks),
        baseline,
        report::Rss {
            peak_kib: report::rss_kib(None, "VmHWM:"),
            idle_kib: idle_rss_kib,
            idle_secs: a.idle_secs,
            pid: None,
        },
    ))
}

/// `--external`: the deployment the settings describe, already running.
async fn external_run(
    loaded: &Loaded,
    a: &Args,
    bar: &Bar,
    texts: load::Texts,
) -> anyhow::Result<report::Report> {
    bar.phase("connecting to the running deployment");
    let ext = external::External::connect(loaded, a.counties, a.api.as_deref()).await?;
    let shutdown = ext.infra.shutdown.clone();
    // The deployment keeps its cases: petitioners of an earlier run must not come back as
    // repeats, so each run starts at its own place in the made-up population.
    let first_petitioner =
        (uuid::Uuid::new_v4().as_u128() % load::PETITIONER_SPACE as u128) as usize;
    let system = System {
        infra: &ext.infra,
        counties: &ext.counties,
        target: load::Target {
            url: ext.url.clone(),
            token: ext.token.clone(),
        },
        receipts: Receipts::DeliveryLog,
        first_petitioner,
    };
    let outcome = tokio::select! {
        r = measure(&system, a, &texts, bar) => r,
        _ = shutdown.cancelled() => Err(anyhow::anyhow!("interrupted")),
    };
    let idle_rss_kib = idle_rss(&outcome, a, bar, a.pid).await;
    let peak_kib = a.pid.and_then(|pid| report::rss_kib(Some(pid), "VmHWM:"));
    let platform = ext.infra.settings.platform.clone();
    ext.close().await;
    let measured = outcome?;
    let baseline = baseline(&platform, a.n, &measured, bar).await;
    Ok(report::Report::new(
        a,
        &texts,
        measured,
        None,
        baseline,
        report::Rss {
            peak_kib,
            idle_kib: idle_rss_kib,
            idle_secs: a.idle_secs,
            pid: a.pid,
        },
    ))
}

/// After a successful run: rest `--idle-secs`, then the resident set of `pid` (this process
/// when `None`).
async fn idle_rss<T>(
    outcome: &anyhow::Result<T>,
    a: &Args,
    bar: &Bar,
    pid: Option<u32>,
) -> Option<u64> {
    if outcome.is_err() || a.idle_secs == 0 || (a.external && pid.is_none()) {
        return None;
    }
    bar.phase(&format!(
        "idling {} s, then reading the resident set",
        a.idle_secs
    ));
    tokio::time::sleep(Duration::from_secs(a.idle_secs)).await;
    report::rss_kib(pid, "VmRSS:")
}

/// The JetStream baseline on a scratch stream of its own; a failure is a warning.
async fn baseline(
    platform: &xinfang_platform::config::PlatformSettings,
    n: usize,
    measured: &Measured,
    bar: &Bar,
) -> Option<baseline::Baseline> {
    let (nats, consumer) = (&platform.nats, &platform.consumer);
    let outbox_batch = usize::try_from(platform.outbox.batch_size).unwrap_or(500);
    bar.phase("baseline: JetStream publish-ack and durable pull-consume on a scratch stream");
    // The deployment's token is cancelled by now; Ctrl-C still ends the baseline.
    let tag = baseline::tag();
    let sample = measured.sample_envelope.clone();
    let r = tokio::select! {
        r = baseline::run(nats, consumer, outbox_batch, n, sample, &tag) => r,
        _ = tokio::signal::ctrl_c() => {
            let _ = baseline::remove(nats, &tag).await;
            Err(anyhow::anyhow!("interrupted"))
        }
    };
    match r {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!("warning: the baseline failed: {e:#}");
            None
        }
    }
}

/// `--warmup`: registers the petitions and waits until nothing is on its way
/// ([`backlog::Backlog::quiet`]).
async fn warm_up(
    system: &System<'_>,
    a: &Args,
    texts: &load::Texts,
    bar: &Bar,
) -> anyhow::Result<()> {
    let p = &system.infra.settings.platform;
    let petitions = load::petitions(
        a.warmup,
        system.counties,
        &texts.texts,
        system.first_petitioner,
    );
    bar.count(
        &format!("warm-up: posting petitions, {} in flight", a.concurrency),
        a.warmup,
    );
    let outcomes = load::run(&system.target, petitions, a.concurrency, None, |done| {
        bar.at(done)
    })
    .await?;
    let refused = outcomes.iter().filter(|o| o.case_no.is_none()).count();
    if refused > 0 {
        anyhow::bail!(
            "warm-up: {refused} of {} petitions were not accepted",
            a.warmup
        );
    }
    bar.phase("warm-up: waiting until every service has handled them");
    let db = backlog::Db::connect(&p.database).await?;
    let streams: Vec<_> = system.infra.streams.values().cloned().collect();
    let give_up = Instant::now() + Duration::from_secs(a.timeout_secs);
    let drained = loop {
        if db.snapshot(&streams).await?.quiet() {
            break true;
        }
        if Instant::now() >= give_up {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    db.close().await;
    if !drained {
        anyhow::bail!(
            "warm-up: the services had not handled its {} petitions within --timeout-secs {}",
            a.warmup,
            a.timeout_secs
        );
    }
    Ok(())
}

/// What the load runs against.
struct System<'a> {
    infra: &'a xinfang_platform::host::Infra,
    /// Where petitions are registered.
    counties: &'a [xinfang_domain::county::CountyCode],
    target: load::Target,
    receipts: Receipts<'a>,
    /// The made-up petitioners are numbered from here.
    first_petitioner: usize,
}

/// Where the receipt SMS are seen.
enum Receipts<'a> {
    /// The local gateway sink notify sends to.
    Sink(&'a sinks::SmsSink),
    /// The deployment's notify delivery log (`sent` receipts).
    DeliveryLog,
}

impl Receipts<'_> {
    /// Runs `f` on the receipts of `accepted` seen so far (the sink's own records, not a copy).
    async fn with<R>(
        &self,
        db: &backlog::Db,
        accepted: &[String],
        clock: external::Clock,
        f: impl FnOnce(&[sinks::SmsRecord]) -> R,
    ) -> anyhow::Result<R> {
        Ok(match self {
            Receipts::Sink(s) => s.with(f),
            Receipts::DeliveryLog => f(&external::sent_receipts(db.pool(), accepted, clock).await?),
        })
    }
}

/// What [`measure`] brings back for the report.
pub struct Measured {
    pub joined: timeline::Joined,
    pub started: Instant,
    pub load_end: backlog::Backlog,
    pub end: backlog::Backlog,
    /// A message of the mean envelope size (the baseline's message).
    pub sample_envelope: Vec<u8>,
    pub mean_envelope_bytes: usize,
    pub waited_secs: f64,
}

async fn measure(
    system: &System<'_>,
    a: &Args,
    texts: &load::Texts,
    bar: &Bar,
) -> anyhow::Result<Measured> {
    let infra = system.infra;
    let p = &infra.settings.platform;
    let probe_client = xinfang_platform::nats::connect(&p.nats, "bench-pipeline-probe")
        .await
        .context("connecting the probe to NATS")?;
    let all: Vec<_> = infra.streams.keys().cloned().collect();
    let probe = probe::Probe::start(&probe_client, &all).await?;
    let db = backlog::Db::connect(&p.database).await?;
    let streams: Vec<_> = infra.streams.values().cloned().collect();

    let petitions = load::petitions(a.n, system.counties, &texts.texts, system.first_petitioner);
    bar.count(
        &match a.rate {
            Some(r) => format!("posting petitions at {r}/s"),
            None => format!("posting petitions, {} in flight", a.concurrency),
        },
        a.n,
    );
    let clock = external::Clock::now();
    let started = Instant::now();
    let outcomes = load::run(&system.target, petitions, a.concurrency, a.rate, |done| {
        bar.at(done)
    })
    .await?;
    let load_end = db.snapshot(&streams).await?;

    let accepted: Vec<String> = outcomes.iter().filter_map(|o| o.case_no.clone()).collect();
    // The delivery log is polled, not pushed: read it less often than the probe's memory.
    let poll = match system.receipts {
        Receipts::Sink(_) => Duration::from_millis(100),
        Receipts::DeliveryLog => Duration::from_millis(250),
    };
    bar.count(
        "waiting for every hop of the accepted petitions",
        accepted.len(),
    );
    let waiting = Instant::now();
    let last_answer = outcomes.iter().map(|o| o.answered).max().unwrap_or(started);
    let give_up = last_answer + Duration::from_secs(a.timeout_secs);
    loop {
        let done = system
            .receipts
            .with(&db, &accepted, clock, |recs| {
                probe.with(|log| timeline::completed(&outcomes, log, recs))
            })
            .await?;
        bar.at(done);
        if done >= accepted.len() || Instant::now() >= give_up {
            break;
        }
        tokio::time::sleep(poll).await;
    }
    let waited_secs = waiting.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    let end = db.snapshot(&streams).await?;
    let joined = system
        .receipts
        .with(&db, &accepted, clock, |recs| {
            probe.with(|log| timeline::join(&outcomes, log, recs))
        })
        .await?;
    let (sample_envelope, mean_envelope_bytes) = probe.with(|log| log.sample());
    probe.stop();
    db.close().await;
    Ok(Measured {
        joined,
        started,
        load_end,
        end,
        sample_envelope,
        mean_envelope_bytes,
        waited_secs,
    })
}
