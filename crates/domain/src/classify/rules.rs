//! The classification rules as data: the TOML model (`config/classification/rules.toml`), its
//! validation, and the checked form the engine runs.
//!
//! A rule is a condition over the petition text plus the votes it casts when the condition holds:
//!
//! ```toml
//! [lexicon]
//! official = ["村支书", "局长"]
//!
//! [[rule]]
//! id = "accusation.official_wrongdoing"
//! all = ["@official", ["受贿", "索贿"]]   # every item must match; an item is a term,
//!                                        # an @lexicon or a list: any one of them
//! any = []                      # if given, at least one item must match
//! none = ["不是"]               # no item may match
//! type = "检举控告"             # votes (any combination of these five):
//! department = "jwjw"
//! accuses_official = true
//! # diversion = "仲裁" | "none",  branch = "31_5"
//! weight = 4.0
//! ```
//!
//! A term is a plain substring (`拖欠工资`), a whole jieba token (`=主任`), an ordered pair
//! inside one sentence (`不服*决定`), or a substring of the opening clause (`^局长`; `^@official`
//! for a whole lexicon). Substrings are the default because Chinese petition
//! vocabulary is mostly compounds whose parts jieba may or may not split; `=` is for short words
//! that would otherwise fire inside longer ones.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;

use super::RulesError;
use super::calibration::Calibration;
use super::departments::Departments;
use crate::petition::{Art31Branch, Diversion, PetitionType};

/// Largest weight a rule or prior may carry; anything bigger is a typo that would drown every
/// other rule.
const MAX_WEIGHT: f32 = 50.0;

/// How one term is matched against a petition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// The text contains the term.
    Substring(String),
    /// A jieba token equals the term.
    Token(String),
    /// The parts appear in this order inside one sentence.
    Near(Vec<String>),
    /// The opening clause (up to the first comma or full stop) contains the term: what a
    /// petition names first is usually what it is about.
    Lead(String),
}

impl Pattern {
    fn parse(raw: &str, at: &str) -> Result<Self, RulesError> {
        let raw = raw.trim();
        if let Some(word) = raw.strip_prefix('^') {
            if word.is_empty() || word.contains(['*', '=', '^', '@']) {
                return Err(RulesError::invalid(at, format!("bad lead term `{raw}`")));
            }
            return Ok(Pattern::Lead(word.to_owned()));
        }
        if let Some(word) = raw.strip_prefix('=') {
            if word.is_empty() || word.contains('*') {
                return Err(RulesError::invalid(at, format!("bad token term `{raw}`")));
            }
            return Ok(Pattern::Token(word.to_owned()));
        }
        if raw.contains('*') {
            let parts: Vec<String> = raw.split('*').map(|p| p.trim().to_owned()).collect();
            if parts.len() < 2 || parts.iter().any(String::is_empty) {
                return Err(RulesError::invalid(
                    at,
                    format!("bad proximity term `{raw}`: write A*B"),
                ));
            }
            return Ok(Pattern::Near(parts));
        }
        if raw.is_empty() {
            return Err(RulesError::invalid(at, "empty term"));
        }
        Ok(Pattern::Substring(raw.to_owned()))
    }

    /// The words this pattern wants jieba to keep whole.
    pub fn words(&self) -> Vec<&str> {
        match self {
            Pattern::Substring(w) | Pattern::Token(w) | Pattern::Lead(w) => vec![w.as_str()],
            Pattern::Near(parts) => parts.iter().map(String::as_str).collect(),
        }
    }

    /// How the term reads in a reason shown to a clerk.
    pub fn display(&self) -> String {
        match self {
            Pattern::Substring(w) | Pattern::Token(w) => w.clone(),
            Pattern::Near(parts) => parts.join("…"),
            Pattern::Lead(w) => format!("{w}（开头）"),
        }
    }
}

/// What a rule votes for when it fires. Every vote carries the rule's weight.
#[derive(Debug, Clone, PartialEq)]
pub struct Votes {
    pub petition_type: Option<PetitionType>,
    pub department: Option<String>,
    /// `Some(None)` is an explicit vote for "no diversion" (e.g. wage arrears go to labour
    /// inspection, not to arbitration).
    pub diversion: Option<Option<Diversion>>,
    pub branch: Option<Art31Branch>,
    /// `true` adds the weight to the accuses-an-official score, `false` subtracts it.
    pub accuses_official: Option<bool>,
}

