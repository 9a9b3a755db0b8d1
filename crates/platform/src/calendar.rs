//! The deployment's holiday calendar (`paths.calendar`), one per process and shared by every
//! service in it:
//!
//! - loaded once when the process connects ([`crate::host::Infra::connect`]): a missing or bad
//!   file stops the start of every service alike, naming the file and the problem (no silent
//!   fallback to the copy compiled into the binary);
//! - reloaded without a restart on SIGHUP ([`crate::main_runner`]), by an operator over HTTP
//!   (`POST /v1/calendar/reload` on any service) or with `xinfang calendar reload`: a bad file
//!   fails the reload loudly and the running calendar stays; every reload, good or bad, is
//!   written to the audit log ([`crate::auth`]);
//! - watched: `/readyz` (`"calendar"`) and the gauge `xf_calendar_days_left` report how many
//!   days of calendar are left, with a warning from [`WARN_DAYS`] days before its end.
//!
//! Services take a snapshot with [`CalendarHandle::current`] for each computation, so a reload
//! takes effect for the next one; [`CalendarHandle::subscribe`] tells them it happened (the
//! supervision service then recomputes the deadlines it had to mark provisional).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{Datelike, NaiveDate, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use xinfang_domain::access::{Principal, Role};
use xinfang_domain::calendar::{Calendar, CalendarError, Coverage, CoverageState};
use xinfang_domain::county::CountyCode;
use xinfang_domain::deadline::{CST, cst_date};

pub use xinfang_domain::calendar::WARN_DAYS;

use crate::auth::{Auth, Caller};
use crate::http::{Advisory, AdvisoryReport};
use crate::http_error::error_response;

/// Why a calendar file cannot be used. Messages name the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum CalendarFileError {
    #[error("calendar file {path}: cannot read it: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("calendar file {path}: {source}")]
    Invalid { path: String, source: CalendarError },
    #[error(
        "calendar file {path}: it no longer lists year {year}, which the running calendar has and which is not over; a reload may add or correct years, not drop a current one"
    )]
    DropsYear { path: String, year: i32 },
    #[error("this calendar was not loaded from a file, so it cannot be reloaded")]
    NoFile,
}

impl CalendarFileError {
    /// A stable code for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            CalendarFileError::Read { .. } => "calendar_unreadable",
            CalendarFileError::Invalid { .. } => "calendar_invalid",
            CalendarFileError::DropsYear { .. } => "calendar_drops_year",
            CalendarFileError::NoFile => "calendar_not_from_file",
        }
    }
}

/// One loaded version of the calendar.
#[derive(Debug, Clone)]
struct Version {
    calendar: Arc<Calendar>,
    /// SHA-256 of the file's bytes (hex), to tell versions apart in the audit log.
    sha256: String,
    generation: u64,
}

/// The outcome of a successful reload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reloaded {
    pub path: String,
    pub sha256: String,
    /// False when the file had not changed.
    pub changed: bool,
    pub years: Vec<i32>,
    pub added_years: Vec<i32>,
    pub coverage: Coverage,
}

/// What `GET /v1/calendar` and readiness report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CalendarStatus {
    pub path: String,
    pub sha256: String,
    pub warn_days: i64,
    #[serde(flatten)]
    pub coverage: Coverage,
    pub message: String,
}

/// The process's calendar: the current version, where it came from, and who to tell.
pub struct CalendarHandle {
    path: Option<PathBuf>,
    current: RwLock<Version>,
    changes: watch::Sender<u64>,
}

impl std::fmt::Debug for CalendarHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CalendarHandle")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads and checks a calendar file.
pub fn read_file(path: &Path) -> Result<(Calendar, String), CalendarFileError> {
    let shown = path.display().to_string();
    let raw = std::fs::read(path).map_err(|source| CalendarFileError::Read {
        path: shown.clone(),
        source,
    })?;
    let text = String::from_utf8_lossy(&raw);
    let calendar = Calendar::from_toml_str(&text).map_err(|source| CalendarFileError::Invalid {
        path: shown,
        source,
    })?;
    Ok((calendar, sha256_hex(&raw)))
}

