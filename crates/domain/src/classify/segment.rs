//! Chinese word segmentation (jieba, default dictionary) with the deployment's own vocabulary
//! added, so place names and rule terms come out as whole tokens.

use jieba_rs::Jieba;

// jieba's default dictionary (data/jieba/README.md), kept compressed. jieba-rs's embedded copy
// is decompressed into a static that outlives every segmenter: 7 MB of an idle process that
// has let its fingerprint segmenter go. This one is decompressed for each build and dropped.
include_flate::flate!(static DICTIONARY: IFlate from "data/jieba/dict.txt" with zstd);

/// jieba with the default dictionary and nothing else.
fn default_jieba() -> Jieba {
    let mut jieba = Jieba::empty();
    // Compiled in and checked by the tests below: it cannot fail at run time.
    let text = DICTIONARY
        .decode_string()
        .expect("the embedded jieba dictionary is UTF-8");
    jieba
        .load_dict(&mut text.as_bytes())
        .expect("the embedded jieba dictionary parses");
    jieba
}

/// A token: the word and its byte range in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub word: &'a str,
    pub start: usize,
    pub end: usize,
}

/// A jieba instance with user words. Building one loads the default dictionary (tens of
/// milliseconds), so build it once and share it; segmenting is then read-only.
pub struct Segmenter {
    jieba: Jieba,
}

impl std::fmt::Debug for Segmenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segmenter").finish_non_exhaustive()
    }
}

impl Segmenter {
    /// The default dictionary plus `user_words`. Words of one character are skipped: they
    /// cannot be split further and would only disturb the dictionary's frequencies.
    pub fn new<'w>(user_words: impl IntoIterator<Item = &'w str>) -> Self {
        let mut jieba = default_jieba();
        for w in user_words {
            let w = w.trim();
            if w.chars().count() >= 2 && !w.chars().any(char::is_whitespace) {
                // `None` asks jieba for a frequency just high enough to keep the word whole.
                jieba.add_word(w, None, None);
            }
        }
        Self { jieba }
    }

    /// Segments `text` (HMM on, so unknown names still come out as words).
    pub fn tokens<'a>(&self, text: &'a str) -> Vec<Token<'a>> {
        self.jieba
            .cut(text, true)
            .into_iter()
            .map(|t| Token {
                word: t.word,
                start: t.byte_start,
                end: t.byte_end,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_words_stay_whole() {
        let s = Segmenter::new(["原店镇", "钢结构"]);
        let words: Vec<&str> = s
            .tokens("陕州区原店镇的钢结构厂房")
            .iter()
            .map(|t| t.word)
            .collect();
        assert!(words.contains(&"原店镇"), "{words:?}");
        assert!(words.contains(&"钢结构"), "{words:?}");
    }

    #[test]
    fn the_embedded_dictionary_is_jiebas_own() {
        use sha2::{Digest, Sha256};
        // The hash data/jieba/README.md gives: jieba-rs 0.11.0's dict.txt, byte for byte.
        let text = DICTIONARY.decode_string().expect("UTF-8");
        assert_eq!(
            hex::encode(Sha256::digest(text.as_bytes())),
            "139519822fe8ab9e10d9d07e68ea0451045380aedaf54ecc51e2a28c6b42a13f"
        );
        // And it is what segments: jieba's own README example, cut as jieba documents it
        // (杭研 is not in the dictionary: the HMM joins it).
        let words: Vec<&str> = Segmenter::new([])
            .tokens("他来到了网易杭研大厦")
            .iter()
            .map(|t| t.word)
            .collect();
        assert_eq!(words, ["他", "来到", "了", "网易", "杭研", "大厦"]);
    }

    #[test]
    fn byte_ranges_index_the_input() {
        let s = Segmenter::new([]);
        let text = "请求恢复低保";
        for t in s.tokens(text) {
            assert_eq!(&text[t.start..t.end], t.word);
        }
    }
}