/// A checked rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: String,
    /// Alternatives: at least one must match (empty = no constraint).
    pub any: Vec<Pattern>,
    /// Each inner list is one required item; one of its alternatives must match.
    pub all: Vec<Vec<Pattern>>,
    /// None of these may match.
    pub none: Vec<Pattern>,
    pub votes: Votes,
    pub weight: f32,
    /// The rule states the law, not a hint: when it fires, its type and diversion votes decide
    /// those fields whatever the weights and the term models say (the reasons say what it
    /// overruled). E.g. unpaid migrant wages go to labour inspection, however much the word
    /// 工资 looks like an arbitration case to the examples.
    pub decides: bool,
    /// With `decides`: the diversion vote decides only against these weighed outcomes (e.g. the
    /// wage rule stops 仲裁 but leaves a 行政复议 of a 工伤 decision alone). Empty: against any.
    pub instead_of: Vec<Option<Diversion>>,
}

/// Tunable numbers of the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Confidence below this sets `needs_triage`.
    pub triage_threshold: f32,
    /// Softmax temperature over class scores: higher = less certain.
    pub temperature: f32,
    /// Department when no department rule fires (the bureau decides itself).
    pub default_department: String,
    /// Score the default department starts with, so that one weak hit does not look certain.
    pub default_department_score: f32,
    /// Minimum score for a diversion to be proposed.
    pub diversion_threshold: f32,
    /// Minimum score for an Art 31 branch other than 31(6).
    pub branch_threshold: f32,
    /// Minimum score for the accuses-an-official flag.
    pub accuses_official_threshold: f32,
    /// Starting score per type (the default type carries the largest).
    pub type_prior: Vec<(PetitionType, f32)>,
    /// What the term models learnt from the examples add to a class's score: weight × the
    /// model's probability for it. 0 turns a model off.
    pub department_model_weight: f32,
    pub type_model_weight: f32,
    pub diversion_model_weight: f32,
    /// The term models' regularisation: how closely they fit the examples (the SVM's C).
    pub model_c: f32,
    /// Words in fewer examples than this are not learnt.
    pub model_min_df: u32,
    /// How sharply the models' decision values become probability.
    pub model_sharpness: f32,
    /// How much more a missed 检举控告 costs the type model than a false alarm while it learns.
    pub accusation_model_cost: f32,
    /// Turns a classification's signals into the probability it is right (`[calibration]`).
    pub calibration: Option<Calibration>,
    /// Where an accusation against an official goes whatever its sector (§5.5 row 2).
    pub accused_official_department: Option<String>,
    /// Choose 检举控告 whenever its probability reaches this, even when another type weighs more.
    pub accusation_floor: Option<f32>,
    /// A grievance or proposal routed to the discipline organ whose department model gives
    /// that organ at least this probability is taken as 检举控告 (the organ's examples are
    /// accusations); below it the matter goes to the next department.
    pub discipline_model_floor: Option<f32>,
}

/// The validated classification rules.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierRules {
    pub settings: Settings,
    pub rules: Vec<Rule>,
    pub follow_up: FollowUpCues,
    /// Word → the word standing for its synonym group (`工钱` → `工资`), for comparing matters.
    pub synonyms: HashMap<String, String>,
    /// The directory the rules were checked against: its names tell the clerk which
    /// department a vote went to.
    pub departments: Departments,
}

/// How a petition says it raises something raised before (`[repeat]` in the rules file).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FollowUpCues {
    /// "Again", "last time I reported", "still that matter".
    pub again: Vec<Pattern>,
    /// Might be about something else ("这次反映的是…"): cancels `again`.
    pub another_matter: Vec<Pattern>,
    /// Says plainly that this time it is another matter ("这次是另一件事"): no repeat link at
    /// all, however much the two petitions share.
    pub new_matter: Vec<Pattern>,
}

