//! What the classifier's confidence means: the probability that a petition's type and department
//! are right, estimated from signals of how the answer was reached.
//!
//! The softmax certainties alone rank errors poorly: a petition where the rules, the term model
//! and the final answer disagree is far more often wrong than its top probability suggests. So
//! the confidence is a logistic model over [`Signals`], fitted on cross-validated classifications
//! of the labelled examples ([`fit`]), and `needs_triage` holds what falls below the threshold.
//! [`reliability`] and [`triage_curve`] report how well that works on any labelled set.

use serde::{Deserialize, Serialize};

use super::{Classifier, ClassifierRules, Example, Gazetteer, RulesError};

/// How a classification was reached, each in 0..1. Named so the fitted weights read in the rules
/// file and survive adding a signal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Signals {
    /// Softmax probability of the chosen type.
    pub type_p: f32,
    /// Softmax probability of the chosen department.
    pub dept_p: f32,
    /// Its lead over the runner-up department.
    pub dept_margin: f32,
    /// The department term model's probability for the chosen department.
    pub dept_model_p: f32,
    /// 1 when the rules alone (without the term models) would choose the same department.
    pub dept_rules_agree: f32,
    /// How strongly the rules alone voted for their department: score / (score + 4).
    pub dept_rules_strength: f32,
    /// The department term model's probability for its own favourite.
    pub dept_model_top: f32,
    /// The lead of the chosen type over the runner-up.
    pub type_margin: f32,
    /// 1 when the type term model's favourite is the chosen type.
    pub type_model_agree: f32,
    /// The diversion term model's probability for the chosen diversion (or for none).
    pub diversion_p: f32,
    /// 1 when a deciding rule overruled the weighed type or diversion.
    pub overruled: f32,
    /// 1 when the text names a place of the deployment.
    pub placed: f32,
    /// 1 for short texts (under 60 characters): less to go on.
    pub short: f32,
    /// 1 for long texts (over 300 characters): several matters, one of them the main one.
    pub long: f32,
    /// How many departments the rules alone gave a subject word's weight (2.5) or more, over 5.
    pub dept_contenders: f32,
    /// 1 for a 检举控告 result, 1 for a 建议意见 result: the types err differently.
    pub accusation: f32,
    pub suggestion: f32,
    /// The lesser of `type_p` and `dept_p`: the confidence before calibration. A sum of the
    /// two cannot express "the weaker of them", which ranks other writers' errors well.
    pub certainty: f32,
}

/// The signals' names, in the order of [`Signals::values`].
pub const SIGNALS: [&str; 18] = [
    "type_p",
    "dept_p",
    "dept_margin",
    "dept_model_p",
    "dept_rules_agree",
    "dept_rules_strength",
    "dept_model_top",
    "type_margin",
    "type_model_agree",
    "diversion_p",
    "overruled",
    "placed",
    "short",
    "long",
    "dept_contenders",
    "accusation",
    "suggestion",
    "certainty",
];

impl Signals {
    pub fn values(&self) -> [f32; SIGNALS.len()] {
        [
            self.type_p,
            self.dept_p,
            self.dept_margin,
            self.dept_model_p,
            self.dept_rules_agree,
            self.dept_rules_strength,
            self.dept_model_top,
            self.type_margin,
            self.type_model_agree,
            self.diversion_p,
            self.overruled,
            self.placed,
            self.short,
            self.long,
            self.dept_contenders,
            self.accusation,
            self.suggestion,
            self.certainty,
        ]
    }
}

/// A logistic model: confidence = σ(bias + Σ weight × signal).
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    pub bias: f32,
    pub weights: [f32; SIGNALS.len()],
}

impl Calibration {
    /// The probability that type and department are right.
    pub fn confidence(&self, s: &Signals) -> f32 {
        let z = self.bias
            + self
                .weights
                .iter()
                .zip(s.values())
                .map(|(w, x)| w * x)
                .sum::<f32>();
        1.0 / (1.0 + (-z).exp())
    }

