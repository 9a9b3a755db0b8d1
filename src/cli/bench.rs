//! `xinfang bench ...`: benchmark programs that print numbers.

use std::path::PathBuf;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};

#[derive(clap::Subcommand, Debug)]
pub enum Bench {
    /// Run a labelled petition file through registration and score the classification.
    Classify {
        /// JSONL with the dev-set schema (tests/data/petitions-dev.jsonl).
        #[arg(long)]
        file: PathBuf,
        /// Print one JSON object as the last line.
        #[arg(long)]
        json: bool,
        /// List every error (the text's first words, expected and predicted, the reasons) and
        /// a confusion matrix per field.
        #[arg(long)]
        mismatches: bool,
        /// Feed the file's first half in order as clerks' corrections and show how accuracy
        /// on its second half changes (classification only; no database).
        #[arg(long, conflicts_with = "mismatches")]
        learning_curve: bool,
        /// Points of the learning curve.
        #[arg(long, default_value_t = 5)]
        steps: usize,
    },
    /// Schedule N deadlines due across a short window and measure firing (Redis + Postgres).
    Timers {
        #[arg(long, default_value_t = 100_000)]
        n: usize,
        /// Window the due times spread over, in milliseconds (default: the library's).
        #[arg(long)]
        window_ms: Option<u64>,
        /// Print one JSON object as the last line.
        #[arg(long)]
        json: bool,
    },
    /// Time the console's pages per role with a registry of N cases (scratch deployment).
    Console {
        /// Cases in the registry: a few hundred registered through intake, the rest copied.
        #[arg(long, default_value_t = 100_000)]
        cases: usize,
        /// Timed requests per page, after one warm-up request.
        #[arg(long, default_value_t = 20)]
        samples: usize,
        /// Print one JSON object as the last line.
        #[arg(long)]
        json: bool,
        /// Leave the scratch database in place (to EXPLAIN the services' queries).
        #[arg(long)]
        keep_database: bool,
    },
    /// Load years of synthetic history (N cases and their deadlines, by COPY) into a scratch
    /// database and time every KPI query the API and the console's dashboards run.
    Stats {
        /// Cases in the history (10,000,000 is ten years of a large city).
        #[arg(long, default_value_t = 1_000_000)]
        cases: usize,
        /// Years the cases spread over, ending now.
        #[arg(long, default_value_t = 10)]
        years: u32,
        /// Print one JSON object as the last line.
        #[arg(long)]
        json: bool,
        /// Leave the scratch database in place (to EXPLAIN the queries).
        #[arg(long)]
        keep_database: bool,
    },
    /// Post N petitions to the whole system (scratch deployment, SMS and e-mail sinks) and time
    /// each hop to the receipt SMS, against a JetStream baseline.
    Pipeline(super::bench_pipeline::Args),
}

pub async fn run(b: Bench) -> anyhow::Result<ExitCode> {
    match b {
        Bench::Classify {
            file,
            json,
            learning_curve: true,
            steps,
            ..
        } => curve(file, json, steps),
        Bench::Classify {
            file,
            json,
            mismatches,
            ..
        } => classify(file, json, mismatches).await,
        Bench::Timers { n, window_ms, json } => timers(n, window_ms, json).await,
        Bench::Console {
            cases,
            samples,
            json,
            keep_database,
        } => console(cases, samples, json, keep_database).await,
        Bench::Stats {
            cases,
            years,
            json,
            keep_database,
        } => stats(cases, years, json, keep_database).await,
        Bench::Pipeline(a) => super::bench_pipeline::run(a).await,
    }
}