// ---- the TOML shape -----------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    settings: SettingsFile,
    #[serde(default)]
    lexicon: BTreeMap<String, Vec<String>>,
    #[serde(default, rename = "rule")]
    rules: Vec<RuleFile>,
    #[serde(default)]
    repeat: RepeatFile,
    /// Optional: without it the confidence is the weaker of the type and department certainties.
    #[serde(default)]
    calibration: Option<CalibrationFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CalibrationFile {
    bias: f32,
    #[serde(default)]
    weights: BTreeMap<String, f32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RepeatFile {
    #[serde(default)]
    again: Vec<String>,
    #[serde(default)]
    another_matter: Vec<String>,
    #[serde(default)]
    new_matter: Vec<String>,
    /// Groups of words people use for the same thing; the first stands for the group.
    #[serde(default)]
    synonyms: Vec<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    triage_threshold: f32,
    temperature: f32,
    default_department: String,
    default_department_score: f32,
    diversion_threshold: f32,
    branch_threshold: f32,
    accuses_official_threshold: f32,
    #[serde(default)]
    type_prior: BTreeMap<String, f32>,
    #[serde(default)]
    department_model_weight: f32,
    #[serde(default)]
    type_model_weight: f32,
    #[serde(default)]
    diversion_model_weight: f32,
    #[serde(default = "default_model_c")]
    model_c: f32,
    #[serde(default = "default_model_min_df")]
    model_min_df: u32,
    #[serde(default = "default_model_sharpness")]
    model_sharpness: f32,
    #[serde(default = "default_accusation_model_cost")]
    accusation_model_cost: f32,
    #[serde(default)]
    accused_official_department: Option<String>,
    #[serde(default)]
    accusation_floor: Option<f32>,
    #[serde(default)]
    discipline_model_floor: Option<f32>,
}

fn default_model_c() -> f32 {
    1.0
}

fn default_model_min_df() -> u32 {
    2
}

fn default_model_sharpness() -> f32 {
    6.0
}

fn default_accusation_model_cost() -> f32 {
    1.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    id: String,
    /// Free text for the people maintaining the rules; not used by the engine.
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
    #[serde(default)]
    any: Vec<String>,
    #[serde(default)]
    all: Vec<AllItem>,
    #[serde(default)]
    none: Vec<String>,
    #[serde(default, rename = "type")]
    petition_type: Option<String>,
    #[serde(default)]
    department: Option<String>,
    #[serde(default)]
    diversion: Option<String>,
    #[serde(default)]
    branch: Option<String>,
    #[serde(default)]
    accuses_official: Option<bool>,
    weight: f32,
    /// See [`Rule::decides`].
    #[serde(default)]
    decides: bool,
    /// See [`Rule::instead_of`].
    #[serde(default)]
    instead_of: Vec<String>,
}

/// An `all` item: one term or `@lexicon`, or an inline list of alternatives.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum AllItem {
    One(String),
    AnyOf(Vec<String>),
}

impl ClassifierRules {
    /// Parses and validates rules against the shipped department directory.
    pub fn from_toml_str(toml_text: &str) -> Result<Self, RulesError> {
        Self::from_toml_str_with(toml_text, &Departments::embedded())
    }

    /// Parses and validates rules against a deployment's own department directory.
    pub fn from_toml_str_with(
        toml_text: &str,
        departments: &Departments,
    ) -> Result<Self, RulesError> {
        let file: RulesFile = toml::from_str(toml_text).map_err(|e| RulesError::Parse {
            file: "rules",
            message: e.to_string(),
        })?;
        let mut settings = check_settings(file.settings, departments)?;
        settings.calibration = file
            .calibration
            .map(|c| Calibration::from_table(c.bias, &c.weights))
            .transpose()?;
        let lexicon = check_lexicon(&file.lexicon)?;
        let mut seen = HashSet::new();
        let mut rules = Vec::with_capacity(file.rules.len());
        for raw in file.rules {
            if !seen.insert(raw.id.clone()) {
                return Err(RulesError::invalid(
                    format!("rule {}", raw.id),
                    "duplicate rule id",
                ));
            }
            rules.push(check_rule(raw, &lexicon, departments)?);
        }
        if rules.is_empty() {
            return Err(RulesError::invalid("rules", "no [[rule]] given"));
        }
        let mut follow_up = FollowUpCues::default();
        for item in &file.repeat.again {
            follow_up
                .again
                .extend(expand(item, &lexicon, "repeat.again")?);
        }
        for item in &file.repeat.another_matter {
            follow_up
                .another_matter
                .extend(expand(item, &lexicon, "repeat.another_matter")?);
        }
        for item in &file.repeat.new_matter {
            follow_up
                .new_matter
                .extend(expand(item, &lexicon, "repeat.new_matter")?);
        }
        let mut synonyms = HashMap::new();
        for (i, group) in file.repeat.synonyms.iter().enumerate() {
            let at = format!("repeat.synonyms[{i}]");
            let Some(head) = group.first().map(|w| w.trim()) else {
                return Err(RulesError::invalid(at, "empty synonym group"));
            };
            for w in group {
                let w = w.trim();
                if w.chars().count() < 2 {
                    return Err(RulesError::invalid(
                        &at,
                        "synonyms are words of 2 or more characters",
                    ));
                }
                if synonyms.insert(w.to_owned(), head.to_owned()).is_some() {
                    return Err(RulesError::invalid(&at, format!("`{w}` is in two groups")));
                }
            }
        }
        Ok(Self {
            settings,
            rules,
            follow_up,
            synonyms,
            departments: departments.clone(),
        })
    }

