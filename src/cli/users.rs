//! `xinfang users create|list|passwd|disable|enable`: the console's staff accounts.

use std::io::BufRead;
use std::process::ExitCode;

use xinfang_console::users::NewUser;

#[derive(clap::Subcommand, Debug)]
pub enum Users {
    /// Create an account. The password is read from standard input (one line), so it is
    /// neither in the shell history nor in the process list.
    Create {
        #[arg(long)]
        username: String,
        /// The name shown in the console and the records (张三).
        #[arg(long)]
        name: String,
        /// clerk | department | supervisor | reviewer | leader | operator
        #[arg(long)]
        role: String,
        /// Division code: a county, or a city (covers its counties).
        #[arg(long)]
        scope: String,
        /// Department code, for department users.
        #[arg(long)]
        department: Option<String>,
    },
    /// List accounts (never passwords).
    List,
    /// Set a new password (read from standard input).
    Passwd { username: String },
    /// Stop an account from signing in.
    Disable { username: String },
    /// Let a disabled account sign in again.
    Enable { username: String },
}

fn read_password() -> anyhow::Result<String> {
    eprintln!("password (one line on standard input):");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

pub async fn run(cmd: Users) -> anyhow::Result<ExitCode> {
    let settings = xinfang_platform::config::load()?;
    let store = xinfang_console::service::user_store(&settings.platform.database).await?;
    match cmd {
        Users::Create {
            username,
            name,
            role,
            scope,
            department,
        } => {
            let password = read_password()?;
            let n = NewUser {
                username: username.clone(),
                display_name: name,
                password,
                role,
                scope,
                department,
            };
            match store.create(&n).await? {
                Ok(true) => println!("created {username}"),
                Ok(false) => {
                    eprintln!("error: username: {username} is taken");
                    return Ok(ExitCode::from(2));
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(2));
                }
            }
        }
        Users::List => {
            for u in store.list().await? {
                println!(
                    "{:<20} {:<11} {:<7} {:<8} {}{}",
                    u.username,
                    u.role.as_str(),
                    u.scope,
                    u.department.as_deref().unwrap_or("-"),
                    u.display_name,
                    if u.disabled { "  (disabled)" } else { "" }
                );
            }
        }
        Users::Passwd { username } => {
            let password = read_password()?;
            if !store.set_password(&username, &password).await? {
                eprintln!("error: username: no user {username}");
                return Ok(ExitCode::from(2));
            }
            println!("password of {username} changed");
        }
        Users::Disable { username } => return toggle(&store, &username, true).await,
        Users::Enable { username } => return toggle(&store, &username, false).await,
    }
    Ok(ExitCode::SUCCESS)
}

async fn toggle(
    store: &xinfang_console::users::UserStore,
    username: &str,
    disabled: bool,
) -> anyhow::Result<ExitCode> {
    if !store.set_disabled(username, disabled).await? {
        eprintln!("error: username: no user {username}");
        return Ok(ExitCode::from(2));
    }
    println!(
        "{username} {}",
        if disabled { "disabled" } else { "enabled" }
    );
    Ok(ExitCode::SUCCESS)
}
