//! `xinfang list …`: listed matters (清单) through supervision's API — the lists per source,
//! listing a case, milestones, weekly progress, closing, and the listed KPIs.

use std::process::ExitCode;

use serde_json::{Value, json};

#[derive(clap::Args, Debug)]
pub struct Conn {
    /// Supervision's base URL (default: from the configuration).
    #[arg(long, global = true)]
    api: Option<String>,
    /// Bearer token (or set XF_TOKEN).
    #[arg(long, env = "XF_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct List {
    #[command(flatten)]
    conn: Conn,
    #[command(subcommand)]
    cmd: ListCmd,
}

#[derive(clap::Subcommand, Debug)]
enum ListCmd {
    /// The lists per source, each matter with its milestones and latest weekly progress.
    Show {
        #[arg(long)]
        source: Option<String>,
        #[arg(long)]
        county: Option<String>,
        /// Closed matters too.
        #[arg(long)]
        closed: bool,
        #[arg(long)]
        json: bool,
    },
    /// List a registered case as a matter of a listed source.
    Add {
        case_no: String,
        #[arg(long)]
        source: String,
        #[arg(long)]
        title: Option<String>,
        /// A milestone `NAME=YYYY-MM-DD` (repeatable; default: the configured ones).
        #[arg(long = "milestone")]
        milestones: Vec<String>,
    },
    /// Record this week's progress (项目化推进): who, what was done, next step, when due.
    Progress {
        case_no: String,
        #[arg(long)]
        who: String,
        #[arg(long)]
        done: String,
        #[arg(long = "next")]
        next_step: String,
        #[arg(long)]
        due: Option<String>,
    },
    /// Mark a milestone reached (its id from `xinfang list show --json`).
    Reached {
        case_no: String,
        milestone: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Close a listed matter.
    Close {
        case_no: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// The listed matters' own KPIs per source.
    Kpis {
        #[arg(long)]
        source: Option<String>,
        #[arg(long)]
        county: Option<String>,
    },
}

fn base(conn: &Conn) -> anyhow::Result<String> {
    Ok(match &conn.api {
        Some(a) => a.trim_end_matches('/').to_owned(),
        None => {
            let s = xinfang_platform::config::load()?;
            format!(
                "http://{}:{}",
                s.platform.http.host, s.platform.http.supervision_port
            )
        }
    })
}

async fn call(
    conn: &Conn,
    method: reqwest::Method,
    path: &str,
    query: &[(&str, String)],
    body: Option<Value>,
) -> anyhow::Result<(u16, Value)> {
    let url = reqwest::Url::parse_with_params(&format!("{}{path}", base(conn)?), query)?;
    let mut req = reqwest::Client::new().request(method, url.clone());
    if let Some(t) = &conn.token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.map_err(|e| {
        anyhow::anyhow!("cannot reach supervision at {url}: {e} (is `xinfang up` running?)")
    })?;
    let status = r.status().as_u16();
    Ok((status, r.json().await.unwrap_or(Value::Null)))
}

/// Prints an error answer; the exit code says whose fault it was.
fn failed(status: u16, v: &Value) -> ExitCode {
    let e = &v["error"];
    let field = e["field"]
        .as_str()
        .map(|f| format!(" ({f})"))
        .unwrap_or_default();
    eprintln!(
        "error {status}{field}: {}",
        e["message"].as_str().unwrap_or("request failed")
    );
    if status == 401 {
        eprintln!("a token is required: --token or XF_TOKEN (xinfang tokens create)");
    }
    if (400..500).contains(&status) {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

fn opt(query: &mut Vec<(&'static str, String)>, k: &'static str, v: Option<String>) {
    if let Some(v) = v {
        query.push((k, v));
    }
}

pub async fn run(l: List) -> anyhow::Result<ExitCode> {
    use reqwest::Method;
    let c = &l.conn;
    let (status, v) = match l.cmd {
        ListCmd::Show {
            source,
            county,
            closed,
            json,
        } => {
            let mut q = Vec::new();
            opt(&mut q, "source", source);
            opt(&mut q, "county", county);
            if closed {
                q.push(("closed", "true".into()));
            }
            let (status, v) = call(c, Method::GET, "/v1/listed", &q, None).await?;
            if status == 200 {
                if json {
                    println!("{}", serde_json::to_string_pretty(&v)?);
                } else {
                    print!("{}", render_lists(&v));
                }
                return Ok(ExitCode::SUCCESS);
            }
            (status, v)
        }
        ListCmd::Add {
            case_no,
            source,
            title,
            milestones,
        } => {
            let mut ms = Vec::new();
            for m in &milestones {
                let Some((name, due)) = m.rsplit_once('=') else {
                    eprintln!("error: --milestone takes NAME=YYYY-MM-DD, got `{m}`");
                    return Ok(ExitCode::from(2));
                };
                ms.push(json!({"name": name, "due": due}));
            }
            let body =
                json!({"case_no": case_no, "source": source, "title": title, "milestones": ms});
            call(c, Method::POST, "/v1/listed", &[], Some(body)).await?
        }
        ListCmd::Progress {
            case_no,
            who,
            done,
            next_step,
            due,
        } => {
            let body = json!({"who": who, "done": done, "next_step": next_step, "due": due});
            call(
                c,
                Method::POST,
                &format!("/v1/listed/{case_no}/progress"),
                &[],
                Some(body),
            )
            .await?
        }
        ListCmd::Reached {
            case_no,
            milestone,
            note,
        } => {
            call(
                c,
                Method::POST,
                &format!("/v1/listed/{case_no}/milestones/{milestone}/done"),
                &[],
                Some(json!({"note": note})),
            )
            .await?
        }
        ListCmd::Close { case_no, note } => {
            call(
                c,
                Method::POST,
                &format!("/v1/listed/{case_no}/close"),
                &[],
                Some(json!({"note": note})),
            )
            .await?
        }
        ListCmd::Kpis { source, county } => {
            let mut q = Vec::new();
            opt(&mut q, "source", source);
            opt(&mut q, "county", county);
            call(c, Method::GET, "/v1/listed/kpis", &q, None).await?
        }
    };
    if (200..300).contains(&status) {
        println!("{}", serde_json::to_string_pretty(&v)?);
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(failed(status, &v))
    }
}

/// An RFC 3339 time as its day in China time (the day a deadline is due); as given if it
/// does not parse.
fn china_day(raw: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(raw).map_or_else(
        |_| raw.to_owned(),
        |t| {
            t.with_timezone(&xinfang_domain::deadline::CST)
                .format("%Y-%m-%d")
                .to_string()
        },
    )
}

/// The lists as text: per source, one line per matter and one per milestone.
fn render_lists(v: &Value) -> String {
    let mut out = format!("week {}\n", v["week"].as_str().unwrap_or("?"));
    for list in v["lists"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n{} ({}): {} matter(s)\n",
            list["name"].as_str().unwrap_or(""),
            list["source"].as_str().unwrap_or(""),
            list["count"]
        ));
        for item in list["items"].as_array().into_iter().flatten() {
            let progress = if item["progress_this_week"].as_bool() == Some(true) {
                "progress this week"
            } else {
                "NO progress this week"
            };
            out.push_str(&format!(
                "  {}  {}  [{}; {} overdue milestone(s)]\n",
                item["case_no"].as_str().unwrap_or(""),
                item["title"].as_str().unwrap_or(""),
                progress,
                item["overdue_milestones"]
            ));
            for m in item["milestones"].as_array().into_iter().flatten() {
                let state = if m["done_at"].is_string() {
                    "done"
                } else {
                    "open"
                };
                out.push_str(&format!(
                    "    - {} due {} ({state})\n",
                    m["name"].as_str().unwrap_or(""),
                    china_day(m["due_at"].as_str().unwrap_or(""))
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_render_each_matter_and_milestone() {
        let v = json!({"week": "2026-W49", "lists": [{"source": "provincial_joint",
            "name": "省联席办交办", "count": 1, "items": [{"case_no": "XF-411202-2026-000001",
            "title": "征地补偿", "progress_this_week": false, "overdue_milestones": 1,
            "milestones": [{"name": "签收交办", "due_at": "2026-12-01T00:00:00Z",
                            "done_at": null}]}]}]});
        let text = render_lists(&v);
        assert!(
            text.contains("省联席办交办 (provincial_joint): 1 matter(s)"),
            "{text}"
        );
        assert!(text.contains("NO progress this week"), "{text}");
        // Due days in China time: midnight UTC is 08:00 there, the same day.
        assert!(text.contains("签收交办 due 2026-12-01 (open)"), "{text}");
    }
}
