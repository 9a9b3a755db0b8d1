//! Template filters that put the API's wire values into the Chinese the law uses. Unknown
//! values are shown as given rather than hidden.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use xinfang_domain::deadline::DeadlineKind;
use xinfang_domain::lifecycle::CaseState;
use xinfang_domain::petition::{Art31Branch, Channel, Diversion, PetitionType};

fn via<T: serde::de::DeserializeOwned>(raw: &str, zh: impl Fn(T) -> &'static str) -> String {
    serde_json::from_value::<T>(serde_json::Value::String(raw.to_owned()))
        .map(|v| zh(v).to_owned())
        .unwrap_or_else(|_| raw.to_owned())
}

pub fn status_zh(raw: &str) -> String {
    via::<CaseState>(raw, |s| s.zh())
}

pub fn petition_type_zh(raw: &str) -> String {
    PetitionType::parse(raw)
        .map(|t| t.zh().to_owned())
        .or_else(|_| Art31Branch::parse(raw).map(|b| b.zh().to_owned()))
        .or_else(|_| Diversion::parse(raw).map(|d| d.zh().to_owned()))
        .unwrap_or_else(|_| raw.to_owned())
}

/// An Art 31 branch's item number, `31_6` → `（六）`; anything else gives nothing.
pub fn art31_item(raw: &str) -> String {
    Art31Branch::parse(raw)
        .map(|b| b.item_zh().to_owned())
        .unwrap_or_default()
}

pub fn channel_zh(raw: &str) -> String {
    Channel::parse(raw)
        .map(|c| c.zh().to_owned())
        .unwrap_or_else(|_| raw.to_owned())
}

pub fn deadline_kind_zh(raw: &str) -> String {
    DeadlineKind::from_str(raw)
        .map(|k| k.zh().to_owned())
        .unwrap_or_else(|_| raw.to_owned())
}

/// An RFC 3339 instant as Beijing time, `2026-12-04 09:30`.
pub fn cst_time(raw: &str) -> String {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| {
            t.with_timezone(&Utc)
                .with_timezone(&xinfang_domain::deadline::CST)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|_| raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_values_read_in_chinese_and_unknown_ones_pass_through() {
        assert_eq!(status_zh("accepted"), "已受理");
        assert_eq!(petition_type_zh("accusation"), "检举控告");
        assert_eq!(petition_type_zh("31_2"), "仲裁");
        assert_eq!(art31_item("31_6"), "（六）");
        assert_eq!(art31_item("31_1"), "（一）");
        assert_eq!(art31_item("31_9"), "");
        assert_eq!(art31_item("accusation"), "");
        assert_eq!(channel_zh("visit"), "走访");
        assert_eq!(status_zh("no_such_state"), "no_such_state");
        assert_eq!(cst_time("2026-12-04T01:30:00Z"), "2026-12-04 09:30");
    }
}
