//! The clerk's pages (首接负责): register a petition, read the classification intake proposes
//! and correct it, decide on a proposed refusal of a repeat, print the 登记回执, and work the
//! queue of cases routing holds for a clerk. Everything goes through intake's and routing's
//! APIs with the clerk's own token, so a clerk sees and changes only what the services allow.

mod actions;
mod case;
mod register;
mod triage;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::Router;
use axum::routing::{get, post};
use serde_json::{Value, json};
use xinfang_domain::classify::Departments;

use crate::backend::ApiFailure;
use crate::role::ConsoleRole;
use crate::state::AppState;

/// Who may use these pages.
const ROLES: &[ConsoleRole] = &[ConsoleRole::Clerk, ConsoleRole::Operator];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/clerk", get(register::form).post(register::submit))
        .route("/clerk/triage", get(triage::queue))
        .route("/clerk/cases/{case_no}", get(case::show))
        .route(
            "/clerk/cases/{case_no}/classification",
            post(actions::reclassify),
        )
        .route("/clerk/cases/{case_no}/repeat", post(actions::repeat))
        .route("/clerk/cases/{case_no}/receipt", get(case::receipt))
}

/// The directory's departments (code → short name), read once.
static DEPARTMENTS: LazyLock<Departments> = LazyLock::new(Departments::embedded);

/// `[{value, zh}]` for a `<select>`.
fn department_options() -> Value {
    DEPARTMENTS
        .iter()
        .map(|d| json!({"value": d.code, "zh": d.name}))
        .collect()
}

/// Code → name, for showing the departments a case names.
fn department_names() -> BTreeMap<String, String> {
    DEPARTMENTS
        .iter()
        .map(|d| (d.code.clone(), d.name.clone()))
        .collect()
}

pub(crate) use super::Fields;

/// What an API field path is called on the pages.
fn field_label(field: &str) -> &'static str {
    // `co_petitioners[3].mobile` → `co_petitioners`: the list names the field well enough.
    let head = field.split(['[', '.']).next().unwrap_or("");
    match field {
        "petitioner.name" => "信访人姓名",
        "petitioner.id_number" => "身份证号码",
        "petitioner.mobile" => "手机号码",
        "petitioner.email" => "电子邮箱",
        "petitioner.address" => "住址",
        _ => match head {
            "channel" => "信访渠道",
            "co_petitioners" => "共同信访人",
            "representatives" => "代表人",
            "group_size" => "信访人数",
            "text" => "信访内容",
            "county" => "登记机关/事项发生地区划代码",
            "received_at" => "收件时间",
            "clerk_id" => "登记人员",
            "received_by" => "直接收件的机关",
            "source" => "信访事项来源",
            "petition_type" | "type" => "信访类型",
            "branch" => "第三十一条处理途径",
            "diversion" => "导入的法定途径",
            "department" => "承办单位",
            "accused_level" => "被检举人管理层级",
            "assisting" => "协办单位",
            "reason" => "理由",
            "decision" => "处理决定",
            "case_no" => "案件编号",
            _ => "",
        },
    }
}

/// One line for the page naming the field (in Chinese and as the API calls it) and the rule
/// the service applied.
fn explain(f: &ApiFailure) -> String {
    let label = f.field.as_deref().map(field_label).unwrap_or("");
    let rule = match f.code.as_str() {
        "" | "error" => String::new(),
        c => format!("（规则：{c}）"),
    };
    if label.is_empty() {
        format!("{}{rule}", f.line())
    } else {
        format!("{label} — {}{rule}", f.line())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::case_no_ok;

    #[test]
    fn fields_keep_every_pair_and_name_the_api_fields() {
        let f = Fields(vec![
            ("_csrf".into(), "t".into()),
            ("assisting".into(), "rsj".into()),
            ("assisting".into(), " gaj ".into()),
            ("assisting".into(), "".into()),
            ("reason".into(), "  ".into()),
        ]);
        assert_eq!(f.all("assisting"), vec!["rsj", "gaj"]);
        assert_eq!(f.opt("reason"), None);
        assert!(!f.kept().contains_key("_csrf"));
        assert_eq!(field_label("petitioner.id_number"), "身份证号码");
        assert_eq!(field_label("representatives[2].mobile"), "代表人");
        let e = explain(&ApiFailure {
            status: 422,
            code: "checksum".into(),
            message: "check character does not match".into(),
            field: Some("petitioner.id_number".into()),
            ..Default::default()
        });
        assert!(
            e.contains("身份证号码")
                && e.contains("petitioner.id_number")
                && e.contains("checksum")
        );
        assert!(case_no_ok("XF-901201-2026-000001").is_ok());
        assert!(case_no_ok("XF-901201-2026-1/../x").is_err());
    }
}
