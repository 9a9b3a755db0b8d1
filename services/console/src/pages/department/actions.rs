//! The department actions of routing (`POST /v1/cases/{case_no}/actions/{name}`, see
//! docs/department-actions.md) as small forms: what each asks for, in Chinese, and how a
//! submitted form becomes the JSON body routing expects.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value, json};
use xinfang_domain::classify::Departments;
use xinfang_domain::lifecycle::{CaseState, allowed_commands};
use xinfang_domain::petition::{Diversion, OpinionOutcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Date,
    Line,
    Text,
    Days,
    Choice,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Date => "date",
            Kind::Line => "text",
            Kind::Text => "textarea",
            Kind::Days => "number",
            Kind::Choice => "select",
        }
    }
}

struct FieldDef {
    name: &'static str,
    label: &'static str,
    kind: Kind,
    required: bool,
    hint: &'static str,
}

pub struct ActionDef {
    pub name: &'static str,
    pub title: &'static str,
    hint: &'static str,
    fields: &'static [FieldDef],
    /// Lifecycle commands (any of them) that make this action possible in a state.
    commands: &'static [&'static str],
}

const fn f(
    name: &'static str,
    label: &'static str,
    kind: Kind,
    required: bool,
    hint: &'static str,
) -> FieldDef {
    FieldDef {
        name,
        label,
        kind,
        required,
        hint,
    }
}

/// Every action a handling unit sends, in the order of a case's life.
pub const ACTIONS: &[ActionDef] = &[
    ActionDef {
        name: "accept",
        title: "受理告知",
        hint: "书面告知信访人已受理；办理期限自受理之日起计算（条例第23条第3款、第34条）。",
        fields: &[f(
            "accepted_on",
            "受理告知日期",
            Kind::Date,
            true,
            "不早于收到转送、交办之日，不晚于今天",
        )],
        commands: &["accept"],
    },
    ActionDef {
        name: "object",
        title: "提出异议",
        hint: "认为不属于本单位职权范围的，应在收到之日起5个工作日内向转送、交办的信访部门提出异议，并详细说明理由（条例第23条第3款）。",
        fields: &[f(
            "reason",
            "异议理由",
            Kind::Text,
            true,
            "详细说明不属于本单位职权范围的理由",
        )],
        commands: &["object"],
    },
    ActionDef {
        name: "transfer",
        title: "申请转办",
        hint: "受理前申请转由其他单位办理；经信访部门核实同意后才移交，等待期间受理期限照常计算（条例第23条第3款）。",
        fields: &[
            f("to", "转往单位", Kind::Choice, true, ""),
            f(
                "reason",
                "转办理由",
                Kind::Text,
                true,
                "该事项属于对方单位职责的依据",
            ),
        ],
        commands: &["object"],
    },
    ActionDef {
        name: "extend",
        title: "申请延期",
        hint: "情况复杂的，经本机关负责人批准可延长一次，延长不超过30日，并告知信访人延期理由（条例第34条）。",
        fields: &[
            f("days", "延长天数", Kind::Days, true, "1至30日"),
            f("approver", "批准的负责人", Kind::Line, true, ""),
            f("reason", "延期理由（将告知信访人）", Kind::Text, true, ""),
        ],
        commands: &["extend"],
    },
    ActionDef {
        name: "mediate",
        title: "调解/和解",
        hint: "已签订调解协议书或和解协议书（条例第33条）。",
        fields: &[
            f("agreement", "协议种类", Kind::Choice, true, ""),
            f("signed_on", "签订日期", Kind::Date, true, ""),
            f("summary", "协议内容摘要", Kind::Text, true, ""),
        ],
        commands: &["mediate"],
    },
    ActionDef {
        name: "divert",
        title: "导入法定途径",
        hint: "受理后发现属于诉讼、仲裁、行政复议等法定途径的，书面告知信访人向有关机关提出（条例第31条第1至4项）。此后不能再答复或延期。",
        fields: &[
            f("diversion", "法定途径", Kind::Choice, true, ""),
            f(
                "guidance",
                "告知内容（按送达原文）",
                Kind::Text,
                true,
                "向哪个机关、以何种方式、在何期限内提出",
            ),
            f(
                "served_on",
                "送达日期",
                Kind::Date,
                true,
                "不早于受理之日，不晚于今天",
            ),
            f(
                "report",
                "办结报告（交办事项）",
                Kind::Text,
                false,
                "交办事项须报送办结报告；填写后随同报送审核",
            ),
        ],
        commands: &["divert"],
    },
    ActionDef {
        name: "reply",
        title: "答复/出具处理意见",
        hint: "送达信访人的答复或信访处理意见书（条例第32条）；处理意见书须写明处理结果。",
        fields: &[
            f(
                "outcome",
                "处理结果",
                Kind::Choice,
                false,
                "出具信访处理意见书时必填",
            ),
            f("text", "答复或处理意见（按送达原文）", Kind::Text, true, ""),
            f(
                "served_on",
                "送达日期",
                Kind::Date,
                true,
                "不晚于今天；复查申请期限自送达之日起计算",
            ),
            f(
                "report",
                "办结报告（交办事项）",
                Kind::Text,
                false,
                "交办事项须报送办结报告；填写后随同报送审核",
            ),
        ],
        commands: &["reply", "issue_opinion", "perform_duty"],
    },
    ActionDef {
        name: "report",
        title: "报送办结报告",
        hint: "交办事项办理完毕后，向交办的信访部门报送办结报告，经审核后办结（条例第22条第1款第3项）。",
        fields: &[f("report", "办结报告", Kind::Text, true, "办理过程和结果")],
        commands: &["submit_for_check"],
    },
];

