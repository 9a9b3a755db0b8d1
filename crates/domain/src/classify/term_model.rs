//! Term models: linear SVMs over character bigrams ([`xinfang_svm`]), learnt from labelled
//! example petitions (`config/classification/examples.jsonl`) and the clerks' corrections.
//!
//! The rules carry the field's vocabulary; these models catch how people actually phrase a
//! matter when no listed term appears (a 钢筋工 who "干完活只拿了两千" is a wage matter). Character
//! bigrams need no segmentation, so editing the dictionary or the rules never moves a model.
//! Training takes a fraction of a second, so the classifier learns at start-up from the
//! examples shipped with the deployment: adding reviewed petitions to that file is how a bureau
//! teaches it.
//!
//! Until session 17 these were naive Bayes models over the same features. On the 43 sets
//! measured since, the SVMs alone name the department 91.7% right against naive Bayes' 88.6%
//! (docs/benchmarks.md, session 17): naive Bayes counts every bigram as independent evidence, so
//! the many common words of a long letter drown its few telling ones.
//!
//! Class priors play no part: each label is learnt against the rest, and the examples' mix of
//! departments is not the bureau's.

use std::collections::BTreeSet;

pub use xinfang_svm::LinearModel as TermModel;
use xinfang_svm::{LabelCost, Options};

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

/// Learns a term model from (text, label) pairs; `costs` names labels whose misses cost more.
pub fn train<'a>(
    examples: impl IntoIterator<Item = (&'a str, &'a str)>,
    options: Options,
    costs: &[LabelCost],
) -> TermModel {
    TermModel::train(
        examples
            .into_iter()
            .map(|(text, label)| (feature_keys(text), label)),
        options,
        costs,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`TermModel::posteriors_of`] a text.
    fn posteriors<'m>(model: &'m TermModel, text: &str) -> Vec<(&'m str, f32)> {
        model.posteriors_of(&feature_keys(text))
    }

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

    #[test]
    fn bigram_keys_are_distinct_from_ascii_keys() {
        assert_eq!(key("工资"), key("工资"));
        assert_ne!(key("工资"), key("资工"));
        assert_ne!(key("icu"), key("ct"));
        // An ASCII run never collides with a bigram's packed code points.
        assert_ne!(key("icu") >> 63, key("工资") >> 63);
    }

    #[test]
    fn a_model_learns_the_bigrams_its_examples_share() {
        let m = train(
            [
                ("包工头拖欠工资不给", "rsj"),
                ("工地老板欠我们工钱，拖欠工资", "rsj"),
                ("低保被取消了请求恢复低保", "mzj"),
                ("申请低保乡里不批", "mzj"),
            ],
            Options::default(),
            &[],
        );
        let p = posteriors(&m, "工地老板拖欠工资，包工头一直不给");
        let best = p.iter().max_by(|a, b| a.1.total_cmp(&b.1)).map(|(l, _)| *l);
        assert_eq!(best, Some("rsj"), "{p:?}");
        let p = posteriors(&m, "我家低保被取消了，乡里不批");
        assert!(p.iter().any(|&(l, x)| l == "mzj" && x > 0.5), "{p:?}");
    }
}
