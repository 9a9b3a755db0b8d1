//! The department directory as routing uses it: `xinfang directory check`, the audit of what
//! each start and reload loaded (who, when, which hash, what changed since the previous load),
//! and what a reload must do in routing ([`RoutingReload`]). Loading and reloading themselves
//! are the platform's ([`xinfang_platform::directory`]), shared with the other services.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{Map, Value, json};
use sqlx::{PgPool, Row};
use xinfang_domain::county::CountyCode;
use xinfang_domain::directory::{Directory, OrganRef};
use xinfang_domain::lifecycle::CaseState;
use xinfang_domain::subject;
pub use xinfang_platform::directory::{DirectoryLoadError, LoadedDirectory, hash, load, parse};
use xinfang_platform::directory::{Proposed, ReloadStep, StepError};

use crate::dept_feed::FeedSettings;
use crate::store::status;

/// What `xinfang directory check` prints for a valid directory.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub path: PathBuf,
    pub name: String,
    pub hash: String,
    pub city: String,
    pub counties: usize,
    pub departments: usize,
    /// Not errors, but worth a look: departments nobody can notify, roles served by the city.
    pub warnings: Vec<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "directory {} is valid", self.path.display())?;
        if !self.name.is_empty() {
            writeln!(f, "  name: {}", self.name)?;
        }
        writeln!(f, "  city: {}", self.city)?;
        writeln!(
            f,
            "  {} counties, {} departments",
            self.counties, self.departments
        )?;
        writeln!(f, "  sha256: {}", self.hash)?;
        for w in &self.warnings {
            writeln!(f, "  warning: {w}")?;
        }
        Ok(())
    }
}

/// Validates the directory file at `path` (for `xinfang directory check`). Errors list every
/// problem with its path in the file and the rule broken.
pub fn check(path: &Path) -> Result<Report, DirectoryLoadError> {
    let loaded = load(path)?;
    let d = &loaded.directory;
    let mut warnings = Vec::new();
    for (organ, dept) in d.organs() {
        if dept.contacts.email.is_none() && dept.contacts.mobile.is_none() {
            warnings.push(format!(
                "{organ} {} has no contacts: nobody can be notified",
                dept.name
            ));
        }
    }
    let city = d.city();
    for c in d.counties.iter().filter(|c| c.code != city.code) {
        for (role, code) in [
            ("discipline", &d.roles.discipline),
            ("court", &d.roles.court),
            ("police", &d.roles.police),
            ("procuratorate", &d.roles.procuratorate),
            ("petition_bureau", &d.roles.petition_bureau),
        ] {
            if c.department(code).is_none() {
                warnings.push(format!(
                    "county {} has no `{code}` ({role}); the city's is used",
                    c.code
                ));
            }
        }
    }
    Ok(Report {
        path: loaded.path.clone(),
        name: d.name.clone(),
        hash: loaded.hash.clone(),
        city: format!("{} {}", city.code, city.name),
        counties: d.counties.len(),
        departments: d.department_count(),
        warnings,
    })
}

/// One row of `directory_audit`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditEntry {
    pub hash: String,
    pub previous_hash: Option<String>,
    pub changes: Vec<String>,
    pub operator: String,
    pub host: String,
}

/// Records this load: hash, the previous load's hash, and what changed since it. Instances
/// starting together are serialised by a table lock, so each compares with the one before.
pub async fn audit(
    pool: &PgPool,
    loaded: &LoadedDirectory,
    operator: &str,
    host: &str,
) -> anyhow::Result<AuditEntry> {
    let mut tx = pool.begin().await?;
    sqlx::query("lock table directory_audit in share row exclusive mode")
        .execute(&mut *tx)
        .await?;
    let previous = sqlx::query("select hash, raw from directory_audit order by id desc limit 1")
        .fetch_optional(&mut *tx)
        .await?;
    let (previous_hash, changes) = match previous {
        None => (
            None,
            vec![format!(
                "first load: {} counties, {} departments",
                loaded.directory.counties.len(),
                loaded.directory.department_count()
            )],
        ),
        Some(row) => {
            let prev_hash: String = row.try_get("hash")?;
            let prev_raw: String = row.try_get("raw")?;
            let changes = if prev_hash == loaded.hash {
                Vec::new()
            } else {
                match Directory::from_toml_str(&prev_raw) {
                    Ok(old) => {
                        let d = loaded.directory.diff(&old);
                        if d.is_empty() {
                            vec!["canonical form changed without a listed difference".into()]
                        } else {
                            d
                        }
                    }
                    Err(_) => {
                        vec!["previous directory no longer parses; changes not listed".into()]
                    }
                }
            };
            (Some(prev_hash), changes)
        }
    };
    sqlx::query(
        "insert into directory_audit (operator, host, source, hash, previous_hash, changes, raw)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(operator)
    .bind(host)
    .bind(loaded.path.display().to_string())
    .bind(&loaded.hash)
    .bind(&previous_hash)
    .bind(serde_json::to_value(&changes)?)
    .bind(&loaded.raw)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(AuditEntry {
        hash: loaded.hash.clone(),
        previous_hash,
        changes,
        operator: operator.to_owned(),
        host: host.to_owned(),
    })
}

/// Departments that are still on a running case: `(organ, cases, one case number)` for every
/// organ with an assignment not finished (transferred, withdrawn, diverted, closed) on a case
/// neither closed (办结) nor ended (a state no command leaves).
pub async fn organs_with_running_cases(
    pool: &PgPool,
) -> anyhow::Result<Vec<(OrganRef, i64, String)>> {
    let finished = [
        status::TRANSFERRED,
        status::WITHDRAWN,
        status::DIVERTED,
        status::CLOSED,
    ];
    let ended: Vec<&str> = CaseState::ALL
        .iter()
        .filter(|s| s.is_terminal() || **s == CaseState::Closed)
        .map(|s| s.as_str())
        .collect();
    let rows = sqlx::query(
        "select a.county, a.department, count(distinct a.case_no) as cases, min(a.case_no) as example
         from assignments a join cases c on c.case_no = a.case_no
         where a.status <> all($1) and c.state <> all($2)
         group by a.county, a.department
         order by a.county, a.department",
    )
    .bind(&finished[..])
    .bind(&ended)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let county: String = r.try_get("county")?;
        let dept: String = r.try_get("department")?;
        let organ = OrganRef::new(CountyCode::parse(&county)?, dept);
        out.push((organ, r.try_get("cases")?, r.try_get("example")?));
    }
    Ok(out)
}

