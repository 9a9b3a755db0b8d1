//! `xinfang tokens create|revoke|list`: bearer tokens for the HTTP APIs.

use std::process::ExitCode;

use xinfang_domain::access::Role;
use xinfang_domain::county::CountyCode;
use xinfang_platform::auth::AuthStore;

#[derive(clap::Subcommand, Debug)]
pub enum Tokens {
    /// Create a token; the secret is printed once.
    Create {
        /// clerk | department | supervisor | reviewer | operator
        #[arg(long)]
        role: String,
        /// Division code: a county, or a city (covers its counties).
        #[arg(long)]
        scope: String,
        /// Department code, for department tokens.
        #[arg(long)]
        department: Option<String>,
        /// Who holds it (recorded).
        #[arg(long)]
        label: String,
    },
    /// Revoke a token by id.
    Revoke { id: String },
    /// List tokens (ids, roles, scopes; never secrets).
    List,
}

pub async fn run(cmd: Tokens) -> anyhow::Result<ExitCode> {
    let settings = xinfang_platform::config::load()?;
    let store = AuthStore::connect(&settings.platform.database).await?;
    match cmd {
        Tokens::Create {
            role,
            scope,
            department,
            label,
        } => {
            let Some(role) = Role::parse(&role) else {
                eprintln!(
                    "error: role: must be one of clerk, department, supervisor, reviewer, operator"
                );
                return Ok(ExitCode::from(2));
            };
            let scope = match CountyCode::parse(&scope) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: scope: {}", e.message);
                    return Ok(ExitCode::from(2));
                }
            };
            match store
                .create(role, &scope, department.as_deref(), &label)
                .await
            {
                Ok(t) => {
                    println!("id:    {}", t.id);
                    println!("token: {}", t.token);
                    eprintln!("The token is shown only now; it is stored hashed.");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::from(2))
                }
            }
        }
        Tokens::Revoke { id } => {
            if store.revoke(&id).await? {
                println!("revoked {id}");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("no active token {id}");
                Ok(ExitCode::from(2))
            }
        }
        Tokens::List => {
            for t in store.list().await? {
                println!(
                    "{}  {:<10} {}  {:<6} {}{}",
                    t.id,
                    t.role,
                    t.scope,
                    t.department.as_deref().unwrap_or("-"),
                    t.label,
                    if t.revoked { "  (revoked)" } else { "" }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
