//! Which notices an event causes, for whom, with which variables. Pure: the handler resolves
//! the targets to addresses. Department notices are built only from the department's own
//! facts — never the petitioner's contact or the petition text (Art 30 para 3).

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use xinfang_domain::county::CountyCode;
use xinfang_domain::deadline::DeadlineKind;
use xinfang_domain::deadline_state::department_subject;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::events::{
    self, Accepted, AssignMode, DeadlineFired, DeadlineStatus, DeptAssignment, DeptRemanded,
    DeptRole, Diverted, Extended, Refused, Replied, ReviewEvent, ReviewLevel, Supervised,
    Terminated, kind,
};

use crate::notice::{Notice, Var, Vars};

/// Who a planned notice goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The petitioner of a case (contact from the registration projection).
    Petitioner { case_no: String },
    /// A department's contacts, as seen from `county`.
    Department { county: CountyCode, dept: String },
}

/// One notice to send (to every address of its target, on every channel it has).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub notice: Notice,
    pub target: Target,
    pub case_no: String,
    /// The notice's own variables; the handler adds `bureau`, `case_no` and the
    /// target-dependent ones (`department_name`, `query_code`, `query_url`, `eval_days`).
    pub vars: Vars,
}

/// Facts a handler supplies to the planner.
pub struct PlanContext<'a> {
    /// Local time zone of dates in notices.
    pub offset: FixedOffset,
    /// Human name of a department as seen from a county.
    pub dept_name: &'a dyn Fn(&CountyCode, &str) -> String,
    /// Human name of an organ written `411200:gov`.
    pub organ_name: &'a dyn Fn(&str) -> String,
}

/// Which family an event subject belongs to: `xf.<county>.<family>.…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Family {
    Case,
    /// A department subject: the department token.
    Dept(String),
    Review,
    Other,
}

pub fn family(subject: &str) -> Family {
    let parts: Vec<&str> = subject.split('.').collect();
    match parts.as_slice() {
        ["xf", _, "case", _] => Family::Case,
        ["xf", _, "dept", dept, _] => Family::Dept((*dept).to_owned()),
        ["xf", _, "review", _] => Family::Review,
        _ => Family::Other,
    }
}

#[derive(Debug, thiserror::Error)]
#[error("event {kind} payload: {message}")]
pub struct PlanError {
    pub kind: String,
    pub message: String,
}

fn data<T: serde::de::DeserializeOwned>(env: &Envelope) -> Result<T, PlanError> {
    env.data_as::<T>().map_err(|e| PlanError {
        kind: env.kind.clone(),
        message: e.to_string(),
    })
}

fn date(at: DateTime<Utc>, offset: FixedOffset) -> String {
    at.with_timezone(&offset).format("%Y-%m-%d").to_string()
}

