//! A trained model: its vocabulary, weights and how it scores a document.

use std::collections::HashMap;

use crate::train::vectorise;

/// Known keys that count as a sentence's worth of evidence: below it, probabilities flatten
/// towards uniform (two known words are too little to be sure of anything).
pub const FULL_EVIDENCE_KEYS: usize = 16;

/// One linear SVM per label over a shared vocabulary. Built by [`LinearModel::train`]; then
/// read-only and thread-safe.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    pub(crate) labels: Vec<String>,
    /// Feature key → its column.
    pub(crate) index: HashMap<u64, u32>,
    /// Per column: its inverse document frequency.
    pub(crate) idf: Vec<f32>,
    /// Column `c`'s weight for label `l` is `weights[c * labels + l]`.
    pub(crate) weights: Vec<f32>,
    pub(crate) biases: Vec<f32>,
    pub(crate) sharpness: f32,
}

impl LinearModel {
    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.labels.iter().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Size of the vocabulary the model knows.
    pub fn vocabulary(&self) -> usize {
        self.idf.len()
    }

    /// Each label's decision value (positive: on its side of the margin), in label order, and
    /// how many of the document's keys the model knows.
    pub fn decision_values(&self, keys: &[u64]) -> (Vec<f32>, usize) {
        let k = self.labels.len();
        let mut scores = self.biases.clone();
        let doc = vectorise(keys, &self.index, &self.idf);
        for &(column, x) in &doc {
            let start = column as usize * k;
            if let Some(row) = self.weights.get(start..start + k) {
                for (s, w) in scores.iter_mut().zip(row) {
                    *s += w * x;
                }
            }
        }
        (scores, doc.len())
    }