    /// Every word a rule mentions, for the segmenter's user dictionary.
    pub fn vocabulary(&self) -> impl Iterator<Item = &str> {
        self.rules
            .iter()
            .flat_map(|r| {
                r.any
                    .iter()
                    .chain(r.all.iter().flatten())
                    .chain(r.none.iter())
                    .flat_map(Pattern::words)
            })
            .chain(self.synonyms.keys().map(String::as_str))
    }
}

fn check_weight(value: f32, at: &str, what: &str, allow_zero: bool) -> Result<f32, RulesError> {
    let low_ok = if allow_zero {
        value >= 0.0
    } else {
        value > 0.0
    };
    if value.is_finite() && low_ok && value <= MAX_WEIGHT {
        Ok(value)
    } else {
        let low = if allow_zero { "0" } else { "above 0" };
        Err(RulesError::invalid(
            at,
            format!("{what} must be a number from {low} to {MAX_WEIGHT}"),
        ))
    }
}

fn check_settings(s: SettingsFile, departments: &Departments) -> Result<Settings, RulesError> {
    let at = "settings";
    if !(s.triage_threshold.is_finite() && (0.0..=1.0).contains(&s.triage_threshold)) {
        return Err(RulesError::invalid(
            at,
            "triage_threshold must be between 0 and 1",
        ));
    }
    check_weight(s.temperature, at, "temperature", false)?;
    check_weight(
        s.default_department_score,
        at,
        "default_department_score",
        true,
    )?;
    check_weight(s.diversion_threshold, at, "diversion_threshold", false)?;
    check_weight(s.branch_threshold, at, "branch_threshold", false)?;
    check_weight(
        s.accuses_official_threshold,
        at,
        "accuses_official_threshold",
        false,
    )?;
    check_weight(
        s.department_model_weight,
        at,
        "department_model_weight",
        true,
    )?;
    check_weight(s.type_model_weight, at, "type_model_weight", true)?;
    check_weight(s.diversion_model_weight, at, "diversion_model_weight", true)?;
    check_weight(s.model_c, at, "model_c", false)?;
    if !(1..=1000).contains(&s.model_min_df) {
        return Err(RulesError::invalid(
            at,
            "model_min_df must be a whole number from 1 to 1000",
        ));
    }
    check_weight(s.model_sharpness, at, "model_sharpness", false)?;
    check_weight(s.accusation_model_cost, at, "accusation_model_cost", false)?;
    if !departments.contains(&s.default_department) {
        return Err(RulesError::invalid(
            at,
            format!("unknown department code `{}`", s.default_department),
        ));
    }
    if let Some(code) = &s.accused_official_department
        && !departments.contains(code)
    {
        return Err(RulesError::invalid(
            "settings.accused_official_department",
            format!("unknown department code `{code}`"),
        ));
    }
    if let Some(f) = s.accusation_floor
        && !(f.is_finite() && f > 0.0 && f < 1.0)
    {
        return Err(RulesError::invalid(
            "settings.accusation_floor",
            "must be a probability between 0 and 1 (exclusive)",
        ));
    }
    if let Some(f) = s.discipline_model_floor
        && !(f.is_finite() && f > 0.0 && f <= 1.0)
    {
        return Err(RulesError::invalid(
            "settings.discipline_model_floor",
            "must be a probability above 0 and at most 1",
        ));
    }
    let mut type_prior = Vec::new();
    for (name, w) in s.type_prior {
        let t = PetitionType::parse(&name)
            .map_err(|e| RulesError::invalid("settings.type_prior", e.message))?;
        type_prior.push((t, check_weight(w, at, "type_prior", true)?));
    }
    Ok(Settings {
        triage_threshold: s.triage_threshold,
        temperature: s.temperature,
        default_department: s.default_department,
        default_department_score: s.default_department_score,
        diversion_threshold: s.diversion_threshold,
        branch_threshold: s.branch_threshold,
        accuses_official_threshold: s.accuses_official_threshold,
        type_prior,
        department_model_weight: s.department_model_weight,
        type_model_weight: s.type_model_weight,
        diversion_model_weight: s.diversion_model_weight,
        model_c: s.model_c,
        model_min_df: s.model_min_df,
        model_sharpness: s.model_sharpness,
        accusation_model_cost: s.accusation_model_cost,
        calibration: None,
        accused_official_department: s.accused_official_department,
        accusation_floor: s.accusation_floor,
        discipline_model_floor: s.discipline_model_floor,
    })
}

