//! `xinfang directory check` and `xinfang nats-config`: the department directory as data.

use std::path::PathBuf;
use std::process::ExitCode;

use xinfang_domain::directory::OrganRef;
use xinfang_routing::nats_config::{self, KeptPasswords, NatsConfigOptions};

#[derive(clap::Subcommand, Debug)]
pub enum Directory {
    /// Validate the directory file (default: paths.directory from the configuration).
    Check {
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

fn directory_path(file: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    Ok(match file {
        Some(f) => f,
        None => xinfang_platform::config::load()?.platform.paths.directory,
    })
}

pub fn run(cmd: Directory) -> anyhow::Result<ExitCode> {
    let Directory::Check { file } = cmd;
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

#[derive(clap::Args, Debug)]
pub struct NatsConfigArgs {
    /// Directory file (default: paths.directory from the configuration).
    #[arg(long)]
    file: Option<PathBuf>,
    /// Write the nats-server configuration here (default: stdout).
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
