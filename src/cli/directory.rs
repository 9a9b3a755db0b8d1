//! `xinfang directory check`, `xinfang directory reload` and `xinfang nats-config`: the
//! department directory as data, reloaded in the running services without a restart, and the
//! nats-server permissions generated from it.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};
use xinfang_domain::directory::OrganRef;
use xinfang_routing::nats_config::{self, KeptPasswords, NatsConfigOptions};

#[derive(clap::Subcommand, Debug)]
pub enum Directory {
    /// Validate the directory file (default: paths.directory from the configuration).
    Check {
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Ask every running service that reads the directory (routing first, then intake,
    /// supervision, review, notify) to reload it: audited; a bad file, or one that drops a department still on
    /// running cases, is refused and the running directory stays (the services after a refusal
    /// are not asked). Needs an operator token when the APIs require tokens.
    Reload(ReloadArgs),
}

#[derive(clap::Args, Debug)]
pub struct ReloadArgs {
    /// An operator's bearer token (`xinfang tokens create --role operator`).
    #[arg(long, env = "XF_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Base URLs of the services to reload, in order (default: `http.host` with the ports of
    /// routing, intake, supervision, review and notify).
    #[arg(long = "url")]
    urls: Vec<String>,
    /// Then delete the durable feeds of departments the directory no longer has, when nothing
    /// is pending on them (a feed with messages waiting is kept and named). Runs with this
    /// command's NATS user, which must be allowed to delete consumers (`ops`); no service is.
    #[arg(long)]
    prune_feeds: bool,
}

/// The services that read the directory, routing first: its refusal (a department dropped
/// while on running cases) stops the others, so the services keep one directory.
pub const RELOADED_SERVICES: &[&str] = &["routing", "intake", "supervision", "review", "notify"];

fn directory_path(file: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    Ok(match file {
        Some(f) => f,
        None => xinfang_platform::config::load()?.platform.paths.directory,
    })
}

pub async fn run(cmd: Directory) -> anyhow::Result<ExitCode> {
    match cmd {
        Directory::Check { file } => check(file),
        Directory::Reload(a) => reload(a).await,
    }
}

fn check(file: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let path = directory_path(file)?;
    match xinfang_routing::directory::check(&path) {
        Ok(report) => {
            println!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{}: invalid directory: {e}", path.display());
            for p in e.problems() {
                eprintln!("  {p}");
            }
            Ok(ExitCode::from(2))
        }
    }
}

async fn reload(a: ReloadArgs) -> anyhow::Result<ExitCode> {
    let urls = if a.urls.is_empty() {
        super::calendar::service_urls(RELOADED_SERVICES)?
    } else {
        a.urls
    };
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    let mut failed = false;
    let mut feeds_left: Vec<String> = Vec::new();
    let mut urls = urls.into_iter();
    while let Some(base) = urls.next() {
        let mut req = http.post(format!(
            "{}/v1/directory/reload",
            base.trim_end_matches('/')
        ));
        if let Some(t) = &a.token {
            req = req.bearer_auth(t);
        }
        let r = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                failed = true;
                eprintln!("{base}: not reached: {e}");
                continue;
            }
        };
        let status = r.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            println!("{base}: does not read the directory (404), nothing to reload");
            continue;
        }
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            println!("{base}: {}", reloaded_line(&body));
            if let Some(left) = body["feeds_left"].as_array() {
                feeds_left.extend(left.iter().filter_map(Value::as_str).map(str::to_owned));
            }
            continue;
        }
        failed = true;
        eprintln!(
            "{base}: refused ({status}, {}): {}",
            body["error"]["code"].as_str().unwrap_or("?"),
            body["error"]["message"].as_str().unwrap_or("no message")
        );
        // The same file would be refused alike, or taken by some services and not others.
        let rest: Vec<String> = urls.by_ref().collect();
        if !rest.is_empty() {
            eprintln!(
                "not asked, so every service keeps the directory it runs: {}",
                rest.join(", ")
            );
        }
        break;
    }
    if a.prune_feeds && !failed && !feeds_left.is_empty() {
        feeds_left.sort();
        feeds_left.dedup();
        if !prune_feeds(&feeds_left).await? {
            failed = true;
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Deletes the feeds (`<county>:dept_<dept>`) with nothing pending and nothing awaiting an
/// acknowledgement; names the others. False when a deletion failed.
async fn prune_feeds(feeds: &[String]) -> anyhow::Result<bool> {
    let settings = xinfang_platform::config::load()?;
    let client = xinfang_platform::nats::connect(&settings.platform.nats, "xinfang-cli").await?;
    let js = xinfang_platform::nats::jetstream(client);
    let mut ok = true;
    for feed in feeds {
        let Some((county, consumer)) = feed.split_once(':') else {
            continue;
        };
        let county = xinfang_domain::county::CountyCode::parse(county)
            .map_err(|e| anyhow::anyhow!("feed {feed}: {}", e.message))?;
        let stream_name = xinfang_domain::subject::stream_name(&county);
        let stream = js
            .get_stream(&stream_name)
            .await
            .map_err(|e| anyhow::anyhow!("stream {stream_name}: {e}"))?;
        let info = match stream.consumer_info(consumer).await {
            Ok(i) => i,
            Err(_) => {
                println!("feed {feed}: already gone");
                continue;
            }
        };
        if info.num_pending > 0 || info.num_ack_pending > 0 {
            println!(
                "feed {feed}: kept, {} message(s) not yet taken and {} awaiting acknowledgement",
                info.num_pending, info.num_ack_pending
            );
            continue;
        }
        match stream.delete_consumer(consumer).await {
            Ok(_) => println!("feed {feed}: deleted (nothing was pending)"),
            Err(e) => {
                ok = false;
                eprintln!("feed {feed}: not deleted: {e}");
            }
        }
    }
    Ok(ok)
}

/// One line for a service's reload answer.
fn reloaded_line(body: &Value) -> String {
    let hash: String = body["hash"]
        .as_str()
        .unwrap_or("?")
        .chars()
        .take(12)
        .collect();
    let mut line = if body["changed"] == json!(true) {
        let changes: Vec<&str> = body["changes"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        format!("reloaded, sha256 {hash}…: {}", changes.join("; "))
    } else {
        format!("reloaded, sha256 {hash}… (unchanged)")
    };
    for (key, what) in [
        ("feeds_created", "feeds created"),
        (
            "feeds_left",
            "feeds of departments no longer in the directory (kept)",
        ),
    ] {
        if let Some(list) = body[key].as_array().filter(|l| !l.is_empty()) {
            let names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
            line.push_str(&format!("; {what}: {}", names.join(", ")));
        }
    }
    line
}

#[derive(clap::Args, Debug)]
pub struct NatsConfigArgs {
    /// Directory file (default: paths.directory from the configuration).
    #[arg(long)]
    file: Option<PathBuf>,
    /// Write the nats-server configuration here (default: stdout). An earlier configuration in
    /// this file lends its password hashes to the users whose password is kept, so only the
    /// lines of users that changed differ.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Directory of the per-user credential files (`<user>.json`, mode 0600): passwords of
    /// users with a file there are kept, every other user gets a new one. Required.
    #[arg(long, value_name = "DIR")]
    credentials: Option<PathBuf>,
    /// Give this user a new password, keeping everyone else's: a department `county:dept`
    /// (e.g. `411282:rsj`) or a user name (`svc_routing`, `ops`). Repeatable.
    #[arg(long, value_name = "COUNTY:DEPT|USER")]
    rotate: Vec<String>,
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 4222)]
    port: u16,
    #[arg(long, default_value = "/var/lib/nats/jetstream")]
    store_dir: PathBuf,
}

/// The user a `--rotate` value names: `county:dept` is a department's user.
fn rotated_user(raw: &str) -> anyhow::Result<String> {
    if raw.contains(':') {
        let organ = OrganRef::parse(raw).map_err(|e| anyhow::anyhow!("--rotate {raw}: {e}"))?;
        Ok(nats_config::department_user(&organ))
    } else {
        Ok(raw.to_owned())
    }
}

pub fn nats_config(a: NatsConfigArgs) -> anyhow::Result<ExitCode> {
    let path = directory_path(a.file)?;
    let Some(cred_dir) = a.credentials else {
        eprintln!(
            "error: --credentials DIR is required: the configuration holds only password hashes, \
             the passwords go to one file per user there"
        );
        return Ok(ExitCode::from(2));
    };
    let opts = NatsConfigOptions {
        host: a.host,
        port: a.port,
        store_dir: a.store_dir,
        ..Default::default()
    };
    let mut kept = match KeptPasswords::read_dir(&cred_dir) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    // The configuration being replaced: unchanged users keep their line (bcrypt salts anew).
    if let Some(out) = &a.out {
        match std::fs::read_to_string(out) {
            Ok(text) => {
                kept.keep_hashes_from_config(&text);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                eprintln!("error: {}: {e}", out.display());
                return Ok(ExitCode::from(2));
            }
        }
    }
    let mut rotated = Vec::new();
    for raw in &a.rotate {
        let user = match rotated_user(raw) {
            Ok(u) => u,
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(ExitCode::from(2));
            }
        };
        if !kept.remove(&user) {
            eprintln!(
                "error: --rotate {raw}: no credential file {} to replace (rotation keeps every \
                 other user's password: point --credentials at the earlier generation's files)",
                nats_config::credential_path(&cred_dir, &user).display()
            );
            return Ok(ExitCode::from(2));
        }
        rotated.push(user);
    }
    let loaded = match xinfang_routing::directory::load(&path) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{}: {e:#}", path.display());
            return Ok(ExitCode::from(2));
        }
    };
    let generated = match nats_config::generate_keeping(&loaded.directory, &opts, &kept) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("{}: {e:#}", path.display());
            return Ok(ExitCode::from(2));
        }
    };
    for user in &rotated {
        if generated.user(user).is_none() {
            eprintln!("error: --rotate: {user} is not a user of this directory's configuration");
            return Ok(ExitCode::from(2));
        }
    }
    let total = generated.users().count();
    let kept_n = generated.users().filter(|c| kept.contains(&c.user)).count();
    // Credential files first: a configuration whose passwords were lost locks everyone out.
    nats_config::write_credential_files(&cred_dir, &generated)?;
    match &a.out {
        Some(out) => std::fs::write(out, &generated.config)?,
        None => print!("{}", generated.config),
    }
    let mut summary = format!(
        "{} users ({} services, {} departments): {} kept, {} new",
        total,
        generated.services.len(),
        generated.departments.len(),
        kept_n,
        total - kept_n
    );
    if !rotated.is_empty() {
        summary.push_str(&format!(" (rotated: {})", rotated.join(", ")));
    }
    let target = a
        .out
        .as_ref()
        .map_or_else(|| "stdout".to_owned(), |o| o.display().to_string());
    // The summary goes to stderr when the configuration went to stdout.
    let line = format!(
        "wrote {target} and {} credential files in {}; {summary}",
        total,
        cred_dir.display()
    );
    if a.out.is_some() {
        println!("{line}");
    } else {
        eprintln!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