/// What an assisting department may send (routing refuses the rest).
const ASSISTING: [&str; 2] = ["accept", "reply"];

pub fn find(name: &str) -> Option<&'static ActionDef> {
    ACTIONS.iter().find(|a| a.name == name)
}

/// The Chinese label of an action's field, for an API refusal naming it.
pub fn field_label(action: &str, field: &str) -> Option<&'static str> {
    find(action)?
        .fields
        .iter()
        .find(|f| f.name == field)
        .map(|f| f.label)
}

fn options(action: &str, field: &str, own_dept: Option<&str>) -> Vec<(String, String)> {
    match (action, field) {
        ("transfer", "to") => Departments::embedded()
            .iter()
            .filter(|d| Some(d.code.as_str()) != own_dept)
            .map(|d| (d.code.clone(), format!("{}（{}）", d.name, d.code)))
            .collect(),
        ("mediate", "agreement") => vec![
            ("mediation".into(), "调解协议书".into()),
            ("settlement".into(), "和解协议书".into()),
        ],
        ("divert", "diversion") => Diversion::ALL
            .iter()
            .map(|d| (d.as_str().to_owned(), d.zh().to_owned()))
            .collect(),
        ("reply", "outcome") => std::iter::once((String::new(), "（不是处理意见书）".to_owned()))
            .chain(
                OpinionOutcome::ALL
                    .iter()
                    .map(|o| (o.as_str().to_owned(), o.zh().to_owned())),
            )
            .collect(),
        _ => Vec::new(),
    }
}

#[derive(Debug, Serialize)]
pub struct FieldView {
    pub name: &'static str,
    pub id: String,
    pub label: &'static str,
    pub kind: &'static str,
    pub required: bool,
    pub hint: &'static str,
    pub options: Vec<(String, String)>,
    pub value: String,
}

#[derive(Debug, Serialize)]
pub struct ActionView {
    pub name: &'static str,
    pub title: &'static str,
    pub hint: String,
    pub fields: Vec<FieldView>,
    /// Possible in the case's present state (as routing's lifecycle states it).
    pub suggested: bool,
    /// Open on the page: the form that just failed.
    pub open: bool,
    /// Makes a double submission harmless: routing answers a repeated id with its first answer.
    pub request_id: String,
}

/// The forms for a case in routing state `state`, with `today` (Beijing) as the default date,
/// and the values of the form that just failed kept.
pub fn views(
    state: Option<&str>,
    assisting: bool,
    own_dept: Option<&str>,
    today: &str,
    object_by: Option<&str>,
    failed: Option<(&str, &HashMap<String, String>)>,
) -> Vec<ActionView> {
    let allowed: Vec<&str> = state
        .and_then(|s| serde_json::from_value::<CaseState>(Value::String(s.to_owned())).ok())
        .map(allowed_commands)
        .unwrap_or_default();
    ACTIONS
        .iter()
        .filter(|a| !assisting || ASSISTING.contains(&a.name))
        .map(|a| {
            let kept = failed.filter(|(n, _)| *n == a.name).map(|(_, v)| v);
            let fields = a
                .fields
                .iter()
                .map(|fd| {
                    let default = if fd.kind == Kind::Date { today } else { "" };
                    FieldView {
                        name: fd.name,
                        id: format!("{}-{}", a.name, fd.name),
                        label: fd.label,
                        kind: fd.kind.as_str(),
                        required: fd.required,
                        hint: fd.hint,
                        options: options(a.name, fd.name, own_dept),
                        value: kept
                            .and_then(|k| k.get(fd.name).cloned())
                            .unwrap_or_else(|| default.to_owned()),
                    }
                })
                .collect();
            let mut hint = a.hint.to_owned();
            if a.name == "object"
                && let Some(by) = object_by
            {
                hint += &format!("本案异议期限截至 {by}。");
            }
            ActionView {
                name: a.name,
                title: a.title,
                hint,
                fields,
                suggested: if assisting {
                    true
                } else {
                    a.commands.iter().any(|c| allowed.contains(c))
                },
                open: kept.is_some(),
                request_id: uuid::Uuid::now_v7().to_string(),
            }
        })
        .collect()
}

