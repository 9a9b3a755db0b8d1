//! Learning from clerks: a clerk's correction of a classification is kept as a labelled
//! example (the redacted text and the corrected labels, with who made it), and the term models
//! are retrained on the shipped examples plus these — on a schedule and on command
//! (`POST /v1/classifier/retrain`) — and swapped in without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use xinfang_domain::classify::examples::{self, Example};
use xinfang_domain::classify::{Classifier, ClassifierRules, Departments, Gazetteer};
use xinfang_domain::petition::{Diversion, PetitionType};

/// The classifier in use; registration takes the current one per petition.
pub struct ClassifierHandle {
    current: RwLock<Arc<Classifier>>,
    state: RwLock<TrainingState>,
    /// The classification data directory (rules, gazetteer, shipped examples).
    dir: PathBuf,
}

/// What the classifier in use was trained on.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TrainingState {
    /// Shipped examples (`examples.jsonl`).
    pub shipped: usize,
    /// Clerks' corrections included.
    pub learned: usize,
    pub trained_at: Option<DateTime<Utc>>,
    /// How long the last training took.
    pub took_ms: u64,
}

impl ClassifierHandle {
    pub fn new(classifier: Classifier, dir: PathBuf, shipped: usize) -> Self {
        Self {
            current: RwLock::new(Arc::new(classifier)),
            state: RwLock::new(TrainingState {
                shipped,
                ..TrainingState::default()
            }),
            dir,
        }
    }

    /// A fixed classifier that never retrains (benchmarks).
    pub fn fixed(classifier: Classifier) -> Self {
        Self::new(classifier, PathBuf::new(), 0)
    }

    pub fn current(&self) -> Arc<Classifier> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn state(&self) -> TrainingState {
        match self.state.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// A classifier trained on the shipped examples plus every learned one: what a service
    /// starts with. Built once, not shipped-only first and then again: the first build's
    /// memory would stay with the process.
    pub async fn trained(dir: PathBuf, pool: &PgPool) -> anyhow::Result<Self> {
        let (classifier, state) = train(dir.clone(), pool).await?;
        metrics::gauge!("xf_classifier_learned_examples").set(state.learned as f64);
        Ok(Self {
            current: RwLock::new(Arc::new(classifier)),
            state: RwLock::new(state),
            dir,
        })
    }

    /// The shipped examples alone (when the learned ones cannot be read).
    pub fn shipped(dir: PathBuf) -> anyhow::Result<Self> {
        let (classifier, shipped) = build(&dir, Vec::new())?;
        Ok(Self::new(classifier, dir, shipped))
    }

    /// Retrains on the shipped examples plus every learned one, then swaps the classifier in.
    pub async fn retrain(&self, pool: &PgPool) -> anyhow::Result<TrainingState> {
        let (classifier, state) = train(self.dir.clone(), pool).await?;
        if let Ok(mut c) = self.current.write() {
            *c = Arc::new(classifier);
        }
        if let Ok(mut s) = self.state.write() {
            *s = state.clone();
        }
        metrics::gauge!("xf_classifier_learned_examples").set(state.learned as f64);
        tracing::info!(
            shipped = state.shipped,
            learned = state.learned,
            took_ms = state.took_ms,
            "classifier retrained"
        );
        Ok(state)
    }
}

/// Trains a classifier on the data in `dir` plus every learned example.
async fn train(dir: PathBuf, pool: &PgPool) -> anyhow::Result<(Classifier, TrainingState)> {
    let learned = load_learned(pool).await?;
    let learned_n = learned.len();
    let start = Instant::now();
    let (classifier, shipped) = tokio::task::spawn_blocking(move || build(&dir, learned)).await??;
    let state = TrainingState {
        shipped,
        learned: learned_n,
        trained_at: Some(Utc::now()),
        took_ms: start.elapsed().as_millis() as u64,
    };
    Ok((classifier, state))
}

/// The classifier over the rules, gazetteer and shipped examples in `dir` plus `learned`, and
/// how many examples were shipped.
pub fn build(dir: &Path, learned: Vec<Example>) -> anyhow::Result<(Classifier, usize)> {
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .map_err(|e| anyhow::anyhow!("classification data {}: {e}", dir.join(name).display()))
    };
    let rules = ClassifierRules::from_toml_str(&read("rules.toml")?)?;
    let gazetteer = Gazetteer::from_toml_str(&read("gazetteer.toml")?)?;
    let mut all = examples::parse(&read("examples.jsonl")?)?;
    let shipped = all.len();
    all.extend(learned);
    Ok((Classifier::new(rules, gazetteer, &all)?, shipped))
}

/// Keeps a clerk's correction as a labelled example (in the correction's transaction).
#[allow(clippy::too_many_arguments)]
pub async fn record_correction(
    conn: &mut PgConnection,
    case_no: &str,
    redacted_text: &str,
    petition_type: PetitionType,
    department: &str,
    diversion: Option<Diversion>,
    clerk: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into learned_examples (case_no, text, petition_type, department, diversion, source)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (case_no) do update set text = $2, petition_type = $3, department = $4,
             diversion = $5, source = $6, learned_at = now()",
    )
    .bind(case_no)
    .bind(redacted_text)
    .bind(petition_type.as_str())
    .bind(department)
    .bind(diversion.map(Diversion::as_str))
    .bind(format!("clerk:{clerk}"))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The learned examples the term models can use: a department the classification data does
/// not know (added to the directory since) teaches nothing yet and is left out.
pub async fn load_learned(pool: &PgPool) -> anyhow::Result<Vec<Example>> {
    let rows: Vec<(String, String, String, String, Option<String>)> = sqlx::query_as(
        "select case_no, text, petition_type, department, diversion from learned_examples
         order by learned_at, case_no",
    )
    .fetch_all(pool)
    .await?;
    let departments = Departments::embedded();
    Ok(rows
        .into_iter()
        .filter_map(|(case_no, text, t, department, diversion)| {
            let petition_type = PetitionType::parse(&t).ok()?;
            if !departments.contains(&department) || text.trim().is_empty() {
                return None;
            }
            let diversion = match diversion {
                Some(d) => Some(Diversion::parse(&d).ok()?),
                None => None,
            };
            Some(Example {
                id: format!("learned:{case_no}"),
                text,
                petition_type,
                department,
                diversion,
            })
        })
        .collect())
}

/// Retrains every `every` when corrections were added since the last training.
pub async fn run_schedule(
    handle: Arc<ClassifierHandle>,
    pool: PgPool,
    every: Duration,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
        let learned: Result<i64, _> = sqlx::query_scalar("select count(*) from learned_examples")
            .fetch_one(&pool)
            .await;
        match learned {
            Ok(n) if n as usize != handle.state().learned => {
                if let Err(e) = handle.retrain(&pool).await {
                    tracing::warn!(error = %e, "scheduled classifier retraining failed");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot count learned examples"),
        }
    }
}