fn check_lexicon(
    raw: &BTreeMap<String, Vec<String>>,
) -> Result<BTreeMap<String, Vec<Pattern>>, RulesError> {
    let mut out = BTreeMap::new();
    for (name, terms) in raw {
        let at = format!("lexicon.{name}");
        if terms.is_empty() {
            return Err(RulesError::invalid(at, "empty lexicon"));
        }
        let mut patterns = Vec::with_capacity(terms.len());
        for t in terms {
            if t.trim_start().starts_with('@') {
                return Err(RulesError::invalid(
                    &at,
                    "a lexicon cannot refer to another lexicon",
                ));
            }
            patterns.push(Pattern::parse(t, &at)?);
        }
        out.insert(name.clone(), patterns);
    }
    Ok(out)
}

/// One condition item: a term, `@name` for all terms of a lexicon, or `^@name` for all of its
/// plain terms in the opening clause.
fn expand(
    item: &str,
    lexicon: &BTreeMap<String, Vec<Pattern>>,
    at: &str,
) -> Result<Vec<Pattern>, RulesError> {
    let item = item.trim();
    let (lead, rest) = match item.strip_prefix("^@") {
        Some(name) => (true, Some(name)),
        None => (false, item.strip_prefix('@')),
    };
    let Some(name) = rest else {
        return Ok(vec![Pattern::parse(item, at)?]);
    };
    let terms = lexicon
        .get(name)
        .ok_or_else(|| RulesError::invalid(at, format!("unknown lexicon `@{name}`")))?;
    if !lead {
        return Ok(terms.clone());
    }
    terms
        .iter()
        .map(|p| match p {
            Pattern::Substring(w) | Pattern::Token(w) => Ok(Pattern::Lead(w.clone())),
            _ => Err(RulesError::invalid(
                at,
                format!("`^@{name}` needs plain terms, `{}` is not", p.display()),
            )),
        })
        .collect()
}

