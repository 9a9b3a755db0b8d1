//! `xinfang bench classify`: runs a labelled petition file through the real registration path
//! (validation, classification, repeat linking, numbering, storage, outbox) in a scratch
//! database of its own, in file order so repeats see their earlier matters, and scores it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use xinfang_domain::classify::Departments;
use xinfang_domain::classify::calibration::{Bin, TriagePoint, reliability, triage_curve};
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
    /// Recall of the 检举控告 type: an accusation classified as anything else exposes an
    /// informant (issue #19 item 1).
    pub accusation_recall: f64,
    /// Petitions `needs_triage` held for a clerk, and the share of the type/department errors
    /// among them (issue #19 item 4).
    pub triaged_share: f64,
    pub errors_triaged: f64,
    /// The calibration curve: per confidence bin, how sure and how often type and department
    /// were right (issue #19 item 4).
    pub calibration: Vec<Bin>,
    /// Errors caught when holding 5–30% of these petitions, least confident first.
    pub triage_curve: Vec<TriagePoint>,
    pub per_second: f64,
    /// Classification alone on one core (the file's texts, repeated for at least a second).
    pub classify_per_second: f64,
    pub n: usize,
    /// Every error, in file order (`--mismatches`).
    #[serde(skip)]
    pub mismatches: Vec<Mismatch>,
    /// Per field (`type`, `department`, `county`, `diversion`): expected → predicted → count.
    #[serde(skip)]
    pub confusion: BTreeMap<&'static str, BTreeMap<String, BTreeMap<String, usize>>>,
}

/// One wrong field of one petition, as a bureau reads it.
#[derive(Debug, Clone, Serialize)]
pub struct Mismatch {
    pub id: String,
    /// The text's first words (at most 24 characters).
    pub opening: String,
    pub field: &'static str,
    pub expected: String,
    pub predicted: String,
    pub confidence: f32,
    pub needs_triage: bool,
    pub reasons: Vec<String>,
}

impl Report {
    /// The confusion matrix of one field as text: one row per expected label, the predicted
    /// labels with their counts (the diagonal first).
    pub fn confusion_table(&self, field: &str) -> String {
        let Some(rows) = self.confusion.get(field) else {
            return String::new();
        };
        let mut out = String::new();
        for (expected, predicted) in rows {
            let total: usize = predicted.values().sum();
            let right = predicted.get(expected).copied().unwrap_or(0);
            let mut wrong: Vec<(&String, &usize)> =
                predicted.iter().filter(|(p, _)| *p != expected).collect();
            wrong.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let wrong: Vec<String> = wrong.iter().map(|(p, n)| format!("{p} {n}")).collect();
            out.push_str(&format!(
                "  {expected:<12} {right:>4}/{total:<4} {}\n",
                if wrong.is_empty() {
                    String::new()
                } else {
                    format!("→ {}", wrong.join(", "))
                }
            ));
        }
        out
    }
}

