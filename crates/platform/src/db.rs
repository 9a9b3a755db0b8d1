//! PostgreSQL: pools scoped to one service schema, database creation, migrations.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor};

use crate::config::Database;

static PLATFORM_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connect options with `search_path` set to the service's schema only, so a service's
/// unqualified SQL can only ever touch its own tables. JIT is off: compiling a plan cost up
/// to 0.7 s on the KPI queries over ten years of cases (`xinfang bench stats`), more than
/// it saved, and no other query of ours runs long enough to gain from it.
pub fn options(settings: &Database, schema: &str) -> anyhow::Result<PgConnectOptions> {
    check_schema_name(schema)?;
    Ok(PgConnectOptions::from_str(settings.url.expose())?
        .options([("search_path", schema), ("jit", "off")])
        .log_statements(tracing::log::LevelFilter::Debug)
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1)))
}

fn check_schema_name(schema: &str) -> anyhow::Result<()> {
    if schema.is_empty()
        || !schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
    {
        anyhow::bail!("schema name {schema:?} must be lowercase ASCII");
    }
    Ok(())
}

/// Creates the database named in the URL if it does not exist (by connecting to `postgres`).
pub async fn create_database_if_missing(settings: &Database) -> anyhow::Result<()> {
    let opts = PgConnectOptions::from_str(settings.url.expose())?;
    let name = opts
        .get_database()
        .ok_or_else(|| anyhow::anyhow!("database.url names no database"))?
        .to_owned();
    if name.contains('"') {
        anyhow::bail!("database name must not contain quotes");
    }
    let mut admin = opts.clone().database("postgres").connect().await?;
    let exists: bool =
        sqlx::query_scalar("select exists(select 1 from pg_database where datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        // Two instances may race here; the loser's duplicate_database error is fine.
        let create = format!("create database \"{name}\"");
        if let Err(e) = admin.execute(sqlx::AssertSqlSafe(create)).await {
            let dup = e
                .as_database_error()
                .and_then(|d| d.code())
                .is_some_and(|c| c == "42P04" || c == "23505");
            if !dup {
                return Err(e.into());
            }
        }
    }
    admin.close().await?;
    Ok(())
}

/// A pool for one service schema; creates the database first when configured to.
pub async fn connect(settings: &Database, schema: &str) -> anyhow::Result<PgPool> {
    if settings.create_if_missing {
        create_database_if_missing(settings).await?;
    }
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options(settings, schema)?)
        .await?;
    Ok(pool)
}

/// Runs the platform's tables (inbox, outbox) and then the service's own migrations, each
/// with its history table inside the service schema.
pub async fn migrate(
    pool: &PgPool,
    schema: &str,
    service: &sqlx::migrate::Migrator,
) -> anyhow::Result<()> {
    check_schema_name(schema)?;
    let mut platform =
        sqlx::migrate::Migrator::with_migrations(PLATFORM_MIGRATIONS.iter().cloned().collect());
    platform.create_schema(schema.to_owned());
    platform.dangerous_set_table_name(format!("{schema}._xf_platform_migrations"));
    platform.run(pool).await?;

    let mut own = sqlx::migrate::Migrator::with_migrations(service.iter().cloned().collect());
    own.create_schema(schema.to_owned());
    own.dangerous_set_table_name(format!("{schema}._sqlx_migrations"));
    own.run(pool).await?;
    Ok(())
}

/// `url` with its database (the path) replaced by `name`, the query kept: the scratch
/// databases of benchmarks live next to the configured one.
pub fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| anyhow::anyhow!("database.url is not a URL"))?;
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or(before_query);
    Ok(match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    })
}

/// Drops the database named in `settings` (scratch databases of benchmarks and tools).
pub async fn drop_database(settings: &Database) -> anyhow::Result<()> {
    let opts = PgConnectOptions::from_str(settings.url.expose())?;
    let name = opts
        .get_database()
        .ok_or_else(|| anyhow::anyhow!("database.url names no database"))?
        .to_owned();
    if name.contains('"') {
        anyhow::bail!("database name must not contain quotes");
    }
    let mut admin = opts.clone().database("postgres").connect().await?;
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "drop database if exists \"{name}\" with (force)"
        )))
        .await?;
    admin.close().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scratch_database_replaces_only_the_name() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/xinfang", "xf_b").unwrap(),
            "postgres://postgres@127.0.0.1:5432/xf_b"
        );
        assert_eq!(
            with_database("postgres://u:p@db:5432/x?sslmode=require", "y").unwrap(),
            "postgres://u:p@db:5432/y?sslmode=require"
        );
        assert_eq!(
            with_database("postgres://u@db", "y").unwrap(),
            "postgres://u@db/y"
        );
        assert!(with_database("not a url", "y").is_err());
    }
}
