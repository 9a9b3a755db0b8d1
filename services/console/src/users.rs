//! Staff accounts (schema `console`): Argon2id password hashes, roles and scopes.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::Serialize;
use sqlx::{PgPool, Row};
use xinfang_domain::county::CountyCode;

use crate::role::ConsoleRole;

/// A signed-in user's account, without the hash.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub username: String,
    pub display_name: String,
    pub role: ConsoleRole,
    pub scope: CountyCode,
    pub department: Option<String>,
    pub disabled: bool,
}

/// What `xinfang users create` asks for.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub password: String,
    pub role: String,
    pub scope: String,
    pub department: Option<String>,
}

/// Why a sign-in failed. The page says the same thing for an unknown name and a wrong
/// password, so names cannot be probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    WrongNameOrPassword,
    Disabled,
}

/// Checked against when the user name is unknown, so both answers take as long.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash("no such user, no such password").unwrap_or_default());

pub const MIN_PASSWORD_CHARS: usize = 10;

#[derive(Clone)]
pub struct UserStore {
    pool: PgPool,
}

fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
}

fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The rules of a new account, each error naming its field.
pub fn validate(n: &NewUser) -> Result<(ConsoleRole, CountyCode), String> {
    let name_ok = (3..=32).contains(&n.username.len())
        && n.username
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if !name_ok {
        return Err("username: 3 to 32 characters of a-z, 0-9, '.', '_' or '-'".into());
    }
    let display = n.display_name.trim();
    if display.is_empty() || display.chars().count() > 50 {
        return Err("display_name: required, at most 50 characters".into());
    }
    if n.password.chars().count() < MIN_PASSWORD_CHARS || n.password.len() > 256 {
        return Err(format!(
            "password: at least {MIN_PASSWORD_CHARS} characters (at most 256 bytes)"
        ));
    }
    let Some(role) = ConsoleRole::parse(&n.role) else {
        return Err(
            "role: one of clerk, department, supervisor, reviewer, leader, operator".into(),
        );
    };
    let scope = CountyCode::parse(&n.scope).map_err(|e| format!("scope: {}", e.message))?;
    match (role, n.department.as_deref()) {
        (ConsoleRole::Department, Some(d)) => {
            xinfang_domain::subject::token("department", d)
                .map_err(|_| "department: a department code such as rsj".to_owned())?;
        }
        (ConsoleRole::Department, None) => {
            return Err("department: required for a department user".into());
        }
        (_, Some(_)) => return Err("department: only department users carry one".into()),
        (_, None) => {}
    }
    Ok((role, scope))
}

impl UserStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Creates an account; `Ok(false)` when the name is taken.
    pub async fn create(&self, n: &NewUser) -> anyhow::Result<Result<bool, String>> {
        let (role, scope) = match validate(n) {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let phc = hash(&n.password)?;
        let r = sqlx::query(
            "insert into users (username, display_name, password_hash, role, scope, department)
             values ($1, $2, $3, $4, $5, $6) on conflict (username) do nothing",
        )
        .bind(&n.username)
        .bind(n.display_name.trim())
        .bind(phc)
        .bind(role.as_str())
        .bind(scope.as_str())
        .bind(&n.department)
        .execute(&self.pool)
        .await?;
        Ok(Ok(r.rows_affected() == 1))
    }

    /// Sets a new password; false when there is no such user.
    pub async fn set_password(&self, username: &str, password: &str) -> anyhow::Result<bool> {
        if password.chars().count() < MIN_PASSWORD_CHARS {
            anyhow::bail!("password: at least {MIN_PASSWORD_CHARS} characters");
        }
        let r = sqlx::query("update users set password_hash = $2 where username = $1")
            .bind(username)
            .bind(hash(password)?)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn set_disabled(&self, username: &str, disabled: bool) -> anyhow::Result<bool> {
        let r = sqlx::query("update users set disabled = $2 where username = $1")
            .bind(username)
            .bind(disabled)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn list(&self) -> anyhow::Result<Vec<User>> {
        let rows = sqlx::query(
            "select username, display_name, role, scope, department, disabled
             from users order by username",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().filter_map(|r| user(r).ok().flatten()).collect())
    }

    /// Checks a user name and password. Argon2 runs on a blocking thread (it is meant to be
    /// slow), and runs for unknown names too.
    pub async fn verify(
        &self,
        username: &str,
        password: &str,
    ) -> anyhow::Result<Result<User, Refusal>> {
        let row = sqlx::query(
            "select username, display_name, role, scope, department, disabled, password_hash
             from users where username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        let phc: String = match &row {
            Some(r) => r.try_get("password_hash")?,
            None => DUMMY_HASH.clone(),
        };
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || verify(&password, &phc)).await?;
        let Some(r) = row else {
            return Ok(Err(Refusal::WrongNameOrPassword));
        };
        let Some(u) = user(&r)? else {
            return Ok(Err(Refusal::WrongNameOrPassword));
        };
        if !ok {
            return Ok(Err(Refusal::WrongNameOrPassword));
        }
        if u.disabled {
            return Ok(Err(Refusal::Disabled));
        }
        sqlx::query("update users set last_sign_in_at = now() where username = $1")
            .bind(username)
            .execute(&self.pool)
            .await?;
        Ok(Ok(u))
    }

    /// Appends a sign-in outcome.
    pub async fn record(&self, username: &str, outcome: &str) -> anyhow::Result<()> {
        sqlx::query("insert into sign_ins (username, outcome) values ($1, $2)")
            .bind(username)
            .bind(outcome)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

fn user(r: &sqlx::postgres::PgRow) -> anyhow::Result<Option<User>> {
    let role: String = r.try_get("role")?;
    let scope: String = r.try_get("scope")?;
    let (Some(role), Ok(scope)) = (ConsoleRole::parse(&role), CountyCode::parse(&scope)) else {
        return Ok(None);
    };
    Ok(Some(User {
        username: r.try_get("username")?,
        display_name: r.try_get("display_name")?,
        role,
        scope,
        department: r.try_get("department")?,
        disabled: r.try_get("disabled")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(role: &str, dept: Option<&str>) -> NewUser {
        NewUser {
            username: "zhang.san".into(),
            display_name: "张三".into(),
            password: "correct horse battery".into(),
            role: role.into(),
            scope: "411200".into(),
            department: dept.map(str::to_owned),
        }
    }

    #[test]
    fn rules_name_their_field() {
        assert!(validate(&new("clerk", None)).is_ok());
        assert!(validate(&new("leader", None)).is_ok());
        assert!(
            validate(&new("boss", None))
                .unwrap_err()
                .starts_with("role:")
        );
        assert!(
            validate(&new("department", None))
                .unwrap_err()
                .starts_with("department:")
        );
        assert!(
            validate(&new("clerk", Some("rsj")))
                .unwrap_err()
                .starts_with("department:")
        );
        let mut short = new("clerk", None);
        short.password = "short".into();
        assert!(validate(&short).unwrap_err().starts_with("password:"));
        let mut upper = new("clerk", None);
        upper.username = "Zhang San".into();
        assert!(validate(&upper).unwrap_err().starts_with("username:"));
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse batterx", &h));
        assert!(DUMMY_HASH.starts_with("$argon2id$"));
        assert!(!verify("anything", &DUMMY_HASH));
    }
}
