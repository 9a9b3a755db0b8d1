//! `xinfang submit --file petition.json`: registration over NATS request/reply.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;
use xinfang_domain::county::CountyCode;
use xinfang_domain::registration::RegistrationInput;
use xinfang_domain::subject;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Petition JSON (the body of POST /v1/petitions); "-" or absent reads stdin.
    #[arg(long, short)]
    file: Option<PathBuf>,
    /// Print the whole receipt as JSON.
    #[arg(long)]
    json: bool,
    /// Seconds to wait for intake's answer.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

pub async fn run(a: Args) -> anyhow::Result<ExitCode> {
    let mut raw = String::new();
    match a.file.as_deref() {
        Some(p) if p.as_os_str() != "-" => {
            raw = std::fs::read_to_string(p)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))?
        }
        _ => {
            std::io::stdin().read_to_string(&mut raw)?;
        }
    }
    let input: RegistrationInput = match serde_json::from_str(&raw) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: the petition file is not a valid registration: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let settings = xinfang_platform::config::load()?;
    let county = match input.county.as_str() {
        "unknown" => CountyCode::parse(&settings.platform.deployment.city)?,
        c => match CountyCode::parse(c) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(2));
            }
        },
    };
    let client = xinfang_platform::nats::connect(&settings.platform.nats, "xinfang-cli").await?;
    let subj = subject::command(&county, "intake", "register")?;
    let reply = tokio::time::timeout(
        Duration::from_secs(a.timeout),
        client.request(subj.to_string(), serde_json::to_vec(&input)?.into()),
    )
    .await
    .map_err(|_| {
        anyhow::anyhow!(
            "intake did not answer within {}s: is `xinfang up` running?",
            a.timeout
        )
    })?
    .map_err(|e| anyhow::anyhow!("request failed: {e} (is `xinfang up` running?)"))?;
    let v: Value = serde_json::from_slice(&reply.payload)?;
    if let Some(err) = v.get("error") {
        eprintln!(
            "refused: {}{}",
            err.get("field")
                .and_then(Value::as_str)
                .map(|f| format!("{f}: "))
                .unwrap_or_default(),
            err.get("message")
                .and_then(Value::as_str)
                .unwrap_or("unknown error")
        );
        return Ok(ExitCode::from(2));
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let c = &v["classification"];
    let s = |x: &Value| x.as_str().unwrap_or("-").to_owned();
    println!("case number:    {}", s(&v["case_no"]));
    println!(
        "query code:     {}  (give this to the petitioner)",
        s(&v["query_code"])
    );
    println!("status:         {}", s(&v["status"]));
    println!(
        "classification: type {}, branch {}, diversion {}, department {}, county {}, confidence {:.2}{}",
        s(&c["petition_type"]),
        s(&c["branch"]),
        s(&c["diversion"]),
        s(&c["department"]),
        s(&c["county"]),
        c["confidence"].as_f64().unwrap_or(0.0),
        if c["needs_triage"].as_bool() == Some(true) {
            "  (needs triage by a clerk)"
        } else {
            ""
        }
    );
    if let Some(r) = v.get("repeat").filter(|r| !r.is_null()) {
        println!(
            "repeat of:      {} ({}){}",
            s(&r["of"]),
            s(&r["disposition"]),
            if r["proposed"].as_bool() == Some(true) {
                "  (proposed: a clerk must confirm it before the petitioner is told)"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