/// The JSON body for `def` from a submitted form: its own fields only (blank optional ones
/// left out, days as a number), plus the request id.
pub fn body(def: &ActionDef, form: &HashMap<String, String>) -> Value {
    let mut m = Map::new();
    let request_id = form
        .get("request_id")
        .and_then(|r| uuid::Uuid::parse_str(r.trim()).ok())
        .unwrap_or_else(uuid::Uuid::now_v7);
    m.insert("request_id".into(), json!(request_id.to_string()));
    for fd in def.fields {
        let v = form.get(fd.name).map(|v| v.trim()).unwrap_or_default();
        if v.is_empty() && !fd.required {
            continue;
        }
        let value = match fd.kind {
            // Not a whole number: sent as typed, and routing names the field and the rule.
            Kind::Days => v
                .parse::<i64>()
                .map(|d| json!(d))
                .unwrap_or_else(|_| json!(v)),
            _ => json!(v),
        };
        m.insert(fd.name.into(), value);
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn bodies_carry_the_action_fields_only() {
        let rid = uuid::Uuid::now_v7().to_string();
        let b = body(
            find("extend").unwrap(),
            &form(&[
                ("days", "15"),
                ("approver", "张局长"),
                ("reason", "需要现场核查"),
                ("request_id", &rid),
                ("_csrf", "x"),
                ("department", "gaj"),
            ]),
        );
        assert_eq!(b["days"], 15);
        assert_eq!(b["request_id"], rid.as_str());
        assert!(
            b.get("_csrf").is_none() && b.get("department").is_none(),
            "{b}"
        );
        let r = body(
            find("reply").unwrap(),
            &form(&[
                ("text", "答复"),
                ("served_on", "2026-03-01"),
                ("outcome", ""),
            ]),
        );
        assert!(
            r.get("outcome").is_none() && r.get("report").is_none(),
            "{r}"
        );
        assert!(uuid::Uuid::parse_str(r["request_id"].as_str().unwrap()).is_ok());
    }

    #[test]
    fn the_state_suggests_the_forms_and_a_failed_form_keeps_its_input() {
        let kept = form(&[("reason", "不属于本单位")]);
        let v = views(
            Some("forwarded"),
            false,
            Some("rsj"),
            "2026-03-01",
            Some("2026-03-06"),
            Some(("object", &kept)),
        );
        let by = |n: &str| v.iter().find(|a| a.name == n).unwrap();
        assert!(by("accept").suggested && by("object").suggested && by("transfer").suggested);
        assert!(!by("reply").suggested && !by("extend").suggested);
        assert!(by("object").open && by("object").fields[0].value == "不属于本单位");
        assert!(by("object").hint.contains("2026-03-06"));
        assert_eq!(by("accept").fields[0].value, "2026-03-01");
        assert!(
            !by("transfer").fields[0]
                .options
                .iter()
                .any(|(c, _)| c == "rsj")
        );
        let v = views(
            Some("under_investigation"),
            false,
            None,
            "2026-03-01",
            None,
            None,
        );
        assert!(v.iter().find(|a| a.name == "extend").unwrap().suggested);
        assert!(v.iter().find(|a| a.name == "reply").unwrap().suggested);
        let assisting = views(Some("forwarded"), true, None, "2026-03-01", None, None);
        assert_eq!(
            assisting.iter().map(|a| a.name).collect::<Vec<_>>(),
            ["accept", "reply"]
        );
        assert_eq!(field_label("reply", "served_on"), Some("送达日期"));
    }
}
