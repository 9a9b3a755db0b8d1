//! Petition classification (依法分类处理, domain.md §5) and repeat-similarity primitives (§7).
//!
//! The rules are data: `config/classification/rules.toml` (weighted vocabulary and patterns that
//! vote for a type, department, diversion, Art 31 branch and the accuses-an-official flag) and
//! `config/classification/gazetteer.toml` (place names of 三门峡's county-level units), and so are
//! the labelled petitions in `config/classification/examples.jsonl` that the term models learn
//! from. The [`Classifier`] is built once from these and is then a pure function of the text;
//! [`Classifier::matter`] and [`Classifier::refers_to_earlier_petition`] serve repeat linking
//! ([`crate::repeat`]). It proposes;
//! a clerk decides: every result carries the rules that fired and a confidence, and a low
//! confidence sets `needs_triage`.

pub mod calibration;
mod departments;
mod engine;
pub mod examples;
mod gazetteer;
pub mod matter;
mod rules;
mod segment;
pub mod similarity;
pub mod term_model;

#[cfg(test)]
mod dev_set;

use serde::{Deserialize, Serialize};

use crate::county::CountyCode;
use crate::petition::{Art31Branch, Diversion, PetitionType};

pub use calibration::{Calibration, Signals};
pub use departments::{Department, Departments};
pub use engine::Classifier;
pub use examples::Example;
pub use gazetteer::{CountyEntry, Gazetteer, PlaceKind, PlaceMatch};
pub use matter::{MatterWords, WordWeights};
pub use rules::{ClassifierRules, FollowUpCues, Pattern, Rule, Settings, Votes};
pub use segment::{Segmenter, Token};
pub use similarity::{Fingerprint, fingerprint, similarity};

/// The shipped rules, used by [`Classifier::embedded`].
pub const EMBEDDED_RULES: &str = include_str!("../../../../config/classification/rules.toml");
/// The shipped gazetteer, used by [`Classifier::embedded`] and by [`fingerprint`].
pub const EMBEDDED_GAZETTEER: &str =
    include_str!("../../../../config/classification/gazetteer.toml");

/// The shipped labelled examples the term models learn from, used by [`Classifier::embedded`].
pub const EMBEDDED_EXAMPLES: &str =
    include_str!("../../../../config/classification/examples.jsonl");

/// What the classifier proposes for one petition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    pub petition_type: PetitionType,
    /// The Art 31 branch; only for 申诉求决 matters.
    pub branch: Option<Art31Branch>,
    /// The legal channel to divert into; only for 申诉求决 matters that have one.
    pub diversion: Option<Diversion>,
    /// Department code from the directory (`config/departments.tsv`).
    pub department: String,
    /// Where the matter happened; `None` when the text names no place (the city bureau decides).
    pub county: Option<CountyCode>,
    /// The text accuses a Party member or public official: Art 30 confidentiality applies.
    pub accuses_official: bool,
    /// 0..1; with the rules file's `[calibration]`, the estimated probability that type and
    /// department are right; without it, the weaker of the two certainties.
    pub confidence: f32,
    /// Confidence is below the configured threshold: a clerk must classify by hand.
    pub needs_triage: bool,
    /// Which rules fired and what they decided, for the clerk.
    pub reasons: Vec<String>,
}

/// Invalid classification data. Messages name the place in the data, never petition text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("cannot parse the {file} file: {message}")]
    Parse { file: &'static str, message: String },
    #[error("{at}: {message}")]
    Invalid { at: String, message: String },
}

impl RulesError {
    pub(crate) fn invalid(at: impl Into<String>, message: impl Into<String>) -> Self {
        RulesError::Invalid {
            at: at.into(),
            message: message.into(),
        }
    }
}