fn check_rule(
    raw: RuleFile,
    lexicon: &BTreeMap<String, Vec<Pattern>>,
    departments: &Departments,
) -> Result<Rule, RulesError> {
    let at = format!("rule {}", raw.id);
    if raw.id.trim().is_empty() {
        return Err(RulesError::invalid("rule", "empty rule id"));
    }
    let mut any = Vec::new();
    for item in &raw.any {
        any.extend(expand(item, lexicon, &at)?);
    }
    let mut all = Vec::new();
    for item in &raw.all {
        let alternatives = match item {
            AllItem::One(term) => expand(term, lexicon, &at)?,
            AllItem::AnyOf(terms) => {
                let mut alternatives = Vec::new();
                for term in terms {
                    alternatives.extend(expand(term, lexicon, &at)?);
                }
                alternatives
            }
        };
        if alternatives.is_empty() {
            return Err(RulesError::invalid(&at, "empty `all` item"));
        }
        all.push(alternatives);
    }
    let mut none = Vec::new();
    for item in &raw.none {
        none.extend(expand(item, lexicon, &at)?);
    }
    if any.is_empty() && all.is_empty() {
        return Err(RulesError::invalid(
            &at,
            "a rule needs `any` or `all` terms, or it would fire on every petition",
        ));
    }

    let petition_type = raw
        .petition_type
        .as_deref()
        .map(PetitionType::parse)
        .transpose()
        .map_err(|e| RulesError::invalid(&at, e.to_string()))?;
    if let Some(code) = &raw.department
        && !departments.contains(code)
    {
        return Err(RulesError::invalid(
            &at,
            format!("unknown department code `{code}`"),
        ));
    }
    let diversion = match raw.diversion.as_deref() {
        None => None,
        Some("none" | "无") => Some(None),
        Some(d) => Some(Some(
            Diversion::parse(d).map_err(|e| RulesError::invalid(&at, e.to_string()))?,
        )),
    };
    let branch = raw
        .branch
        .as_deref()
        .map(Art31Branch::parse)
        .transpose()
        .map_err(|e| RulesError::invalid(&at, e.to_string()))?;
    let votes = Votes {
        petition_type,
        department: raw.department,
        diversion,
        branch,
        accuses_official: raw.accuses_official,
    };
    if votes.petition_type.is_none()
        && votes.department.is_none()
        && votes.diversion.is_none()
        && votes.branch.is_none()
        && votes.accuses_official.is_none()
    {
        return Err(RulesError::invalid(
            &at,
            "a rule must vote for a type, department, diversion, branch or accuses_official",
        ));
    }
    let weight = check_weight(raw.weight, &at, "weight", false)?;
    if raw.decides && votes.petition_type.is_none() && votes.diversion.is_none() {
        return Err(RulesError::invalid(
            &at,
            "a deciding rule must vote for a type or a diversion",
        ));
    }
    let mut instead_of = Vec::with_capacity(raw.instead_of.len());
    for d in &raw.instead_of {
        instead_of.push(match d.as_str() {
            "none" | "无" => None,
            d => Some(Diversion::parse(d).map_err(|e| RulesError::invalid(&at, e.to_string()))?),
        });
    }
    if !instead_of.is_empty() && (!raw.decides || votes.diversion.is_none()) {
        return Err(RulesError::invalid(
            &at,
            "`instead_of` is for a deciding rule that votes for a diversion",
        ));
    }
    Ok(Rule {
        id: raw.id,
        any,
        all,
        none,
        votes,
        weight,
        decides: raw.decides,
        instead_of,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: &str = r#"
[settings]
triage_threshold = 0.5
temperature = 1.0
default_department = "xfj"
default_department_score = 0.5
diversion_threshold = 2.0
branch_threshold = 1.5
accuses_official_threshold = 2.0
type_prior = { "申诉求决" = 1.0 }
"#;

    fn parse(rules: &str) -> Result<ClassifierRules, RulesError> {
        ClassifierRules::from_toml_str(&format!("{SETTINGS}\n{rules}"))
    }

    #[test]
    fn parses_terms_lexicons_and_votes() {
        let r = parse(
            r#"
[lexicon]
official = ["村支书", "=主任"]

[[rule]]
id = "a"
all = ["@official", "不服*决定", ["甲", "乙"], "^@official"]
none = ["不是"]
type = "检举控告"
department = "jwjw"
diversion = "none"
branch = "31_5"
accuses_official = true
weight = 3
"#,
        )
        .expect("valid rules");
        let rule = &r.rules[0];
        assert_eq!(
            rule.all[0],
            vec![
                Pattern::Substring("村支书".into()),
                Pattern::Token("主任".into())
            ]
        );
        assert_eq!(
            rule.all[1],
            vec![Pattern::Near(vec!["不服".into(), "决定".into()])]
        );
        assert_eq!(
            rule.all[2],
            vec![
                Pattern::Substring("甲".into()),
                Pattern::Substring("乙".into())
            ]
        );
        assert_eq!(
            rule.all[3],
            vec![Pattern::Lead("村支书".into()), Pattern::Lead("主任".into())]
        );
        assert_eq!(rule.votes.petition_type, Some(PetitionType::Accusation));
        assert_eq!(rule.votes.diversion, Some(None));
        assert_eq!(rule.votes.branch, Some(Art31Branch::DutyPerformance));
        assert_eq!(r.settings.type_prior, vec![(PetitionType::Grievance, 1.0)]);
        let vocab: Vec<&str> = r.vocabulary().collect();
        assert!(vocab.contains(&"决定") && vocab.contains(&"主任"));
    }

    #[test]
    fn rejects_unknown_department() {
        let e = parse("[[rule]]\nid='a'\nany=['x']\ndepartment='nope'\nweight=1").unwrap_err();
        assert!(e.to_string().contains("unknown department code"), "{e}");
    }

    #[test]
    fn rejects_unknown_enum_values() {
        for bad in ["type='投诉'", "diversion='调解'", "branch='31_9'"] {
            let e = parse(&format!("[[rule]]\nid='a'\nany=['x']\n{bad}\nweight=1")).unwrap_err();
            assert!(e.to_string().contains("rule a"), "{bad}: {e}");
        }
    }

    #[test]
    fn rejects_bad_weights_and_thresholds() {
        for w in ["0", "-1", "1000", "nan", "inf"] {
            let e = parse(&format!(
                "[[rule]]\nid='a'\nany=['x']\ntype='建议意见'\nweight={w}"
            ));
            assert!(e.is_err(), "weight {w} accepted");
        }
        let bad = SETTINGS.replace("triage_threshold = 0.5", "triage_threshold = 1.5");
        let e = ClassifierRules::from_toml_str(&format!(
            "{bad}\n[[rule]]\nid='a'\nany=['x']\ntype='建议意见'\nweight=1"
        ));
        assert!(e.is_err());
    }

    #[test]
    fn rejects_structural_mistakes() {
        let cases = [
            // no condition
            "[[rule]]\nid='a'\ntype='建议意见'\nweight=1",
            // no vote
            "[[rule]]\nid='a'\nany=['x']\nweight=1",
            // unknown lexicon
            "[[rule]]\nid='a'\nany=['@nope']\ntype='建议意见'\nweight=1",
            // duplicate id
            "[[rule]]\nid='a'\nany=['x']\ntype='建议意见'\nweight=1\n[[rule]]\nid='a'\nany=['y']\ntype='建议意见'\nweight=1",
            // bad proximity term
            "[[rule]]\nid='a'\nany=['x*']\ntype='建议意见'\nweight=1",
            // bad lead term
            "[[rule]]\nid='a'\nany=['^x*y']\ntype='建议意见'\nweight=1",
            // unknown key (a typo must not be silently ignored)
            "[[rule]]\nid='a'\nanny=['x']\ntype='建议意见'\nweight=1",
            // a deciding rule with nothing to decide
            "[[rule]]\nid='a'\nany=['x']\ndepartment='rsj'\nweight=1\ndecides=true",
            // instead_of without deciding, or with an unknown channel
            "[[rule]]\nid='a'\nany=['x']\ndiversion='none'\nweight=1\ninstead_of=['仲裁']",
            "[[rule]]\nid='a'\nany=['x']\ndiversion='none'\nweight=1\ndecides=true\ninstead_of=['调解']",
        ];
        for c in cases {
            assert!(parse(c).is_err(), "accepted: {c}");
        }
    }

    #[test]
    fn repeat_cues_and_synonyms_are_checked() {
        const RULE: &str = "[[rule]]\nid='a'\nany=['x']\ntype='建议意见'\nweight=1\n";
        let ok = parse(&format!(
            "{RULE}[repeat]\nagain=['上次', '@again']\nanother_matter=['另外']\n\
             synonyms=[['工资', '工钱']]\n[lexicon]\nagain=['再次']\n"
        ))
        .expect("valid");
        assert_eq!(ok.follow_up.again.len(), 2);
        assert_eq!(ok.synonyms.get("工钱").map(String::as_str), Some("工资"));
        assert!(
            ok.vocabulary().any(|w| w == "工钱"),
            "synonyms segment whole"
        );
        for bad in [
            "synonyms=[[]]",
            "synonyms=[['工资', '钱']]",
            "synonyms=[['工资', '工钱'], ['薪水', '工钱']]",
            "again=['@nope']",
            "agian=['上次']",
        ] {
            let e = parse(&format!("{RULE}[repeat]\n{bad}\n"));
            assert!(e.is_err(), "accepted: {bad}");
        }
    }
}
