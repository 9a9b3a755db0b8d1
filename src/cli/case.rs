//! `xinfang case show <case_no>`: a case and its timeline, from intake's API.

use std::process::ExitCode;

use serde_json::Value;

#[derive(clap::Subcommand, Debug)]
pub enum Case {
    /// Show a case's status, classification, every deadline (due time and state), the
    /// decisions served (and where and by when they can be appealed) and the timeline.
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
    print!("{}", render(&v));
    Ok(ExitCode::SUCCESS)
}

/// A time of the registry (RFC 3339) as China time, `YYYY-MM-DD HH:MM`.
fn local(raw: Option<&str>) -> String {
    raw.and_then(|r| chrono::DateTime::parse_from_rfc3339(r).ok())
        .map(|t| {
            t.with_timezone(&xinfang_domain::deadline::CST)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|| "-".to_owned())
}

/// Deadline codes in reading order: D1..D11 by number, then the others.
fn deadline_order(code: &str) -> (u32, String) {
    let n = code
        .strip_prefix('D')
        .and_then(|d| d.split(':').next())
        .and_then(|d| d.parse::<u32>().ok())
        .unwrap_or(100);
    (n, code.to_owned())
}

/// The text `xinfang case show` prints for intake's staff view of a case: status,
/// classification, every deadline with its due time and state, the decisions served and what
/// lies against them, and the timeline.
pub fn render(v: &Value) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let s = |k: &str| v[k].as_str().unwrap_or("-").to_owned();
    let _ = writeln!(
        out,
        "{}  {}  ({} via {})",
        s("case_no"),
        s("status"),
        s("county"),
        s("channel")
    );
    let _ = writeln!(
        out,
        "type {}  branch {}  diversion {}  department {} (suggested {})",
        s("petition_type"),
        s("branch"),
        s("diversion"),
        s("current_department"),
        s("suggested_department")
    );
    if v["overdue"].as_bool() == Some(true) {
        let _ = writeln!(out, "OVERDUE");
    }
    let mut deadlines: Vec<(&String, &Value)> = v["deadlines"]
        .as_object()
        .map(|d| d.iter().collect())
        .unwrap_or_default();
    deadlines.sort_by_key(|(k, _)| deadline_order(k));
    if deadlines.is_empty() {
        let _ = writeln!(out, "deadlines: none known yet");
    } else {
        let _ = writeln!(out, "deadlines:");
    }
    for (k, x) in deadlines {
        let mut line = format!(
            "  {k:<12} due {}  {}",
            local(x["due"].as_str()),
            x["state"].as_str().unwrap_or("-")
        );
        if x["provisional"].as_bool() == Some(true) {
            line.push_str(" (provisional)");
        }
        if let Some(at) = x["closed_at"].as_str() {
            let _ = write!(
                line,
                "  closed {} ({})",
                local(Some(at)),
                x["reason"].as_str().unwrap_or("-")
            );
        }
        if let Some(d) = x["department"].as_str() {
            let _ = write!(line, "  [{d}]");
        }
        let _ = writeln!(out, "{line}");
    }
    let decisions = v["decisions"].as_array().cloned().unwrap_or_default();
    if !decisions.is_empty() {
        let _ = writeln!(out, "decisions:");
    }
    for d in &decisions {
        let mut line = format!(
            "  {} by {}: {} (served {})",
            d["name"].as_str().unwrap_or("-"),
            d["by_name"].as_str().unwrap_or("-"),
            d["outcome_zh"]
                .as_str()
                .or(d["outcome"].as_str())
                .unwrap_or("-"),
            d["served_on"].as_str().unwrap_or("-")
        );
        let a = &d["appeal"];
        if a.is_object() {
            let _ = write!(
                line,
                "; {} to {} by {}",
                a["name"].as_str().unwrap_or("-"),
                a["organ_name"].as_str().unwrap_or("-"),
                local(a["due"].as_str())
            );
        } else if d["final"].as_bool() == Some(true) {
            line.push_str("; final");
        }
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "timeline:");
    for e in v["timeline"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "  {}  {}",
            e["at"].as_str().unwrap_or(""),
            e["summary"].as_str().unwrap_or("")
        );
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Issue #20: `case show` prints every deadline with its due time and how it stands, and
    /// the decisions with what lies against them.
    #[test]
    fn show_prints_every_deadline_and_decision() {
        let v = json!({
            "case_no": "XF-411282-2026-000001", "status": "review_decided",
            "deadlines": {
                "D10": {"due": "2026-07-20T15:59:59Z", "state": "pending"},
                "D1": {"due": "2026-03-16T15:59:59Z", "state": "met",
                       "closed_at": "2026-03-03T02:00:00Z", "reason": "assigned",
                       "department": "xfj"},
                "D5": {"due": "2026-05-04T15:59:59Z", "state": "met_late", "provisional": true,
                       "closed_at": "2026-05-06T02:00:00Z", "reason": "replied"},
            },
            "decisions": [
                {"name": "信访处理意见书", "by_name": "灵宝市人社局", "outcome_zh": "不予支持",
                 "served_on": "2026-05-06",
                 "appeal": {"name": "复查", "organ_name": "灵宝市人民政府",
                            "due": "2026-06-05T15:59:59Z"}},
                {"name": "复核意见", "by_name": "三门峡市人民政府", "outcome_zh": "维持",
                 "served_on": "2026-07-10", "appeal": null, "final": true},
            ],
            "timeline": [],
        });
        let out = render(&v);
        let lines: Vec<&str> = out.lines().collect();
        let d1 = lines
            .iter()
            .position(|l| l.trim_start().starts_with("D1 "))
            .unwrap();
        let d5 = lines
            .iter()
            .position(|l| l.trim_start().starts_with("D5 "))
            .unwrap();
        let d10 = lines
            .iter()
            .position(|l| l.trim_start().starts_with("D10"))
            .unwrap();
        assert!(d1 < d5 && d5 < d10, "{out}");
        assert!(
            lines[d1].contains("due 2026-03-16 23:59")
                && lines[d1].contains("met")
                && lines[d1].contains("closed 2026-03-03 10:00 (assigned)"),
            "{out}"
        );
        assert!(lines[d5].contains("met_late (provisional)"), "{out}");
        assert!(lines[d10].contains("pending"), "{out}");
        assert!(
            out.contains("复查 to 灵宝市人民政府 by 2026-06-05 23:59"),
            "{out}"
        );
        assert!(out.contains("复核意见 by 三门峡市人民政府: 维持 (served 2026-07-10); final"));
        let none = render(&json!({"deadlines": {}}));
        assert!(none.contains("deadlines: none known yet"), "{none}");
    }
}
