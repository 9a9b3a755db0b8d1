use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::DeadlineError;

/// The deadline rows of domain.md §2 that the regulation sets in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeadlineKind {
    D1,
    D2,
    D3,
    D4,
    D5,
    D6,
    D7,
    D8,
    D9,
    D10,
    D11,
}

struct Row {
    code: &'static str,
    zh: &'static str,
    en: &'static str,
    article: &'static str,
    trigger_zh: &'static str,
    trigger_en: &'static str,
}

const ROWS: [Row; 11] = [
    Row {
        code: "D1",
        zh: "信访部门登记并转送、交办",
        en: "petition department registers the matter and forwards or assigns it",
        article: "Art 22 para 1",
        trigger_zh: "收到信访事项",
        trigger_en: "receipt of the petition",
    },
    Row {
        code: "D2",
        zh: "直接收到信访事项的机关书面告知信访人",
        en: "organ receiving a petition directly tells the petitioner in writing",
        article: "Art 23 para 2",
        trigger_zh: "收到信访事项",
        trigger_en: "receipt of the petition",
    },
    Row {
        code: "D3",
        zh: "有权处理的机关书面告知受理（受理告知）",
        en: "competent organ sends the written acceptance notice",
        article: "Art 23 para 3",
        trigger_zh: "收到转送、交办的信访事项",
        trigger_en: "receipt of the forwarded or assigned matter",
    },
    Row {
        code: "D4",
        zh: "不属于本机关职权范围的，提出异议（5个工作日）",
        en: "organ objects that a forwarded matter is outside its competence (5 working days)",
        article: "Art 23 para 3",
        trigger_zh: "收到转送、交办的信访事项",
        trigger_en: "receipt of the forwarded or assigned matter",
    },
    Row {
        code: "D5",
        zh: "信访事项办理期限",
        en: "handling deadline of an accepted matter",
        article: "Art 34",
        trigger_zh: "受理",
        trigger_en: "acceptance",
    },
    Row {
        code: "D6",
        zh: "延长办理期限（至多一次，不超过30日）",
        en: "extended handling deadline (at most once, at most 30 days)",
        article: "Art 34",
        trigger_zh: "受理",
        trigger_en: "acceptance",
    },
    Row {
        code: "D7",
        zh: "申请复查",
        en: "petitioner may request a review (复查)",
        article: "Art 35",
        trigger_zh: "信访处理意见书送达",
        trigger_en: "service of the written handling opinion",
    },
    Row {
        code: "D8",
        zh: "出具复查意见",
        en: "review organ issues its review opinion",
        article: "Art 35",
        trigger_zh: "收到复查请求",
        trigger_en: "receipt of the review request",
    },
    Row {
        code: "D9",
        zh: "申请复核",
        en: "petitioner may request a re-review (复核)",
        article: "Art 36 para 1",
        trigger_zh: "复查意见送达",
        trigger_en: "service of the written review opinion",
    },
    Row {
        code: "D10",
        zh: "出具复核意见（听证时间不计入）",
        en: "re-review organ issues its opinion (hearing time not counted)",
        article: "Art 36 paras 1-2",
        trigger_zh: "收到复核请求",
        trigger_en: "receipt of the re-review request",
    },
    Row {
        code: "D11",
        zh: "复核后以同一事实和理由提出的，不再受理（无期限）",
        en: "after re-review the same facts and reasons are no longer accepted (no time limit)",
        article: "Art 36 para 3",
        trigger_zh: "复核意见",
        trigger_en: "the re-review opinion",
    },
];

impl DeadlineKind {
    pub const ALL: [DeadlineKind; 11] = [
        DeadlineKind::D1,
        DeadlineKind::D2,
        DeadlineKind::D3,
        DeadlineKind::D4,
        DeadlineKind::D5,
        DeadlineKind::D6,
        DeadlineKind::D7,
        DeadlineKind::D8,
        DeadlineKind::D9,
        DeadlineKind::D10,
        DeadlineKind::D11,
    ];

    fn row(self) -> &'static Row {
        &ROWS[self as usize]
    }

    /// `"D1"` .. `"D11"`.
    pub fn code(self) -> &'static str {
        self.row().code
    }

    pub fn zh(self) -> &'static str {
        self.row().zh
    }

    pub fn en(self) -> &'static str {
        self.row().en
    }

    /// The article of 《信访工作条例》 (2022) that sets the deadline.
    pub fn article(self) -> &'static str {
        self.row().article
    }

    /// What starts the clock, in Chinese.
    pub fn trigger_zh(self) -> &'static str {
        self.row().trigger_zh
    }

    /// What starts the clock, in English.
    pub fn trigger_en(self) -> &'static str {
        self.row().trigger_en
    }
}

impl fmt::Display for DeadlineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for DeadlineKind {
    type Err = DeadlineError;

    /// Accepts `D1`..`D11` in either case (configuration loaders may lowercase keys).
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        DeadlineKind::ALL
            .into_iter()
            .find(|k| k.code().eq_ignore_ascii_case(raw))
            .ok_or_else(|| DeadlineError::UnknownKind(raw.to_owned()))
    }
}

impl Serialize for DeadlineKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for DeadlineKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_codes_case_insensitively() {
        for (i, k) in DeadlineKind::ALL.iter().enumerate() {
            let code = format!("D{}", i + 1);
            assert_eq!(k.code(), code);
            assert_eq!(code.parse::<DeadlineKind>().unwrap(), *k);
            assert_eq!(code.to_lowercase().parse::<DeadlineKind>().unwrap(), *k);
            assert_eq!(k.to_string(), code);
        }
    }

    #[test]
    fn unknown_codes_are_errors_naming_the_input() {
        for bad in ["D0", "D12", "D1a", "", " D1", "1", "D01"] {
            let err = bad.parse::<DeadlineKind>().unwrap_err();
            assert_eq!(err, DeadlineError::UnknownKind(bad.to_owned()));
            assert_eq!(err.code(), "unknown_kind");
            assert!(err.to_string().contains("D1..D11"));
        }
    }

    #[test]
    fn every_row_carries_its_article_and_descriptions() {
        assert_eq!(DeadlineKind::D4.article(), "Art 23 para 3");
        assert_eq!(DeadlineKind::D5.article(), "Art 34");
        assert_eq!(DeadlineKind::D6.article(), "Art 34");
        assert_eq!(DeadlineKind::D7.article(), "Art 35");
        assert_eq!(DeadlineKind::D9.article(), "Art 36 para 1");
        assert_eq!(DeadlineKind::D11.article(), "Art 36 para 3");
        for k in DeadlineKind::ALL {
            assert!(k.article().starts_with("Art "));
            assert!(!k.zh().is_empty() && !k.en().is_empty());
            assert!(!k.trigger_zh().is_empty() && !k.trigger_en().is_empty());
        }
    }

    #[test]
    fn serde_uses_the_code() {
        assert_eq!(
            serde_json::to_string(&DeadlineKind::D10).unwrap(),
            "\"D10\""
        );
        assert_eq!(
            serde_json::from_str::<DeadlineKind>("\"d7\"").unwrap(),
            DeadlineKind::D7
        );
        assert!(serde_json::from_str::<DeadlineKind>("\"D12\"").is_err());
    }
}
