//! The department directory (`paths.directory`, the type is
//! [`xinfang_domain::directory::Directory`]) of one process: a handle shared by every service of
//! the process that reads the directory (intake, routing, supervision, review, notify), loaded
//! and checked when the first of them starts ([`crate::host::Infra::directory`]) and reloadable
//! without a restart, like the holiday calendar ([`crate::calendar`]):
//! - `SIGHUP` to the process reloads the calendar and the directory ([`crate::main_runner`]);
//! - `POST /v1/directory/reload` (an operator of a county the deployment serves) on every
//!   service that reads the directory, which `xinfang directory reload` calls.
//!
//! A file that cannot be read or is invalid is refused, every problem named, and the running
//! directory stays. A service may add a [`ReloadStep`] that runs before a new directory takes
//! effect and may refuse it (routing refuses to drop a department that still holds running
//! cases, creates the new departments' durable feeds and writes its `directory_audit` row).
//! Every reload, refused ones included, is written to the audit log (`directory_reload`,
//! `directory_reload_failed`) with who asked and how (`via`: `SIGHUP`, `http`).
//!
//! Readers take a snapshot ([`DirectoryHandle::current`]) per operation: a reload replaces the
//! directory as a whole and never changes what a running operation sees. What a case already
//! has (its lead, its assignments, the organ of an appeal) is stored with the case and is not
//! looked up again, so a reload never moves a running case to another organ.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use xinfang_domain::access::{Principal, Role};
use xinfang_domain::county::CountyCode;
use xinfang_domain::directory::{Directory, DirectoryErrors};
use xinfang_domain::validation::ValidationError;

use crate::auth::{Auth, Caller};
use crate::http_error::error_response;

/// Why a directory file was not taken.
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
    pub fn problems(&self) -> &[ValidationError] {
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

/// SHA-256 (hex) of `dir`'s canonical form.
pub fn hash(dir: &Directory) -> String {
    hex::encode(Sha256::digest(dir.canonical_json().as_bytes()))
}

/// Parses and validates `raw`, the content of the file at `path`.
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

/// Reads, parses and validates the directory file at `path`.
pub fn load(path: &Path) -> Result<LoadedDirectory, DirectoryLoadError> {
    let raw = std::fs::read_to_string(path).map_err(|source| DirectoryLoadError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, raw)
}

/// A new directory before it takes effect, as a [`ReloadStep`] sees it.
pub struct Proposed<'a> {
    /// The file as read now.
    pub loaded: &'a LoadedDirectory,
    /// The directory running until now.
    pub running: &'a Directory,
    /// Who asked (a principal's id, `signal:SIGHUP`).
    pub by: &'a str,
    /// How: `SIGHUP`, `http`.
    pub via: &'a str,
}

/// Why a [`ReloadStep`] did not let a new directory take effect.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The new directory is not acceptable now (422, the running directory stays).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// The step could not do its work (500, the running directory stays).
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// What a service does when the directory is reloaded, before the new one takes effect: it may
/// refuse it, and what it returns is added to the reload's answer (so its keys should not be
/// those of [`Reloaded`]). Steps run one reload at a time, in the order they were added; a
/// step's effects must be harmless if a later step refuses.
pub trait ReloadStep: Send + Sync + 'static {
    fn prepare<'a>(
        &'a self,
        proposed: &'a Proposed<'a>,
    ) -> BoxFuture<'a, Result<Map<String, Value>, StepError>>;
}

