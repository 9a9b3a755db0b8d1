//! The classifier: runs the rules over a petition and turns their votes into a
//! [`Classification`].
//!
//! Scoring is additive: every rule that fires adds its weight to each class it votes for, on top
//! of the configured priors, and the term models learnt from the examples add their weight times
//! their probability for each class. Type and department are read off with a softmax, whose top
//! probability is the certainty; the weaker of the two is the confidence. Diversion, branch and
//! the accuses-an-official flag are thresholded scores, because "none" is their usual answer.

use std::collections::HashSet;

use super::calibration::Signals;
use super::examples::{self, Example};
use super::gazetteer::{Gazetteer, PlaceKind};
use super::matter::{MatterWords, WordWeights};
use super::rules::{ClassifierRules, Pattern, Rule};
use super::segment::Segmenter;
use super::term_model::TermModel;
use super::{Classification, EMBEDDED_EXAMPLES, EMBEDDED_GAZETTEER, EMBEDDED_RULES, RulesError};
use crate::petition::{Art31Branch, Diversion, PetitionType};
use crate::repeat::FollowUp;

/// The diversion model's label for "no other legal channel".
const NO_DIVERSION: &str = "none";

/// The reason given when the text names no place.
const COUNTY_UNKNOWN: &str = "事项发生地未识别：文中未提及地名";

/// A diversion, or its absence, as the clerk reads it.
fn diversion_zh(d: Option<Diversion>) -> &'static str {
    d.map_or("不导入其他法定途径", Diversion::zh)
}

/// Built once (it loads the jieba dictionary), then `classify` is pure and thread-safe.
#[derive(Debug)]
pub struct Classifier {
    rules: ClassifierRules,
    gazetteer: Gazetteer,
    segmenter: Segmenter,
    /// Learnt from the examples: department codes and type names (`申诉求决`) as labels.
    department_model: TermModel,
    type_model: TermModel,
    /// Labels: a diversion's Chinese name, or [`NO_DIVERSION`].
    diversion_model: TermModel,
    /// Word rarity over the examples, for "same matter" comparisons.
    word_weights: WordWeights,
}

/// One petition prepared for matching.
struct Doc<'a> {
    text: &'a str,
    tokens: HashSet<&'a str>,
    sentences: Vec<&'a str>,
    /// Up to the first comma or sentence end.
    lead: &'a str,
}

impl<'a> Doc<'a> {
    fn new(text: &'a str, segmenter: &Segmenter) -> Self {
        // The rules read the body: an official greeted in the salutation is the addressee.
        let text = after_salutation(text);
        let tokens = segmenter.tokens(text).into_iter().map(|t| t.word).collect();
        let sentences = text
            .split(['。', '！', '？', '!', '?', '；', ';', '\n'])
            .filter(|s| !s.trim().is_empty())
            .collect();
        let lead = lead_clause(text);
        Self {
            text,
            tokens,
            sentences,
            lead,
        }
    }

    fn matches(&self, p: &Pattern) -> bool {
        match p {
            Pattern::Substring(w) => self.text.contains(w.as_str()),
            Pattern::Token(w) => self.tokens.contains(w.as_str()),
            Pattern::Near(parts) => self.sentences.iter().any(|s| in_order(s, parts)),
            Pattern::Lead(w) => self.lead.contains(w.as_str()),
        }
    }

    fn first_match<'p>(&self, alternatives: &'p [Pattern]) -> Option<&'p Pattern> {
        alternatives.iter().find(|p| self.matches(p))
    }
}

/// Clause ends for [`after_salutation`] and [`lead_clause`].
const STOPS: [char; 12] = [
    '，', ',', '。', '！', '？', '!', '?', '；', ';', '：', ':', '\n',
];

/// What follows a letter's salutation (`尊敬的市委书记：您好！`, `市长您好，`, `纪委领导：`): the
/// official named there is who the letter is addressed to, not whom it is about. A salutation is
/// a short clause that ends with a greeting, or ends with whom it addresses and is followed by a
/// colon or a greeting or opens with 尊敬的. A clause that says what the letter is about
/// (`举报人：`, `关于村书记贪污的问题：`, `村书记王某贪污：`, `对信访平台提几点建议：`) is the letter.
fn after_salutation(text: &str) -> &str {
    const HEADINGS: [&str; 10] = [
        "举报", "检举", "控告", "揭发", "投诉", "反映", "关于", "问题", "情况", "的事",
    ];
    const GREETINGS: [&str; 5] = ["您好", "你好", "领导好", "大家好", "同志们好"];
    const ADDRESSEES: [&str; 26] = [
        "领导",
        "书记",
        "市长",
        "县长",
        "区长",
        "乡长",
        "镇长",
        "局长",
        "主任",
        "部长",
        "同志",
        "政府",
        "信访局",
        "信访办",
        "热线",
        "纪委",
        "监委",
        "委员会",
        "工作人员",
        "您",
        "你",
        "先生",
        "女士",
        "们",
        "各位",
        "大家",
    ];
    let mut rest = text.trim_start();
    loop {
        let Some((i, stop)) = rest.char_indices().find(|(_, c)| STOPS.contains(c)) else {
            return rest;
        };
        let clause = rest[..i].trim();
        let after = rest[i + stop.len_utf8()..].trim_start();
        // `王局长，您好，…`: the name before a greeting.
        let greeted = GREETINGS.iter().any(|g| {
            after
                .strip_prefix(g)
                .is_some_and(|a| a.starts_with(STOPS) || a.is_empty())
        });
        let respectful = ["尊敬的", "敬爱的", "致"]
            .iter()
            .any(|r| clause.starts_with(r));
        let addressed = ADDRESSEES.iter().any(|a| clause.ends_with(a))
            && (matches!(stop, '：' | ':') || greeted || respectful);
        let salutation = clause.chars().count() <= 12
            && !HEADINGS.iter().any(|h| clause.contains(h))
            && (GREETINGS.iter().any(|g| clause.ends_with(g)) || addressed);
        if !clause.is_empty() && !salutation {
            return rest;
        }
        rest = after;
    }
}

/// The opening clause, skipping a salutation (`尊敬的王书记：`), which names an addressee and
/// not the subject.
fn lead_clause(text: &str) -> &str {
    let mut rest = text.trim_start();
    loop {
        let Some((i, stop)) = rest.char_indices().find(|(_, c)| STOPS.contains(c)) else {
            return rest;
        };
        let clause = &rest[..i];
        let salutation = matches!(stop, '：' | ':') && clause.chars().count() <= 12;
        if !clause.trim().is_empty() && !salutation {
            return clause;
        }
        rest = rest[i + stop.len_utf8()..].trim_start();
    }
}

/// True when the parts occur in this order, without overlapping, in `sentence`.
fn in_order(sentence: &str, parts: &[String]) -> bool {
    let mut rest = sentence;
    for part in parts {
        match rest.find(part.as_str()) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

/// Normalises what people type differently but mean the same: full-width digits and letters
/// (`１１０`, `ＩＣＵ`) and spaces inside the text, which letters and transcribed calls often contain.
fn normalise(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() || *c == '\n')
        .map(|c| match c {
            '０'..='９' | 'Ａ'..='Ｚ' | 'ａ'..='ｚ' => {
                char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
            }
            _ => c,
        })
        .collect()
}

/// Softmax probability of the best entry; `None` when there are no entries.
fn top_probability(scores: &[f32], temperature: f32) -> Option<(usize, f32)> {
    let (best, &max) = scores
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))?;
    let sum: f32 = scores.iter().map(|s| ((s - max) / temperature).exp()).sum();
    Some((best, 1.0 / sum))
}