fn minute(at: DateTime<Utc>, offset: FixedOffset) -> String {
    at.with_timezone(&offset)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn vars<const N: usize>(pairs: [(&str, Var); N]) -> Vars {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

fn t(s: impl Into<String>) -> Var {
    Var::text(s)
}

/// Deadline code to the name shown to a department.
fn deadline_name(code: &str) -> String {
    match code {
        "eval" => "满意度评价期限".into(),
        "supervision" => "督办回复期限".into(),
        "task" => "会审交办任务期限".into(),
        other => other
            .parse::<DeadlineKind>()
            .map(|k| k.zh().to_owned())
            .unwrap_or_else(|_| other.to_owned()),
    }
}

fn supervision_form(form: &str) -> String {
    match form {
        "written_notice" => "文书督办",
        "summons" => "约谈督办",
        "on_site" => "实地督办",
        "joint" => "联合督办",
        "escalation" => "超期升级督办",
        other => other,
    }
    .to_owned()
}

/// The notices an event causes. `county` is the stream's county (the envelope's).
pub fn plan(subject: &str, env: &Envelope, ctx: &PlanContext<'_>) -> Result<Vec<Plan>, PlanError> {
    // A review at another county's organ is published there and copied to the case's own
    // county (services/review/src/emit.rs): notice it once, from the copy in the case's county,
    // whose deployment holds the petitioner.
    if family(subject) == Family::Review
        && let Some(home) = env.data.get("case_county").and_then(|v| v.as_str())
        && subject.split('.').nth(1) != Some(home)
    {
        return Ok(Vec::new());
    }
    let off = ctx.offset;
    let county = &env.county;
    let petitioner = |notice: Notice, case_no: &str, vars: Vars| Plan {
        notice,
        target: Target::Petitioner {
            case_no: case_no.to_owned(),
        },
        case_no: case_no.to_owned(),
        vars,
    };
    let department = |notice: Notice, case_no: &str, dept: &str, vars: Vars| Plan {
        notice,
        target: Target::Department {
            county: county.clone(),
            dept: dept.to_owned(),
        },
        case_no: case_no.to_owned(),
        vars,
    };
    let plans = match (family(subject), env.kind.as_str()) {
        (Family::Case, kind::REGISTERED) => {
            let r: events::Registered = data(env)?;
            vec![petitioner(
                Notice::Receipt,
                &r.case_no,
                vars([("registered_on", t(date(r.registered_at, off)))]),
            )]
        }
        (Family::Case, kind::ACCEPTED) => {
            let a: Accepted = data(env)?;
            vec![petitioner(
                Notice::Accepted,
                &a.case_no,
                vars([
                    ("department_name", t((ctx.dept_name)(county, &a.department))),
                    ("accepted_on", t(day(a.accepted_on))),
                ]),
            )]
        }
        (Family::Case, k @ (kind::NOT_ACCEPTED | kind::NOT_REACCEPTED)) => {
            let r: Refused = data(env)?;
            let notice = if k == kind::NOT_ACCEPTED {
                Notice::NotAccepted
            } else {
                Notice::NotReaccepted
            };
            vec![petitioner(
                notice,
                &r.case_no,
                vars([
                    ("reason", t(r.reason)),
                    ("where_to_go", t(r.where_to_go.unwrap_or_default())),
                    ("rule", t(r.rule)),
                ]),
            )]
        }
        (Family::Case, kind::DIVERTED) => {
            let d: Diverted = data(env)?;
            vec![petitioner(
                Notice::Diverted,
                &d.case_no,
                vars([
                    (
                        "legal_channel",
                        t(d.diversion.map(|x| x.zh()).unwrap_or_default()),
                    ),
                    // The organ's name, not its directory code (`411282:sfj`).
                    ("organ", t((ctx.organ_name)(&d.organ))),
                    ("guidance", t(d.guidance)),
                ]),
            )]
        }
        (Family::Case, kind::EXTENDED) => {
            let e: Extended = data(env)?;
            vec![petitioner(
                Notice::Extended,
                &e.case_no,
                vars([
                    ("department_name", t((ctx.dept_name)(county, &e.department))),
                    ("days", t(e.days.to_string())),
                    ("reason", t(e.reason)),
                ]),
            )]
        }
        (Family::Case, kind::REPLIED) => {
            let r: Replied = data(env)?;
            vec![
                petitioner(
                    Notice::Replied,
                    &r.case_no,
                    vars([
                        ("department_name", t((ctx.dept_name)(county, &r.department))),
                        ("outcome", t(r.outcome.map(|o| o.zh()).unwrap_or_default())),
                        ("served_on", t(day(r.served_on))),
                        ("appealable", Var::Bool(r.is_handling_opinion)),
                    ]),
                ),
                // The satisfaction evaluation opens when the reply is served.
                petitioner(Notice::Evaluation, &r.case_no, Vars::new()),
            ]
        }
        (Family::Case, kind::TERMINATED) => {
            let x: Terminated = data(env)?;
            vec![petitioner(
                Notice::Terminated,
                &x.case_no,
                vars([("terminated_on", t(date(x.at, off)))]),
            )]
        }
        (Family::Review, kind::REVIEW_DECIDED) => {
            let r: ReviewEvent = data(env)?;
            let notice = match r.level {
                ReviewLevel::Review => Notice::ReviewDecided,
                ReviewLevel::Rereview => Notice::RereviewDecided,
            };
            let served = r.served_on.map(day).unwrap_or_else(|| date(r.at, off));
            // Revoked or changed: no 复核 lies against it and nothing is terminated; the
            // handling organ gives a new opinion, which may be reviewed (issue #20).
            let sent_back = r
                .decision
                .as_deref()
                .and_then(|d| xinfang_domain::appeal::ReviewOutcome::parse(d).ok())
                .is_some_and(|o| o.sends_back());
            vec![petitioner(
                notice,
                &r.case_no,
                vars([
                    ("organ", t((ctx.organ_name)(&r.organ))),
                    ("decision", t(r.decision.unwrap_or_default())),
                    ("served_on", t(served)),
                    ("sent_back", Var::Bool(sent_back)),
                ]),
            )]
        }
        (Family::Dept(dept), kind::ASSIGNED) => {
            // Only the department's own facts: never `petitioner` or `text` (Art 30 para 3).
            let a: DeptAssignment = data(env)?;
            let dept_code = if a.department.is_empty() {
                dept
            } else {
                a.department.clone()
            };
            vec![department(
                Notice::Assigned,
                &a.case_no,
                &dept_code,
                vars([
                    (
                        "mode",
                        t(match a.mode {
                            AssignMode::Forward => "转送",
                            AssignMode::Assign => "交办",
                        }),
                    ),
                    (
                        "role",
                        t(match a.role {
                            DeptRole::Lead => "主办",
                            DeptRole::Assisting => "协办",
                        }),
                    ),
                    ("petition_type", t(a.petition_type.zh())),
                    (
                        "accept_by",
                        t(a.accept_by.map(|x| minute(x, off)).unwrap_or_default()),
                    ),
                    ("report_required", Var::Bool(a.report_required)),
                ]),
            )]
        }
        (Family::Dept(dept), k @ (kind::WARNING | kind::OVERDUE)) => {
            let d: DeadlineFired = data(env)?;
            let notice = if k == kind::WARNING {
                Notice::Warning
            } else {
                Notice::Overdue
            };
            // A review organ's deadline (D8, D10) names the organ (`411200:gov`): its own
            // department code of this county is where its contacts are.
            let dept_code = d
                .department
                .as_deref()
                .and_then(|x| department_subject(county, x))
                .unwrap_or(dept);
            vec![department(
                notice,
                &d.case_no,
                &dept_code,
                vars([
                    ("deadline_name", t(deadline_name(&d.deadline))),
                    ("due", t(minute(d.due, off))),
                ]),
            )]
        }
        // A 复查/复核 request addressed to a review organ: supervision started its decision
        // deadline (D8, D10) and tells the organ on its own subject (issue #20).
        (Family::Dept(dept), kind::DEADLINE_SCHEDULED) => {
            let d: DeadlineStatus = data(env)?;
            let level = match d.deadline.parse::<DeadlineKind>() {
                Ok(DeadlineKind::D8) => Some(("复查", "第三十五条")),
                Ok(DeadlineKind::D10) => Some(("复核", "第三十六条")),
                _ => None,
            };
            match level {
                Some((level, article)) if d.reason == "started" => vec![department(
                    Notice::ReviewRequested,
                    &d.case_no,
                    &dept,
                    vars([
                        ("level", t(level)),
                        ("article", t(article)),
                        ("due", t(minute(d.due, off))),
                        ("provisional", Var::Bool(d.provisional)),
                    ]),
                )],
                _ => Vec::new(),
            }
        }
        (Family::Dept(dept), kind::SUPERVISION) => {
            let s: Supervised = data(env)?;
            let dept_code = department_subject(county, &s.department).unwrap_or(dept);
            vec![department(
                Notice::Supervision,
                &s.case_no,
                &dept_code,
                vars([
                    ("form", t(supervision_form(&s.form))),
                    ("issuer", t(s.issuer)),
                    ("note", t(s.note)),
                    ("respond_by", t(minute(s.respond_by, off))),
                ]),
            )]
        }
        // A 复查/复核 decision revoked or changed its opinion: the department gives a new one
        // by `reply_by` (issue #20). Only the department's own facts.
        (Family::Dept(dept), kind::REMANDED) => {
            let r: DeptRemanded = data(env)?;
            let dept_code = if r.department.is_empty() {
                dept
            } else {
                r.department.clone()
            };
            let outcome = xinfang_domain::appeal::ReviewOutcome::parse(&r.outcome)
                .map(|o| o.zh())
                .unwrap_or("撤销或变更");
            vec![department(
                Notice::Remanded,
                &r.case_no,
                &dept_code,
                vars([
                    ("organ", t((ctx.organ_name)(&r.organ))),
                    ("level", t(xinfang_domain::appeal::level_zh(r.level))),
                    ("outcome", t(outcome)),
                    (
                        "reply_by",
                        t(r.reply_by.map(|x| minute(x, off)).unwrap_or_default()),
                    ),
                ]),
            )]
        }
        _ => Vec::new(),
    };
    Ok(plans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> PlanContext<'static> {
        PlanContext {
            offset: FixedOffset::east_opt(8 * 3600).unwrap(),
            dept_name: &|_, d| format!("name-of-{d}"),
            organ_name: &|o| format!("organ-{o}"),
        }
    }

    fn env(kind: &str, data: serde_json::Value) -> Envelope {
        Envelope::new(
            kind,
            Some("XF-1".into()),
            CountyCode::parse("411282").unwrap(),
            Utc::now(),
            data,
        )
        .unwrap()
    }

    #[test]
    fn families_come_from_the_subject() {
        assert_eq!(family("xf.411282.case.accepted"), Family::Case);
        assert_eq!(
            family("xf.411282.dept.rsj.assigned"),
            Family::Dept("rsj".into())
        );
        assert_eq!(family("xf.411200.review.decided"), Family::Review);
        assert_eq!(family("xf.411200.deadline.overdue"), Family::Other);
    }

    /// Decisions 7: a refusal the similarity proposes, and a clerk's decision on it, tell the
    /// petitioner nothing; only the refusal routing applies afterwards does.
    #[test]
    fn the_petitioner_hears_of_a_refusal_only_once_it_is_applied() {
        let at = "2026-05-01T02:00:00Z";
        let registered = env(
            "registered",
            json!({"case_no":"XF-1","query_code":"Q1234567","channel":"letter",
                   "received_at":at,"registered_at":at,"county":"411282",
                   "petition_type":"grievance","branch":null,"diversion":null,"department":"rsj",
                   "accuses_official":false,"confidential":false,"urgent":false,
                   "needs_triage":false,"confidence":0.9,"group_size":1,
                   "repeat":{"of":"XF-0","disposition":"not_reaccepted","similarity":0.9,
                             "count":2,"proposed":true},
                   "petitioner_key":"k","contact":null,"text":"t"}),
        );
        let p = plan("xf.411282.case.registered", &registered, &ctx()).unwrap();
        assert_eq!(
            p.iter().map(|p| p.notice).collect::<Vec<_>>(),
            [Notice::Receipt]
        );
        for k in [
            kind::REFUSAL_CONFIRMED,
            kind::REFUSAL_REJECTED,
            kind::REPEAT_UNLINKED,
        ] {
            let e = env(
                k,
                json!({"case_no":"XF-1","repeat_of":"XF-0","decision":"confirm",
                       "was":"not_reaccepted","disposition":"not_reaccepted","by":"t1",
                       "reason":"r","at":at}),
            );
            assert!(
                plan(&format!("xf.411282.case.{k}"), &e, &ctx())
                    .unwrap()
                    .is_empty()
            );
        }
        let e = env(
            "not_reaccepted",
            json!({"case_no":"XF-1","rule":"Art 36 para 3","reason":"r","where_to_go":null,"at":at}),
        );
        let p = plan("xf.411282.case.not_reaccepted", &e, &ctx()).unwrap();
        assert_eq!(p[0].notice, Notice::NotReaccepted);
    }

    #[test]
    fn a_cross_county_review_decision_is_noticed_once_from_the_case_county() {
        let e = env(
            "decided",
            json!({"case_no":"XF-1","case_county":"411282","level":"rereview",
                   "organ":"411200:gov","decision":"uphold","served_on":"2026-06-01",
                   "at":"2026-06-01T02:00:00Z"}),
        );
        assert!(
            plan("xf.411200.review.decided", &e, &ctx())
                .unwrap()
                .is_empty()
        );
        let p = plan("xf.411282.review.decided", &e, &ctx()).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].notice, Notice::RereviewDecided);
        assert_eq!(p[0].vars["sent_back"], Var::Bool(false));
        // Issue #20: a revoking decision tells the petitioner the matter went back.
        let mut revoked = e.clone();
        revoked.data["decision"] = json!("revoke");
        let p = plan("xf.411282.review.decided", &revoked, &ctx()).unwrap();
        assert_eq!(p[0].vars["sent_back"], Var::Bool(true));
    }

    #[test]
    fn a_served_reply_invites_an_evaluation() {
        let e = env(
            "replied",
            json!({"case_no":"XF-1","department":"rsj","outcome":"supported",
                   "is_handling_opinion":true,"text":"…","served_on":"2026-04-20",
                   "at":"2026-04-20T02:00:00Z"}),
        );
        let p = plan("xf.411282.case.replied", &e, &ctx()).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].notice, Notice::Replied);
        assert_eq!(p[0].vars["outcome"], Var::text("予以支持"));
        assert_eq!(p[0].vars["appealable"], Var::Bool(true));
        assert_eq!(p[0].vars["department_name"], Var::text("name-of-rsj"));
        assert_eq!(p[1].notice, Notice::Evaluation);
        assert_eq!(
            p[1].target,
            Target::Petitioner {
                case_no: "XF-1".into()
            }
        );
    }

    #[test]
    fn department_assignment_never_carries_the_petitioner() {
        let e = env(
            "assigned",
            json!({"case_no":"XF-1","department":"jwjw","role":"lead","mode":"assign",
                   "report_required":true,"petition_type":"accusation",
                   "text":"举报人王五（13700001111）举报某局长受贿",
                   "petitioner":{"name":"王五","mobile":"13700001111","email":"ww@example.com"},
                   "accept_by":"2026-03-17T15:59:00Z"}),
        );
        let p = plan("xf.411282.dept.jwjw.assigned", &e, &ctx()).unwrap();
        assert_eq!(p.len(), 1);
        let all = format!("{:?}", p[0].vars);
        for secret in ["王五", "13700001111", "ww@", "受贿"] {
            assert!(!all.contains(secret), "{secret} in {all}");
        }
        assert_eq!(p[0].vars["accept_by"], Var::text("2026-03-17 23:59"));
        assert_eq!(p[0].vars["petition_type"], Var::text("检举控告"));
    }

    /// Issue #20: the department whose opinion was revoked is told, with its new deadline.
    #[test]
    fn a_remand_tells_the_department_when_its_new_opinion_is_due() {
        let e = env(
            "remanded",
            json!({"case_no":"XF-1","department":"rsj","level":"review",
                   "organ":"411282:gov","outcome":"revoke",
                   "reply_by":"2026-07-01T15:59:59Z","at":"2026-06-01T02:00:00Z"}),
        );
        let p = plan("xf.411282.dept.rsj.remanded", &e, &ctx()).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].notice, Notice::Remanded);
        assert_eq!(
            p[0].target,
            Target::Department {
                county: CountyCode::parse("411282").unwrap(),
                dept: "rsj".into()
            }
        );
        assert_eq!(p[0].vars["organ"], Var::text("organ-411282:gov"));
        assert_eq!(p[0].vars["level"], Var::text("复查"));
        assert_eq!(p[0].vars["outcome"], Var::text("撤销"));
        assert_eq!(p[0].vars["reply_by"], Var::text("2026-07-01 23:59"));
        // The case event itself is no department notice.
        let c = env(
            "remanded",
            json!({"case_no":"XF-1","level":"review","organ":"411282:gov","outcome":"revoke",
                   "decision_served_on":null,"department":"rsj","round":2,
                   "at":"2026-06-01T02:00:00Z"}),
        );
        assert!(
            plan("xf.411282.case.remanded", &c, &ctx())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn deadlines_and_supervision_are_named_in_chinese() {
        let e = env(
            "overdue",
            json!({"case_no":"XF-1","deadline":"D5","department":"rsj",
                   "due":"2026-05-04T15:59:00Z","at":"2026-05-04T16:00:00Z"}),
        );
        let p = plan("xf.411282.dept.rsj.overdue", &e, &ctx()).unwrap();
        assert_eq!(p[0].notice, Notice::Overdue);
        assert!(
            matches!(&p[0].vars["deadline_name"], Var::Text(s) if s.contains("60") || !s.is_empty())
        );
        assert_eq!(deadline_name("eval"), "满意度评价期限");
        assert_eq!(deadline_name("task"), "会审交办任务期限");
        assert_eq!(deadline_name("X9"), "X9");
        assert_eq!(supervision_form("summons"), "约谈督办");
    }

    #[test]
    fn unrelated_events_plan_nothing_and_bad_payloads_fail() {
        let e = env("supervised", json!({}));
        assert!(
            plan("xf.411282.case.supervised", &e, &ctx())
                .unwrap()
                .is_empty()
        );
        let e = env("accepted", json!({"case_no": 5}));
        assert!(plan("xf.411282.case.accepted", &e, &ctx()).is_err());
    }
}

