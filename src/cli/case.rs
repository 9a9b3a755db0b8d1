//! `xinfang case show <case_no>`: a case and its timeline, from intake's API.

use std::process::ExitCode;

use serde_json::Value;

#[derive(clap::Subcommand, Debug)]
pub enum Case {
    /// Show a case's status, classification, deadlines and timeline.
    Show {
        case_no: String,
        /// Intake's base URL (default: from the configuration).
        #[arg(long)]
        api: Option<String>,
        /// Bearer token (or set XF_TOKEN).
        #[arg(long, env = "XF_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Why you read this case (recorded in the audit log).
        #[arg(long, default_value = "case handling")]
        reason: String,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: Case) -> anyhow::Result<ExitCode> {
    let Case::Show {
        case_no,
        api,
        token,
        reason,
        json,
    } = cmd;
    let base = match api {
        Some(a) => a,
        None => {
            let s = xinfang_platform::config::load()?;
            format!(
                "http://{}:{}",
                s.platform.http.host, s.platform.http.intake_port
            )
        }
    };
    let resp = reqwest_get(
        &format!("{base}/v1/cases/{case_no}"),
        token.as_deref(),
        &reason,
    )
    .await?;
    let (status, v) = resp;
    if status == 404 {
        eprintln!("no case {case_no}");
        return Ok(ExitCode::from(2));
    }
    if status == 401 {
        eprintln!("error: a token is required: --token or XF_TOKEN (xinfang tokens create)");
        return Ok(ExitCode::from(2));
    }
    if status != 200 {
        eprintln!(
            "error: {}",
            v["error"]["message"].as_str().unwrap_or("request failed")
        );
        return Ok(ExitCode::from(if status < 500 { 2 } else { 1 }));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let s = |k: &str| v[k].as_str().unwrap_or("-").to_owned();
    println!(
        "{}  {}  ({} via {})",
        s("case_no"),
        s("status"),
        s("county"),
        s("channel")
    );
    println!(
        "type {}  branch {}  diversion {}  department {} (suggested {})",
        s("petition_type"),
        s("branch"),
        s("diversion"),
        s("current_department"),
        s("suggested_department")
    );
    if v["overdue"].as_bool() == Some(true) {
        println!("OVERDUE");
    }
    if let Some(d) = v["deadlines"].as_object() {
        for (k, x) in d {
            println!(
                "deadline {k}: due {} ({})",
                x["due"].as_str().unwrap_or("-"),
                x["state"].as_str().unwrap_or("-")
            );
        }
    }
    println!("timeline:");
    for e in v["timeline"].as_array().into_iter().flatten() {
        println!(
            "  {}  {}",
            e["at"].as_str().unwrap_or(""),
            e["summary"].as_str().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn reqwest_get(url: &str, token: Option<&str>, reason: &str) -> anyhow::Result<(u16, Value)> {
    let mut req = reqwest::Client::new()
        .get(url)
        .header("x-access-reason", reason);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.map_err(|e| {
        anyhow::anyhow!("cannot reach intake at {url}: {e} (is `xinfang up` running?)")
    })?;
    let status = r.status().as_u16();
    Ok((status, r.json().await.unwrap_or(Value::Null)))
}