/// The softmax probability of entry `i` (0 when there is none).
fn probability_of(scores: &[f32], i: Option<usize>, temperature: f32) -> f32 {
    let Some(mine) = i.and_then(|i| scores.get(i)) else {
        return 0.0;
    };
    let sum: f32 = scores
        .iter()
        .map(|s| ((s - mine) / temperature).exp())
        .sum();
    if sum > 0.0 { 1.0 / sum } else { 0.0 }
}

/// How much more probable entry `best` is than the best of the others (0 when it is not ahead).
fn lead(scores: &[f32], best: usize, temperature: f32) -> f32 {
    let runner_up = scores
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != best)
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i);
    (probability_of(scores, Some(best), temperature)
        - probability_of(scores, runner_up, temperature))
    .max(0.0)
}

/// Tallies votes in the order rules fire, so ties go to the earlier rule in the file.
struct Tally<K> {
    entries: Vec<(K, f32)>,
}

impl<K: PartialEq> Tally<K> {
    fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    fn add(&mut self, key: K, weight: f32) {
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some((_, s)) => *s += weight,
            None => self.entries.push((key, weight)),
        }
    }

    fn score(&self, key: &K) -> f32 {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map_or(0.0, |(_, s)| *s)
    }

    /// The highest score; the earliest entry on ties.
    fn best(&self) -> Option<&(K, f32)> {
        self.entries
            .iter()
            .reduce(|best, e| if e.1 > best.1 { e } else { best })
    }
}

impl Classifier {
    /// Builds the engine: jieba with its default dictionary plus every place name and rule term
    /// as a user word, so they segment whole; and the term models, learnt from `examples`.
    pub fn new(
        rules: ClassifierRules,
        gazetteer: Gazetteer,
        examples: &[Example],
    ) -> Result<Self, RulesError> {
        let segmenter = Segmenter::new(gazetteer.place_names().chain(rules.vocabulary()));
        let s = &rules.settings;
        let options = xinfang_svm::Options {
            c: s.model_c,
            min_df: s.model_min_df,
            sharpness: s.model_sharpness,
            ..xinfang_svm::Options::default()
        };
        let learn = |label: fn(&Example) -> &str, costs: &[xinfang_svm::LabelCost]| {
            super::term_model::train(
                examples.iter().map(|e| (e.text.as_str(), label(e))),
                options,
                costs,
            )
        };
        let department_model = learn(|e| e.department.as_str(), &[]);
        // A missed accusation exposes its informant (Art 30 para 3); a false alarm costs a glance.
        let accusation_cost = [xinfang_svm::LabelCost {
            label: PetitionType::Accusation.zh().to_owned(),
            cost: s.accusation_model_cost,
        }];
        let type_model = learn(|e| e.petition_type.zh(), &accusation_cost);
        let diversion_model = learn(|e| e.diversion.map_or(NO_DIVERSION, |d| d.zh()), &[]);
        let word_weights = WordWeights::learn(
            &segmenter,
            &rules.synonyms,
            examples.iter().map(|e| e.text.as_str()),
        );
        Ok(Self {
            rules,
            gazetteer,
            segmenter,
            department_model,
            type_model,
            diversion_model,
            word_weights,
        })
    }

    /// The classifier over the shipped `config/classification` data.
    pub fn embedded() -> Result<Self, RulesError> {
        Self::new(
            ClassifierRules::from_toml_str(EMBEDDED_RULES)?,
            Gazetteer::from_toml_str(EMBEDDED_GAZETTEER)?,
            &examples::parse(EMBEDDED_EXAMPLES)?,
        )
    }

    pub fn rules(&self) -> &ClassifierRules {
        &self.rules
    }

    pub fn gazetteer(&self) -> &Gazetteer {
        &self.gazetteer
    }

    pub fn segmenter(&self) -> &Segmenter {
        &self.segmenter
    }

    /// A department's short name for the clerk (its code if the directory lacks it).
    fn department_zh<'a>(&'a self, code: &'a str) -> &'a str {
        self.rules.departments.name_of(code).unwrap_or(code)
    }

    /// What a fired rule found and what it voted for, e.g.
    /// `命中「拖欠、工资」：申诉求决、人社局 +2.5（规则 dept.rsj.wages）`.
    fn fired_reason(&self, rule: &Rule, evidence: &[String]) -> String {
        let v = &rule.votes;
        let mut votes: Vec<String> = Vec::new();
        if let Some(t) = v.petition_type {
            votes.push(t.zh().to_owned());
        }
        if let Some(d) = &v.department {
            votes.push(self.department_zh(d).to_owned());
        }
        if let Some(d) = v.diversion {
            votes.push(diversion_zh(d).to_owned());
        }
        if let Some(b) = v.branch {
            votes.push(format!("第三十一条{}", b.zh()));
        }
        match v.accuses_official {
            Some(true) => votes.push("涉及党员或公职人员".to_owned()),
            Some(false) => votes.push("不涉及党员或公职人员".to_owned()),
            None => {}
        }
        format!(
            "命中「{}」：{} +{}（规则 {}）",
            evidence.join("、"),
            votes.join("、"),
            rule.weight,
            rule.id
        )
    }

    /// Classifies one petition text.
    pub fn classify(&self, text: &str) -> Classification {
        self.classify_with_signals(text).0
    }

