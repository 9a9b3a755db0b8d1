//! A naive Bayes model over character bigrams, learnt from labelled example petitions
//! (`config/classification/examples.jsonl`).
//!
//! The rules carry the field's vocabulary; this model catches how people actually phrase a
//! matter when no listed term appears (a 钢筋工 who "干完活只拿了两千" is a wage matter). Character
//! bigrams need no segmentation, so editing the dictionary or the rules never moves the model.
//! Training is counting, so the classifier learns at start-up from the examples shipped with the
//! deployment: adding reviewed petitions to that file is how a bureau teaches it.
//!
//! Class priors are ignored on purpose: the examples' mix of departments is not the bureau's.

use std::collections::{BTreeSet, HashMap};

/// Word features of one text: every pair of adjacent CJK characters, and every run of two or
/// more ASCII letters or digits (`ICU`, `12345`), lower-cased. A set: repeating a word in one
/// petition does not make it more of that class.
pub fn features(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    walk(text, |f| {
        out.insert(match f {
            Feature::Bigram(a, b) => [a, b].iter().collect(),
            Feature::Ascii(run) => run.to_owned(),
        });
    });
    out
}

/// The keys ([`key`]) of [`features`]`(text)`, sorted and without repeats, computed without a
/// string per feature: what [`TermModel::posteriors_of`] reads. The classifier computes them once
/// for its three models.
pub fn feature_keys(text: &str) -> Vec<u64> {
    let mut out = Vec::with_capacity(text.len() / 3);
    walk(text, |f| {
        out.push(match f {
            Feature::Bigram(a, b) => pair_key(a, b),
            Feature::Ascii(run) => key(run),
        })
    });
    out.sort_unstable();
    out.dedup();
    out
}

enum Feature<'a> {
    Bigram(char, char),
    Ascii(&'a str),
}