fn label(s: &str) -> String {
    if s.is_empty() {
        "—".into()
    } else {
        s.to_owned()
    }
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
            classifier: Arc::new(crate::learning::ClassifierHandle::fixed(load_classifier(
                &p.paths.classification,
            )?)),
            keys: Keys::from_settings(&p.security)?,
            settings: base.section::<IntakeSettings>("intake")?,
            city: city.clone(),
            served: vec![city.clone()],
            sources: p.sources(),
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
    let (mut accusations, mut accusations_found) = (0, 0);
    let (mut triaged, mut errors, mut errors_triaged) = (0, 0, 0);
    let mut scored: Vec<(f32, bool)> = Vec::with_capacity(lines.len());
    let mut mismatches = Vec::new();
    let mut confusion: BTreeMap<&'static str, BTreeMap<String, BTreeMap<String, usize>>> =
        BTreeMap::new();
    let start = Instant::now();
    for (i, l) in lines.iter().enumerate() {
        let input = RegistrationInput {
            source: None,
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
        let fields = [
            (
                "type",
                l.petition_type.clone(),
                c.petition_type.zh().to_owned(),
            ),
            (
                "department",
                l.dept.clone(),
                departments
                    .name_of(&c.department)
                    .unwrap_or(&c.department)
                    .to_owned(),
            ),
            (
                "county",
                l.county.clone(),
                county_name(c.county.as_ref()).to_owned(),
            ),
            (
                "diversion",
                l.diversion.clone(),
                c.diversion.map(|d| d.zh()).unwrap_or("").to_owned(),
            ),
        ];
        for (field, expected, predicted) in &fields {
            *confusion
                .entry(field)
                .or_default()
                .entry(label(expected))
                .or_default()
                .entry(label(predicted))
                .or_default() += 1;
            if expected != predicted {
                mismatches.push(Mismatch {
                    id: l.id.clone(),
                    opening: l.text.chars().take(24).collect(),
                    field,
                    expected: label(expected),
                    predicted: label(predicted),
                    confidence: c.confidence,
                    needs_triage: c.needs_triage,
                    reasons: c.reasons.clone(),
                });
            }
        }
        let type_ok = fields[0].1 == fields[0].2;
        let dept_ok = fields[1].1 == fields[1].2;
        ty += usize::from(type_ok);
        dept += usize::from(dept_ok);
        county += usize::from(fields[2].1 == fields[2].2);
        div += usize::from(fields[3].1 == fields[3].2);
        if l.petition_type == "检举控告" {
            accusations += 1;
            accusations_found += usize::from(type_ok);
        }
        triaged += usize::from(c.needs_triage);
        scored.push((c.confidence, type_ok && dept_ok));
        if !(type_ok && dept_ok) {
            errors += 1;
            errors_triaged += usize::from(c.needs_triage);
        }
        match (c.accuses_official, l.accused_official) {
            (true, true) => acc_tp += 1,
            (true, false) => acc_fp += 1,
            (false, true) => acc_fn += 1,
            _ => {}
        }
        let mismatch =
            |field: &'static str, expected: String, predicted: String, reasons| Mismatch {
                id: l.id.clone(),
                opening: l.text.chars().take(24).collect(),
                field,
                expected,
                predicted,
                confidence: c.confidence,
                needs_triage: c.needs_triage,
                reasons,
            };
        if c.accuses_official != l.accused_official {
            mismatches.push(mismatch(
                "accused_official",
                l.accused_official.to_string(),
                c.accuses_official.to_string(),
                c.reasons.clone(),
            ));
        }
        let predicted = r
            .repeat
            .as_ref()
            .and_then(|x| case_to_line.get(&x.of))
            .cloned();
        if predicted.as_deref().unwrap_or("") != l.repeat_of {
            let why = match &r.repeat {
                Some(x) => format!("linked with similarity {:.2}", x.similarity),
                None => "no earlier matter of this petitioner similar enough".to_owned(),
            };
            mismatches.push(mismatch(
                "repeat_of",
                label(&l.repeat_of),
                label(predicted.as_deref().unwrap_or("")),
                vec![why],
            ));
        }
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
        accusation_recall: ratio(accusations_found, accusations),
        triaged_share: ratio(triaged, n),
        errors_triaged: ratio(errors_triaged, errors),
        calibration: reliability(&scored, 10),
        triage_curve: triage_curve(&scored),
        per_second: n as f64 / secs,
        classify_per_second: classification_rate(registrar, lines),
        n,
        mismatches,
        confusion,
    })
}

/// Classifications per second on this thread: the texts of `lines` in turn, for at least a
/// second (issue #19 item 7: ≥ 2,000/s per core in a release build).
fn classification_rate(registrar: &Registrar, lines: &[Labelled]) -> f64 {
    let classifier = registrar.classifier.current();
    if lines.is_empty() {
        return 0.0;
    }
    let start = Instant::now();
    let mut done = 0usize;
    while start.elapsed().as_secs_f64() < 1.0 {
        for l in lines {
            std::hint::black_box(classifier.classify(&l.text));
        }
        done += lines.len();
    }
    done as f64 / start.elapsed().as_secs_f64().max(1e-9)
}