    /// [`classify`](Self::classify), and the signals its confidence was computed from (for
    /// fitting and checking the calibration).
    pub fn classify_with_signals(&self, text: &str) -> (Classification, Signals) {
        let settings = &self.rules.settings;
        let normalised = normalise(text);
        let doc = Doc::new(&normalised, &self.segmenter);
        let mut reasons = Vec::new();

        let mut types: Tally<PetitionType> = Tally::new();
        for t in [
            PetitionType::Grievance,
            PetitionType::Accusation,
            PetitionType::Suggestion,
        ] {
            let prior = settings
                .type_prior
                .iter()
                .find(|(p, _)| *p == t)
                .map_or(0.0, |(_, w)| *w);
            types.add(t, prior);
        }
        let mut departments: Tally<&str> = Tally::new();
        let mut diversions: Tally<Option<Diversion>> = Tally::new();
        let mut branches: Tally<Art31Branch> = Tally::new();
        let mut accuses = 0.0_f32;
        // Fired deciding rules' votes (the first of each field, in file order).
        let mut decided_type: Option<(PetitionType, &str)> = None;
        let mut decided_diversion: Option<&super::Rule> = None;

        for rule in &self.rules.rules {
            let Some(evidence) = fire(rule, &doc) else {
                continue;
            };
            let v = &rule.votes;
            let w = rule.weight;
            if let Some(t) = v.petition_type {
                types.add(t, w);
            }
            if let Some(d) = &v.department {
                departments.add(d.as_str(), w);
            }
            if let Some(d) = v.diversion {
                diversions.add(d, w);
            }
            if let Some(b) = v.branch {
                branches.add(b, w);
            }
            match v.accuses_official {
                Some(true) => accuses += w,
                Some(false) => accuses -= w,
                None => {}
            }
            if rule.decides {
                if let Some(t) = v.petition_type {
                    decided_type.get_or_insert((t, rule.id.as_str()));
                }
                if v.diversion.is_some() {
                    decided_diversion.get_or_insert(rule);
                }
            }
            reasons.push(self.fired_reason(rule, &evidence));
        }

        // What the rules alone would route to: agreement with the models is a signal.
        let rules_best = departments.best().map(|(d, s)| (*d, *s));
        let dept_contenders = departments
            .entries
            .iter()
            .filter(|(_, s)| *s >= 2.5)
            .count()
            .min(5) as f32
            / 5.0;
        let rules_department = rules_best.map(|(d, _)| d);

        // The term models vote on top of the rules, in proportion to their probability; the
        // text's bigrams are read once for the three of them.
        let keys = super::term_model::feature_keys(&normalised);
        let mut type_model_favourite: Option<(PetitionType, f32)> = None;
        if settings.type_model_weight > 0.0 {
            for (label, p) in self.type_model.posteriors_of(&keys) {
                if let Ok(t) = PetitionType::parse(label) {
                    types.add(t, settings.type_model_weight * p);
                    if type_model_favourite.is_none_or(|(_, bp)| p > bp) {
                        type_model_favourite = Some((t, p));
                    }
                }
            }
        }
        let mut department_posteriors = Vec::new();
        if settings.department_model_weight > 0.0 {
            department_posteriors = self.department_model.posteriors_of(&keys);
            let mut best: Option<(&str, f32)> = None;
            for &(code, p) in &department_posteriors {
                departments.add(code, settings.department_model_weight * p);
                if best.is_none_or(|(_, bp)| p > bp) {
                    best = Some((code, p));
                }
            }
            if let Some((code, p)) = best {
                reasons.push(format!(
                    "相近的样例多由{}办理（p={p:.2}）",
                    self.department_zh(code)
                ));
            }
        }

        let mut diversion_posteriors = Vec::new();
        if settings.diversion_model_weight > 0.0 {
            diversion_posteriors = self.diversion_model.posteriors_of(&keys);
            for &(label, p) in &diversion_posteriors {
                let d = if label == NO_DIVERSION {
                    None
                } else {
                    match Diversion::parse(label) {
                        Ok(d) => Some(d),
                        Err(_) => continue,
                    }
                };
                diversions.add(d, settings.diversion_model_weight * p);
            }
        }

        // Type.
        let type_scores: Vec<f32> = types.entries.iter().map(|(_, s)| *s).collect();
        let (ti, mut type_p) = top_probability(&type_scores, settings.temperature)
            .unwrap_or((0, 1.0 / type_scores.len().max(1) as f32));
        let mut petition_type = types
            .entries
            .get(ti)
            .map_or(PetitionType::Grievance, |(t, _)| *t);
        reasons.push(format!("信访类型：{}（p={type_p:.2}）", petition_type.zh()));
        let type_margin = lead(&type_scores, ti, settings.temperature);
        // How likely the weighing finds a type other than its favourite.
        let probability_of_type = |t: PetitionType| {
            let at = types.entries.iter().position(|(x, _)| *x == t);
            probability_of(&type_scores, at, settings.temperature)
        };
        let mut overruled = false;
        if let Some((t, id)) = decided_type
            && t != petition_type
        {
            overruled = true;
            reasons.push(format!(
                "规则 {id} 直接判定类型为{}，不采用加权结果{}",
                t.zh(),
                petition_type.zh()
            ));
            // As sure as the weighing was of the decided type: a close call goes to triage.
            type_p = probability_of_type(t);
            petition_type = t;
        } else if decided_type.is_none()
            && petition_type != PetitionType::Accusation
            && let Some(floor) = settings.accusation_floor
        {
            // The costs are not symmetric: a false alarm costs a clerk a glance, a missed
            // accusation sends the informant's name to those reported (Art 30 para 3).
            let p = probability_of_type(PetitionType::Accusation);
            if p >= floor {
                overruled = true;
                reasons.push(format!(
                    "可能是检举控告（p={p:.2} ≥ {floor:.2}）：先按检举控告对信访人保密，由登记人员\
                     确定（加权结果为{}）",
                    petition_type.zh()
                ));
                type_p = p;
                petition_type = PetitionType::Accusation;
            }
        }

        // Department: the rules' candidates compete with an "unrouted" pseudo-candidate, so a
        // single weak hit is not certain. When nothing beats it, the bureau decides itself.
        let mut dept_scores: Vec<f32> = departments.entries.iter().map(|(_, s)| *s).collect();
        dept_scores.push(settings.default_department_score);
        let top = top_probability(&dept_scores, settings.temperature);
        let (mut department, mut dept_p) = match top {
            Some((i, p)) if i < departments.entries.len() => {
                (departments.entries[i].0.to_owned(), p)
            }
            _ => (settings.default_department.clone(), 0.0),
        };
        // Routed by hand (the pseudo-candidate won): no department leads anything.
        let dept_margin = match top {
            Some((best, _)) if best < departments.entries.len() => {
                lead(&dept_scores, best, settings.temperature)
            }
            _ => 0.0,
        };
        reasons.push(format!(
            "承办单位：{}（p={dept_p:.2}）",
            self.department_zh(&department)
        ));

        // Diversion and branch apply to 申诉求决 only (Art 31).
        let (mut diversion, mut branch) = if petition_type == PetitionType::Grievance {
            let none_score = diversions.score(&None);
            let weighed = diversions
                .entries
                .iter()
                .filter_map(|(d, s)| d.map(|d| (d, *s)))
                .reduce(|best, e| if e.1 > best.1 { e } else { best })
                .filter(|(_, s)| *s >= settings.diversion_threshold && *s > none_score)
                .map(|(d, _)| d);
            let decided = decided_diversion
                .and_then(|r| r.votes.diversion.map(|d| (d, r.id.as_str(), &r.instead_of)));
            let diversion = match decided {
                Some((d, id, instead_of))
                    if d != weighed && (instead_of.is_empty() || instead_of.contains(&weighed)) =>
                {
                    overruled = true;
                    reasons.push(format!(
                        "规则 {id} 直接判定{}，不采用加权结果{}",
                        diversion_zh(d),
                        diversion_zh(weighed)
                    ));
                    d
                }
                _ => weighed,
            };
            let branch = match diversion {
                Some(d) => d.branch(),
                None => branches
                    .best()
                    .filter(|(_, s)| *s >= settings.branch_threshold)
                    .map_or(Art31Branch::Residual, |(b, _)| *b),
            };
            if let Some(d) = diversion {
                reasons.push(format!("导入法定途径：{}", d.zh()));
            }
            reasons.push(format!("第三十一条处理途径：{}", branch.zh()));
            (diversion, Some(branch))
        } else {
            (None, None)
        };

        // §5.5: the discipline organ takes accusations against Party members and officials, and
        // Party members' appeals; nothing else. A grievance or proposal weighed to it (the
        // department model hears an official named) goes to the next department, unless the
        // department model is sure it is the organ's: its examples are accusations against
        // officials, so the matter is taken as one (a missed accusation sends the informant's
        // name to those reported; Art 30 para 3), and a clerk confirms it.
        if petition_type != PetitionType::Accusation
            && diversion != Some(Diversion::PartyAppeal)
            && let Some(organ) = settings.accused_official_department.as_deref()
            && organ == department
        {
            let sure = department_posteriors
                .iter()
                .find(|(code, _)| *code == organ)
                .map(|(_, p)| *p)
                .zip(settings.discipline_model_floor)
                .filter(|(p, floor)| p >= floor)
                // A rule that decided the type (「我不是要举报谁」) is not overruled.
                .filter(|_| decided_type.is_none());
            if let Some((p, floor)) = sure {
                reasons.push(format!(
                    "相近的样例是向{}的检举控告（p={p:.2} ≥ {floor:.2}）：按检举控告对信访人保密，由登记人员确定\
                     （加权结果为{}）",
                    self.department_zh(organ),
                    petition_type.zh()
                ));
                type_p = probability_of_type(PetitionType::Accusation);
                petition_type = PetitionType::Accusation;
                diversion = None;
                branch = None;
            } else {
                let next = departments
                    .entries
                    .iter()
                    .enumerate()
                    .filter(|(_, (d, s))| *d != organ && *s > settings.default_department_score)
                    .reduce(|best, e| if e.1.1 > best.1.1 { e } else { best });
                let (to, at) = match next {
                    Some((i, (d, _))) => ((*d).to_owned(), i),
                    // The pseudo-candidate: routed by hand.
                    None => (
                        settings.default_department.clone(),
                        departments.entries.len(),
                    ),
                };
                reasons.push(format!(
                    "{}只受理检举控告和党员申诉：改由{}办理",
                    self.department_zh(organ),
                    self.department_zh(&to)
                ));
                dept_p = probability_of(&dept_scores, Some(at), settings.temperature);
                department = to;
            }
            overruled = true;
        }

        // Art 30 confidentiality attaches to 检举控告 matters; a grievance that merely names an
        // official (e.g. contesting a 城管 seizure) is not an accusation.
        // An accusation weighed to the discipline organ is about a Party member or official: that
        // organ handles nothing else (§5.5 row 2).
        let to_discipline_organ =
            settings.accused_official_department.as_deref() == Some(department.as_str());
        let accuses_official = petition_type == PetitionType::Accusation
            && (accuses >= settings.accuses_official_threshold || to_discipline_organ);
        if accuses_official {
            reasons.push("检举党员或公职人员：对信访人信息保密（第三十条）".to_owned());
            // §5.5 row 2: accusations against officials go to the discipline organ, whatever
            // sector the misconduct happened in.
            if let Some(organ) = &settings.accused_official_department
                && *organ != department
            {
                reasons.push(format!(
                    "检举党员或公职人员：交{}办理，而非{}",
                    self.department_zh(organ),
                    self.department_zh(&department)
                ));
                department = organ.clone();
            }
        }

        let county = self.gazetteer.locate(&normalised).map(|m| {
            reasons.push(m.reason());
            // A proposal that names no more than "the city" (`市区`, `市里`) is about the city
            // as a whole: a city-wide policy is the city level's, as a grievance about one
            // facility in the city centre is the district's.
            // So is one that says it is for the whole city (`建议全市…`), whatever it names.
            if petition_type == PetitionType::Suggestion
                && (m.kind == PlaceKind::Cue
                    || self.gazetteer.city_wide_scope(&normalised).is_some())
                && let Some(city) = self.gazetteer.city_level()
                && city.code != m.county
            {
                reasons.push(format!(
                    "针对全市的建议：事项发生地定为{}（{}）",
                    city.name, city.code
                ));
                return city.code.clone();
            }
            m.county
        });
        if county.is_none() {
            reasons.push(COUNTY_UNKNOWN.to_owned());
        }

        let label_of = |d: Option<Diversion>| d.map_or(NO_DIVERSION, Diversion::zh);
        let flag = |b: bool| f32::from(u8::from(b));
        let signals = Signals {
            type_p,
            dept_p,
            dept_margin,
            dept_model_p: department_posteriors
                .iter()
                .find(|(code, _)| *code == department)
                .map_or(0.0, |(_, p)| *p),
            dept_rules_agree: flag(rules_department == Some(department.as_str())),
            dept_rules_strength: rules_best.map_or(0.0, |(_, s)| s.max(0.0) / (s.max(0.0) + 4.0)),
            dept_model_top: department_posteriors
                .iter()
                .map(|(_, p)| *p)
                .fold(0.0, f32::max),
            type_margin,
            type_model_agree: flag(type_model_favourite.is_some_and(|(t, _)| t == petition_type)),
            diversion_p: diversion_posteriors
                .iter()
                .find(|(label, _)| *label == label_of(diversion))
                .map_or(0.0, |(_, p)| *p),
            overruled: flag(overruled),
            placed: flag(county.is_some()),
            short: flag(normalised.chars().count() < 60),
            long: flag(normalised.chars().count() > 300),
            dept_contenders,
            accusation: flag(petition_type == PetitionType::Accusation),
            suggestion: flag(petition_type == PetitionType::Suggestion),
            certainty: type_p.min(dept_p),
        };
        let confidence = match &settings.calibration {
            Some(c) => c.confidence(&signals),
            None => type_p.min(dept_p),
        }
        .clamp(0.0, 1.0);
        let needs_triage = confidence < settings.triage_threshold;
        if needs_triage {
            reasons.push(format!(
                "置信度 {confidence:.3} 低于 {}：需人工分类",
                settings.triage_threshold
            ));
        }

        let classification = Classification {
            petition_type,
            branch,
            diversion,
            department,
            county,
            accuses_official,
            confidence,
            needs_triage,
            reasons,
        };
        (classification, signals)
    }