/// What routing does when the process's directory is reloaded
/// ([`xinfang_platform::directory`]), before the new one takes effect:
/// 1. refuses a directory that drops a department still on a running case (its cases would
///    be stranded: its commands are no longer heard, its NATS user goes with the next
///    `xinfang nats-config`): transfer them or let them finish first;
/// 2. gives every department its durable feed (new ones created, limits brought up to date)
///    and names the feeds of departments that left the directory (kept: no service deletes a
///    consumer; `nats consumer rm XF_<county> dept_<dept>` once nothing is pending);
/// 3. audits the load in `directory_audit` as at start (who, hash, what changed).
///
/// Cases keep the organs they have: their lead and assignments are stored with the case, not
/// looked up again.
pub struct RoutingReload {
    pub pool: PgPool,
    pub streams: Arc<BTreeMap<CountyCode, async_nats::jetstream::stream::Stream>>,
    pub feeds: FeedSettings,
    pub host: String,
}

impl ReloadStep for RoutingReload {
    fn prepare<'a>(
        &'a self,
        p: &'a Proposed<'a>,
    ) -> BoxFuture<'a, Result<Map<String, Value>, StepError>> {
        Box::pin(async move {
            let new = &p.loaded.directory;
            let removed: Vec<OrganRef> = p
                .running
                .organs()
                .map(|(o, _)| o)
                .filter(|o| new.organ(o).is_none())
                .collect();
            let busy: Vec<String> = if removed.is_empty() {
                Vec::new()
            } else {
                organs_with_running_cases(&self.pool)
                    .await?
                    .into_iter()
                    .filter(|(organ, _, _)| removed.contains(organ))
                    .map(|(organ, n, example)| {
                        format!(
                            "{organ} {} is still on {n} running case(s), e.g. {example}",
                            p.running.organ_name(&organ)
                        )
                    })
                    .collect()
            };
            if !busy.is_empty() {
                return Err(StepError::Refused {
                    code: "directory_drops_busy_department",
                    message: format!(
                        "the new directory drops departments that are still on running cases \
                         (transfer those cases or let them finish, then remove the department): {}",
                        busy.join("; ")
                    ),
                });
            }
            let feeds = crate::dept_feed::provision(&self.streams, new, &self.feeds).await?;
            let mut left = Vec::new();
            for organ in &removed {
                let Some(stream) = self.streams.get(&organ.county) else {
                    continue;
                };
                let name = subject::department_consumer(&organ.dept);
                if stream.consumer_info(&name).await.is_ok() {
                    left.push(format!("{}:{name}", organ.county));
                }
            }
            for feed in &left {
                tracing::warn!(feed = %feed, "the department left the directory; its feed is kept (remove it with `nats consumer rm` once nothing is pending)");
            }
            let audit = audit(&self.pool, p.loaded, p.by, &self.host).await?;
            let mut out = Map::new();
            out.insert("feeds_created".into(), json!(feeds.created));
            out.insert("feeds_updated".into(), json!(feeds.updated));
            out.insert("feeds_left".into(), json!(left));
            out.insert("audit_previous_hash".into(), json!(audit.previous_hash));
            Ok(out)
        })
    }
}

/// At start: warns of departments on running cases that the directory no longer has.
pub async fn warn_of_missing_organs(pool: &PgPool, directory: &Directory) -> anyhow::Result<()> {
    for (organ, n, example) in organs_with_running_cases(pool).await? {
        if directory.organ(&organ).is_none() {
            tracing::warn!(%organ, cases = n, example = %example, "a department on running cases is not in the directory: its commands are not heard; put it back or transfer its cases");
        }
    }
    Ok(())
}
