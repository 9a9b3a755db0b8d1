//! The notices notify sends, who receives each, and the variables each template may use
//! (with sample values: start-up renders every template with them to prove it is complete).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Who a notice is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    Petitioner,
    Department,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Petitioner => "petitioner",
            Audience::Department => "department",
        }
    }
}

/// A delivery channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sms,
    Email,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Sms, Channel::Email];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "sms" => Some(Channel::Sms),
            "email" => Some(Channel::Email),
            _ => None,
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! notices {
    ($($var:ident = $name:literal, $aud:ident, $zh:literal;)+) => {
        /// Every notice, by its template name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Notice { $($var),+ }

        impl Notice {
            pub const ALL: &'static [Notice] = &[$(Notice::$var),+];

            /// Template file stem and wire name, e.g. `receipt`.
            pub fn name(self) -> &'static str {
                match self { $(Notice::$var => $name),+ }
            }

            pub fn audience(self) -> Audience {
                match self { $(Notice::$var => Audience::$aud),+ }
            }

            /// What people call it.
            pub fn zh(self) -> &'static str {
                match self { $(Notice::$var => $zh),+ }
            }

            pub fn parse(raw: &str) -> Option<Self> {
                match raw { $($name => Some(Notice::$var),)+ _ => None }
            }
        }
    };
}

notices! {
    Receipt = "receipt", Petitioner, "登记回执（查询码）";
    Accepted = "accepted", Petitioner, "受理告知";
    NotAccepted = "not_accepted", Petitioner, "不予受理告知";
    NotReaccepted = "not_reaccepted", Petitioner, "不再受理告知";
    Diverted = "diverted", Petitioner, "导入法定途径告知";
    Extended = "extended", Petitioner, "延期告知";
    Replied = "replied", Petitioner, "答复意见送达";
    ReviewDecided = "review_decided", Petitioner, "复查意见送达";
    RereviewDecided = "rereview_decided", Petitioner, "复核意见送达";
    Terminated = "terminated", Petitioner, "终结告知";
    Evaluation = "evaluation", Petitioner, "满意度评价邀请";
    Assigned = "assigned", Department, "交办/转送通知";
    Warning = "warning", Department, "办理期限预警";
    Overdue = "overdue", Department, "超期提醒";
    Supervision = "supervision", Department, "督办通知";
    ReviewRequested = "review_requested", Department, "复查/复核申请通知";
    Remanded = "remanded", Department, "发回重新办理通知";
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Variables every template may use, besides the notice's own.
pub const COMMON_VARS: &[(&str, &str)] = &[
    ("bureau", "三门峡市信访局"),
    ("case_no", "XF-411202-2026-000123"),
];

const LONG: &str = "经核查，您反映的事项已由人民法院作出生效判决，依法应当通过申请再审等诉讼程序解决，信访部门不能替代司法机关作出裁判。请您携带判决书等材料，到有管辖权的人民法院立案庭咨询办理；如有经济困难，可到当地司法局法律援助中心申请法律援助。";

impl Notice {
    /// The notice's own variables with sample values (the longest plausible shapes).
    pub fn own_vars(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Notice::Receipt => &[
                ("query_code", "7Q4K9M2X"),
                ("registered_on", "2026-03-02"),
                ("query_url", "https://xf.smx.gov.cn/q"),
            ],
            Notice::Accepted => &[
                ("department_name", "人力资源和社会保障局"),
                ("accepted_on", "2026-03-05"),
                ("query_code", "7Q4K9M2X"),
                ("query_url", "https://xf.smx.gov.cn/q"),
            ],
            Notice::NotAccepted | Notice::NotReaccepted => &[
                ("reason", LONG),
                ("where_to_go", "三门峡市中级人民法院立案庭（崤山路中段）"),
                ("rule", "art_19_3"),
            ],
            Notice::Diverted => &[
                ("legal_channel", "劳动人事争议仲裁"),
                ("organ", "三门峡市劳动人事争议仲裁委员会"),
                ("guidance", LONG),
            ],
            Notice::Extended => &[
                ("department_name", "住房和城乡建设局"),
                ("days", "30"),
                ("reason", LONG),
            ],
            Notice::Replied => &[
                ("department_name", "住房和城乡建设局"),
                ("outcome", "予以支持"),
                ("served_on", "2026-04-20"),
                ("appealable", "true"),
            ],
            Notice::ReviewDecided => &[
                ("organ", "三门峡市人民政府"),
                ("decision", LONG),
                ("served_on", "2026-05-20"),
                ("sent_back", "false"),
            ],
            Notice::RereviewDecided => &[
                ("organ", "河南省人民政府"),
                ("decision", LONG),
                ("served_on", "2026-06-20"),
                ("sent_back", "false"),
            ],
            Notice::Terminated => &[("terminated_on", "2026-07-01")],
            Notice::Evaluation => &[
                ("query_code", "7Q4K9M2X"),
                ("query_url", "https://xf.smx.gov.cn/q"),
                ("eval_days", "30"),
            ],
            Notice::Assigned => &[
                ("department_name", "人力资源和社会保障局"),
                ("mode", "交办"),
                ("role", "主办"),
                ("petition_type", "申诉求决"),
                ("accept_by", "2026-03-17 23:59"),
                ("report_required", "true"),
            ],
            Notice::Warning | Notice::Overdue => &[
                ("department_name", "人力资源和社会保障局"),
                ("deadline_name", "办理期限（60日）"),
                ("due", "2026-05-04 23:59"),
            ],
            Notice::Supervision => &[
                ("department_name", "人力资源和社会保障局"),
                ("form", "文书督办"),
                ("issuer", "三门峡市信访局督查科"),
                ("note", LONG),
                ("respond_by", "2026-05-10 23:59"),
            ],
            Notice::ReviewRequested => &[
                ("department_name", "三门峡市人民政府"),
                ("level", "复查"),
                ("article", "第三十五条"),
                ("due", "2026-06-20 23:59"),
                ("provisional", "false"),
            ],
            Notice::Remanded => &[
                ("department_name", "人力资源和社会保障局"),
                ("organ", "灵宝市人民政府"),
                ("level", "复查"),
                ("outcome", "撤销"),
                ("reply_by", "2026-06-20 23:59"),
            ],
        }
    }

    /// Names of all variables a template of this notice may use.
    pub fn declared(self) -> Vec<&'static str> {
        COMMON_VARS
            .iter()
            .chain(self.own_vars())
            .map(|(k, _)| *k)
            .collect()
    }

    /// A sample context (strings; `"true"`/`"false"` become booleans) for start-up checks.
    pub fn sample(self) -> BTreeMap<String, Var> {
        COMMON_VARS
            .iter()
            .chain(self.own_vars())
            .map(|(k, v)| ((*k).to_owned(), Var::from_sample(v)))
            .collect()
    }
}