    /// Like [`classify`](Self::classify), and when the text names no place, takes the county from
    /// the petitioner's registered residence: the address code that opens a resident ID number
    /// (GB 11643). Petitioners mostly raise matters where they live (属地管理), and the clerk sees
    /// that the county was inferred. A place named in the text always wins; an ID number from
    /// outside the deployment leaves the county unknown. Only the first six digits are read.
    pub fn classify_with_id_number(&self, text: &str, id_number: Option<&str>) -> Classification {
        let mut c = self.classify(text);
        if c.county.is_some() {
            return c;
        }
        let Some(prefix) = id_number.and_then(|id| id.trim().get(..6)) else {
            return c;
        };
        if !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return c;
        }
        if let Some(entry) = self.gazetteer.county_for_code(prefix) {
            c.county = Some(entry.code.clone());
            c.reasons.retain(|r| r != COUNTY_UNKNOWN);
            c.reasons.push(format!(
                "事项发生地：{}（{}），依据信访人户籍地（文中未提及地名）",
                entry.name, entry.code
            ));
        }
        c
    }

    /// The text's content words weighted by rarity, to compare with another petition of the same
    /// petitioner (see [`MatterWords::overlap`]).
    pub fn matter(&self, text: &str) -> MatterWords {
        MatterWords::new(
            &self.segmenter,
            &self.rules.synonyms,
            &self.word_weights,
            &normalise(&crate::confidential::without_masks(text)),
        )
    }

    /// What the text says about the petitioner's earlier petitions: that it raises something
    /// raised before (上次反映过, 再次, 还是那个事; lowers the bar for linking a repeat), or plainly
    /// that this time it is another matter (这次是另一件事; no link).
    pub fn follow_up(&self, text: &str) -> FollowUp {
        let normalised = normalise(text);
        let doc = Doc::new(&normalised, &self.segmenter);
        let cues = &self.rules.follow_up;
        if doc.first_match(&cues.new_matter).is_some() {
            FollowUp::AnotherMatter
        } else if doc.first_match(&cues.again).is_some()
            && doc.first_match(&cues.another_matter).is_none()
        {
            FollowUp::Again
        } else {
            FollowUp::Unsaid
        }
    }

    /// The rules that fire on a text, for tuning tools and tests.
    pub fn fired_rules(&self, text: &str) -> Vec<&Rule> {
        let normalised = normalise(text);
        let doc = Doc::new(&normalised, &self.segmenter);
        self.rules
            .rules
            .iter()
            .filter(|r| fire(r, &doc).is_some())
            .collect()
    }
}