async fn stats(
    cases: usize,
    years: u32,
    json: bool,
    keep_database: bool,
) -> anyhow::Result<ExitCode> {
    if !(1..=100_000_000).contains(&cases) || !(1..=50).contains(&years) {
        eprintln!("error: --cases must be between 1 and 100000000 and --years between 1 and 50");
        return Ok(ExitCode::from(2));
    }
    let settings = xinfang_platform::config::load()?;
    let opts = xinfang_supervision::bench_stats::Options {
        cases,
        years,
        keep_database,
    };
    let bar = ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let counting = ProgressStyle::with_template(
        "{spinner} {msg} {pos}/{len} [{bar:30}] {per_sec} ({elapsed})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    let phase = ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    use xinfang_supervision::bench_stats::Progress;
    let r = xinfang_supervision::bench_stats::run(&settings, &opts, |p| match p {
        Progress::Phase { message, len } => {
            bar.set_position(0);
            match len {
                Some(n) => {
                    bar.set_style(counting.clone());
                    bar.set_length(n);
                }
                None => bar.set_style(phase.clone()),
            }
            bar.set_message(message);
        }
        Progress::Position(n) => bar.set_position(n),
    })
    .await;
    bar.finish_and_clear();
    let r = r?;
    println!("{}", r.human());
    if json {
        println!("{}", r.json_line());
    }
    Ok(if r.all_met() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn classify(file: PathBuf, json: bool, mismatches: bool) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let lines = match xinfang_intake::bench::parse(&text) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            return Ok(ExitCode::from(2));
        }
    };
    let settings = xinfang_platform::config::load()?;
    let bar = ProgressBar::new(lines.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} registering {pos}/{len} [{bar:30}] {per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let r = xinfang_intake::bench::run(&settings, &lines, |i| bar.set_position(i as u64)).await?;
    bar.finish_and_clear();
    println!("petitions:           {}", r.n);
    println!("type accuracy:       {:.1}%", r.type_accuracy * 100.0);
    println!("department accuracy: {:.1}%", r.dept_accuracy * 100.0);
    println!("county accuracy:     {:.1}%", r.county_accuracy * 100.0);
    println!("diversion accuracy:  {:.1}%", r.diversion_accuracy * 100.0);
    println!(
        "accused official:    precision {:.1}%, recall {:.1}%",
        r.accused_precision * 100.0,
        r.accused_recall * 100.0
    );
    println!(
        "repeat links:        precision {:.1}%, recall {:.1}%",
        r.repeat_precision * 100.0,
        r.repeat_recall * 100.0
    );
    println!(
        "检举控告 recall:      {:.1}% (an accusation missed exposes its informant)",
        r.accusation_recall * 100.0
    );
    println!(
        "triage:              {:.1}% of petitions held, catching {:.1}% of type/department errors",
        r.triaged_share * 100.0,
        r.errors_triaged * 100.0
    );
    for p in &r.triage_curve {
        println!(
            "  holding {:>4.1}% (confidence below {:.2}) would catch {:.1}%",
            p.held * 100.0,
            p.threshold,
            p.errors_caught * 100.0
        );
    }
    println!("calibration:         confidence bin  n  mean confidence  type and department right");
    for b in &r.calibration {
        println!(
            "  {:.1}–{:.1} {:>5} {:>8.2} {:>8.1}%",
            b.from,
            b.to,
            b.n,
            b.mean_confidence,
            b.accuracy * 100.0
        );
    }
    println!(
        "throughput:          {:.1} petitions/s (full registration path)",
        r.per_second
    );
    println!(
        "classification:      {:.0} petitions/s alone, one core",
        r.classify_per_second
    );
    if mismatches {
        print!("{}", mismatch_report(&r));
    }
    if json {
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// `--learning-curve`: accuracy on the file's second half as its first half is learnt.
fn curve(file: PathBuf, json: bool, steps: usize) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let lines = match xinfang_intake::bench::parse(&text) {
        Ok(l) if l.len() >= 2 => l,
        Ok(_) => {
            eprintln!(
                "error: {}: a learning curve needs at least two lines",
                file.display()
            );
            return Ok(ExitCode::from(2));
        }
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            return Ok(ExitCode::from(2));
        }
    };
    if steps == 0 {
        eprintln!("error: --steps must be at least 1");
        return Ok(ExitCode::from(2));
    }
    let settings = xinfang_platform::config::load()?;
    let bar = ProgressBar::new((lines.len() / 2) as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} corrections learnt {pos}/{len} [{bar:30}]")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let points = xinfang_intake::bench::learning_curve(
        &settings.platform.paths.classification,
        &lines,
        steps,
        |fed, _| bar.set_position(fed as u64),
    )?;
    bar.finish_and_clear();
    println!("corrections  scored  type     department  diversion");
    for p in &points {
        println!(
            "{:>11}  {:>6}  {:>5.1}%  {:>9.1}%  {:>8.1}%",
            p.fed,
            p.scored,
            p.type_accuracy * 100.0,
            p.dept_accuracy * 100.0,
            p.diversion_accuracy * 100.0
        );
    }
    if json {
        println!("{}", serde_json::to_string(&points)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// Every error and the confusion matrices, as `--mismatches` prints them.
fn mismatch_report(r: &xinfang_intake::bench::Report) -> String {
    let mut out = format!("\nmismatches: {}\n", r.mismatches.len());
    for m in &r.mismatches {
        out.push_str(&format!(
            "{} {:<10} expected {} got {} (confidence {:.2}{}) {}…\n    {}\n",
            m.id,
            m.field,
            m.expected,
            m.predicted,
            m.confidence,
            if m.needs_triage { ", triaged" } else { "" },
            m.opening,
            m.reasons.join("; ")
        ));
    }
    for field in ["type", "department", "county", "diversion"] {
        out.push_str(&format!(
            "\nconfusion {field} (expected: right/total → predicted instead)\n"
        ));
        out.push_str(&r.confusion_table(field));
    }
    out
}

async fn timers(n: usize, window_ms: Option<u64>, json: bool) -> anyhow::Result<ExitCode> {
    if n == 0 {
        eprintln!("error: --n must be at least 1");
        return Ok(ExitCode::from(2));
    }
    let settings = xinfang_platform::config::load()?;
    let mut opts = xinfang_supervision::cli::BenchOptions::new(n);
    if window_ms.is_some() {
        opts.window_ms = window_ms;
    }
    // The library reports only when done: a spinner shows the run is alive.
    let spinner = ProgressBar::new_spinner();
    spinner.set_message(format!(
        "scheduling and firing {n} timers in a scratch database and Redis prefix"
    ));
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let r = xinfang_supervision::cli::bench_timers(&settings, &opts).await;
    spinner.finish_and_clear();
    let r = r?;
    println!("{}", r.human());
    if json {
        println!("{}", r.json_line());
    }
    Ok(ExitCode::SUCCESS)
}

async fn console(
    cases: usize,
    samples: usize,
    json: bool,
    keep_database: bool,
) -> anyhow::Result<ExitCode> {
    let mut opts = xinfang_console::bench::Options::new(cases, samples);
    opts.keep_database = keep_database;
    if samples == 0 || cases < opts.seed {
        eprintln!(
            "error: --samples must be at least 1 and --cases at least {}",
            opts.seed
        );
        return Ok(ExitCode::from(2));
    }
    let settings = xinfang_platform::config::load()?;
    let bar = ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let counting = ProgressStyle::with_template("{spinner} {msg} {pos}/{len} [{bar:30}] {per_sec}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    let phase = ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let r = xinfang_console::bench::run(&settings, &opts, start_services, |p| match p {
        xinfang_console::bench::Progress::Phase { message, len } => {
            bar.set_position(0);
            match len {
                Some(n) => {
                    bar.set_style(counting.clone());
                    bar.set_length(n);
                }
                None => bar.set_style(phase.clone()),
            }
            bar.set_message(message);
        }
        xinfang_console::bench::Progress::Position(n) => bar.set_position(n),
    })
    .await;
    bar.finish_and_clear();
    let r = r?;
    println!("{}", r.human());
    if json {
        println!("{}", r.json_line());
    }
    Ok(ExitCode::SUCCESS)
}

/// The five services in this process, as `xinfang up` starts them.
async fn start_services(
    infra: xinfang_platform::host::Infra,
) -> anyhow::Result<xinfang_console::backend::ServiceUrls> {
    let intake = xinfang_intake::service::start(infra.clone()).await?;
    let routing = xinfang_routing::service::start(infra.clone()).await?;
    let supervision = xinfang_supervision::service::start(infra.clone()).await?;
    let review = xinfang_review::service::start(infra.clone()).await?;
    let notify = xinfang_notify::service::start(infra.clone()).await?;
    Ok(xinfang_console::backend::ServiceUrls {
        intake: format!("http://{}", intake.http),
        routing: format!("http://{}", routing.http),
        supervision: format!("http://{}", supervision.http),
        review: format!("http://{}", review.http),
        notify: format!("http://{}", notify.http),
    })
}