    /// Reads the `[calibration]` table of the rules file: `bias` and one weight per signal name.
    /// Unknown names are refused (a typo would silently weigh nothing); missing ones weigh 0.
    pub(crate) fn from_table(
        bias: f32,
        weights: &std::collections::BTreeMap<String, f32>,
    ) -> Result<Self, RulesError> {
        let mut c = Calibration {
            bias,
            weights: [0.0; SIGNALS.len()],
        };
        if !bias.is_finite() {
            return Err(RulesError::invalid(
                "calibration.bias",
                "must be a finite number",
            ));
        }
        for (name, w) in weights {
            let Some(i) = SIGNALS.iter().position(|s| s == name) else {
                return Err(RulesError::invalid(
                    format!("calibration.weights.{name}"),
                    format!("unknown signal; known: {}", SIGNALS.join(", ")),
                ));
            };
            if !w.is_finite() || w.abs() > 100.0 {
                return Err(RulesError::invalid(
                    format!("calibration.weights.{name}"),
                    "must be a number from -100 to 100",
                ));
            }
            c.weights[i] = *w;
        }
        Ok(c)
    }

    /// The `[calibration]` table, as `fit` found it, ready to paste into the rules file.
    pub fn to_toml(&self) -> String {
        let mut out = format!(
            "[calibration]\nbias = {:.3}\n[calibration.weights]\n",
            self.bias
        );
        for (name, w) in SIGNALS.iter().zip(self.weights) {
            out.push_str(&format!("{name} = {w:.3}\n"));
        }
        out
    }
}

/// One example classified by models that did not learn from it.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub id: String,
    pub expected_type: crate::petition::PetitionType,
    pub got_type: crate::petition::PetitionType,
    pub signals: Signals,
    pub confidence: f32,
    pub type_ok: bool,
    pub department_ok: bool,
    pub diversion_ok: bool,
}

impl Outcome {
    /// A classification (with the signals it was reached by) scored against a petition's labels.
    pub fn scored(
        id: &str,
        expected: (
            crate::petition::PetitionType,
            &str,
            Option<crate::petition::Diversion>,
        ),
        got: &super::Classification,
        signals: Signals,
    ) -> Self {
        let (expected_type, expected_department, expected_diversion) = expected;
        Outcome {
            id: id.to_owned(),
            expected_type,
            got_type: got.petition_type,
            signals,
            confidence: got.confidence,
            type_ok: got.petition_type == expected_type,
            department_ok: got.department == expected_department,
            diversion_ok: got.diversion == expected_diversion,
        }
    }

    /// Right in the fields that send a case to the wrong place or expose an informant: type and
    /// department (the triage target counts these).
    pub fn correct(&self) -> bool {
        self.type_ok && self.department_ok
    }

    pub fn sample(&self) -> Sample {
        Sample {
            signals: self.signals,
            correct: self.correct(),
        }
    }
}

/// k-fold cross-validation: every example for which `scored` holds is classified by a classifier
/// whose term models learnt from the other folds only, which is how the classifier meets text it
/// has never seen. The rules are the same in every fold.
pub fn cross_validated(
    rules: &ClassifierRules,
    gazetteer: &Gazetteer,
    examples: &[Example],
    folds: usize,
    scored: impl Fn(&Example) -> bool,
) -> Result<Vec<Outcome>, RulesError> {
    let folds = folds.max(2);
    let mut out = Vec::new();
    for k in 0..folds {
        let train = all_but_fold(examples, folds, k, Example::clone);
        let c = Classifier::new(rules.clone(), gazetteer.clone(), &train)?;
        for e in examples.iter().skip(k).step_by(folds).filter(|e| scored(e)) {
            let (got, signals) = c.classify_with_signals(&e.text);
            out.push(Outcome::scored(
                &e.id,
                (e.petition_type, &e.department, e.diversion),
                &got,
                signals,
            ));
        }
    }
    Ok(out)
}