    /// Probability per label (in label order), summing to 1; empty for an untrained model.
    /// The decision values scaled by `sharpness` go through a softmax; a document with no known
    /// key gets the uniform distribution, one with fewer than [`FULL_EVIDENCE_KEYS`] a
    /// proportionally flatter one.
    pub fn posteriors_of(&self, keys: &[u64]) -> Vec<(&str, f32)> {
        if self.labels.is_empty() {
            return Vec::new();
        }
        let (scores, known) = self.decision_values(keys);
        let evidence = (known as f32 / FULL_EVIDENCE_KEYS as f32).min(1.0);
        let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let scaled: Vec<f32> = scores
            .iter()
            .map(|s| ((s - max) * self.sharpness * evidence).exp())
            .collect();
        let sum: f32 = scaled.iter().sum();
        self.labels
            .iter()
            .zip(scaled)
            .map(|(l, s)| (l.as_str(), s / sum))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Options;

    /// Words as keys: each character a feature, enough for these tests.
    fn keys(text: &str) -> Vec<u64> {
        text.chars().map(u64::from).collect()
    }

    fn model(examples: &[(&str, &'static str)], options: Options) -> LinearModel {
        LinearModel::train(examples.iter().map(|(t, l)| (keys(t), *l)), options, &[])
    }

    fn top(m: &LinearModel, text: &str) -> (String, f32) {
        m.posteriors_of(&keys(text))
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(l, p)| (l.to_owned(), p))
            .expect("labels")
    }

    const WAGES_AND_ALLOWANCES: &[(&str, &str)] = &[
        ("工资拖欠老板欠钱", "wages"),
        ("包工头欠工资不给", "wages"),
        ("老板拖欠工钱", "wages"),
        ("低保取消申请恢复", "allowance"),
        ("申请低保不批", "allowance"),
        ("低保被取消了", "allowance"),
        ("修路坑洼车辆颠簸", "roads"),
        ("路面坑洼没人修", "roads"),
    ];

    #[test]
    fn separates_the_labels_it_was_taught() {
        let m = model(
            WAGES_AND_ALLOWANCES,
            Options {
                min_df: 1,
                ..Options::default()
            },
        );
        assert_eq!(m.labels().count(), 3);
        for (text, label) in WAGES_AND_ALLOWANCES {
            assert_eq!(top(&m, text).0, *label, "{text}");
        }
        assert_eq!(top(&m, "老板欠了三个月工资").0, "wages");
        assert_eq!(top(&m, "家里低保不批").0, "allowance");
        let p = m.posteriors_of(&keys("老板欠工资"));
        let sum: f32 = p.iter().map(|(_, x)| x).sum();
        assert!((sum - 1.0).abs() < 1e-4, "{p:?}");
    }

    #[test]
    fn words_seen_once_are_dropped_at_the_default_min_df() {
        let once = model(
            WAGES_AND_ALLOWANCES,
            Options {
                min_df: 1,
                ..Options::default()
            },
        );
        let twice = model(WAGES_AND_ALLOWANCES, Options::default());
        assert!(twice.vocabulary() < once.vocabulary());
        // "颠" and "簸" occur in one example only.
        assert!(twice.decision_values(&keys("颠簸")).1 == 0);
        assert!(once.decision_values(&keys("颠簸")).1 == 2);
    }

    #[test]
    fn unknown_text_is_uniform_and_few_words_are_less_certain() {
        let m = model(
            WAGES_AND_ALLOWANCES,
            Options {
                min_df: 1,
                ..Options::default()
            },
        );
        let p = m.posteriors_of(&keys("abc"));
        assert!(
            p.iter().all(|&(_, x)| (x - 1.0 / 3.0).abs() < 1e-6),
            "{p:?}"
        );
        let short = top(&m, "工资").1;
        let long = top(&m, "包工头老板拖欠工资工钱不给欠钱").1;
        assert!(short < long, "short {short} long {long}");
        assert!(
            LinearModel::train(std::iter::empty(), Options::default(), &[])
                .posteriors_of(&keys("工资"))
                .is_empty()
        );
    }

    #[test]
    fn sharpness_changes_certainty_not_the_ranking() {
        let soft = model(
            WAGES_AND_ALLOWANCES,
            Options {
                min_df: 1,
                sharpness: 1.0,
                ..Options::default()
            },
        );
        let sharp = model(
            WAGES_AND_ALLOWANCES,
            Options {
                min_df: 1,
                sharpness: 8.0,
                ..Options::default()
            },
        );
        let text = "包工头老板拖欠工资工钱不给欠钱";
        assert_eq!(top(&soft, text).0, top(&sharp, text).0);
        assert!(top(&sharp, text).1 > top(&soft, text).1);
    }

    #[test]
    fn a_costlier_label_claims_the_borderline() {
        let examples = [
            ("甲乙丙", "a"),
            ("甲乙丁", "a"),
            ("戊己丙", "b"),
            ("戊己丁", "b"),
        ];
        let options = Options {
            min_df: 1,
            ..Options::default()
        };
        let even = model(&examples, options);
        let costly = LinearModel::train(
            examples.iter().map(|(t, l)| (keys(t), *l)),
            options,
            &[crate::LabelCost {
                label: "a".to_owned(),
                cost: 4.0,
            }],
        );
        // Words of both labels: the costlier one's share grows.
        let p = |m: &LinearModel| {
            m.posteriors_of(&keys("甲戊丙丁"))
                .into_iter()
                .find(|(l, _)| *l == "a")
                .map_or(0.0, |(_, p)| p)
        };
        assert!(
            p(&costly) > p(&even) + 0.02,
            "{} vs {}",
            p(&costly),
            p(&even)
        );
    }

    #[test]
    fn training_does_not_depend_on_the_examples_order() {
        let forward = model(
            WAGES_AND_ALLOWANCES,
            Options {
                min_df: 1,
                ..Options::default()
            },
        );
        let mut reversed: Vec<_> = WAGES_AND_ALLOWANCES.to_vec();
        reversed.reverse();
        let backward = model(
            &reversed,
            Options {
                min_df: 1,
                ..Options::default()
            },
        );
        for text in ["老板欠了三个月工资", "家里低保不批", "路上坑洼"] {
            assert_eq!(top(&forward, text).0, top(&backward, text).0, "{text}");
        }
    }

    #[test]
    fn the_dual_solution_fits_separable_examples_with_a_margin() {
        // Two labels, each with words of its own: every example ends on its side, near or past
        // the margin (squared hinge loss with C = 1 keeps a little slack).
        let m = model(
            &[("甲乙", "a"), ("甲丙", "a"), ("丁戊", "b"), ("丁己", "b")],
            Options {
                min_df: 1,
                ..Options::default()
            },
        );
        for (text, label) in [("甲乙", "a"), ("丁己", "b")] {
            let (scores, _) = m.decision_values(&keys(text));
            let i = m.labels().position(|l| l == label).expect("label");
            assert!(scores[i] > 0.3, "{text}: {scores:?}");
            assert!(scores[1 - i] < -0.3, "{text}: {scores:?}");
        }
    }
}