/// Today in China.
pub fn today() -> NaiveDate {
    cst_date(Utc::now().with_timezone(&CST))
}

impl CalendarHandle {
    /// Loads `path`; fails naming the file and the problem.
    pub fn load(path: &Path) -> Result<CalendarHandle, CalendarFileError> {
        let (calendar, sha256) = read_file(path)?;
        let handle = CalendarHandle::new(Some(path.to_owned()), calendar, sha256);
        let today = today();
        handle.record_metrics(today);
        let status = handle.status(today);
        if status.coverage.state == CoverageState::Ok {
            tracing::info!(path = %status.path, years = ?status.coverage.years, "{}", status.message);
        } else {
            tracing::warn!(path = %status.path, years = ?status.coverage.years, "{}", status.message);
        }
        Ok(handle)
    }

    /// A calendar not backed by a file (tools and unit tests); it cannot be reloaded.
    pub fn fixed(calendar: Calendar) -> CalendarHandle {
        CalendarHandle::new(None, calendar, String::new())
    }

    fn new(path: Option<PathBuf>, calendar: Calendar, sha256: String) -> CalendarHandle {
        let (changes, _) = watch::channel(0);
        CalendarHandle {
            path,
            current: RwLock::new(Version {
                calendar: Arc::new(calendar),
                sha256,
                generation: 0,
            }),
            changes,
        }
    }