/// Every item not in fold `k` (items are dealt to folds in turn), mapped.
fn all_but_fold<T, U>(items: &[T], folds: usize, k: usize, map: impl Fn(&T) -> U) -> Vec<U> {
    items
        .iter()
        .enumerate()
        .filter(|(i, _)| i % folds != k)
        .map(|(_, x)| map(x))
        .collect()
}

/// Fits on all folds but one and scores that one, for every fold: confidences no fit has seen
/// the answer to, for an honest calibration curve.
pub fn cross_fitted(outcomes: &[Outcome], folds: usize) -> Vec<(f32, bool)> {
    let folds = folds.max(2);
    let mut scored = Vec::with_capacity(outcomes.len());
    for k in 0..folds {
        let c = fit(&all_but_fold(outcomes, folds, k, Outcome::sample));
        scored.extend(
            outcomes
                .iter()
                .skip(k)
                .step_by(folds)
                .map(|o| (c.confidence(&o.signals), o.correct())),
        );
    }
    scored
}

/// A classification's signals and whether it was right.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub signals: Signals,
    pub correct: bool,
}

/// Fits the logistic model by gradient descent on the log-loss with a small L2 penalty (the
/// signals are all in 0..1, so no scaling is needed and a fixed step converges).
pub fn fit(samples: &[Sample]) -> Calibration {
    const STEPS: usize = 4000;
    const RATE: f32 = 0.5;
    const L2: f32 = 1e-3;
    let mut c = Calibration {
        bias: 0.0,
        weights: [0.0; SIGNALS.len()],
    };
    if samples.is_empty() {
        return c;
    }
    let n = samples.len() as f32;
    let xs: Vec<[f32; SIGNALS.len()]> = samples.iter().map(|s| s.signals.values()).collect();
    for _ in 0..STEPS {
        let mut grad_b = 0.0_f32;
        let mut grad = [0.0_f32; SIGNALS.len()];
        for (x, s) in xs.iter().zip(samples) {
            let p = c.confidence(&s.signals);
            let err = p - f32::from(u8::from(s.correct));
            grad_b += err;
            for (g, xi) in grad.iter_mut().zip(x) {
                *g += err * xi;
            }
        }
        c.bias -= RATE * grad_b / n;
        for (w, g) in c.weights.iter_mut().zip(grad) {
            *w -= RATE * (g / n + L2 * *w);
        }
    }
    c
}

/// One bin of the calibration curve: predictions in `from..to`, how many, how sure on average
/// and how often right.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bin {
    pub from: f32,
    pub to: f32,
    pub n: usize,
    pub mean_confidence: f64,
    pub accuracy: f64,
}

/// Calibration curve over `bins` equal-width bins of confidence (empty bins are left out).
pub fn reliability(scored: &[(f32, bool)], bins: usize) -> Vec<Bin> {
    let bins = bins.max(1);
    (0..bins)
        .filter_map(|b| {
            let from = b as f32 / bins as f32;
            let to = (b + 1) as f32 / bins as f32;
            let inside: Vec<&(f32, bool)> = scored
                .iter()
                .filter(|(c, _)| *c >= from && (*c < to || (b + 1 == bins && *c <= to)))
                .collect();
            (!inside.is_empty()).then(|| Bin {
                from,
                to,
                n: inside.len(),
                mean_confidence: inside.iter().map(|(c, _)| f64::from(*c)).sum::<f64>()
                    / inside.len() as f64,
                accuracy: inside.iter().filter(|(_, ok)| *ok).count() as f64 / inside.len() as f64,
            })
        })
        .collect()
}

/// What holding everything below `threshold` does: the share of petitions held and the share of
/// the errors among them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TriagePoint {
    pub threshold: f32,
    pub held: f64,
    pub errors_caught: f64,
}

pub fn triage_at(scored: &[(f32, bool)], threshold: f32) -> TriagePoint {
    let held = scored.iter().filter(|(c, _)| *c < threshold).count();
    let errors = scored.iter().filter(|(_, ok)| !ok).count();
    let caught = scored
        .iter()
        .filter(|(c, ok)| *c < threshold && !ok)
        .count();
    TriagePoint {
        threshold,
        held: ratio(held, scored.len()),
        errors_caught: ratio(caught, errors),
    }
}