/// A template variable value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Var {
    Bool(bool),
    Text(String),
}

impl Var {
    fn from_sample(v: &str) -> Self {
        match v {
            "true" => Var::Bool(true),
            "false" => Var::Bool(false),
            s => Var::Text(s.to_owned()),
        }
    }

    pub fn text(s: impl Into<String>) -> Self {
        Var::Text(s.into())
    }
}

impl From<&Var> for minijinja::Value {
    fn from(v: &Var) -> Self {
        match v {
            Var::Bool(b) => minijinja::Value::from(*b),
            Var::Text(s) => minijinja::Value::from(s.as_str()),
        }
    }
}

/// Variables of one concrete notice.
pub type Vars = BTreeMap<String, Var>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_audiences_split() {
        for n in Notice::ALL {
            assert_eq!(Notice::parse(n.name()), Some(*n));
            xinfang_domain::subject::token("notice", n.name()).unwrap();
        }
        let depts: Vec<_> = Notice::ALL
            .iter()
            .filter(|n| n.audience() == Audience::Department)
            .map(|n| n.name())
            .collect();
        assert_eq!(
            depts,
            [
                "assigned",
                "warning",
                "overdue",
                "supervision",
                "review_requested",
                "remanded"
            ]
        );
    }

    #[test]
    fn department_notices_declare_nothing_about_the_petitioner() {
        for n in Notice::ALL
            .iter()
            .filter(|n| n.audience() == Audience::Department)
        {
            for v in n.declared() {
                let personal = ["name", "mobile", "email", "phone", "petitioner", "contact"]
                    .iter()
                    .any(|bad| v == *bad || v.starts_with(&format!("{bad}_")));
                let petition = ["text", "query_code", "petitioner_key"].contains(&v);
                assert!(!personal && !petition, "{n}: {v}");
            }
        }
    }
}
