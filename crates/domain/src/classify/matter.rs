//! "Same matter" (相同信访事项, domain.md §7): how much two petitions of one petitioner talk
//! about the same thing.
//!
//! A follow-up letter retells the matter in other words, shorter, with the amounts and dates
//! restated, so plain word overlap (Jaccard) is diluted by everything the two letters do not
//! share. Two things make the measure robust to that:
//! - the overlap is measured against the shorter text (overlap coefficient): the follow-up's
//!   words are looked for in the original, not the other way round;
//! - words are weighted by how rare they are among the example petitions (inverse document
//!   frequency), so shared boilerplate (请求, 反映, 领导, 政府) counts for little and shared
//!   specifics (包工头, 电梯, 低保, 征地) for much.
//!
//! Words people use for the same thing (工钱, 工资, 血汗钱) count as one, through the synonym
//! groups of the rules file. Both texts are segmented by the same classifier at comparison time,
//! so nothing depends on how an older version segmented a stored petition.

use std::collections::{HashMap, HashSet};

use super::segment::Segmenter;
use super::similarity::content_words;

/// Word rarity learnt from a corpus of petitions.
#[derive(Debug, Clone, PartialEq)]
pub struct WordWeights {
    idf: HashMap<String, f32>,
    /// Weight of a word the corpus never used: as rare as can be.
    unseen: f32,
}

impl WordWeights {
    /// `ln((N + 1) / (df + 1))` per content word (synonyms as one), where `df` counts the corpus
    /// texts using it.
    pub fn learn<'a>(
        segmenter: &Segmenter,
        synonyms: &HashMap<String, String>,
        corpus: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let mut df: HashMap<String, u32> = HashMap::new();
        let mut n = 0_u32;
        for text in corpus {
            n += 1;
            for w in canonical_words(segmenter, synonyms, text) {
                *df.entry(w).or_default() += 1;
            }
        }
        let total = f64::from(n) + 1.0;
        let idf = df
            .into_iter()
            .map(|(w, d)| (w, (total / (f64::from(d) + 1.0)).ln() as f32))
            .collect();
        Self {
            idf,
            unseen: total.ln() as f32,
        }
    }

    fn weight(&self, word: &str) -> f32 {
        self.idf.get(word).copied().unwrap_or(self.unseen)
    }
}

/// One petition's content words with their weights, ready to compare.
#[derive(Debug, Clone, PartialEq)]
pub struct MatterWords {
    words: HashMap<String, f32>,
    total: f32,
}

impl MatterWords {
    pub fn new(
        segmenter: &Segmenter,
        synonyms: &HashMap<String, String>,
        weights: &WordWeights,
        text: &str,
    ) -> Self {
        let words: HashMap<String, f32> = canonical_words(segmenter, synonyms, text)
            .into_iter()
            .map(|w| {
                let weight = weights.weight(&w);
                (w, weight)
            })
            .collect();
        let total = words.values().sum();
        Self { words, total }
    }

    pub fn is_empty(&self) -> bool {
        self.total <= 0.0
    }

    /// Weighted overlap coefficient, 0..1: the weight of the shared words over the weight of the
    /// lighter text's words. A text without content words is like nothing, not even itself.
    pub fn overlap(&self, other: &MatterWords) -> f32 {
        let smaller = self.total.min(other.total);
        if smaller <= 0.0 {
            return 0.0;
        }
        let (few, many) = if self.words.len() <= other.words.len() {
            (self, other)
        } else {
            (other, self)
        };
        let shared: f32 = few
            .words
            .iter()
            .filter(|(w, _)| many.words.contains_key(*w))
            .map(|(_, weight)| weight)
            .sum();
        if shared <= 0.0 {
            return 0.0;
        }
        (shared / smaller).min(1.0)
    }

    /// Words with the weights they were given, as stored outside the classifier (supervision
    /// keeps them to find clusters of similar petitions without keeping the texts).
    pub fn from_weights(words: HashMap<String, f32>) -> Self {
        let words: HashMap<String, f32> = words
            .into_iter()
            .filter(|(w, weight)| !w.is_empty() && weight.is_finite() && *weight > 0.0)
            .collect();
        let total = words.values().sum();
        Self { words, total }
    }

    /// The words and their weights ([`MatterWords::from_weights`] rebuilds the same value).
    pub fn weights(&self) -> &HashMap<String, f32> {
        &self.words
    }

    /// The `n` heaviest words, heaviest first (ties by the word), to name a cluster.
    pub fn top(&self, n: usize) -> Vec<&str> {
        let mut all: Vec<(&String, &f32)> = self.words.iter().collect();
        all.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
        all.into_iter().take(n).map(|(w, _)| w.as_str()).collect()
    }

