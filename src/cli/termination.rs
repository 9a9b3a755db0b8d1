//! `xinfang termination export` and `xinfang termination import`: the provincial
//! terminated-matters registry (省级终结库, issue #15 item 6; the format `xf-termination/1` is
//! documented in docs/termination-registry.md), through the review service's operator API.
//!
//! Export writes `terminations-<from>-<to>.jsonl` and `.csv` into `--out`, `<from>`/`<to>` the
//! export numbers of the first and last matter in the file, and keeps its place in
//! `.xf-termination-export.json` there: a rerun writes only what was terminated (or first
//! exported) since, and a matter exported again comes out byte for byte the same. The files
//! of an interrupted run (written but not yet recorded in the state file) are removed and
//! written again on the next run.
//!
//! Import reads the province's list (JSON lines, or CSV with the header line), checks every
//! line here and then on the server without storing anything (each error names the line and
//! the field), and only then stores it; importing the same file again changes nothing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use xinfang_domain::termination_registry::{FORMAT, Record, csv_header, parse_file};

#[derive(clap::Subcommand, Debug)]
pub enum Termination {
    /// Export this deployment's terminated matters (JSON lines and CSV) into a directory; a
    /// rerun continues after the last matter written. Needs an operator token.
    Export(ExportArgs),
    /// Import the province's list of terminated matters (JSON lines or CSV): every line is
    /// checked before anything is stored. Needs an operator token covering the deployment.
    Import(ImportArgs),
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Matters terminated on or after this day (China time); required for a new directory,
    /// and the same as before for one exported into already.
    #[arg(long)]
    since: Option<NaiveDate>,
    /// The directory to write into (created when missing).
    #[arg(long)]
    out: PathBuf,
    /// The county whose matters to export (default: the token's scope).
    #[arg(long)]
    county: Option<String>,
    /// Matters per request.
    #[arg(long, default_value_t = 200)]
    page: i64,
    /// An operator's bearer token (`xinfang tokens create --role operator`).
    #[arg(long, env = "XF_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The review service's base URL (default: `http.host` and `http.review_port`).
    #[arg(long)]
    api: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The province's list: JSON lines, or CSV (by a `.csv` name or the header line).
    #[arg(long)]
    file: PathBuf,
    /// The list's label recorded with each matter (default: the file name).
    #[arg(long)]
    source: Option<String>,
    /// An operator's bearer token (`xinfang tokens create --role operator`).
    #[arg(long, env = "XF_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The review service's base URL (default: `http.host` and `http.review_port`).
    #[arg(long)]
    api: Option<String>,
}

pub async fn run(t: Termination) -> anyhow::Result<ExitCode> {
    match t {
        Termination::Export(a) => export(a).await,
        Termination::Import(a) => import(a).await,
    }
}

/// Where an export directory stands.
const STATE_FILE: &str = ".xf-termination-export.json";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct ExportState {
    format: String,
    since: Option<NaiveDate>,
    county: Option<String>,
    /// The export number of the last matter written.
    after: i64,
    /// Matters written so far.
    exported: u64,
    files: Vec<String>,
}

fn base_url(api: Option<String>) -> anyhow::Result<String> {
    match api {
        Some(a) => Ok(a.trim_end_matches('/').to_owned()),
        None => super::calendar::service_urls(&["review"])?
            .pop()
            .ok_or_else(|| anyhow::anyhow!("no review URL configured")),
    }
}

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()?)
}

