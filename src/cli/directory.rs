//! `xinfang directory check` and `xinfang nats-config`: the department directory as data.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use xinfang_routing::nats_config::{NatsConfigOptions, generate_from_file};

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
    /// Write every user's generated password here (mode 0600); required with --out.
    #[arg(long)]
    credentials: Option<PathBuf>,
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 4222)]
    port: u16,
    #[arg(long, default_value = "/var/lib/nats/jetstream")]
    store_dir: PathBuf,
}

pub fn nats_config(a: NatsConfigArgs) -> anyhow::Result<ExitCode> {
    let path = directory_path(a.file)?;
    let opts = NatsConfigOptions {
        host: a.host,
        port: a.port,
        store_dir: a.store_dir,
        ..Default::default()
    };
    let generated = match generate_from_file(&path, &opts) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("{}: {e:#}", path.display());
            return Ok(ExitCode::from(2));
        }
    };
    let mut creds = String::from("# user\tpassword\tinbox prefix — keep secret\n");
    for c in generated
        .services
        .values()
        .chain(std::iter::once(&generated.operator))
        .chain(generated.departments.values())
    {
        creds.push_str(&format!(
            "{}\t{}\t{}\n",
            c.user,
            c.password,
            c.inbox_prefix.as_deref().unwrap_or("_INBOX")
        ));
    }
    match a.out {
        Some(out) => {
            let Some(cred_path) = a.credentials else {
                eprintln!(
                    "error: --credentials FILE is required with --out (passwords are generated)"
                );
                return Ok(ExitCode::from(2));
            };
            std::fs::write(&out, &generated.config)?;
            write_private(&cred_path, &creds)?;
            println!(
                "wrote {} ({} service users, {} department users) and {}",
                out.display(),
                generated.services.len(),
                generated.departments.len(),
                cred_path.display()
            );
        }
        None => {
            print!("{}", generated.config);
            if let Some(cred_path) = a.credentials {
                write_private(&cred_path, &creds)?;
            } else {
                eprintln!(
                    "note: passwords are in the config only; use --credentials FILE to keep a list"
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}