    /// The content words, for tests and tools.
    pub fn words(&self) -> HashSet<&str> {
        self.words.keys().map(String::as_str).collect()
    }
}

/// Content words, each replaced by the word standing for its synonym group.
fn canonical_words(
    segmenter: &Segmenter,
    synonyms: &HashMap<String, String>,
    text: &str,
) -> HashSet<String> {
    content_words(segmenter, text)
        .into_iter()
        .map(|w| synonyms.get(&w).cloned().unwrap_or(w))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Segmenter, WordWeights) {
        let s = Segmenter::new(["包工头", "工钱", "血汗钱"]);
        let corpus = [
            "请求政府帮助解决问题",
            "请求领导帮助解决",
            "请求政府解决低保问题",
            "包工头拖欠工资请求解决",
            "小区电梯坏了请求解决",
        ];
        let w = WordWeights::learn(&s, &HashMap::new(), corpus);
        (s, w)
    }

    #[test]
    fn stored_weights_compare_as_the_original() {
        let (s, w) = setup();
        let a = MatterWords::new(
            &s,
            &HashMap::new(),
            &w,
            "包工头欠我们工钱，请求政府帮助解决。",
        );
        let b = MatterWords::new(&s, &HashMap::new(), &w, "还是包工头欠工钱的事，还没有给。");
        let stored = MatterWords::from_weights(a.weights().clone());
        assert_eq!(stored.overlap(&b), a.overlap(&b));
        assert!(stored.overlap(&b) > 0.0);
        // Heaviest first, at most n.
        let top = a.top(10);
        assert!(top.len() <= 10 && !top.is_empty());
        assert_eq!(a.top(2).len(), 2);
        let max = a.weights().values().copied().fold(0.0_f32, f32::max);
        assert_eq!(a.weights()[top[0]], max);
        let weights: Vec<f32> = top.iter().map(|t| a.weights()[*t]).collect();
        assert!(weights.windows(2).all(|p| p[0] >= p[1]), "{weights:?}");
    }

    #[test]
    fn rare_shared_words_weigh_more_than_boilerplate() {
        let (s, w) = setup();
        let original = MatterWords::new(
            &s,
            &HashMap::new(),
            &w,
            "包工头欠我们工钱，请求政府帮助解决。",
        );
        let follow_up =
            MatterWords::new(&s, &HashMap::new(), &w, "还是包工头欠工钱的事，还没有给。");
        let other = MatterWords::new(&s, &HashMap::new(), &w, "请求政府帮助解决孩子上学的问题。");
        assert!(
            original.overlap(&follow_up) > original.overlap(&other),
            "{} vs {}",
            original.overlap(&follow_up),
            original.overlap(&other)
        );
        assert!(original.overlap(&other) < 0.5);
    }

    #[test]
    fn overlap_is_symmetric_bounded_and_measured_against_the_shorter_text() {
        let (s, w) = setup();
        let long = MatterWords::new(
            &s,
            &HashMap::new(),
            &w,
            "小区电梯坏了三个月，物业不修，老人上下楼困难，请求解决。",
        );
        let short = MatterWords::new(&s, &HashMap::new(), &w, "电梯还是坏的，物业不修。");
        let a = long.overlap(&short);
        assert!((a - short.overlap(&long)).abs() < 1e-6);
        assert!(a > 0.6 && a <= 1.0, "{a}");
        assert!((long.overlap(&long) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn synonyms_count_as_one_word() {
        let (s, w) = setup();
        let syn: HashMap<String, String> = [("工钱", "工资"), ("血汗钱", "工资")]
            .into_iter()
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .collect();
        let a = "包工头欠的工钱";
        let b = "老板的血汗钱";
        let plain = MatterWords::new(&s, &HashMap::new(), &w, a).overlap(&MatterWords::new(
            &s,
            &HashMap::new(),
            &w,
            b,
        ));
        let grouped = MatterWords::new(&s, &syn, &w, a).overlap(&MatterWords::new(&s, &syn, &w, b));
        assert!(grouped > plain, "{grouped} vs {plain}");
    }

    #[test]
    fn empty_texts_match_nothing() {
        let (s, w) = setup();
        let empty = MatterWords::new(&s, &HashMap::new(), &w, "，。的了");
        assert!(empty.is_empty());
        assert_eq!(empty.overlap(&empty), 0.0);
        let some = MatterWords::new(&s, &HashMap::new(), &w, "电梯坏了");
        assert_eq!(some.overlap(&empty), 0.0);
    }
}