/// The threshold that holds at most `share` of these petitions (the least confident ones), and
/// what it catches.
pub fn threshold_for_share(scored: &[(f32, bool)], share: f64) -> TriagePoint {
    let mut confidences: Vec<f32> = scored.iter().map(|(c, _)| *c).collect();
    confidences.sort_by(f32::total_cmp);
    let allowed = (share * scored.len() as f64).floor() as usize;
    // Hold the `allowed` lowest: the threshold is the first confidence not held.
    let threshold = confidences.get(allowed).copied().unwrap_or(1.0);
    triage_at(scored, threshold)
}

/// Held share and errors caught when holding 5%, 10%, 15%, 20% and 30% of the petitions.
pub fn triage_curve(scored: &[(f32, bool)]) -> Vec<TriagePoint> {
    [0.05, 0.10, 0.15, 0.20, 0.30]
        .iter()
        .map(|s| threshold_for_share(scored, *s))
        .collect()
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(type_p: f32, agree: f32, correct: bool) -> Sample {
        Sample {
            signals: Signals {
                type_p,
                dept_rules_agree: agree,
                ..Signals::default()
            },
            correct,
        }
    }

    #[test]
    fn fitting_learns_which_signal_predicts_errors() {
        // Right whenever the rules agree, whatever type_p says.
        let samples: Vec<Sample> = (0..200)
            .map(|i| {
                let agree = f32::from(u8::from(i % 3 != 0));
                sample((i % 7) as f32 / 7.0, agree, agree > 0.5)
            })
            .collect();
        let c = fit(&samples);
        let agree = SIGNALS
            .iter()
            .position(|s| *s == "dept_rules_agree")
            .unwrap();
        let type_p = SIGNALS.iter().position(|s| *s == "type_p").unwrap();
        assert!(c.weights[agree] > 2.0, "{c:?}");
        assert!(c.weights[type_p].abs() < c.weights[agree] / 4.0, "{c:?}");
        assert!(c.confidence(&sample(0.1, 1.0, true).signals) > 0.9);
        assert!(c.confidence(&sample(0.9, 0.0, true).signals) < 0.1);
    }

    #[test]
    fn triage_holds_the_least_confident_share() {
        let scored: Vec<(f32, bool)> = (0..100).map(|i| (i as f32 / 100.0, i >= 10)).collect();
        let p = threshold_for_share(&scored, 0.15);
        assert!((p.held - 0.15).abs() < 1e-9, "{p:?}");
        assert!((p.errors_caught - 1.0).abs() < 1e-9, "{p:?}");
        let p = threshold_for_share(&scored, 0.05);
        assert!((p.errors_caught - 0.5).abs() < 1e-9, "{p:?}");
    }

    #[test]
    fn reliability_bins_count_and_average() {
        let scored = [
            (0.05, false),
            (0.15, true),
            (0.95, true),
            (0.91, false),
            (1.0, true),
        ];
        let bins = reliability(&scored, 10);
        assert_eq!(bins.len(), 3);
        assert_eq!(bins[2].n, 3);
        assert!((bins[2].accuracy - 2.0 / 3.0).abs() < 1e-9);
        assert!((bins[0].mean_confidence - 0.05).abs() < 1e-6);
    }

    #[test]
    fn calibration_table_refuses_unknown_signals() {
        let mut w = std::collections::BTreeMap::new();
        w.insert("type_prob".to_owned(), 1.0);
        let e = Calibration::from_table(0.0, &w).unwrap_err();
        assert!(
            e.to_string().contains("calibration.weights.type_prob"),
            "{e}"
        );
        w.clear();
        w.insert("dept_p".to_owned(), 2.0);
        let c = Calibration::from_table(-1.0, &w).unwrap();
        let parsed_back = c.to_toml();
        assert!(parsed_back.contains("dept_p = 2.000"), "{parsed_back}");
    }
}