#[cfg(test)]
mod review_organ_tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> PlanContext<'static> {
        PlanContext {
            offset: FixedOffset::east_opt(8 * 3600).unwrap(),
            dept_name: &|_, d| format!("name-of-{d}"),
            organ_name: &|o| format!("organ-{o}"),
        }
    }

    fn scheduled(deadline: &str, reason: &str) -> Envelope {
        Envelope::new(
            kind::DEADLINE_SCHEDULED,
            Some("XF-1".into()),
            CountyCode::parse("411200").unwrap(),
            Utc::now(),
            json!({"case_no": "XF-1", "deadline": deadline, "department": "411200:gov",
                   "trigger": "2026-06-01T02:00:00Z", "due": "2026-07-01T15:59:59Z",
                   "state": "pending", "reason": reason, "at": "2026-06-01T02:00:00Z"}),
        )
        .unwrap()
    }

    /// Issue #20: a review organ is told of each request addressed to it, with its decision
    /// deadline (D8 and D10 ran silently); moves of the clock and other clocks tell nothing.
    #[test]
    fn the_review_organ_hears_of_each_request_with_its_deadline() {
        let p = plan(
            "xf.411200.dept.gov.scheduled",
            &scheduled("D10", "started"),
            &ctx(),
        )
        .unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].notice, Notice::ReviewRequested);
        assert_eq!(
            p[0].target,
            Target::Department {
                county: CountyCode::parse("411200").unwrap(),
                dept: "gov".into()
            }
        );
        assert_eq!(p[0].vars["level"], Var::text("复核"));
        assert_eq!(p[0].vars["due"], Var::text("2026-07-01 23:59"));
        let p = plan(
            "xf.411200.dept.gov.scheduled",
            &scheduled("D8", "started"),
            &ctx(),
        )
        .unwrap();
        assert_eq!(p[0].vars["level"], Var::text("复查"));
        for (d, reason) in [("D10", "resumed"), ("D5", "started"), ("D8", "rescheduled")] {
            assert!(
                plan(
                    "xf.411200.dept.gov.scheduled",
                    &scheduled(d, reason),
                    &ctx()
                )
                .unwrap()
                .is_empty(),
                "{d} {reason}"
            );
        }
        // The deadline subject itself is not a notice (notify does not read it).
        assert!(
            plan(
                "xf.411200.deadline.scheduled",
                &scheduled("D8", "started"),
                &ctx()
            )
            .unwrap()
            .is_empty()
        );
    }
}
