//! `xinfang calendar check` and `xinfang calendar reload`: the holiday calendar
//! (`paths.calendar`) that every deadline counted in working days, and every roll-over off a
//! rest day, depends on. The State Council publishes next year's arrangement in November; the
//! operator adds it to the file, checks it, and reloads the running services (no rebuild, no
//! restart). `SIGHUP` to a service process does the same.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};
use xinfang_platform::calendar::{WARN_DAYS, read_file, today};

#[derive(clap::Subcommand, Debug)]
pub enum CalendarCmd {
    /// Check a calendar file and show how far it reaches (exit 2 when it is invalid).
    Check(CheckArgs),
    /// Ask every running service to reload the calendar file (audited; a bad file is refused
    /// and the running calendar stays). Needs an operator token when the APIs require tokens.
    Reload(ReloadArgs),
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The file to check (default: `paths.calendar` of the configuration).
    #[arg(long)]
    file: Option<PathBuf>,
    /// Print a JSON object as the last line.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub struct ReloadArgs {
    /// An operator's bearer token (`xinfang tokens create --role operator`).
    #[arg(long, env = "XF_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Base URLs of the services to reload (default: `http.host` with the five service ports).
    #[arg(long = "url")]
    urls: Vec<String>,
}

pub async fn run(c: CalendarCmd) -> anyhow::Result<ExitCode> {
    match c {
        CalendarCmd::Check(a) => check(a),
        CalendarCmd::Reload(a) => reload(a).await,
    }
}

fn check(a: CheckArgs) -> anyhow::Result<ExitCode> {
    let path = match a.file {
        Some(f) => f,
        None => xinfang_platform::config::load()?.platform.paths.calendar,
    };
    let (calendar, sha256) = match read_file(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: invalid calendar: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let coverage = calendar.coverage(today());
    println!("{}: valid, years {:?}", path.display(), calendar.years());
    println!("{}", coverage.message());
    if coverage.state != xinfang_domain::calendar::CoverageState::Ok {
        eprintln!("warning: the calendar runs out (warning from {WARN_DAYS} days before its end)");
    }
    if a.json {
        let v = json!({
            "path": path.display().to_string(),
            "sha256": sha256,
            "years": coverage.years,
            "covered_until": coverage.covered_until,
            "days_left": coverage.days_left,
            "state": coverage.state,
        });
        println!("{v}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The base URLs of `services` (in that order) from the configuration's `http.host` and ports
/// (a wildcard host is asked on 127.0.0.1).
pub(super) fn service_urls(services: &[&str]) -> anyhow::Result<Vec<String>> {
    let h = xinfang_platform::config::load()?.platform.http;
    let host = match h.host.as_str() {
        "0.0.0.0" | "::" | "[::]" => "127.0.0.1".to_owned(),
        other => other.to_owned(),
    };
    services
        .iter()
        .map(|s| {
            let port = match *s {
                "intake" => h.intake_port,
                "routing" => h.routing_port,
                "supervision" => h.supervision_port,
                "review" => h.review_port,
                "notify" => h.notify_port,
                other => anyhow::bail!("no port configured for service {other}"),
            };
            Ok(format!("http://{host}:{port}"))
        })
        .collect()
}

async fn reload(a: ReloadArgs) -> anyhow::Result<ExitCode> {
    let urls = if a.urls.is_empty() {
        service_urls(&["intake", "routing", "supervision", "review", "notify"])?
    } else {
        a.urls
    };
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    let mut failed = false;
    for base in urls {
        let mut req = http.post(format!("{}/v1/calendar/reload", base.trim_end_matches('/')));
        if let Some(t) = &a.token {
            req = req.bearer_auth(t);
        }
        match req.send().await {
            Ok(r) => {
                let status = r.status();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                if status.is_success() {
                    println!(
                        "{base}: reloaded, years {} covered until {}{}",
                        body["years"],
                        body["coverage"]["covered_until"],
                        if body["changed"] == json!(false) {
                            " (unchanged)"
                        } else {
                            ""
                        }
                    );
                } else {
                    failed = true;
                    eprintln!(
                        "{base}: refused ({status}): {}",
                        body["error"]["message"].as_str().unwrap_or("no message")
                    );
                }
            }
            Err(e) => {
                failed = true;
                eprintln!("{base}: not reached: {e}");
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
