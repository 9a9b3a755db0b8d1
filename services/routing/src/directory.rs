//! Loading the department directory file, `xinfang directory check`, and the audit of what
//! each start loaded (who, when, which hash, what changed since the previous load).

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use sqlx::{PgPool, Row};
use xinfang_domain::directory::{Directory, DirectoryErrors};

#[derive(Debug, thiserror::Error)]
pub enum DirectoryLoadError {
    #[error("directory file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("directory file {path}: {errors}")]
    Invalid {
        path: PathBuf,
        errors: DirectoryErrors,
    },
}

impl DirectoryLoadError {
    /// The individual problems (empty for an unreadable file).
    pub fn problems(&self) -> &[xinfang_domain::validation::ValidationError] {
        match self {
            DirectoryLoadError::Invalid { errors, .. } => &errors.0,
            DirectoryLoadError::Read { .. } => &[],
        }
    }
}

/// A directory as loaded from a file.
#[derive(Debug, Clone)]
pub struct LoadedDirectory {
    pub path: PathBuf,
    pub raw: String,
    pub directory: Directory,
    /// SHA-256 (hex) of the directory's canonical form: formatting and comments do not count.
    pub hash: String,
}

pub fn hash(dir: &Directory) -> String {
    hex::encode(Sha256::digest(dir.canonical_json().as_bytes()))
}

pub fn parse(path: &Path, raw: String) -> Result<LoadedDirectory, DirectoryLoadError> {
    let directory =
        Directory::from_toml_str(&raw).map_err(|errors| DirectoryLoadError::Invalid {
            path: path.to_owned(),
            errors,
        })?;
    Ok(LoadedDirectory {
        path: path.to_owned(),
        hash: hash(&directory),
        raw,
        directory,
    })
}

pub fn load(path: &Path) -> Result<LoadedDirectory, DirectoryLoadError> {
    let raw = std::fs::read_to_string(path).map_err(|source| DirectoryLoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, raw)
}

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

/// What a reload did: the audit row's content and the department feeds it created or updated.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Reloaded {
    pub hash: String,
    pub previous_hash: Option<String>,
    pub changes: Vec<String>,
    pub counties: usize,
    pub departments: usize,
    pub feeds_created: Vec<String>,
    pub feeds_updated: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("the directory was not loaded from a file, so it cannot be reloaded")]
    NotReloadable,
    #[error(transparent)]
    Load(#[from] DirectoryLoadError),
    #[error("directory reload failed: {0:#}")]
    Other(#[from] anyhow::Error),
}

impl ReloadError {
    pub fn code(&self) -> &'static str {
        match self {
            ReloadError::NotReloadable => "directory_not_reloadable",
            ReloadError::Load(DirectoryLoadError::Read { .. }) => "directory_unreadable",
            ReloadError::Load(DirectoryLoadError::Invalid { .. }) => "directory_invalid",
            ReloadError::Other(_) => "directory_reload_failed",
        }
    }
}

/// Re-reads the directory file without a restart: a bad file changes nothing; a good one gets
/// every new department its feed, is audited like a load at start (who, which hash, what
/// changed), and then replaces the running directory. Cases keep the organs they have: their
/// lead and assignments are stored with the case, not looked up again.
pub async fn reload(ctx: &crate::context::Ctx, operator: &str) -> Result<Reloaded, ReloadError> {
    let source = ctx
        .directory_source
        .as_ref()
        .ok_or(ReloadError::NotReloadable)?;
    let _one_at_a_time = source.reloading.lock().await;
    let result = async {
        let loaded = load(&source.path)?;
        let feeds =
            crate::dept_feed::provision(&source.streams, &loaded.directory, &source.feeds).await?;
        let audit = audit(&ctx.pool, &loaded, operator, &source.host).await?;
        let reloaded = Reloaded {
            hash: audit.hash,
            previous_hash: audit.previous_hash,
            changes: audit.changes,
            counties: loaded.directory.counties.len(),
            departments: loaded.directory.department_count(),
            feeds_created: feeds.created,
            feeds_updated: feeds.updated,
        };
        ctx.directory.set(loaded.directory);
        Ok::<_, ReloadError>(reloaded)
    }
    .await;
    match &result {
        Ok(r) => {
            metrics::counter!("xf_routing_directory_reloads_total", "result" => "ok").increment(1);
            tracing::info!(operator, hash = %r.hash, changes = r.changes.len(), feeds_created = r.feeds_created.len(), "directory reloaded");
            for change in &r.changes {
                tracing::info!(change = %change, "directory change");
            }
        }
        Err(e) => {
            metrics::counter!("xf_routing_directory_reloads_total", "result" => e.code())
                .increment(1);
            tracing::error!(operator, error = %e, "directory reload failed; the running directory stays");
        }
    }
    result
}
