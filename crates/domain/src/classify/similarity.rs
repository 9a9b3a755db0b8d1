//! Content words, and a MinHash signature over them so "same matter" can be tested against a
//! petition whose text is not kept beside it: review's termination library (终结库) stores the
//! signature of each terminated matter. Intake, which keeps the texts, links repeats with the
//! finer weighted overlap of [`super::matter`].
//!
//! The signature estimates the Jaccard similarity of the two texts' content-word sets. Content
//! words are jieba tokens minus punctuation, single characters, numbers and counted quantities
//! (amounts and dates change between letters about the same matter) and function words;
//! `灵宝市` and `灵宝` count as one word. Hashing uses fixed seeds, so a fingerprint stored
//! today compares with one computed in another process next year; anything that changes the
//! features bumps [`FINGERPRINT_VERSION`] and stored fingerprints must be recomputed. In Postgres
//! store the slots bit-for-bit as `int4[]` (`as i32`) or as `bytea`.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::EMBEDDED_GAZETTEER;
use super::gazetteer::Gazetteer;
use super::segment::Segmenter;

/// Bumped whenever features, hashing or slot count change.
pub const FINGERPRINT_VERSION: u32 = 1;

/// Number of MinHash slots. 128 gives a standard error of about 0.03 on the Jaccard estimate near
/// the threshold, and fits a Postgres `int4[]` of 512 bytes.
pub const SLOTS: usize = 128;

/// Default "same matter" threshold, chosen on the labelled sets (see `dev_set.rs`): reworded
/// repeats score 0.26-0.42, the most similar unrelated pair 0.11 and the same petitioner's other
/// matters at most 0.07, so 0.15 keeps recall with more than one standard error of margin above
/// unrelated matters. Used together with "same petitioner", never alone.
pub const DEFAULT_REPEAT_THRESHOLD: f32 = 0.15;

/// Slot value of a text without content words.
const EMPTY_SLOT: u32 = u32::MAX;

/// A MinHash signature: `SLOTS` minima, one per seeded hash function.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<u32>", into = "Vec<u32>")]
pub struct Fingerprint(Vec<u32>);

/// A stored fingerprint of the wrong length (another version or a corrupt row).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a fingerprint has {SLOTS} slots, got {0}")]
pub struct FingerprintLengthError(pub usize);

impl Fingerprint {
    pub fn as_slice(&self) -> &[u32] {
        &self.0
    }

    /// True when the text had no content words; such a fingerprint matches nothing.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&s| s == EMPTY_SLOT)
    }
}

impl TryFrom<Vec<u32>> for Fingerprint {
    type Error = FingerprintLengthError;
    fn try_from(v: Vec<u32>) -> Result<Self, Self::Error> {
        if v.len() == SLOTS {
            Ok(Self(v))
        } else {
            Err(FingerprintLengthError(v.len()))
        }
    }
}

impl From<Fingerprint> for Vec<u32> {
    fn from(f: Fingerprint) -> Self {
        f.0
    }
}

/// Fingerprint with the shared segmenter (default dictionary plus the shipped gazetteer's place
/// names, deliberately not the classification rules, so editing a rule never moves fingerprints).
pub fn fingerprint(text: &str) -> Fingerprint {
    fingerprint_with(&shared_segmenter(), text)
}

/// Fingerprint with a given segmenter; use the same one for everything you compare.
pub fn fingerprint_with(segmenter: &Segmenter, text: &str) -> Fingerprint {
    let mut slots = vec![EMPTY_SLOT; SLOTS];
    for feature in content_words(segmenter, text) {
        let h = fnv1a(feature.as_bytes());
        for (i, slot) in slots.iter_mut().enumerate() {
            let v = (splitmix64(h ^ seed(i)) >> 32) as u32;
            if v < *slot {
                *slot = v;
            }
        }
    }
    Fingerprint(slots)
}

/// Estimated Jaccard similarity of the two texts' content words, 0..1. A text without content
/// words is similar to nothing, not even to itself: there is nothing to call "the same matter".
pub fn similarity(a: &Fingerprint, b: &Fingerprint) -> f32 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let same = a.0.iter().zip(&b.0).filter(|(x, y)| x == y).count();
    same as f32 / SLOTS as f32
}

/// The feature set: distinct content words.
pub fn content_words(segmenter: &Segmenter, text: &str) -> BTreeSet<String> {
    segmenter
        .tokens(text)
        .into_iter()
        .map(|t| t.word.trim())
        .filter(|w| is_content_word(w))
        .map(|w| canonical_place(w).to_owned())
        .collect()
}

/// `灵宝市` and `灵宝` are the same place: a three-character name ending in 市/县/区 counts as its
/// two-character stem, so letters that name the place differently still share the feature.
fn canonical_place(w: &str) -> &str {
    let mut chars = w.char_indices();
    match (chars.nth(2), chars.next()) {
        (Some((i, '市' | '县' | '区')), None) => &w[..i],
        _ => w,
    }
}

