//! The petition vocabulary: channels (Art 17), types (Art 29–31), Art 31 branches, legal
//! channels a matter is diverted into, opinion outcomes (Art 32) and the evaluation scale.
//! Serde names are the stable wire/config spelling; `zh()` is what people read.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::validation::ValidationError;

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident, $field:literal { $($(#[$vm:meta])* $var:ident = $wire:literal / $zh:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $wire)] $var),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The wire/config spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $wire),+ }
            }

            /// The Chinese term.
            pub fn zh(self) -> &'static str {
                match self { $($name::$var => $zh),+ }
            }

            /// Accepts the wire spelling or the Chinese term.
            pub fn parse(raw: &str) -> Result<Self, ValidationError> {
                match raw {
                    $($wire | $zh => Ok($name::$var),)+
                    _ => Err(ValidationError::new(
                        $field,
                        "unknown_value",
                        format!("must be one of: {}", [$($wire),+].join(", ")),
                    )),
                }
            }
        }

        // By hand: the derive does not see `rename = $wire` through the macro, and would
        // document the variant names instead of the wire spellings.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($wire),+]))
                    .description(Some(format!(
                        "One of: {}",
                        [$(concat!($wire, " (", $zh, ")")),+].join(", ")
                    )))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

wire_enum!(
    /// How the petition arrived (Art 17), plus the practice channel 领导信箱.
    Channel, "channel" {
        Letter = "letter" / "书信",
        Visit = "visit" / "走访",
        Phone = "phone" / "电话",
        Online = "online" / "网上信访",
        Fax = "fax" / "传真",
        LeaderMailbox = "leader_mailbox" / "领导信箱",
    }
);

wire_enum!(
    /// The three types of Art 29–31.
    PetitionType, "type" {
        /// 建议意见类 (Art 29)
        Suggestion = "suggestion" / "建议意见",
        /// 检举控告类 (Art 30): confidential, never shown to the accused.
        Accusation = "accusation" / "检举控告",
        /// 申诉求决类 (Art 31)
        Grievance = "grievance" / "申诉求决",
    }
);

wire_enum!(
    /// The six handling branches of Art 31 for 申诉求决类 matters.
    Art31Branch, "branch" {
        /// 31(1) court, procuratorate or police procedure
        LegalProcedure = "31_1" / "诉讼等法定程序",
        /// 31(2) arbitration
        Arbitration = "31_2" / "仲裁",
        /// 31(3) Party-member appeal or re-examination
        PartyAppeal = "31_3" / "党员申诉或复审",
        /// 31(4) administrative reconsideration, ruling, confirmation, licensing, penalty
        AdministrativeProcedure = "31_4" / "行政程序",
        /// 31(5) request to investigate an illegal act or perform a protective duty
        DutyPerformance = "31_5" / "依法履职",
        /// 31(6) none of the above: investigate and issue a 信访处理意见书
        Residual = "31_6" / "调查核实出具处理意见",
    }
);

impl Art31Branch {
    /// The item as the regulation numbers it, for readers who know the branches as
    /// 第三十一条第（六）项: `（一）` … `（六）`.
    pub fn item_zh(self) -> &'static str {
        match self {
            Self::LegalProcedure => "（一）",
            Self::Arbitration => "（二）",
            Self::PartyAppeal => "（三）",
            Self::AdministrativeProcedure => "（四）",
            Self::DutyPerformance => "（五）",
            Self::Residual => "（六）",
        }
    }
}

wire_enum!(
    /// The legal channel a matter is diverted into (导入法定途径).
    Diversion, "diversion" {
        Litigation = "litigation" / "诉讼",
        Arbitration = "arbitration" / "仲裁",
        AdministrativeReconsideration = "administrative_reconsideration" / "行政复议",
        PartyAppeal = "party_appeal" / "党员申诉",
        PoliceFiling = "police_filing" / "公安立案",
        CourtEnforcement = "court_enforcement" / "法院执行",
    }
);

wire_enum!(
    /// Outcome of a 信访处理意见书 (Art 32).
    OpinionOutcome, "outcome" {
        Supported = "supported" / "予以支持",
        Explained = "explained" / "解释说明",
        NotSupported = "not_supported" / "不予支持",
    }
);

wire_enum!(
    /// Satisfaction scale (Decisions 5); 不满意 requires a reason.
    Rating, "rating" {
        Satisfied = "satisfied" / "满意",
        BasicallySatisfied = "basically_satisfied" / "基本满意",
        Dissatisfied = "dissatisfied" / "不满意",
    }
);

wire_enum!(
    /// The management level (干部管理权限) of a cadre an accusation names: Art 22 para 2 sends
    /// accusations to the 纪委监委 that manages that level, not simply to the matter's county.
    CadreLevel, "accused_level" {
        /// 村（社区）干部
        Village = "village" / "村干部",
        /// 乡镇（街道）干部
        Town = "town" / "乡镇干部",
        /// 县直部门干部（科级及以下）
        CountyDepartment = "county_department" / "县直部门干部",
        /// 县级领导干部（市管干部）
        CountyLeader = "county_leader" / "县级领导干部",
        /// 市直部门干部（市管干部）
        CityDepartment = "city_department" / "市直部门干部",
        /// 市级领导干部（省管干部）
        CityLeader = "city_leader" / "市级领导干部",
    }
);

impl Diversion {
    /// The Art 31 branch a diversion belongs to.
    pub fn branch(self) -> Art31Branch {
        match self {
            Diversion::Litigation | Diversion::PoliceFiling | Diversion::CourtEnforcement => {
                Art31Branch::LegalProcedure
            }
            Diversion::Arbitration => Art31Branch::Arbitration,
            Diversion::PartyAppeal => Art31Branch::PartyAppeal,
            Diversion::AdministrativeReconsideration => Art31Branch::AdministrativeProcedure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn art31_items_are_numbered_as_the_regulation_numbers_them() {
        let numerals = ["一", "二", "三", "四", "五", "六"];
        assert_eq!(Art31Branch::ALL.len(), numerals.len());
        for b in Art31Branch::ALL {
            let n: usize = b.as_str().trim_start_matches("31_").parse().unwrap();
            assert_eq!(b.item_zh(), format!("（{}）", numerals[n - 1]));
        }
    }

    #[test]
    fn wire_and_chinese_spellings_round_trip() {
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()).unwrap(), *c);
            assert_eq!(Channel::parse(c.zh()).unwrap(), *c);
            let json = serde_json::to_string(c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
        }
        for t in PetitionType::ALL {
            assert_eq!(PetitionType::parse(t.zh()).unwrap(), *t);
        }
        for d in Diversion::ALL {
            assert_eq!(Diversion::parse(d.zh()).unwrap(), *d);
            assert_ne!(d.branch(), Art31Branch::Residual);
        }
        for l in CadreLevel::ALL {
            assert_eq!(CadreLevel::parse(l.as_str()).unwrap(), *l);
            assert_eq!(CadreLevel::parse(l.zh()).unwrap(), *l);
        }
        assert_eq!(
            CadreLevel::parse("mayor").unwrap_err().field,
            "accused_level"
        );
    }

    #[test]
    fn unknown_values_name_the_field_and_list_the_choices() {
        let e = Channel::parse("pigeon").unwrap_err();
        assert_eq!(e.field, "channel");
        assert_eq!(e.rule, "unknown_value");
        assert!(e.message.contains("leader_mailbox"));
        assert!(serde_json::from_str::<Rating>("\"great\"").is_err());
    }
}