/// What a reload did.
#[derive(Debug, Clone, Serialize)]
pub struct Reloaded {
    pub path: String,
    /// SHA-256 of the directory now running.
    pub hash: String,
    /// SHA-256 of the directory that ran before.
    pub previous_hash: String,
    pub changed: bool,
    /// One line per change against the directory that ran before; empty when unchanged.
    pub changes: Vec<String>,
    /// Counts reloads that changed something, from 0 at start.
    pub generation: u64,
    pub counties: usize,
    pub departments: usize,
    /// What the services' [`ReloadStep`]s report (routing: `feeds_created`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("the directory was not loaded from a file, so it cannot be reloaded")]
    NotReloadable,
    #[error(transparent)]
    Load(#[from] DirectoryLoadError),
    #[error("directory refused: {message}")]
    Refused { code: &'static str, message: String },
    #[error("directory reload failed: {0:#}")]
    Failed(anyhow::Error),
}

impl ReloadError {
    pub fn code(&self) -> &'static str {
        match self {
            ReloadError::NotReloadable => "directory_not_reloadable",
            ReloadError::Load(DirectoryLoadError::Read { .. }) => "directory_unreadable",
            ReloadError::Load(DirectoryLoadError::Invalid { .. }) => "directory_invalid",
            ReloadError::Refused { code, .. } => code,
            ReloadError::Failed(_) => "directory_reload_failed",
        }
    }

    /// 500 when the reload could not be carried out, 422 when the file was refused.
    pub fn status(&self) -> StatusCode {
        match self {
            ReloadError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}

struct Version {
    directory: Arc<Directory>,
    /// The file's text as it was read (empty for a fixed directory).
    raw: Arc<str>,
    hash: String,
    generation: u64,
}

/// The running directory of a process and where it comes from.
pub struct DirectoryHandle {
    path: Option<PathBuf>,
    current: RwLock<Version>,
    changes: watch::Sender<u64>,
    reloading: tokio::sync::Mutex<()>,
    steps: Mutex<Vec<Arc<dyn ReloadStep>>>,
}

impl std::fmt::Debug for DirectoryHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryHandle")
            .field("path", &self.path)
            .field("hash", &self.hash())
            .field("generation", &self.generation())
            .finish()
    }
}

impl DirectoryHandle {
    /// Loads the file at `path`; a missing or invalid file is an error naming it and every
    /// problem.
    pub fn load(path: &Path) -> Result<Self, DirectoryLoadError> {
        let loaded = load(path)?;
        Ok(Self::new(
            Some(path.to_owned()),
            loaded.directory,
            loaded.raw.into(),
            loaded.hash,
        ))
    }

    /// A directory that was not read from a file (tests, embedding programs): it cannot be
    /// reloaded.
    pub fn fixed(directory: Directory) -> Self {
        let h = hash(&directory);
        Self::new(None, directory, Arc::from(""), h)
    }