/// Single characters (修, 看, 钱) are too common to tell matters apart; numbers and counted
/// quantities (两亩, 八万元, 十二个) change between letters about the same matter.
fn is_content_word(w: &str) -> bool {
    if w.chars().count() < 2 || STOPWORDS.contains(&w) {
        return false;
    }
    if !w.chars().any(char::is_alphanumeric) {
        return false;
    }
    let is_numeral = |c: char| c.is_ascii_digit() || NUMERALS.contains(c);
    let starts_numeric = w.chars().next().is_some_and(is_numeral);
    let rest = w.chars().filter(|c| !is_numeral(*c)).count();
    !(starts_numeric && rest <= 2)
}

/// The fingerprints' segmenter while in use, and when it was last used.
static SEGMENTER: Mutex<Option<(Arc<Segmenter>, Instant)>> = Mutex::new(None);

/// The fingerprints' segmenter: a jieba of its own (about 25 MB), built on first use (tens of
/// milliseconds) and kept while fingerprints are being taken.
fn shared_segmenter() -> Arc<Segmenter> {
    let mut held = SEGMENTER.lock().unwrap_or_else(PoisonError::into_inner);
    let segmenter = match held.take() {
        Some((s, _)) => s,
        None => Arc::new(match Gazetteer::from_toml_str(EMBEDDED_GAZETTEER) {
            Ok(g) => Segmenter::new(g.place_names()),
            // The shipped gazetteer is tested; without it, plain jieba still segments.
            Err(_) => Segmenter::new([]),
        }),
    };
    *held = Some((segmenter.clone(), Instant::now()));
    segmenter
}

/// Lets go of the fingerprints' segmenter when nothing took a fingerprint for `idle`, so an
/// idle process does not keep it resident (the next fingerprint builds it again, identical);
/// true when it was released. Fingerprints being taken keep their own reference.
pub fn release_idle_segmenter(idle: Duration) -> bool {
    let mut held = SEGMENTER.lock().unwrap_or_else(PoisonError::into_inner);
    if held
        .as_ref()
        .is_some_and(|(_, used)| used.elapsed() >= idle)
    {
        *held = None;
        return true;
    }
    false
}

/// FNV-1a, 64-bit: stable across Rust versions and processes, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The i-th hash function's seed, fixed forever for this FINGERPRINT_VERSION.
fn seed(i: usize) -> u64 {
    splitmix64(0x5851_f42d_4c95_7f2d ^ i as u64)
}

const NUMERALS: &str = "零〇一二三四五六七八九十百千万亿两几半";

/// Function words and petition boilerplate that every letter shares regardless of its matter.
const STOPWORDS: &[&str] = &[
    "的",
    "了",
    "是",
    "在",
    "和",
    "与",
    "及",
    "或",
    "也",
    "都",
    "就",
    "还",
    "又",
    "再",
    "才",
    "却",
    "把",
    "被",
    "给",
    "让",
    "对",
    "向",
    "从",
    "到",
    "为",
    "因",
    "由",
    "于",
    "以",
    "将",
    "而",
    "但",
    "并",
    "等",
    "着",
    "过",
    "得",
    "地",
    "之",
    "其",
    "这",
    "那",
    "这个",
    "那个",
    "这些",
    "那些",
    "这样",
    "那样",
    "这么",
    "那么",
    "什么",
    "怎么",
    "哪",
    "哪里",
    "吗",
    "呢",
    "吧",
    "啊",
    "呀",
    "我",
    "我们",
    "你",
    "你们",
    "他",
    "他们",
    "她",
    "她们",
    "它",
    "它们",
    "自己",
    "本人",
    "大家",
    "人",
    "有",
    "没",
    "没有",
    "不",
    "很",
    "太",
    "更",
    "最",
    "个",
    "些",
    "每",
    "各",
    "已经",
    "一直",
    "现在",
    "今年",
    "去年",
    "前年",
    "明年",
    "当时",
    "后来",
    "之前",
    "以后",
    "以前",
    "时候",
    "一个",
    "上",
    "下",
    "里",
    "中",
    "后",
    "前",
    "时",
    "说",
    "要",
    "想",
    "能",
    "会",
    "可以",
    "可",
    "只",
    "如果",
    "因为",
    "所以",
    "但是",
    "而且",
    "还是",
    "就是",
    "可是",
    "只是",
    "或者",
    "还有",
    "一下",
    "一些",
    "一点",
    "多",
    "少",
    "年",
    "月",
    "日",
    "号",
    "天",
    "元",
    "块",
    "万元",
    "左右",
    "将近",
    "反映",
    "请求",
    "要求",
    "希望",
    "请",
    "问题",
    "情况",
    "事",
    "事情",
    "有关",
    "相关",
    "部门",
    "政府",
    "领导",
    "一次",
    "几次",
    "多次",
    "谢谢",
    "恳请",
    "尽快",
    "帮助",
    "解决",
    "多万",
    // time and manner words
    "上个月",
    "这个月",
    "前天",
    "昨天",
    "今天",
    "冬天",
    "夏天",
    "开始",
    "早就",
    "马上",
    "照样",
    "直接",
    "这回",
    "上次",
    "上回",
    "再次",
    "又来",
    "突然",
    "好几年",
    "到现在",
    "至今",
    "当年",
    "年前",
    "月份",
    "一样",
    "同样",
    "这种",
    "那种",
    "根本",
    "实在",
    "确实",
    "其实",
    "明明",
    "只能",
    "只好",
    "真是",
    "几个",
    "怎么办",
    "为什么",
    "这里",
    "那里",
    "不了",
    "没人",
    "回来",
    "出来",
    "起来",
    "下来",
    "东西",
    "地方",
    "方面",
    "时间",
    "办法",
    "结果",
    // who was asked, not what about
    "市里",
    "区里",
    "县里",
    "镇里",
    "镇上",
    "乡里",
    "村里",
    "上面",
    "上级",
    "主管部门",
    "有关部门",
    "工作人员",
    "打电话",
    "电话",
    "联系",
    "找过",
    "写信",
    "答复",
    "处理",
    "知道",
    "觉得",
    "认为",
    "听说",
    "看到",
    "发现",
];