/// The one walk over a text that both forms of its features share: each pair of adjacent CJK
/// characters, and each lower-cased run of two or more ASCII letters or digits.
fn walk(text: &str, mut sink: impl FnMut(Feature<'_>)) {
    let mut prev: Option<char> = None;
    let mut run = String::new();
    for c in text.chars() {
        if is_cjk(c) {
            if let Some(p) = prev {
                sink(Feature::Bigram(p, c));
            }
            prev = Some(c);
        } else {
            prev = None;
        }
        if c.is_ascii_alphanumeric() {
            run.push(c.to_ascii_lowercase());
        } else {
            if run.len() >= 2 {
                sink(Feature::Ascii(&run));
            }
            run.clear();
        }
    }
    if run.len() >= 2 {
        sink(Feature::Ascii(&run));
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}')
}

/// A feature as a number: a CJK bigram packs its two code points; an ASCII run is hashed
/// (FNV-1a) with the top bit set, which no code-point pair has. Keys instead of strings keep a
/// model of a few thousand examples at a fraction of the memory (issue #16: idle footprint).
fn key(feature: &str) -> u64 {
    let mut chars = feature.chars();
    match (chars.next(), chars.next(), chars.next()) {
        (Some(a), Some(b), None) if is_cjk(a) && is_cjk(b) => pair_key(a, b),
        _ => {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for &b in feature.as_bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
            h | (1 << 63)
        }
    }
}

fn pair_key(a: char, b: char) -> u64 {
    (u64::from(u32::from(a)) << 32) | u64::from(u32::from(b))
}

/// Feature counts per label. Built by [`TermModel::train`]; then read-only and thread-safe.
#[derive(Debug, Clone, PartialEq)]
pub struct TermModel {
    labels: Vec<String>,
    /// Feature key → its row in `rows`.
    index: HashMap<u64, u32>,
    /// Row `i` is `cells[rows[i]..rows[i + 1]]`.
    rows: Vec<u32>,
    /// (label index, number of examples of that label with the feature), rows laid end to end.
    cells: Vec<(u16, u32)>,
    /// Per label: the sum of its examples' feature counts.
    totals: Vec<u64>,
    /// `gain[n]` = ln((n + smoothing) / smoothing): what a feature seen `n` times with a label
    /// adds to that label over one it never saw (the label's denominator cancels), so scoring
    /// needs no logarithm per cell.
    gain: Vec<f64>,
    smoothing: f64,
    /// How sharply per-feature evidence turns into probability (see [`Self::posteriors`]).
    sharpness: f32,
}

/// Known features (bigrams) that count as a sentence's worth of evidence.
pub const FULL_EVIDENCE_FEATURES: f64 = 16.0;

impl TermModel {
    /// Counts features per label. `smoothing` is the Lidstone pseudo-count (0.1 suits a few
    /// hundred examples); `sharpness` is documented on [`Self::posteriors`].
    pub fn train<'a>(
        examples: impl IntoIterator<Item = (&'a str, &'a str)>,
        smoothing: f32,
        sharpness: f32,
    ) -> Self {
        let mut labels: Vec<String> = Vec::new();
        let mut counts: HashMap<u64, Vec<(u16, u32)>> = HashMap::new();
        let mut totals: Vec<u64> = Vec::new();
        for (text, label) in examples {
            let li = match labels.iter().position(|l| l == label) {
                Some(i) => i,
                None => {
                    labels.push(label.to_owned());
                    totals.push(0);
                    labels.len() - 1
                }
            };
            // Label indices are u16: a directory has tens of departments, not 65,536.
            let Ok(li) = u16::try_from(li) else {
                continue;
            };
            for f in features(text) {
                totals[usize::from(li)] += 1;
                let per_label = counts.entry(key(&f)).or_default();
                match per_label.iter_mut().find(|(l, _)| *l == li) {
                    Some((_, n)) => *n += 1,
                    None => per_label.push((li, 1)),
                }
            }
        }
        // Flatten into one array so each feature costs a map slot and its counts, not two
        // heap allocations.
        let mut keys: Vec<u64> = counts.keys().copied().collect();
        keys.sort_unstable();
        let mut index = HashMap::with_capacity(keys.len());
        let mut rows = Vec::with_capacity(keys.len() + 1);
        let mut cells = Vec::new();
        for k in keys {
            let Ok(row) = u32::try_from(rows.len()) else {
                break;
            };
            index.insert(k, row);
            rows.push(u32::try_from(cells.len()).unwrap_or(u32::MAX));
            cells.extend(counts.remove(&k).unwrap_or_default());
        }
        rows.push(u32::try_from(cells.len()).unwrap_or(u32::MAX));
        cells.shrink_to_fit();
        let smoothing = f64::from(smoothing.max(1e-6));
        let most = cells.iter().map(|&(_, n)| n).max().unwrap_or(0);
        let gain = (0..=most)
            .map(|n| ((f64::from(n) + smoothing) / smoothing).ln())
            .collect();
        Self {
            labels,
            index,
            rows,
            cells,
            totals,
            gain,
            smoothing,
            sharpness,
        }
    }

    fn row(&self, key: u64) -> Option<&[(u16, u32)]> {
        let row = *self.index.get(&key)? as usize;
        let start = *self.rows.get(row)? as usize;
        let end = *self.rows.get(row + 1)? as usize;
        self.cells.get(start..end)
    }

    pub fn labels(&self) -> impl Iterator<Item = &str> {
        self.labels.iter().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Probability per label (in training order), summing to 1; empty for an untrained model.
    ///
    /// Naive Bayes multiplies hundreds of dependent bigram likelihoods and so is nearly always
    /// "certain". Here the log-likelihoods are averaged per known feature and scaled by
    /// `sharpness` before the softmax: the model votes with a confidence that reflects how much
    /// better the best label explains a typical word, not the length of the letter. A text with no
    /// known feature gets the uniform distribution, one with fewer than
    /// [`FULL_EVIDENCE_FEATURES`] a proportionally flatter one.
    pub fn posteriors(&self, text: &str) -> Vec<(&str, f32)> {
        self.posteriors_of(&feature_keys(text))
    }

    /// [`Self::posteriors`] of a text's [`feature_keys`].
    pub fn posteriors_of(&self, keys: &[u64]) -> Vec<(&str, f32)> {
        if self.labels.is_empty() {
            return Vec::new();
        }
        let vocabulary = self.index.len() as f64;
        // A feature a label never saw adds ln(smoothing / denominator) to it: added once per
        // known feature below, so the labels that did see it add only their `gain`.
        let denominators: Vec<f64> = self
            .totals
            .iter()
            .map(|t| *t as f64 + self.smoothing * vocabulary)
            .collect();
        let unseen: Vec<f64> = denominators
            .iter()
            .map(|d| (self.smoothing / d).ln())
            .collect();
        let mut log_likelihood = vec![0.0_f64; self.labels.len()];
        let mut known = 0_usize;
        for &k in keys {
            let Some(per_label) = self.row(k) else {
                continue;
            };
            known += 1;
            for &(l, n) in per_label {
                if let Some(ll) = log_likelihood.get_mut(usize::from(l)) {
                    *ll +=
                        self.gain.get(n as usize).copied().unwrap_or_else(|| {
                            ((f64::from(n) + self.smoothing) / self.smoothing).ln()
                        });
                }
            }
        }
        for (ll, u) in log_likelihood.iter_mut().zip(&unseen) {
            *ll += known as f64 * u;
        }
        let uniform = 1.0 / self.labels.len() as f32;
        if known == 0 {
            return self.labels.iter().map(|l| (l.as_str(), uniform)).collect();
        }
        let max = log_likelihood
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        // A couple of known bigrams ("有事") are too little to be sure of anything: below a
        // sentence's worth of evidence the vote flattens towards uniform.
        let evidence = (known as f64 / FULL_EVIDENCE_FEATURES).min(1.0);
        let scaled: Vec<f64> = log_likelihood
            .iter()
            .map(|ll| ((ll - max) / known as f64 * f64::from(self.sharpness) * evidence).exp())
            .collect();
        let sum: f64 = scaled.iter().sum();
        self.labels
            .iter()
            .zip(scaled)
            .map(|(l, s)| (l.as_str(), (s / sum) as f32))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_cjk_bigrams_and_ascii_runs() {
        let f = features("拨打１２３４５没人接，ICU费用");
        // Full-width digits are not ASCII: normalising them is the classifier's job.
        assert!(f.contains("拨打") && !f.contains("打１"));
        assert!(f.contains("费用") && f.contains("icu"));
        assert!(!f.contains("接，") && !f.contains("，I"));
        let f = features("打12345热线");
        assert!(f.contains("12345") && f.contains("热线") && !f.contains("打1"));
    }

    #[test]
    fn feature_keys_are_the_keys_of_the_features() {
        for text in [
            "拨打１２３４５没人接，ICU费用",
            "打12345热线，热线打不通，ab c",
            "",
            "我家低保被取消了，申请低保乡里不批",
        ] {
            let mut want: Vec<u64> = features(text).iter().map(|f| key(f)).collect();
            want.sort_unstable();
            want.dedup();
            assert_eq!(feature_keys(text), want, "{text}");
        }
    }

    fn model() -> TermModel {
        TermModel::train(
            [
                ("包工头拖欠工资不给", "rsj"),
                ("工地老板欠我们工钱", "rsj"),
                ("低保被取消了请求恢复低保", "mzj"),
                ("申请低保乡里不批", "mzj"),
            ],
            0.1,
            4.0,
        )
    }

    #[test]
    fn posteriors_favour_the_label_whose_examples_share_the_words() {
        let m = model();
        let p = m.posteriors("工地老板拖欠工钱，包工头欠我们的工资一直不给，老板说拖欠工资等回款");
        assert_eq!(p.len(), 2);
        let (best, bp) = p
            .iter()
            .copied()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("two labels");
        assert_eq!(best, "rsj");
        assert!(bp > 0.8, "{p:?}");
        let sum: f32 = p.iter().map(|(_, x)| x).sum();
        assert!((sum - 1.0).abs() < 1e-4);
        let p = m.posteriors("我家低保被取消了，申请低保乡里不批，请求恢复低保");
        assert!(p.iter().any(|&(l, x)| l == "mzj" && x > 0.8), "{p:?}");
    }

    #[test]
    fn bigram_keys_are_distinct_from_ascii_keys() {
        assert_eq!(key("工资"), key("工资"));
        assert_ne!(key("工资"), key("资工"));
        assert_ne!(key("icu"), key("ct"));
        // An ASCII run never collides with a bigram's packed code points.
        assert_ne!(key("icu") >> 63, key("工资") >> 63);
        // Counts survive flattening: each label sees exactly its examples' features.
        let m = TermModel::train([("工资", "rsj"), ("工资低保", "mzj")], 0.1, 4.0);
        let row = m.row(key("工资")).expect("a known feature");
        assert_eq!(row.len(), 2);
        assert!(m.row(key("低保")).is_some_and(|r| r == [(1, 1)]));
        assert!(m.row(key("医保")).is_none());
    }

    #[test]
    fn a_few_words_are_less_certain_than_a_sentence() {
        let m = model();
        let rsj = |text: &str| {
            m.posteriors(text)
                .into_iter()
                .find(|(l, _)| *l == "rsj")
                .map_or(0.0, |(_, p)| p)
        };
        let short = rsj("欠工钱");
        let long = rsj("工地老板拖欠工钱，包工头欠我们的工资一直不给，老板说拖欠工资等回款");
        assert!(short > 0.5 && short < long, "short {short} long {long}");
    }

    #[test]
    fn unknown_text_is_uniform_and_an_empty_model_says_nothing() {
        let m = model();
        let p = m.posteriors("abc，。");
        assert!(p.iter().all(|&(_, x)| (x - 0.5).abs() < 1e-6), "{p:?}");
        assert!(TermModel::train([], 0.1, 4.0).posteriors("工资").is_empty());
    }

    #[test]
    fn sharpness_controls_certainty_not_the_ranking() {
        let text = "老板拖欠工钱";
        let soft = TermModel::train([("拖欠工资", "rsj"), ("低保", "mzj")], 0.1, 0.5);
        let sharp = TermModel::train([("拖欠工资", "rsj"), ("低保", "mzj")], 0.1, 8.0);
        fn top(m: &TermModel, text: &str) -> (String, f32) {
            m.posteriors(text)
                .into_iter()
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(l, p)| (l.to_owned(), p))
                .expect("labels")
        }
        assert_eq!(top(&soft, text).0, top(&sharp, text).0);
        assert!(top(&sharp, text).1 > top(&soft, text).1);
    }
}