/// One point of `xinfang bench classify --learning-curve`.
#[derive(Debug, Clone, Serialize)]
pub struct CurvePoint {
    /// Labelled lines fed to the classifier as clerks' corrections so far.
    pub fed: usize,
    /// Lines scored (the file's second half, the same at every point).
    pub scored: usize,
    pub type_accuracy: f64,
    pub dept_accuracy: f64,
    pub diversion_accuracy: f64,
}

/// Accuracy as clerks' corrections accumulate: the file's first half is fed in order, `steps`
/// lines at a time, as learned examples (what a clerk's correction records), and after each
/// step the retrained classifier scores the second half. Classification only (no database).
pub fn learning_curve(
    dir: &std::path::Path,
    lines: &[Labelled],
    steps: usize,
    mut progress: impl FnMut(usize, usize),
) -> anyhow::Result<Vec<CurvePoint>> {
    use xinfang_domain::classify::{Classifier, ClassifierRules, Example, Gazetteer, examples};
    use xinfang_domain::petition::{Diversion, PetitionType};
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .map_err(|e| anyhow::anyhow!("classification data {}: {e}", dir.join(name).display()))
    };
    let rules_text = read("rules.toml")?;
    let gazetteer_text = read("gazetteer.toml")?;
    let shipped = examples::parse(&read("examples.jsonl")?)?;
    let departments = Departments::embedded();
    let half = lines.len() / 2;
    let (feed, test) = lines.split_at(half);
    // A line whose labels the classifier cannot learn (an unknown department) is skipped.
    let as_example = |l: &Labelled| -> Option<Example> {
        Some(Example {
            id: format!("fed:{}", l.id),
            text: l.text.clone(),
            petition_type: PetitionType::parse(&l.petition_type).ok()?,
            department: departments.code_of(&l.dept)?.to_owned(),
            diversion: match l.diversion.as_str() {
                "" => None,
                d => Some(Diversion::parse(d).ok()?),
            },
        })
    };
    let step = half.div_ceil(steps.max(1)).max(1);
    let mut points = Vec::new();
    let mut fed = 0;
    loop {
        let mut all = shipped.clone();
        all.extend(feed[..fed].iter().filter_map(as_example));
        let classifier = Classifier::new(
            ClassifierRules::from_toml_str(&rules_text)?,
            Gazetteer::from_toml_str(&gazetteer_text)?,
            &all,
        )?;
        let (mut ty, mut dept, mut div) = (0, 0, 0);
        for l in test {
            let c = classifier.classify(&l.text);
            ty += usize::from(c.petition_type.zh() == l.petition_type);
            dept += usize::from(departments.name_of(&c.department) == Some(l.dept.as_str()));
            div += usize::from(c.diversion.map(|d| d.zh()).unwrap_or("") == l.diversion);
        }
        points.push(CurvePoint {
            fed,
            scored: test.len(),
            type_accuracy: ratio(ty, test.len()),
            dept_accuracy: ratio(dept, test.len()),
            diversion_accuracy: ratio(div, test.len()),
        });
        progress(fed, half);
        if fed >= half {
            break;
        }
        fed = (fed + step).min(half);
    }
    Ok(points)
}

#[cfg(test)]
mod curve_tests {
    use super::*;

    #[test]
    fn the_learning_curve_feeds_the_first_half_and_scores_the_second() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let lines =
            parse(&std::fs::read_to_string(root.join("tests/data/petitions-dev.jsonl")).unwrap())
                .unwrap();
        let mut seen = Vec::new();
        let points = learning_curve(&root.join("config/classification"), &lines, 4, |fed, _| {
            seen.push(fed)
        })
        .unwrap();
        let fed: Vec<usize> = points.iter().map(|p| p.fed).collect();
        assert_eq!(fed, vec![0, 5, 10, 15, 20]);
        assert_eq!(seen, fed);
        assert!(points.iter().all(|p| p.scored == 20));
        assert!(
            points
                .iter()
                .all(|p| p.type_accuracy > 0.5 && p.type_accuracy <= 1.0)
        );
    }
}