/// A refused request: its message, and the exit code (2 for the caller's mistakes).
fn refused(status: reqwest::StatusCode, body: &Value) -> ExitCode {
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or("request failed");
    match status.as_u16() {
        401 => eprintln!(
            "error: an operator's token is required: --token or XF_TOKEN (xinfang tokens create --role operator)"
        ),
        403 => eprintln!("error: refused: {message}"),
        _ => eprintln!("error: {message} ({status})"),
    }
    if status.is_client_error() {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

/// `terminations-<from>-<to>.<ext>` → `<from>`.
fn first_number(name: &str) -> Option<i64> {
    let rest = name.strip_prefix("terminations-")?;
    let stem = rest
        .strip_suffix(".jsonl")
        .or_else(|| rest.strip_suffix(".csv"))?;
    stem.split_once('-')?.0.parse().ok()
}

fn file_name(from: i64, to: i64, ext: &str) -> String {
    format!("terminations-{from:06}-{to:06}.{ext}")
}

/// Writes `bytes` to `path` through a temporary file and a rename, synced.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

async fn export(a: ExportArgs) -> anyhow::Result<ExitCode> {
    if !(1..=500).contains(&a.page) {
        eprintln!("error: --page must be between 1 and 500");
        return Ok(ExitCode::from(2));
    }
    std::fs::create_dir_all(&a.out).map_err(|e| anyhow::anyhow!("{}: {e}", a.out.display()))?;
    if let Some(c) = &a.county
        && xinfang_domain::county::CountyCode::parse(c).is_err()
    {
        eprintln!("error: --county must be a 6-digit division code such as 411282");
        return Ok(ExitCode::from(2));
    }
    let state_path = a.out.join(STATE_FILE);
    let known = match std::fs::read(&state_path) {
        Ok(raw) => Some(serde_json::from_slice::<ExportState>(&raw).map_err(|e| {
            anyhow::anyhow!(
                "{}: not an export state file ({e}); remove it to start over",
                state_path.display()
            )
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => anyhow::bail!("{}: {e}", state_path.display()),
    };
    let mut state = match known {
        Some(s) => {
            if a.since.is_some_and(|d| Some(d) != s.since)
                || (a.county.is_some() && a.county != s.county)
            {
                eprintln!(
                    "error: {} was exported with --since {} and --county {}; use those, or another --out directory",
                    a.out.display(),
                    s.since.map_or("(none)".into(), |d| d.to_string()),
                    s.county.as_deref().unwrap_or("(the token's scope)")
                );
                return Ok(ExitCode::from(2));
            }
            s
        }
        None => {
            let Some(since) = a.since else {
                eprintln!("error: --since is required for a new export directory");
                return Ok(ExitCode::from(2));
            };
            ExportState {
                format: FORMAT.to_owned(),
                since: Some(since),
                county: a.county.clone(),
                ..Default::default()
            }
        }
    };
    // What an interrupted run left: partial files, and files not recorded in the state.
    for entry in std::fs::read_dir(&a.out)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let leftover = name.ends_with(".partial")
            || first_number(&name).is_some_and(|from| from > state.after);
        if leftover {
            eprintln!("removing {name}, left by an interrupted export");
            std::fs::remove_file(entry.path())?;
        }
    }

    let base = base_url(a.api)?;
    let http = client()?;
    let jsonl_tmp = a.out.join("terminations.jsonl.partial");
    let csv_tmp = a.out.join("terminations.csv.partial");
    let mut jsonl = std::io::BufWriter::new(std::fs::File::create(&jsonl_tmp)?);
    let mut csv = std::io::BufWriter::new(std::fs::File::create(&csv_tmp)?);
    writeln!(csv, "{}", csv_header())?;
    let mut cursor = state.after;
    let mut first: Option<i64> = None;
    let mut written = 0u64;
    loop {
        // Numbers, a date and a county code: nothing to escape.
        let mut query = format!("after={cursor}&limit={}", a.page);
        if let Some(since) = state.since {
            query.push_str(&format!("&since={since}"));
        }
        if let Some(county) = &state.county {
            query.push_str(&format!("&county={county}"));
        }
        let mut req = http.get(format!("{base}/v1/terminations/export?{query}"));
        if let Some(t) = &a.token {
            req = req.bearer_auth(t);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{base}: not reached: {e}"))?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            drop((jsonl, csv));
            let _ = std::fs::remove_file(&jsonl_tmp);
            let _ = std::fs::remove_file(&csv_tmp);
            return Ok(refused(status, &body));
        }
        if body["format"] != FORMAT {
            anyhow::bail!(
                "the service exports {}, this command writes {FORMAT}: use the same release",
                body["format"]
            );
        }
        let entries = body["entries"].as_array().cloned().unwrap_or_default();
        for e in &entries {
            let seq = e["seq"]
                .as_i64()
                .ok_or_else(|| anyhow::anyhow!("an entry without its export number"))?;
            let record = Record::from_json(&e["record"]).map_err(|err| {
                anyhow::anyhow!(
                    "the service sent matter #{seq} with {}: {}",
                    err.field,
                    err.message
                )
            })?;
            writeln!(jsonl, "{}", record.to_json_line())?;
            writeln!(csv, "{}", record.csv_row())?;
            first.get_or_insert(seq);
            cursor = seq;
            written += 1;
        }
        cursor = cursor.max(body["next"].as_i64().unwrap_or(cursor));
        if !entries.is_empty() {
            eprintln!("exported {written} (through #{cursor})");
        }
        if body["more"] != true {
            break;
        }
    }
    for w in [jsonl, csv] {
        let f = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
        f.sync_all()?;
    }
    let Some(from) = first else {
        std::fs::remove_file(&jsonl_tmp)?;
        std::fs::remove_file(&csv_tmp)?;
        println!(
            "nothing new in {} after #{} ({} exported before)",
            a.out.display(),
            state.after,
            state.exported
        );
        println!(
            "{}",
            json!({"exported": 0, "total": state.exported, "after": state.after, "files": []})
        );
        return Ok(ExitCode::SUCCESS);
    };
    let names = [
        file_name(from, cursor, "jsonl"),
        file_name(from, cursor, "csv"),
    ];
    std::fs::rename(&jsonl_tmp, a.out.join(&names[0]))?;
    std::fs::rename(&csv_tmp, a.out.join(&names[1]))?;
    state.after = cursor;
    state.exported += written;
    state.files.extend(names.iter().cloned());
    write_atomically(&state_path, &serde_json::to_vec_pretty(&state)?)?;
    println!(
        "exported {written} terminated matters (#{from}–#{cursor}) to {}: {} and {}",
        a.out.display(),
        names[0],
        names[1]
    );
    println!(
        "{}",
        json!({"exported": written, "total": state.exported, "after": cursor, "files": names})
    );
    Ok(ExitCode::SUCCESS)
}

/// Requests stay well under the API's 64 KiB body limit.
const MAX_BATCH_BYTES: usize = 48 * 1024;
const MAX_BATCH_RECORDS: usize = 50;

#[derive(Debug, Default, Deserialize)]
struct Counts {
    received: u64,
    new: u64,
    updated: u64,
    unchanged: u64,
    own: u64,
}

async fn import(a: ImportArgs) -> anyhow::Result<ExitCode> {
    let text = match std::fs::read_to_string(&a.file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {}: {e}", a.file.display());
            return Ok(ExitCode::from(2));
        }
    };
    let csv = a
        .file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let name = a.file.display().to_string();
    let mut records = Vec::new();
    let mut errors = 0usize;
    for parsed in parse_file(&text, csv) {
        match parsed {
            Ok(r) => records.push(r),
            Err((line, e)) => {
                errors += 1;
                if errors <= 50 {
                    eprintln!("error: {name}:{line}: {}: {}", e.field, e.message);
                }
            }
        }
    }
    if errors > 0 {
        eprintln!("{name}: {errors} line(s) refused; nothing imported");
        return Ok(ExitCode::from(2));
    }
    if records.is_empty() {
        println!("{name}: no records");
        return Ok(ExitCode::SUCCESS);
    }
    let source = a.source.clone().unwrap_or_else(|| {
        a.file
            .file_name()
            .map_or_else(|| name.clone(), |f| f.to_string_lossy().into_owned())
    });
    // Batches under the body limit.
    let mut batches: Vec<Vec<Value>> = vec![Vec::new()];
    let mut size = 0usize;
    for (line, r) in &records {
        let item = json!({"line": line, "record": r.to_value()});
        let len = item.to_string().len();
        let full = batches.last().is_some_and(|b| {
            !b.is_empty() && (b.len() >= MAX_BATCH_RECORDS || size + len > MAX_BATCH_BYTES)
        });
        if full {
            batches.push(Vec::new());
            size = 0;
        }
        size += len;
        if let Some(b) = batches.last_mut() {
            b.push(item);
        }
    }
    let base = base_url(a.api)?;
    let http = client()?;
    let mut totals = Counts::default();
    // First every batch is checked without storing anything, then stored.
    for dry_run in [true, false] {
        let mut sent = 0usize;
        for batch in &batches {
            let mut req = http
                .post(format!("{base}/v1/terminations/import"))
                .json(&json!({"source": source, "dry_run": dry_run, "records": batch}));
            if let Some(t) = &a.token {
                req = req.bearer_auth(t);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("{base}: not reached: {e}"))?;
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            if !status.is_success() {
                if status.as_u16() == 422 {
                    eprintln!(
                        "error: {name}: {}",
                        body["error"]["message"]
                            .as_str()
                            .unwrap_or("a record is refused")
                    );
                    if !dry_run {
                        eprintln!(
                            "the batches before it are stored; importing again stores the rest"
                        );
                    } else {
                        eprintln!("nothing imported");
                    }
                    return Ok(ExitCode::from(2));
                }
                return Ok(refused(status, &body));
            }
            sent += batch.len();
            if !dry_run {
                let c: Counts = serde_json::from_value(body).unwrap_or_default();
                totals.received += c.received;
                totals.new += c.new;
                totals.updated += c.updated;
                totals.unchanged += c.unchanged;
                totals.own += c.own;
                eprintln!("imported {sent} of {}", records.len());
            }
        }
    }
    println!(
        "{name}: {} matters: {} new, {} updated, {} unchanged, {} of this deployment's counties (skipped)",
        totals.received, totals.new, totals.updated, totals.unchanged, totals.own
    );
    println!(
        "{}",
        json!({"received": totals.received, "new": totals.new, "updated": totals.updated,
               "unchanged": totals.unchanged, "own": totals.own})
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_carry_the_export_numbers() {
        assert_eq!(file_name(1, 2, "jsonl"), "terminations-000001-000002.jsonl");
        assert_eq!(first_number("terminations-000003-000007.csv"), Some(3));
        assert_eq!(
            first_number("terminations-1234567-1234568.jsonl"),
            Some(1_234_567)
        );
        assert_eq!(first_number(".xf-termination-export.json"), None);
        assert_eq!(first_number("terminations.jsonl.partial"), None);
    }
}