    fn new(path: Option<PathBuf>, directory: Directory, raw: Arc<str>, hash: String) -> Self {
        let (changes, _) = watch::channel(0);
        Self {
            path,
            current: RwLock::new(Version {
                directory: Arc::new(directory),
                raw,
                hash,
                generation: 0,
            }),
            changes,
            reloading: tokio::sync::Mutex::new(()),
            steps: Mutex::new(Vec::new()),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Version> {
        self.current.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The directory as it stands now: take one per operation.
    pub fn current(&self) -> Arc<Directory> {
        self.read().directory.clone()
    }

    /// SHA-256 of the running directory's canonical form.
    pub fn hash(&self) -> String {
        self.read().hash.clone()
    }

    /// How many reloads changed the directory since start.
    pub fn generation(&self) -> u64 {
        self.read().generation
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The running directory as it was loaded from its file (for an audit of what runs);
    /// `None` for a fixed directory.
    pub fn loaded(&self) -> Option<LoadedDirectory> {
        let path = self.path.clone()?;
        let v = self.read();
        Some(LoadedDirectory {
            path,
            raw: v.raw.to_string(),
            directory: (*v.directory).clone(),
            hash: v.hash.clone(),
        })
    }

    /// Changes to the directory: the receiver sees each new generation.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Adds a step every later reload runs before a new directory takes effect.
    pub fn add_step(&self, step: Arc<dyn ReloadStep>) {
        self.steps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(step);
    }

    /// Reads the file again; if it is valid and every [`ReloadStep`] accepts it, it becomes the
    /// running directory. On any error the running directory stays. One reload at a time.
    pub async fn reload(&self, by: &str, via: &str) -> Result<Reloaded, ReloadError> {
        let path = self.path.as_ref().ok_or(ReloadError::NotReloadable)?;
        let _one_at_a_time = self.reloading.lock().await;
        let loaded = load(path)?;
        let (running, running_hash) = {
            let v = self.read();
            (v.directory.clone(), v.hash.clone())
        };
        let steps: Vec<Arc<dyn ReloadStep>> = self
            .steps
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut extra = Map::new();
        {
            let proposed = Proposed {
                loaded: &loaded,
                running: &running,
                by,
                via,
            };
            for step in &steps {
                match step.prepare(&proposed).await {
                    Ok(more) => extra.extend(more),
                    Err(StepError::Refused { code, message }) => {
                        return Err(ReloadError::Refused { code, message });
                    }
                    Err(StepError::Failed(e)) => return Err(ReloadError::Failed(e)),
                }
            }
        }
        let changed = loaded.hash != running_hash;
        let changes = if changed {
            let d = loaded.directory.diff(&running);
            if d.is_empty() {
                vec!["canonical form changed without a listed difference".to_owned()]
            } else {
                d
            }
        } else {
            Vec::new()
        };
        let counties = loaded.directory.counties.len();
        let departments = loaded.directory.department_count();
        let generation = if changed {
            let mut v = self.current.write().unwrap_or_else(PoisonError::into_inner);
            v.directory = Arc::new(loaded.directory);
            v.raw = loaded.raw.into();
            v.hash = loaded.hash.clone();
            v.generation += 1;
            let generation = v.generation;
            drop(v);
            self.changes.send_replace(generation);
            generation
        } else {
            self.generation()
        };
        metrics::gauge!("xf_directory_generation").set(generation as f64);
        Ok(Reloaded {
            path: path.display().to_string(),
            hash: loaded.hash,
            previous_hash: running_hash,
            changed,
            changes,
            generation,
            counties,
            departments,
            extra,
        })
    }

    /// [`Self::reload`], logged, counted and written to the audit log as `directory_reload`
    /// (or `directory_reload_failed`) with who asked and how (`via`: `SIGHUP`, `http`).
    pub async fn reload_audited(
        &self,
        who: &Principal,
        auth: &Auth,
        via: &str,
    ) -> Result<Reloaded, ReloadError> {
        let result = self.reload(&who.id, via).await;
        let (action, reason) = match &result {
            Ok(r) => {
                metrics::counter!("xf_directory_reloads_total", "result" => "ok").increment(1);
                tracing::info!(
                    via,
                    by = %who.id,
                    path = %r.path,
                    hash = %r.hash,
                    changed = r.changed,
                    changes = r.changes.len(),
                    "department directory reloaded"
                );
                for change in &r.changes {
                    tracing::info!(change = %change, "directory change");
                }
                (
                    "directory_reload",
                    format!(
                        "via {via}: {} sha256 {}{}",
                        r.path,
                        r.hash,
                        if r.changed {
                            format!(" ({})", r.changes.join("; "))
                        } else {
                            " (unchanged)".to_owned()
                        }
                    ),
                )
            }
            Err(e) => {
                metrics::counter!("xf_directory_reloads_total", "result" => e.code()).increment(1);
                tracing::error!(via, by = %who.id, error = %e, "directory reload refused; the running directory stays");
                ("directory_reload_failed", format!("via {via}: {e}"))
            }
        };
        if let Err(e) = auth.audit(who, action, None, &reason).await {
            tracing::error!(error = %e, action, "directory reload not written to the audit log");
        }
        result
    }
}

/// The answer of `POST /v1/directory/reload` for `who`: operators of a county in `served`
/// only; 200 with [`Reloaded`], else the error with its code (422 for a refused file, every
/// problem listed).
pub async fn reload_response(
    handle: &DirectoryHandle,
    auth: &Auth,
    who: &Principal,
    served: &BTreeSet<CountyCode>,
) -> Response {
    if who.role != Role::Operator || !served.contains(&who.scope) {
        return error_response(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only an operator of a county this deployment serves reloads the directory",
            None,
        );
    }
    match handle.reload_audited(who, auth, "http").await {
        Ok(r) => Json(r).into_response(),
        Err(e) => error_response(e.status(), e.code(), e.to_string(), None),
    }
}

#[derive(Clone)]
struct Api {
    handle: Arc<DirectoryHandle>,
    auth: Auth,
    served: Arc<BTreeSet<CountyCode>>,
}

impl axum::extract::FromRef<Api> for Auth {
    fn from_ref(s: &Api) -> Auth {
        s.auth.clone()
    }
}

/// `POST /v1/directory/reload` (operators of a county in `served`), on every service that reads
/// the directory ([`crate::host::ServiceHost::directory`]).
pub fn router(handle: Arc<DirectoryHandle>, auth: Auth, served: BTreeSet<CountyCode>) -> Router {
    Router::new()
        .route("/v1/directory/reload", post(reload))
        .with_state(Api {
            handle,
            auth,
            served: Arc::new(served),
        })
}

async fn reload(State(api): State<Api>, Caller(who): Caller) -> Response {
    reload_response(&api.handle, &api.auth, &who, &api.served).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = r#"
[directory]
name = "t"

[[county]]
code = "411200"
name = "三门峡市"

[[county.department]]
code = "gov"
name = "人民政府"
[[county.department]]
code = "xfj"
name = "信访局"
[[county.department]]
code = "jwjw"
name = "纪委监委"
[[county.department]]
code = "zfw"
name = "政法委"
[[county.department]]
code = "fy"
name = "法院"
[[county.department]]
code = "jcy"
name = "检察院"
[[county.department]]
code = "gaj"
name = "公安局"
[[county.department]]
code = "rsj"
name = "人社局"
contacts = { email = "rsj@example.gov.cn" }
[[county.department]]
code = "nyncj"
name = "农业农村局"
[[county.department]]
code = "zzb"
name = "组织部"
[[county.department]]
code = "sfj"
name = "司法局"
"#;

    fn temp_file(body: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("xf-dir-{}.toml", uuid::Uuid::now_v7()));
        std::fs::write(&p, body).unwrap();
        p
    }

    struct Refuse(&'static str);

    impl ReloadStep for Refuse {
        fn prepare<'a>(
            &'a self,
            p: &'a Proposed<'a>,
        ) -> BoxFuture<'a, Result<Map<String, Value>, StepError>> {
            Box::pin(async move {
                if p.loaded.raw.contains(self.0) {
                    return Err(StepError::Refused {
                        code: "directory_test_refused",
                        message: format!("{} is not welcome", self.0),
                    });
                }
                let mut m = Map::new();
                m.insert("seen_by".into(), Value::from(p.by));
                Ok(m)
            })
        }
    }

    #[tokio::test]
    async fn a_reload_swaps_the_directory_and_a_bad_or_refused_file_keeps_the_running_one() {
        let path = temp_file(DIR);
        let handle = DirectoryHandle::load(&path).unwrap();
        handle.add_step(Arc::new(Refuse("forbidden_dept")));
        let mut changes = handle.subscribe();
        let first = handle.hash();
        let before = handle.current();

        // Unchanged (a comment does not count): no new generation.
        std::fs::write(&path, format!("# a comment\n{DIR}")).unwrap();
        let r = handle.reload("tester", "test").await.unwrap();
        assert!(!r.changed);
        assert!(r.changes.is_empty());
        assert_eq!(r.hash, first);
        assert_eq!(handle.generation(), 0);
        assert_eq!(r.extra["seen_by"], "tester");

        // A new department and a changed contact.
        let added = format!(
            "{}\n[[county.department]]\ncode = \"xdept\"\nname = \"新设局\"\n",
            DIR.replace("rsj@example.gov.cn", "rsj2@example.gov.cn")
        );
        std::fs::write(&path, &added).unwrap();
        let r = handle.reload("tester", "test").await.unwrap();
        assert!(r.changed);
        assert_eq!(r.previous_hash, first);
        assert_eq!(handle.generation(), 1);
        assert_eq!(*changes.borrow_and_update(), 1);
        assert!(r.changes.iter().any(|c| c.contains("xdept")), "{r:?}");
        assert!(
            r.changes
                .iter()
                .any(|c| c.contains("411200:rsj changed: email")),
            "{r:?}"
        );
        let now = handle.current();
        assert!(
            now.county(&CountyCode::parse("411200").unwrap())
                .unwrap()
                .department("xdept")
                .is_some()
        );
        // A snapshot taken before stays what it was.
        assert!(
            before
                .county(&CountyCode::parse("411200").unwrap())
                .unwrap()
                .department("xdept")
                .is_none()
        );

        // Invalid: refused with the problem named; the running directory stays.
        std::fs::write(&path, "[[county]]\ncode = \"bad\"\nname = \"坏\"\n").unwrap();
        let e = handle.reload("tester", "test").await.unwrap_err();
        assert_eq!(e.code(), "directory_invalid");
        assert_eq!(e.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(e.to_string().contains("county[bad].code"), "{e}");
        // Refused by a step: the running directory stays.
        std::fs::write(&path, added.replace("xdept", "forbidden_dept")).unwrap();
        let e = handle.reload("tester", "test").await.unwrap_err();
        assert_eq!(e.code(), "directory_test_refused");
        assert!(
            e.to_string().contains("forbidden_dept is not welcome"),
            "{e}"
        );
        // Unreadable.
        std::fs::remove_file(&path).unwrap();
        let e = handle.reload("tester", "test").await.unwrap_err();
        assert_eq!(e.code(), "directory_unreadable");
        assert_eq!(handle.generation(), 1);
        assert!(Arc::ptr_eq(&handle.current(), &now));
        assert!(!changes.has_changed().unwrap());

        let fixed = DirectoryHandle::fixed(Directory::from_toml_str(DIR).unwrap());
        assert_eq!(
            fixed.reload("tester", "test").await.unwrap_err().code(),
            "directory_not_reloadable"
        );
    }
}
