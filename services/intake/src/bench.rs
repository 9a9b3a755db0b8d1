//! `xinfang bench classify`: runs a labelled petition file through the real registration path
//! (validation, classification, repeat linking, numbering, storage, outbox) in a scratch
//! database of its own, in file order so repeats see their earlier matters, and scores it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use xinfang_domain::classify::Departments;
use xinfang_domain::county::CountyCode;
use xinfang_domain::registration::{PersonInput, RegistrationInput};
use xinfang_platform::config::{Loaded, Secret};
use xinfang_platform::db;

use crate::crypto::Keys;
use crate::register::Registrar;
use crate::service::{MIGRATOR, NAME, load_classifier};
use crate::settings::IntakeSettings;

/// One line of a labelled file (schema of the dev set's README).
#[derive(Debug, Deserialize)]
pub struct Labelled {
    pub id: String,
    pub text: String,
    #[serde(rename = "type")]
    pub petition_type: String,
    #[serde(default)]
    pub diversion: String,
    pub dept: String,
    pub county: String,
    #[serde(default)]
    pub accused_official: bool,
    #[serde(default)]
    pub repeat_of: String,
    pub petitioner: LabelledPerson,
}

#[derive(Debug, Deserialize)]
pub struct LabelledPerson {
    pub name: String,
    pub phone: String,
    pub id_number: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub type_accuracy: f64,
    pub dept_accuracy: f64,
    pub county_accuracy: f64,
    pub diversion_accuracy: f64,
    pub accused_precision: f64,
    pub accused_recall: f64,
    pub repeat_precision: f64,
    pub repeat_recall: f64,
    pub per_second: f64,
    pub n: usize,
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        1.0
    } else {
        num as f64 / den as f64
    }
}

fn county_name(code: Option<&CountyCode>) -> &'static str {
    match code.map(CountyCode::as_str) {
        None => "unknown",
        Some("411200") => "市本级",
        Some("411202") => "湖滨区",
        Some("411203") => "陕州区",
        Some("411221") => "渑池县",
        Some("411224") => "卢氏县",
        Some("411281") => "义马市",
        Some("411282") => "灵宝市",
        Some(_) => "other",
    }
}

/// Parses the file; a bad line is reported with its number.
pub fn parse(jsonl: &str) -> anyhow::Result<Vec<Labelled>> {
    jsonl
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| anyhow::anyhow!("line {}: {e}", i + 1)))
        .collect()
}

/// Registers every line and scores the result. `progress` is called after each line.
pub async fn run(
    base: &Loaded,
    lines: &[Labelled],
    mut progress: impl FnMut(usize),
) -> anyhow::Result<Report> {
    let p = &base.platform;
    let mut dbs = p.database.clone();
    let scratch = format!("xf_bench_{}", uuid::Uuid::now_v7().simple());
    let url = p.database.url.expose();
    let root = url.rsplit_once('/').map(|(r, _)| r).unwrap_or(url);
    dbs.url = Secret::new(format!("{root}/{scratch}"));
    dbs.create_if_missing = true;
    let pool = db::connect(&dbs, NAME).await?;
    let result = async {
        db::migrate(&pool, NAME, &MIGRATOR).await?;
        let city = p
            .city()
            .ok_or_else(|| anyhow::anyhow!("deployment.city is invalid"))?;
        let registrar = Registrar {
            pool: pool.clone(),
            classifier: Arc::new(load_classifier(&p.paths.classification)?),
            keys: Keys::from_settings(&p.security)?,
            settings: base.section::<IntakeSettings>("intake")?,
            city: city.clone(),
            served: vec![city.clone()],
        };
        score(&registrar, lines, &mut progress).await
    }
    .await;
    pool.close().await;
    db::drop_database(&dbs).await?;
    result
}

async fn score(
    registrar: &Registrar,
    lines: &[Labelled],
    progress: &mut impl FnMut(usize),
) -> anyhow::Result<Report> {
    let departments = Departments::embedded();
    let mut case_to_line: HashMap<String, String> = HashMap::new();
    let (mut ty, mut dept, mut county, mut div) = (0, 0, 0, 0);
    let (mut acc_tp, mut acc_fp, mut acc_fn) = (0, 0, 0);
    let (mut rep_tp, mut rep_fp, mut rep_fn) = (0, 0, 0);
    let start = Instant::now();
    for (i, l) in lines.iter().enumerate() {
        let input = RegistrationInput {
            channel: "letter".into(),
            petitioner: PersonInput {
                name: l.petitioner.name.clone(),
                id_number: Some(l.petitioner.id_number.clone()),
                mobile: Some(l.petitioner.phone.clone()),
                ..Default::default()
            },
            co_petitioners: vec![],
            group_size: None,
            representatives: vec![],
            text: l.text.clone(),
            county: "unknown".into(),
            received_at: chrono::Utc::now(),
            clerk_id: "bench".into(),
            urgent: false,
            received_by: None,
        };
        let r = registrar
            .register(&input, chrono::Utc::now())
            .await
            .map_err(|e| anyhow::anyhow!("line {} ({}): {e}", i + 1, l.id))?;
        case_to_line.insert(r.case_no.clone(), l.id.clone());
        let c = &r.classification;
        ty += usize::from(c.petition_type.zh() == l.petition_type);
        dept += usize::from(departments.name_of(&c.department) == Some(l.dept.as_str()));
        county += usize::from(county_name(c.county.as_ref()) == l.county);
        div += usize::from(c.diversion.map(|d| d.zh()).unwrap_or("") == l.diversion);
        match (c.accuses_official, l.accused_official) {
            (true, true) => acc_tp += 1,
            (true, false) => acc_fp += 1,
            (false, true) => acc_fn += 1,
            _ => {}
        }
        let predicted = r
            .repeat
            .as_ref()
            .and_then(|x| case_to_line.get(&x.of))
            .cloned();
        match (predicted, l.repeat_of.is_empty()) {
            (Some(p), false) if p == l.repeat_of => rep_tp += 1,
            (Some(_), false) => {
                rep_fp += 1;
                rep_fn += 1;
            }
            (Some(_), true) => rep_fp += 1,
            (None, false) => rep_fn += 1,
            (None, true) => {}
        }
        progress(i + 1);
    }
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    let n = lines.len();
    Ok(Report {
        type_accuracy: ratio(ty, n),
        dept_accuracy: ratio(dept, n),
        county_accuracy: ratio(county, n),
        diversion_accuracy: ratio(div, n),
        accused_precision: ratio(acc_tp, acc_tp + acc_fp),
        accused_recall: ratio(acc_tp, acc_tp + acc_fn),
        repeat_precision: ratio(rep_tp, rep_tp + rep_fp),
        repeat_recall: ratio(rep_tp, rep_tp + rep_fn),
        per_second: n as f64 / secs,
        n,
    })
}