/// The terms that made a rule fire, or `None` when it does not.
fn fire(rule: &Rule, doc: &Doc<'_>) -> Option<Vec<String>> {
    // What must match first: most rules fail there, before their (often long) `none` lists.
    let mut matched: Vec<&Pattern> = Vec::with_capacity(1 + rule.all.len());
    if !rule.any.is_empty() {
        matched.push(doc.first_match(&rule.any)?);
    }
    for item in &rule.all {
        matched.push(doc.first_match(item)?);
    }
    if rule.none.iter().any(|p| doc.matches(p)) {
        return None;
    }
    Some(matched.into_iter().map(Pattern::display).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    pub(crate) fn shared() -> &'static Classifier {
        static C: OnceLock<Classifier> = OnceLock::new();
        C.get_or_init(|| Classifier::embedded().expect("shipped classification data is valid"))
    }

    /// The shipped rules and gazetteer with term models learnt from these examples only:
    /// (text, department code, type, diversion).
    fn taught(examples: &[(&str, &str, &str, &str)]) -> Classifier {
        taught_with(examples, |_| {})
    }

    /// [`taught`], with the shipped rules changed by `change` first.
    fn taught_with(
        examples: &[(&str, &str, &str, &str)],
        change: impl FnOnce(&mut ClassifierRules),
    ) -> Classifier {
        let mut rules = ClassifierRules::from_toml_str(EMBEDDED_RULES).expect("shipped rules");
        change(&mut rules);
        let jsonl: String = examples
            .iter()
            .enumerate()
            .map(|(i, (text, dept, kind, diversion))| {
                serde_json::json!({
                    "id": format!("X{i}"), "text": text, "type": kind, "dept": dept,
                    "diversion": diversion,
                })
                .to_string()
                    + "\n"
            })
            .collect();
        Classifier::new(
            rules,
            Gazetteer::from_toml_str(EMBEDDED_GAZETTEER).expect("shipped gazetteer"),
            &examples::parse(&jsonl).expect("examples"),
        )
        .expect("classifier")
    }

    /// Classifies `text` with the shipped data and checks its type, naming the reasons if not.
    fn assert_type(text: &str, expected: PetitionType) -> Classification {
        let c = shared().classify(text);
        assert_eq!(c.petition_type, expected, "{text}: {:?}", c.reasons);
        c
    }

    #[test]
    fn normalises_full_width_and_spaces() {
        assert_eq!(normalise("打 １１０ 报警！"), "打110报警！");
    }

    #[test]
    fn proximity_is_ordered_within_a_sentence() {
        let parts = vec!["不服".to_owned(), "决定".to_owned()];
        assert!(in_order("我不服这个处罚决定", &parts));
        assert!(!in_order("决定了，我不服", &parts));
    }

    #[test]
    fn the_rules_read_past_the_salutation() {
        assert_eq!(
            after_salutation("尊敬的市委书记：您好！我是会兴街道的住户。"),
            "我是会兴街道的住户。"
        );
        assert_eq!(
            after_salutation("市长您好：健身房老板收了钱跑了"),
            "健身房老板收了钱跑了"
        );
        assert_eq!(after_salutation("王局长，您好，我家"), "我家");
        // A report's own heading stays: it says what the letter is.
        assert_eq!(after_salutation("举报人：张某某。"), "举报人：张某某。");
        assert_eq!(
            after_salutation("关于村书记贪污的问题：他把补助款私分了。"),
            "关于村书记贪污的问题：他把补助款私分了。"
        );
        assert_eq!(
            after_salutation("纪委领导：村支书王某贪污。"),
            "村支书王某贪污。"
        );
        // What the letter is about, before a colon or without punctuation after 尊敬的.
        for kept in [
            "村书记王某贪污：他把补助款装进自己腰包。",
            "反映镇政府乱收费：每户收两百。",
            "对网上信访平台提几点建议：一是…",
            "尊敬的书记村主任贪污，还打人。",
            "村主任，把低保给了亲戚。",
        ] {
            assert_eq!(after_salutation(kept), kept);
        }
        assert_eq!(
            after_salutation("尊敬的领导：我要反映村主任的问题：他把低保给了亲戚。"),
            "我要反映村主任的问题：他把低保给了亲戚。"
        );
        // A long clause before a colon is the matter itself.
        assert_eq!(
            after_salutation("某村支书把低保名额都给了他的亲戚们：一共五户"),
            "某村支书把低保名额都给了他的亲戚们：一共五户"
        );
        assert_eq!(after_salutation("您好"), "您好");
        assert_eq!(after_salutation(""), "");
    }

    /// The official a letter is addressed to is not accused by it; one named in its body is.
    #[test]
    fn an_official_greeted_is_not_accused() {
        let c = shared().classify(
            "市长您好：我在湖滨区一家健身房办了卡，老板收了我们三百多人的钱就关门跑了，请求帮我们退钱。",
        );
        assert!(!c.accuses_official, "{:?}", c.reasons);
        assert_ne!(c.petition_type, PetitionType::Accusation, "{:?}", c.reasons);
        let c = shared()
            .classify("市长您好：我们村的村支书收了开发商的钱，把村里的地低价卖了，请求查处。");
        assert!(c.accuses_official, "{:?}", c.reasons);
    }

    #[test]
    fn lead_clause_skips_salutations() {
        assert_eq!(lead_clause("尊敬的王书记：某村主任贪污，"), "某村主任贪污");
        assert_eq!(lead_clause("某局副局长大操大办。"), "某局副局长大操大办");
        assert_eq!(lead_clause("，，没有标点的开头"), "没有标点的开头");
        assert_eq!(lead_clause(""), "");
    }

    #[test]
    fn softmax_top_probability() {
        let (i, p) = top_probability(&[1.0, 3.0, 1.0], 1.0).expect("non-empty");
        assert_eq!(i, 1);
        assert!(p > 0.75 && p < 0.9, "{p}");
        assert!(top_probability(&[], 1.0).is_none());
    }

    #[test]
    fn empty_text_is_a_triaged_grievance() {
        let c = shared().classify("");
        assert_eq!(c.petition_type, PetitionType::Grievance);
        assert_eq!(c.department, "xfj");
        assert!(c.needs_triage);
        assert!(c.county.is_none());
        assert!(!c.accuses_official);
    }

    /// The clerk reads the reasons: what each rule found and voted for, departments by their
    /// names, in Chinese; the rule's id stays for whoever maintains the rules.
    #[test]
    fn reasons_say_in_chinese_what_was_found_and_where_it_points() {
        let c = shared().classify("灵宝市某公司拖欠我们三个月工资，请求帮助追讨。");
        let fired: Vec<&String> = c
            .reasons
            .iter()
            .filter(|r| r.starts_with("命中「"))
            .collect();
        assert!(!fired.is_empty(), "{:?}", c.reasons);
        assert!(
            fired
                .iter()
                .all(|r| r.contains("（规则 ") && r.contains(" +")),
            "{fired:?}"
        );
        assert!(
            c.reasons
                .iter()
                .any(|r| r.starts_with("承办单位：人社局（p=")),
            "the department by its name: {:?}",
            c.reasons
        );
        assert!(
            c.reasons
                .iter()
                .any(|r| r.starts_with("事项发生地：灵宝市（411282），依据")),
            "{:?}",
            c.reasons
        );
        assert!(
            c.reasons
                .iter()
                .all(|r| !r.starts_with(|ch: char| ch.is_ascii_alphabetic())),
            "{:?}",
            c.reasons
        );
    }

    #[test]
    fn county_falls_back_to_the_id_number_only_when_no_place_is_named() {
        let c = shared();
        let text = "我家的低保今年被停了，请求恢复。";
        let got = c.classify_with_id_number(text, Some("41122219600101001X"));
        assert_eq!(got.county.as_ref().map(|c| c.as_str()), Some("411203"));
        assert!(got.reasons.iter().any(|r| r.contains("依据信访人户籍地")));
        assert!(
            !got.reasons.iter().any(|r| r == COUNTY_UNKNOWN),
            "the county is no longer unknown: {:?}",
            got.reasons
        );
        assert!(
            got.reasons
                .iter()
                .all(|r| !r.contains("41122219600101001X"))
        );
        let named = c.classify_with_id_number("灵宝市某村的低保被停了", Some("41122219600101001X"));
        assert_eq!(named.county.as_ref().map(|c| c.as_str()), Some("411282"));
        for outside in [Some("410305196001010011"), Some("abc"), Some(""), None] {
            assert!(c.classify_with_id_number(text, outside).county.is_none());
        }
    }

    #[test]
    fn a_proposal_about_the_city_as_a_whole_is_the_city_levels() {
        let c = shared();
        let county = |t: &str| {
            let got = c.classify(t);
            (got.petition_type, got.county.map(|c| c.as_str().to_owned()))
        };
        assert_eq!(
            county("建议市区的公交线路晚上延长到十点收车，方便下夜班的人。"),
            (PetitionType::Suggestion, Some("411200".to_owned()))
        );
        // A grievance about one place in the city centre stays the district's.
        assert_eq!(
            county("我在市区一家饭店吃饭后上吐下泻，店家不认账，请求处理。"),
            (PetitionType::Grievance, Some("411202".to_owned()))
        );
        // One for the whole city is the city level's, even when it names a street.
        assert_eq!(
            county("建议全市的出租车都装上计价器，从火车站到湖滨广场一口价三十太乱了。").1,
            Some("411200".to_owned())
        );
        // A proposal naming a street is about that street.
        assert_eq!(
            county("建议在湖滨区崤山路口加装红绿灯，市区车越来越多。").1,
            Some("411202".to_owned())
        );
    }

    /// Issue #19 item 1 (§5.5 row 6): reporting someone else's wrongdoing as an informant is
    /// 检举控告 and confidential, however the text is worded; a complaint seeking a remedy for
    /// the writer's own harm stays 申诉求决 (row 6b).
    #[test]
    fn informants_are_accusers_and_own_harm_stays_a_grievance() {
        for text in [
            "举报某化工厂夜间偷排废水，河里的鱼都死了。",
            "我要检举控告，我们村东头那个小厂子用暗管偷排有毒废水，请为我保密。",
            "厂子半夜往河里排黑水，请别说是我说的。",
            "有人在我们小区搞传销，每天拉人开会，请你们查一查，我不方便透露姓名。",
            "某药店用别人的医保卡刷卡骗保，我亲眼看见的，希望查处。",
        ] {
            let c = assert_type(text, PetitionType::Accusation);
            assert!(!c.accuses_official, "{text}: no official named");
        }
        for text in [
            "隔壁饭店油烟直排进我家窗户，请求环保部门检查并责令整改。",
            "我要控告同村的刘某，他去年以合伙做生意为由骗走我十二万元，派出所说是经济纠纷不给立案。",
        ] {
            assert_type(text, PetitionType::Grievance);
        }
    }

    #[test]
    fn informants_in_plain_words_are_accusers() {
        for text in [
            // No 举报/检举, no request for secrecy: a stake disclaimed.
            "东河边那个石料厂天天夜里往河里倒废渣，水都成白的了。我跟那家厂没有过节，就是看不下去。",
            // Secrecy asked for in an operator's words.
            "来电人反映：镇上一家调料店把散装辣椒面贴上外地名牌的包装袋往外批发。来电人要求对其身份保密。",
            // An official taking money, in everyday words.
            "俺村会计把修路哩钱装进自己兜里了，还把低保名额都给了他亲戚，恁上头来查查。",
        ] {
            assert_type(text, PetitionType::Accusation);
        }
    }

    #[test]
    fn accusations_against_officials_go_to_the_discipline_organ() {
        // The misconduct is in a hospital, the accused a public doctor: 纪委监委, not 卫健委.
        let text = "我父亲在县医院做手术，主刀医生让我们用他指定的进口钢板，后来才知道他从器械商那里拿回扣。";
        let c = shared().classify(text);
        assert_eq!(c.petition_type, PetitionType::Accusation, "{:?}", c.reasons);
        assert!(c.accuses_official, "{:?}", c.reasons);
        assert_eq!(c.department, "jwjw", "{:?}", c.reasons);
        // Without the setting the weighed department stands.
        let mut rules = ClassifierRules::from_toml_str(EMBEDDED_RULES).unwrap();
        rules.settings.accused_official_department = None;
        let plain = Classifier::new(
            rules,
            Gazetteer::from_toml_str(EMBEDDED_GAZETTEER).unwrap(),
            &examples::parse(EMBEDDED_EXAMPLES).unwrap(),
        )
        .unwrap();
        assert_ne!(plain.classify(text).department, "jwjw");
    }

    #[test]
    fn a_likely_accusation_is_chosen_over_a_heavier_grievance() {
        let text = "我家门口的路灯坏了三个月，请尽快修好。";
        let with_floor = |floor: Option<f32>| {
            let mut rules = ClassifierRules::from_toml_str(EMBEDDED_RULES).unwrap();
            rules.settings.accusation_floor = floor;
            Classifier::new(
                rules,
                Gazetteer::from_toml_str(EMBEDDED_GAZETTEER).unwrap(),
                &examples::parse(EMBEDDED_EXAMPLES).unwrap(),
            )
            .unwrap()
            .classify(text)
        };
        assert_ne!(with_floor(None).petition_type, PetitionType::Accusation);
        // A floor below any probability turns every undecided grievance into an accusation.
        let c = with_floor(Some(0.000_1));
        assert_eq!(c.petition_type, PetitionType::Accusation);
        assert!(
            c.reasons.iter().any(|r| r.contains("可能是检举控告")),
            "{:?}",
            c.reasons
        );
        let bad: String = EMBEDDED_RULES
            .lines()
            .map(|l| {
                if l.starts_with("accusation_floor =") {
                    "accusation_floor = 1.5"
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert_ne!(
            bad, EMBEDDED_RULES,
            "the shipped rules set accusation_floor"
        );
        let e = ClassifierRules::from_toml_str(&bad).unwrap_err();
        assert!(e.to_string().contains("accusation_floor"), "{e}");
    }

    #[test]
    fn spoken_proposals_are_suggestions() {
        let c = shared()
            .classify("俺寻思着，镇上能不能给俺们村口装几盏路灯，黑了走路老绊倒，恁看中不中？");
        assert_eq!(c.petition_type, PetitionType::Suggestion, "{:?}", c.reasons);
    }

    #[test]
    fn confidence_is_the_calibrated_probability() {
        let c = shared();
        let calibration = c
            .rules()
            .settings
            .calibration
            .as_ref()
            .expect("shipped [calibration]");
        let (got, signals) =
            c.classify_with_signals("县医院的医生收红包，还让病人去他亲戚的药店买药。");
        assert!((got.confidence - calibration.confidence(&signals)).abs() < 1e-6);
        // A text with nothing to go on is held.
        assert!(c.classify("有事").needs_triage);
    }

    /// Issue #19 item 3: unpaid migrant and construction wages go to labour inspection
    /// (31(5)), not arbitration, and the reasons say the examples' vote was overruled; a
    /// dispute over the employment contract is still arbitration.
    #[test]
    fn migrant_wages_go_to_labour_inspection_and_contract_disputes_to_arbitration() {
        let text = "我在灵宝市某建筑公司工地干了八个月，老板一直拖欠工资共计三万六千元，多次讨要无果。请求有关部门责令公司支付拖欠的工资。";
        let c = shared().classify(text);
        assert_eq!(c.diversion, None, "{:?}", c.reasons);
        assert_eq!(c.branch, Some(Art31Branch::DutyPerformance));
        assert_eq!(c.department, "rsj");
        // Examples that send every wage matter to arbitration outvote the rules' weights; the
        // rule still decides, and the reasons say whose vote it overturned.
        let taught = taught(&[
            (
                "工地老板拖欠工资不给，请求支付工资",
                "rsj",
                "申诉求决",
                "仲裁",
            ),
            (
                "公司拖欠我的工资三个月，请求支付",
                "rsj",
                "申诉求决",
                "仲裁",
            ),
            ("建筑公司欠工资，老板不给钱", "rsj", "申诉求决", "仲裁"),
            (
                "拖欠工资多次讨要无果，请求责令支付",
                "rsj",
                "申诉求决",
                "仲裁",
            ),
            ("低保被取消了请求恢复", "mzj", "申诉求决", ""),
        ]);
        let c = taught.classify(text);
        assert_eq!(c.diversion, None, "{:?}", c.reasons);
        assert!(
            c.reasons
                .iter()
                .any(|r| r.contains("规则 div.none.wage_arrears 直接判定") && r.contains("不采用")),
            "{:?}",
            c.reasons
        );
        // The examples' vote for a court channel does not overturn it either…
        let c =
            shared().classify("工地包工头欠我半年工钱共三万元，电话不接，请求人社部门帮忙追讨。");
        assert_eq!(c.diversion, None, "{:?}", c.reasons);
        // …unless a court has already judged the wages.
        let c = shared().classify(
            "包工头欠我们十二个人的工钱，法院判决他支付六万元，我们申请了强制执行，半年了还没执行到位。",
        );
        assert_eq!(
            c.diversion,
            Some(Diversion::CourtEnforcement),
            "{:?}",
            c.reasons
        );
        let c = shared().classify("我被公司无故辞退，没有签劳动合同，要求公司支付经济补偿金。");
        assert_eq!(c.diversion, Some(Diversion::Arbitration), "{:?}", c.reasons);
    }

    /// Examples that teach the department model that market fees are the discipline organ's.
    const FEES_TO_THE_ORGAN: &[(&str, &str, &str, &str)] = &[
        ("集市管理员收摊位费不给票", "jwjw", "申诉求决", ""),
        ("集市上收管理费不开收据", "jwjw", "申诉求决", ""),
        ("摊位费每天都收，不给票据", "jwjw", "申诉求决", ""),
        ("低保被取消了请求恢复", "mzj", "申诉求决", ""),
        ("路灯坏了没人修请求维修", "cgj", "申诉求决", ""),
    ];
    const MARKET_FEES: &str = "我在集市上卖袜子，摊位费每天都收，收了不给票，请求给我开收据。";

    /// §5.5: 纪委监委 takes accusations against officials and Party members' appeals only; a
    /// grievance the department model sends there goes to the next department, and says so.
    #[test]
    fn the_discipline_organ_takes_no_grievance() {
        let unsure = taught_with(FEES_TO_THE_ORGAN, |r| {
            r.settings.discipline_model_floor = None;
        });
        let c = unsure.classify(MARKET_FEES);
        assert_eq!(c.petition_type, PetitionType::Grievance, "{:?}", c.reasons);
        assert_ne!(c.department, "jwjw", "{:?}", c.reasons);
        assert!(
            c.reasons
                .iter()
                .any(|r| r.contains("纪委监委只受理检举控告和党员申诉")),
            "{:?}",
            c.reasons
        );
        // So does one whose writer says outright it accuses nobody, however sure the model is.
        let c = taught(FEES_TO_THE_ORGAN).classify(
            "我不是要举报谁，我在集市上卖袜子，摊位费每天都收，收了不给票，请求给我开收据。",
        );
        assert_eq!(c.petition_type, PetitionType::Grievance, "{:?}", c.reasons);
        assert_ne!(c.department, "jwjw", "{:?}", c.reasons);
        // A Party member's appeal against a discipline decision stays with the organ.
        let c = shared().classify(
            "我是中共党员，去年因为一次工作失误被给予党内警告处分，我认为处分过重，事实认定有误，\
             特此申请复查，请求撤销处分。",
        );
        assert_eq!(c.diversion, Some(Diversion::PartyAppeal), "{:?}", c.reasons);
        assert_eq!(c.department, "jwjw", "{:?}", c.reasons);
    }

    /// A grievance the department model is sure is the discipline organ's (whose examples are
    /// accusations against officials) is taken as an accusation, confidential, for a clerk to
    /// confirm: the rules missed what the examples recognise.
    #[test]
    fn what_the_model_is_sure_is_the_organs_is_taken_as_an_accusation() {
        let c = taught(FEES_TO_THE_ORGAN).classify(MARKET_FEES);
        assert_eq!(c.petition_type, PetitionType::Accusation, "{:?}", c.reasons);
        assert_eq!(c.department, "jwjw", "{:?}", c.reasons);
        assert!(c.accuses_official && c.needs_triage, "{:?}", c.reasons);
        assert_eq!((c.diversion, c.branch), (None, None), "{:?}", c.reasons);
        assert!(
            c.reasons
                .iter()
                .any(|r| r.contains("按检举控告对信访人保密，由登记人员确定")),
            "{:?}",
            c.reasons
        );
        // Less sure than the floor: the organ does not take it.
        let c = taught_with(FEES_TO_THE_ORGAN, |r| {
            r.settings.discipline_model_floor = Some(0.99);
        })
        .classify(MARKET_FEES);
        assert_eq!(c.petition_type, PetitionType::Grievance, "{:?}", c.reasons);
        assert_ne!(c.department, "jwjw", "{:?}", c.reasons);
    }

    #[test]
    fn own_claims_naming_officials_are_not_accusations() {
        for text in [
            "尊敬的王书记：您好！我是灵宝市某村村民，我家的低保今年被取消了，请求重新核查恢复低保。",
            "村支书说我家不符合低保条件，可我老伴常年卧病在床，请求民政部门重新审核。",
            "领导您好，我家孩子今年上小学被分到很远的学校，请求教育局重新安排。",
            "我去镇上申请低保，工作人员推诿扯皮，跑了五趟还没办下来，请求尽快给我办理低保。",
        ] {
            let c = shared().classify(text);
            assert_eq!(c.petition_type, PetitionType::Grievance, "{:?}", c.reasons);
            assert!(!c.accuses_official, "{:?}", c.reasons);
        }
    }

    #[test]
    fn a_writer_who_says_they_accuse_nobody_is_asking_for_their_own_matter() {
        for text in [
            "我家盖房递了宅基地申请，村主任一直压着不上会，他侄子的申请倒是先批了指标。\
             我不是要告谁，就想知道我家的申请卡在哪一步，请镇上给个说法。",
            "村会计说我家的补贴名单上没有，可能是报漏了。我不是要举报谁，只想把这几年的补贴补上。",
        ] {
            let c = assert_type(text, PetitionType::Grievance);
            assert!(!c.accuses_official, "{:?}", c.reasons);
        }
    }

    #[test]
    fn a_proposal_about_offences_is_a_suggestion() {
        assert_type(
            "建议县里设一个收污染线索的热线，有人看见小作坊半夜排污水可以随时打，查实了给点奖励。",
            PetitionType::Suggestion,
        );
    }

    #[test]
    fn an_unenforced_judgment_is_for_enforcement_not_another_suit() {
        let text = "离婚判决让前夫每月给孩子抚养费八百，他一分没给。我去法院申请了强制执行，\
             快一年了执行法官说找不到他的财产，可他天天开车拉货。请法院加大执行力度。";
        // The suit is over: the divorce and maintenance words do not make it a new one.
        assert!(
            !shared()
                .fired_rules(text)
                .iter()
                .any(|r| r.id == "div.litigation.civil")
        );
        let c = shared().classify(text);
        assert_eq!(
            c.diversion,
            Some(Diversion::CourtEnforcement),
            "{:?}",
            c.reasons
        );
    }

    #[test]
    fn token_terms_do_not_fire_inside_longer_words() {
        // `=老师` (a teacher) must not fire on 老师傅 (a master craftsman).
        let fired = |t: &str| -> Vec<String> {
            shared()
                .fired_rules(t)
                .iter()
                .map(|r| r.id.clone())
                .collect()
        };
        assert!(!fired("请了一个装修老师傅来修房子").contains(&"dept.jyj.school".to_owned()));
        assert!(fired("孩子的老师经常体罚学生").contains(&"dept.jyj.school".to_owned()));
    }

    #[test]
    fn the_masks_of_a_redacted_text_are_not_words_of_its_matter() {
        let c = shared();
        let m =
            c.matter("来访人〔姓名已隐去〕，电话〔电话已隐去〕，反映小区电梯坏了三个月没人修。");
        let words = m.words();
        assert!(words.contains("电梯"), "{words:?}");
        for w in ["姓名", "隐去", "电话", "已隐去"] {
            assert!(!words.contains(w), "`{w}` in {words:?}");
        }
        // Two redacted petitions about different things share nothing through their masks.
        let other = c.matter("〔姓名已隐去〕反映村里低保名额分配不公。");
        assert_eq!(m.overlap(&other), 0.0);
    }

    #[test]
    fn a_follow_up_refers_back_unless_it_says_it_is_another_matter() {
        let c = shared();
        let f = |t: &str| c.follow_up(t);
        assert_eq!(
            f("上回反映的工钱到现在还没给，请再催一催。"),
            FollowUp::Again
        );
        assert_eq!(f("我再次反映小区电梯的问题。"), FollowUp::Again);
        assert_eq!(
            f("上回打电话说的是补贴，这次说的是另外一个事：土地流转款没给。"),
            FollowUp::AnotherMatter
        );
        // Might be something else: no lower bar, but no veto either.
        assert_eq!(
            f("上次反映过以后，这次反映的是工地又开工了。"),
            FollowUp::Unsaid
        );
        assert_eq!(
            f("还是我。上次反映的是解除合同，这次是另一件：社保断缴。"),
            FollowUp::AnotherMatter
        );
        assert_eq!(f("包工头拖欠我们工资，请求帮助追讨。"), FollowUp::Unsaid);
    }

    #[test]
    fn classification_round_trips_through_json() {
        let c = shared().classify("建议在灵宝市区增设公交线路");
        let json = serde_json::to_string(&c).expect("serialise");
        let back: Classification = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, c);
    }

    #[test]
    fn classifies_typical_petitions() {
        let c =
            shared().classify("举报卢氏县某镇党委书记利用职权收受工程老板贿赂，并把工程交给亲戚。");
        assert_eq!(c.petition_type, PetitionType::Accusation);
        assert_eq!(c.department, "jwjw");
        assert!(c.accuses_official);
        assert_eq!(c.county.as_ref().map(|c| c.as_str()), Some("411224"));

        let c = shared()
            .classify("我在义马市一家公司上班，公司无故把我辞退，也不给经济补偿，请求帮助。");
        assert_eq!(c.petition_type, PetitionType::Grievance);
        assert_eq!(c.department, "rsj");
        assert_eq!(c.diversion, Some(Diversion::Arbitration));
        assert_eq!(c.branch, Some(Art31Branch::Arbitration));

        let c = shared().classify("建议在渑池县城多设几个公共厕所，方便群众。");
        assert_eq!(c.petition_type, PetitionType::Suggestion);
        assert_eq!(c.county.as_ref().map(|c| c.as_str()), Some("411221"));
        assert!(c.branch.is_none() && c.diversion.is_none());

        let c = shared()
            .classify("法院判决已经生效两年了，对方一直不还钱，执行局说找不到财产，请求恢复执行。");
        assert_eq!(c.department, "fy");
        assert_eq!(c.diversion, Some(Diversion::CourtEnforcement));
    }
}
