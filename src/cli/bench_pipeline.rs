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

mod backlog;
mod baseline;
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
    /// all-in-one process's footprint at rest); 0 skips it.
    #[arg(long, default_value_t = 10)]
    pub idle_secs: u64,
    /// Print one JSON object as the last line.
    #[arg(long)]
    pub json: bool,
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
    let shutdown = scratch.env.infra.shutdown.clone();
    let outcome = tokio::select! {
        r = measure(&scratch, a, &texts, &sms, bar) => r,
        _ = shutdown.cancelled() => Err(match scratch.env.infra.failure() {
            Some(reason) => anyhow::anyhow!("the scratch deployment stopped: {reason}"),
            None => anyhow::anyhow!("interrupted"),
        }),
    };
    let idle_rss_kib = match (&outcome, a.idle_secs) {
        (Ok(_), secs) if secs > 0 => {
            bar.phase(&format!("idling {secs} s, then reading the resident set"));
            tokio::time::sleep(Duration::from_secs(secs)).await;
            rss_kib("VmRSS:")
        }
        _ => None,
    };
    bar.phase("removing the scratch deployment");
    let nats = scratch.env.infra.settings.platform.nats.clone();
    let consumer = scratch.env.infra.settings.platform.consumer.clone();
    let outbox_batch =
        usize::try_from(scratch.env.infra.settings.platform.outbox.batch_size).unwrap_or(500);
    scratch.remove().await;
    let measured = outcome?;
    let emails = smtp.stats();
    let sms_stats = sms.stats();
    sms.stop();
    smtp.stop();

    bar.phase("baseline: JetStream publish-ack and durable pull-consume on a scratch stream");
    // The scratch deployment's token is cancelled by now; Ctrl-C still ends the baseline.
    let tag = baseline::tag();
    let sample = measured.sample_envelope.clone();
    let baseline = tokio::select! {
        r = baseline::run(&nats, &consumer, outbox_batch, a.n, sample, &tag) => r,
        _ = tokio::signal::ctrl_c() => {
            let _ = baseline::remove(&nats, &tag).await;
            Err(anyhow::anyhow!("interrupted"))
        }
    };
    let baseline = match baseline {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!("warning: the baseline failed: {e:#}");
            None
        }
    };
    Ok(report::Report::new(
        a,
        &texts,
        measured,
        sms_stats,
        emails,
        baseline,
        report::Rss {
            peak_kib: rss_kib("VmHWM:"),
            idle_kib: idle_rss_kib,
            idle_secs: a.idle_secs,
        },
    ))
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
    scratch: &scratch::Scratch,
    a: &Args,
    texts: &load::Texts,
    sms: &sinks::SmsSink,
    bar: &Bar,
) -> anyhow::Result<Measured> {
    let infra = &scratch.env.infra;
    let p = &infra.settings.platform;
    bar.phase("starting intake, routing, supervision, review, notify and the console");
    let running = scratch::start_services(infra).await?;
    let probe_client = xinfang_platform::nats::connect(&p.nats, "bench-pipeline-probe")
        .await
        .context("connecting the probe to NATS")?;
    let all: Vec<_> = infra.streams.keys().cloned().collect();
    let probe = probe::Probe::start(&probe_client, &all).await?;
    let db = backlog::Db::connect(&p.database).await?;
    let streams: Vec<_> = infra.streams.values().cloned().collect();

    let petitions = load::petitions(a.n, &scratch.counties, &texts.texts);
    let target = load::Target {
        url: format!("http://{}/v1/petitions", running.intake),
        token: running.token.clone(),
    };
    bar.count(
        &match a.rate {
            Some(r) => format!("posting petitions at {r}/s"),
            None => format!("posting petitions, {} in flight", a.concurrency),
        },
        a.n,
    );
    let started = Instant::now();
    let outcomes = load::run(&target, petitions, a.concurrency, a.rate, |done| {
        bar.at(done)
    })
    .await?;
    let load_end = db.snapshot(&streams).await?;

    let accepted = outcomes.iter().filter(|o| o.case_no.is_some()).count();
    bar.count("waiting for every hop of the accepted petitions", accepted);
    let waiting = Instant::now();
    let last_answer = outcomes.iter().map(|o| o.answered).max().unwrap_or(started);
    let give_up = last_answer + Duration::from_secs(a.timeout_secs);
    loop {
        let done = probe.with(|log| sms.with(|recs| timeline::completed(&outcomes, log, recs)));
        bar.at(done);
        if done >= accepted || Instant::now() >= give_up {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let waited_secs = waiting.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    let end = db.snapshot(&streams).await?;
    let joined = probe.with(|log| sms.with(|recs| timeline::join(&outcomes, log, recs)));
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

/// A resident-set figure of /proc/self/status (`VmHWM:` the peak, `VmRSS:` now), in KiB.
fn rss_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