    fn version(&self) -> Version {
        match self.current.read() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The calendar as it stands; take one per computation.
    pub fn current(&self) -> Arc<Calendar> {
        self.version().calendar
    }

    /// How many times the calendar was replaced since start.
    pub fn generation(&self) -> u64 {
        self.version().generation
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Changes to the calendar: the receiver sees each new generation.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Coverage and warning state on `today`.
    pub fn status(&self, today: NaiveDate) -> CalendarStatus {
        let v = self.version();
        let coverage = v.calendar.coverage(today);
        CalendarStatus {
            path: self
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "(built in)".into()),
            sha256: v.sha256,
            warn_days: WARN_DAYS,
            message: coverage.message(),
            coverage,
        }
    }

    /// Publishes `xf_calendar_days_left` (negative once the calendar has ended: days since its
    /// last covered day) and `xf_calendar_warning` (1 from [`WARN_DAYS`] days before the end).
    pub fn record_metrics(&self, today: NaiveDate) {
        let v = self.version();
        let coverage = v.calendar.coverage(today);
        let days_left = coverage.days_left.unwrap_or_else(|| {
            v.calendar
                .years()
                .into_iter()
                .filter(|y| *y < today.year())
                .max()
                .and_then(|y| NaiveDate::from_ymd_opt(y, 12, 31))
                .map_or(-1, |end| (end - today).num_days())
        });
        metrics::gauge!("xf_calendar_days_left").set(days_left as f64);
        metrics::gauge!("xf_calendar_warning")
            .set(f64::from(u8::from(coverage.state != CoverageState::Ok)));
        metrics::gauge!("xf_calendar_generation").set(v.generation as f64);
    }

    /// Reads the file again and, if it is valid, makes it the current calendar. On any error
    /// the running calendar stays.
    pub fn reload(&self) -> Result<Reloaded, CalendarFileError> {
        let path = self.path.as_ref().ok_or(CalendarFileError::NoFile)?;
        let shown = path.display().to_string();
        let (calendar, sha256) = read_file(path)?;
        let today = today();
        let mut current = match self.current.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let old_years = current.calendar.years();
        if let Some(year) = old_years
            .iter()
            .copied()
            .find(|y| *y >= today.year() && !calendar.covers(*y))
        {
            return Err(CalendarFileError::DropsYear { path: shown, year });
        }
        let changed = sha256 != current.sha256;
        let years = calendar.years();
        let added_years = years
            .iter()
            .copied()
            .filter(|y| !old_years.contains(y))
            .collect();
        let coverage = calendar.coverage(today);
        if changed {
            current.calendar = Arc::new(calendar);
            current.sha256 = sha256.clone();
            current.generation += 1;
            let generation = current.generation;
            drop(current);
            self.changes.send_replace(generation);
        } else {
            drop(current);
        }
        self.record_metrics(today);
        Ok(Reloaded {
            path: shown,
            sha256,
            changed,
            years,
            added_years,
            coverage,
        })
    }

    /// [`Self::reload`], logged, counted and written to the audit log as `calendar_reload` (or
    /// `calendar_reload_failed`) with who asked and how (`via`: `SIGHUP`, `http`).
    pub async fn reload_audited(
        &self,
        who: &Principal,
        auth: &Auth,
        via: &str,
    ) -> Result<Reloaded, CalendarFileError> {
        let result = self.reload();
        let (action, reason) = match &result {
            Ok(r) => {
                metrics::counter!("xf_calendar_reloads_total", "result" => "ok").increment(1);
                tracing::info!(
                    via,
                    by = %who.id,
                    path = %r.path,
                    sha256 = %r.sha256,
                    changed = r.changed,
                    years = ?r.years,
                    covered_until = ?r.coverage.covered_until,
                    "holiday calendar reloaded"
                );
                (
                    "calendar_reload",
                    format!(
                        "via {via}: {} sha256 {} years {:?}{} covered until {}",
                        r.path,
                        r.sha256,
                        r.years,
                        if r.changed { "" } else { " (unchanged)" },
                        r.coverage
                            .covered_until
                            .map_or_else(|| "none".to_owned(), |d| d.to_string())
                    ),
                )
            }
            Err(e) => {
                metrics::counter!("xf_calendar_reloads_total", "result" => "error").increment(1);
                tracing::error!(via, by = %who.id, error = %e, "holiday calendar reload refused; the running calendar stays");
                ("calendar_reload_failed", format!("via {via}: {e}"))
            }
        };
        if let Err(e) = auth.audit(who, action, None, &reason).await {
            tracing::error!(error = %e, action, "calendar reload not written to the audit log");
        }
        result
    }

    /// The readiness advisory: `warn` from [`WARN_DAYS`] days before the end (and after it),
    /// never a failure (deadlines are still computed, marked provisional).
    pub fn advisory(self: &Arc<Self>) -> Advisory {
        let handle = self.clone();
        Advisory::new("calendar", move || {
            let today = today();
            handle.record_metrics(today);
            let status = handle.status(today);
            AdvisoryReport {
                warn: status.coverage.state != CoverageState::Ok,
                detail: serde_json::to_value(&status).unwrap_or_default(),
            }
        })
    }
}

/// The principal of a reload asked for by a signal to the process.
pub fn signal_principal(city: CountyCode) -> Principal {
    Principal {
        id: "signal:SIGHUP".into(),
        role: Role::Operator,
        scope: city,
        department: None,
    }
}

#[derive(Clone)]
struct Api {
    handle: Arc<CalendarHandle>,
    auth: Auth,
}

impl axum::extract::FromRef<Api> for Auth {
    fn from_ref(s: &Api) -> Auth {
        s.auth.clone()
    }
}

/// `GET /v1/calendar` (any staff) and `POST /v1/calendar/reload` (operators), on every service.
pub fn router(handle: Arc<CalendarHandle>, auth: Auth) -> Router {
    Router::new()
        .route("/v1/calendar", get(show))
        .route("/v1/calendar/reload", post(reload))
        .with_state(Api { handle, auth })
}

async fn show(State(api): State<Api>, Caller(_who): Caller) -> Response {
    Json(api.handle.status(today())).into_response()
}

async fn reload(State(api): State<Api>, Caller(who): Caller) -> Response {
    if who.role != Role::Operator {
        return error_response(
            StatusCode::FORBIDDEN,
            "forbidden",
            "only an operator reloads the holiday calendar",
            None,
        );
    }
    match api.handle.reload_audited(&who, &api.auth, "http").await {
        Ok(r) => Json(r).into_response(),
        Err(e) => error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            e.code(),
            e.to_string(),
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xinfang_domain::calendar::EMBEDDED_TOML;

    fn temp_file(body: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("xf-cal-{}.toml", uuid::Uuid::now_v7()));
        std::fs::write(&p, body).unwrap();
        p
    }

    fn this_year() -> i32 {
        today().year()
    }

    #[test]
    fn a_bad_file_at_start_names_the_file_and_the_problem() {
        let missing = std::env::temp_dir().join("xf-no-such-calendar.toml");
        let e = CalendarHandle::load(&missing).unwrap_err();
        assert_eq!(e.code(), "calendar_unreadable");
        assert!(e.to_string().contains("xf-no-such-calendar.toml"), "{e}");
        let bad = temp_file("[2026]\noff = [\"2026-02-30\"]\n");
        let e = CalendarHandle::load(&bad).unwrap_err();
        assert_eq!(e.code(), "calendar_invalid");
        assert!(
            e.to_string().contains("2026-02-30") && e.to_string().contains("calendar file"),
            "{e}"
        );
        let _ = std::fs::remove_file(bad);
    }

    #[test]
    fn a_reload_adds_years_and_a_bad_file_keeps_the_running_calendar() {
        let y = this_year();
        let path = temp_file(&format!("[{y}]\n"));
        let handle = CalendarHandle::load(&path).unwrap();
        let mut changes = handle.subscribe();
        assert_eq!(handle.current().years(), vec![y]);
        let before = handle.status(today());
        assert_eq!(
            before.coverage.covered_until,
            NaiveDate::from_ymd_opt(y, 12, 31)
        );
        // Unchanged file: no new generation.
        let r = handle.reload().unwrap();
        assert!(!r.changed);
        assert_eq!(handle.generation(), 0);
        // The operator adds next year.
        std::fs::write(&path, format!("[{y}]\n[{}]\n", y + 1)).unwrap();
        let r = handle.reload().unwrap();
        assert!(r.changed);
        assert_eq!(r.added_years, vec![y + 1]);
        assert_eq!(handle.generation(), 1);
        assert!(changes.has_changed().unwrap());
        assert_eq!(*changes.borrow_and_update(), 1);
        let after = handle.status(today());
        assert_eq!(
            after.coverage.covered_until,
            NaiveDate::from_ymd_opt(y + 1, 12, 31)
        );
        assert_eq!(after.coverage.state, CoverageState::Ok);
        // A broken file: refused, naming the problem; the running calendar stays.
        std::fs::write(&path, format!("[{y}]\noff = [\"{y}-13-01\"]\n")).unwrap();
        let e = handle.reload().unwrap_err();
        assert_eq!(e.code(), "calendar_invalid");
        assert!(e.to_string().contains("13-01"), "{e}");
        assert_eq!(handle.current().years(), vec![y, y + 1]);
        assert_eq!(handle.generation(), 1);
        // Dropping the current year is refused too.
        std::fs::write(&path, format!("[{}]\n", y + 1)).unwrap();
        let e = handle.reload().unwrap_err();
        assert_eq!(e.code(), "calendar_drops_year");
        assert_eq!(handle.current().years(), vec![y, y + 1]);
        let _ = std::fs::remove_file(path);
        assert_eq!(
            CalendarHandle::fixed(Calendar::embedded())
                .reload()
                .unwrap_err()
                .code(),
            "calendar_not_from_file"
        );
    }

    #[test]
    fn the_status_warns_from_sixty_days_before_the_end() {
        let handle = CalendarHandle::fixed(Calendar::from_toml_str(EMBEDDED_TOML).unwrap());
        let s = handle.status(NaiveDate::from_ymd_opt(2026, 12, 4).unwrap());
        assert_eq!(s.coverage.days_left, Some(27));
        assert_eq!(s.coverage.state, CoverageState::Warn);
        assert_eq!(s.warn_days, 60);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["state"], "warn");
        assert_eq!(v["days_left"], 27);
        assert_eq!(v["covered_until"], "2026-12-31");
        let s = handle.status(NaiveDate::from_ymd_opt(2026, 6, 1).unwrap());
        assert_eq!(s.coverage.state, CoverageState::Ok);
    }
}
