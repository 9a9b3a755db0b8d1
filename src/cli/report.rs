//! `xinfang report weekly --week 2026-W49 [--county 411202] [--format html|csv|json] [--out FILE]`:
//! the weekly analysis (周研判) through supervision's HTTP API: the stored report, else one
//! computed on the spot (a staff token of the county, the city's code for the whole
//! deployment). `--regenerate` generates and stores it again (a supervisor's or operator's
//! token), e-mailing it when it is the week's first complete one or with `--resend`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};
use xinfang_domain::weekly_report::IsoWeek;

#[derive(clap::Subcommand, Debug)]
pub enum Report {
    /// The weekly analysis of a county (or, with the city's code, the whole deployment).
    Weekly(WeeklyArgs),
}

#[derive(clap::Args, Debug)]
pub struct WeeklyArgs {
    /// ISO week, e.g. 2026-W49 (China time); default: last week.
    #[arg(long)]
    week: Option<String>,
    /// County (division code), or the city's for the whole deployment; default: the token's
    /// scope.
    #[arg(long)]
    county: Option<String>,
    /// html (the page with its charts), csv or json (the figures).
    #[arg(long, default_value = "html", value_parser = ["html", "csv", "json"])]
    format: String,
    /// Write here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Generate and store it now (e-mailed if it is the week's first complete one).
    #[arg(long)]
    regenerate: bool,
    /// With --regenerate: e-mail it to the configured leaders again.
    #[arg(long, requires = "regenerate")]
    resend: bool,
    /// A staff bearer token (`xinfang tokens create`); generating needs a supervisor's or
    /// operator's.
    #[arg(long, env = "XF_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Supervision's base URL (default: `http.host` and `http.supervision_port`).
    #[arg(long)]
    api: Option<String>,
}

pub async fn run(r: Report) -> anyhow::Result<ExitCode> {
    match r {
        Report::Weekly(a) => weekly(a).await,
    }
}

/// Percent-encodes a query value (anything but ASCII letters, digits and `-`).
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn refused(status: reqwest::StatusCode, body: &[u8]) -> ExitCode {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = v["error"]["message"].as_str().unwrap_or("request failed");
    let field = v["error"]["field"]
        .as_str()
        .map(|f| format!("{f}: "))
        .unwrap_or_default();
    match status.as_u16() {
        401 => eprintln!(
            "error: a staff token is required: --token or XF_TOKEN (xinfang tokens create)"
        ),
        403 => eprintln!("error: refused: {message}"),
        _ => eprintln!("error: {field}{message} ({status})"),
    }
    if status.is_client_error() {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

async fn weekly(a: WeeklyArgs) -> anyhow::Result<ExitCode> {
    if let Some(w) = &a.week
        && let Err(e) = IsoWeek::parse(w)
    {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(2));
    }
    let base = match a.api {
        Some(api) => api.trim_end_matches('/').to_owned(),
        None => super::calendar::service_urls(&["supervision"])?
            .pop()
            .ok_or_else(|| anyhow::anyhow!("no supervision URL configured"))?,
    };
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()?;
    let auth = |req: reqwest::RequestBuilder| match &a.token {
        Some(t) => req.bearer_auth(t),
        None => req,
    };
    let resp = if a.regenerate {
        let body = json!({
            "week": a.week,
            "county": a.county,
            "format": a.format,
            "resend": a.resend,
        });
        auth(http.post(format!("{base}/v1/reports/weekly")).json(&body))
    } else {
        let mut query = vec![format!("format={}", encode(&a.format))];
        if let Some(w) = &a.week {
            query.push(format!("week={}", encode(w)));
        }
        if let Some(c) = &a.county {
            query.push(format!("county={}", encode(c)));
        }
        auth(http.get(format!("{base}/v1/reports/weekly?{}", query.join("&"))))
    }
    .send()
    .await
    .map_err(|e| anyhow::anyhow!("{base}: not reached: {e}"))?;
    let status = resp.status();
    let bytes = resp.bytes().await?;
    if !status.is_success() {
        return Ok(refused(status, &bytes));
    }
    let bytes: Vec<u8> = if a.format == "json" {
        // Pretty, for reading and diffing.
        let v: Value = serde_json::from_slice(&bytes)?;
        let mut s = serde_json::to_vec_pretty(&v)?;
        s.push(b'\n');
        s
    } else {
        bytes.to_vec()
    };
    match &a.out {
        Some(path) => {
            let tmp = path.with_extension("part");
            std::fs::write(&tmp, &bytes)
                .and_then(|()| std::fs::rename(&tmp, path))
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            eprintln!("wrote {} ({} bytes)", path.display(), bytes.len());
        }
        None => std::io::stdout().write_all(&bytes)?,
    }
    Ok(ExitCode::SUCCESS)
}