#[cfg(test)]
mod tests {
    use super::*;

    const WAGES: &str = "我们八个人去年在开发区给一家建材公司盖仓库，干了五个月，包工头欠我们\
        工钱九万多元，现在人跑了，电话也打不通，请求帮我们讨回工资。";
    const WAGES_AGAIN: &str = "上次反映的开发区建材公司仓库工程欠薪的事还没解决，包工头还是躲着\
        不露面，我们几个工人的工钱一分都没拿到，再次请求政府帮忙讨要工资。";
    const ALLOWANCE: &str = "我母亲瘫痪在床多年，家里的低保今年被取消了，村里说是因为家里盖了\
        新房，其实房子是借钱盖的，请求重新审核恢复低保。";

    #[test]
    fn identical_text_is_one() {
        let a = fingerprint(WAGES);
        assert_eq!(similarity(&a, &fingerprint(WAGES)), 1.0);
    }

    #[test]
    fn same_matter_reworded_scores_above_threshold_other_matter_below() {
        let a = fingerprint(WAGES);
        let same = similarity(&a, &fingerprint(WAGES_AGAIN));
        let other = similarity(&a, &fingerprint(ALLOWANCE));
        assert!(same >= DEFAULT_REPEAT_THRESHOLD, "same matter {same}");
        assert!(other < DEFAULT_REPEAT_THRESHOLD, "different matter {other}");
        assert!(same > other + 0.1, "{same} vs {other}");
    }

    #[test]
    fn an_idle_segmenter_is_released_and_rebuilt_identical() {
        let before = fingerprint(WAGES);
        assert!(
            !release_idle_segmenter(Duration::from_secs(3600)),
            "just used: kept"
        );
        // (Other tests may take fingerprints meanwhile: only a release is asserted.)
        assert!(release_idle_segmenter(Duration::ZERO), "idle: released");
        assert_eq!(fingerprint(WAGES), before, "rebuilt, the same fingerprints");
    }

    #[test]
    fn numbers_punctuation_and_single_characters_are_not_features() {
        let s = shared_segmenter();
        let words = content_words(&s, "2023年拖欠我们12000元工资，三万块！");
        assert!(
            words.iter().all(|w| !w.chars().any(|c| c.is_ascii_digit())),
            "{words:?}"
        );
        assert!(!words.contains("，") && !words.contains("！") && !words.contains("三万"));
        assert!(
            words.contains("拖欠") && words.contains("工资"),
            "{words:?}"
        );
    }

    #[test]
    fn empty_text_matches_nothing() {
        let e = fingerprint("。。。123");
        assert!(e.is_empty());
        assert_eq!(similarity(&e, &e), 0.0);
        assert_eq!(similarity(&e, &fingerprint(WAGES)), 0.0);
    }

    #[test]
    fn deterministic_and_serialisable() {
        // Pinned values: if this changes, bump FINGERPRINT_VERSION (stored fingerprints move).
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let f = fingerprint(ALLOWANCE);
        let json = serde_json::to_string(&f).expect("serialise");
        let back: Fingerprint = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, f);
        assert!(serde_json::from_str::<Fingerprint>("[1,2,3]").is_err());
        assert_eq!(Vec::<u32>::from(f.clone()).len(), SLOTS);
    }
}
