//! The bureau's practices through the console's pages, against the real stack: a supervisor
//! lists a routed case as a 省联席办交办 matter, enters the week's progress (a refused entry
//! comes back naming the field) and marks a milestone reached, and the list shows each; a
//! conference scheduled on the case with a department, a leader and a lawyer is held with a
//! task for the department, which sees the task on its own page and reports it done; a lawyer
//! joins the roster; a leader is put on the roster, holds a reception day where the case is
//! received, and owns the case (包案) with its open deadlines; the weekly analysis of this week
//! is generated and its figures and CSV read. A leader reads the pages and signs nothing.

mod common;

use common::{Browser, Stack};
use serde_json::{Value, json};
use xinfang_domain::access::Role;
use xinfang_domain::deadline::CST;
use xinfang_domain::weekly_report::IsoWeek;

const TEXT: &str =
    "我家的老房子年久失修成了危房，去年申请危房改造，村里说名额满了，请求调查核实后给个答复。";

async fn get(http: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let r = http.get(url).bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Registers a petition, waits for routing's lead (`<county>:<dept>`) and for supervision to
/// know the case (its clocks).
async fn routed_case(s: &Stack, http: &reqwest::Client) -> (String, String) {
    let token = async |role: Role| {
        s.state
            .auth
            .create(role, &s.env.city, None, "practices pages test")
            .await
            .unwrap()
            .token
    };
    let (clerk, operator) = (token(Role::Clerk).await, token(Role::Operator).await);
    let r = http
        .post(format!("{}/v1/petitions", s.urls.intake))
        .bearer_auth(&clerk)
        .json(&json!({
            "channel": "visit",
            "petitioner": {"name": "测试人", "id_number": "11010519491231002X", "mobile": "13800138000"},
            "text": TEXT,
            "county": s.env.county.to_string(),
            "received_at": chrono::Utc::now(),
            "clerk_id": "clerk-1",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let receipt: Value = r.json().await.unwrap();
    let case_no = receipt["case_no"].as_str().unwrap().to_owned();
    let mut lead = String::new();
    let view = format!("{}/v1/cases/{case_no}", s.urls.routing);
    s.env
        .wait_for("routing to assign the case", 30, async || {
            let (status, v) = get(http, &view, &operator).await;
            lead = v["lead"].as_str().unwrap_or_default().to_owned();
            status == 200 && !lead.is_empty()
        })
        .await;
    let clocks = format!("{}/v1/deadlines?case_no={case_no}", s.urls.supervision);
    s.env
        .wait_for("supervision to know the case", 30, async || {
            let (_, v) = get(http, &clocks, &operator).await;
            v["deadlines"].as_array().is_some_and(|d| !d.is_empty())
        })
        .await;
    (case_no, lead)
}

/// The text after `prefix` up to the next `end`.
fn after<'a>(body: &'a str, prefix: &str, end: char) -> &'a str {
    let i = body
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix} not in {body}"));
    let rest = &body[i + prefix.len()..];
    &rest[..rest.find(end).unwrap()]
}

/// A `datetime-local` value `days` from now at 09:00, and the day itself.
fn days_ahead(days: i64) -> (String, String) {
    let d = (chrono::Utc::now().with_timezone(&CST) + chrono::TimeDelta::days(days))
        .format("%Y-%m-%d")
        .to_string();
    (format!("{d}T09:00"), d)
}

async fn posted(b: &mut Browser, path: &str, fields: &[(&str, &str)]) -> String {
    let p = b.post(path, fields).await;
    assert_eq!(p.status, 303, "{path}: {}", p.body);
    let to = p.location.unwrap();
    let page = b.get(&to).await;
    assert_eq!(page.status, 200, "{to}: {}", page.body);
    page.body
}

async fn listed_matter(sup: &mut Browser, case_no: &str) {
    let page = sup.get("/listed").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let body = posted(
        sup,
        "/listed",
        &[
            ("case_no", case_no),
            ("source", "provincial_joint"),
            ("title", "危房改造名额问题"),
        ],
    )
    .await;
    assert!(body.contains("已列入清单"), "{body}");
    assert!(
        body.contains("省联席办交办") && body.contains("危房改造名额问题"),
        "{body}"
    );
    assert!(body.contains("本周进展未填报"), "{body}");
    assert!(
        body.contains("清单事项考核指标") && body.contains("<svg"),
        "{body}"
    );
    // A week's entry without what was done: supervision names the field, the input stays.
    let progress = format!("/listed/{case_no}/progress");
    let p = sup
        .post(
            &progress,
            &[
                ("who", "县信访局"),
                ("done", ""),
                ("next_step", "约谈村委会"),
            ],
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(
        p.body.contains("本周进展（done）") && p.body.contains("约谈村委会"),
        "{}",
        p.body
    );
    let body = posted(
        sup,
        &progress,
        &[
            ("who", "县信访局"),
            ("done", "已调取危房鉴定材料"),
            ("next_step", "约谈村委会"),
            ("due", ""),
        ],
    )
    .await;
    assert!(body.contains("已调取危房鉴定材料"), "{body}");
    assert!(!body.contains("本周进展未填报"), "this week's entry is in");
    let prefix = format!("action=\"/listed/{case_no}/milestones/");
    let id = after(&body, &prefix, '/').to_owned();
    let body = posted(
        sup,
        &format!("/listed/{case_no}/milestones/{id}/done"),
        &[("note", "已完成交办")],
    )
    .await;
    assert!(
        body.contains("已完成交办") && body.contains("节点已标记完成"),
        "{body}"
    );
}

async fn roster(sup: &mut Browser, county: &str) -> String {
    sup.get("/advisers").await;
    let body = posted(
        sup,
        "/advisers",
        &[
            ("kind", "lawyer"),
            ("name", "王律师"),
            ("organisation", "正义律师事务所"),
            ("speciality", "土地房屋"),
            ("county", county),
        ],
    )
    .await;
    assert!(
        body.contains("王律师") && body.contains("正义律师事务所"),
        "{body}"
    );
    let adviser = after(&body, "action=\"/advisers/", '/').to_owned();
    sup.get("/leaders").await;
    let body = posted(
        sup,
        "/leaders",
        &[
            ("id", "zhang_fxz"),
            ("name", "张三"),
            ("title", "副县长"),
            ("county", county),
        ],
    )
    .await;
    assert!(body.contains("张三（副县长）"), "{body}");
    adviser
}

async fn conference(s: &Stack, sup: &mut Browser, case_no: &str, lead: &str, adviser: &str) {
    let (county, dept) = lead.split_once(':').unwrap();
    let (at, _) = days_ahead(1);
    let (_, due) = days_ahead(10);
    sup.get("/conferences").await;
    let body = posted(
        sup,
        "/conferences",
        &[
            ("case_no", case_no),
            ("kind", "difficult_case"),
            ("scheduled_at", &at),
            ("place", "三楼会议室"),
            ("department", dept),
            ("leader", "zhang_fxz"),
            ("adviser", &format!("lawyer:{adviser}")),
        ],
    )
    .await;
    assert!(
        body.contains("疑难案件会审") && body.contains("三楼会议室"),
        "{body}"
    );
    assert!(
        body.contains("领导：张三") && body.contains("律师：王律师"),
        "{body}"
    );
    let id = after(&body, "action=\"/conferences/", '/').to_owned();
    let minutes = format!("/conferences/{id}/minutes");
    posted(
        sup,
        &minutes,
        &[
            ("case_no", case_no),
            ("minutes", "会议认为应先核实危房鉴定结果。"),
            ("decision_1_text", "核实危房鉴定结果并答复"),
            ("decision_1_department", dept),
            ("decision_1_due", &due),
        ],
    )
    .await;
    // Without the case number: the console remembers where it scheduled conferences.
    let body = sup.get("/conferences").await.body;
    assert!(
        body.contains("已召开") && body.contains("核实危房鉴定结果并答复"),
        "{body}"
    );
    assert!(body.contains("办理中"), "the task's clock runs: {body}");

    s.user("unit1", "department", county, Some(dept)).await;
    let mut unit = s.sign_in("unit1").await;
    let mut tasks = String::new();
    s.env
        .wait_for("the task on the department's page", 30, async || {
            tasks = unit.get("/dept/tasks").await.body;
            tasks.contains("核实危房鉴定结果并答复")
        })
        .await;
    assert!(tasks.contains(case_no) && tasks.contains(&due), "{tasks}");
    let action = format!(
        "/dept/tasks/{}",
        after(&tasks, "action=\"/dept/tasks/", '"')
    );
    let body = posted(&mut unit, &action, &[("note", "已核实，鉴定为C级危房")]).await;
    assert!(
        body.contains("已报告任务完成") && !body.contains("核实危房鉴定结果并答复"),
        "{body}"
    );
    // The unit's own listed matter, with the weekly progress form (no KPIs: those are the bureau's).
    if county == s.env.county.as_str() {
        let p = unit.get("/listed").await;
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(
            p.body.contains("危房改造名额问题") && p.body.contains("填报本周进展"),
            "{}",
            p.body
        );
        assert!(!p.body.contains("清单事项考核指标"), "{}", p.body);
    }
    let body = sup
        .get(&format!("/conferences?case_no={case_no}"))
        .await
        .body;
    assert!(
        body.contains("按期完成") && body.contains("鉴定为C级危房"),
        "{body}"
    );
}

async fn leaders(sup: &mut Browser, case_no: &str, adviser: &str) {
    let (at, _) = days_ahead(2);
    sup.get("/leaders").await;
    let body = posted(
        sup,
        "/leaders/reception-days",
        &[
            ("leader", "zhang_fxz"),
            ("at", &at),
            ("place", "县信访局接待大厅"),
            ("adviser", adviser),
        ],
    )
    .await;
    assert!(
        body.contains("县信访局接待大厅") && body.contains("参加：王律师"),
        "{body}"
    );
    let day = after(&body, "action=\"/leaders/reception-days/", '/').to_owned();
    let body = posted(
        sup,
        &format!("/leaders/reception-days/{day}/cases"),
        &[("case_no", case_no)],
    )
    .await;
    assert!(body.contains(&format!("接访案件：{case_no}")), "{body}");
    let body = posted(
        sup,
        "/leaders/cases",
        &[("leader", "zhang_fxz"), ("case_no", case_no)],
    )
    .await;
    assert!(body.contains("已确定包案领导"), "{body}");
    let owned = &body[body.find("包案案件及进行中的期限").unwrap()..];
    let row = &owned[owned.find(&format!("<td>{case_no}</td>")).unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(
        row.contains("class=\"due-"),
        "open deadlines counted down: {row}"
    );
}

async fn weekly(s: &Stack, sup: &mut Browser) {
    let p = sup.get("/weekly").await;
    assert_eq!(p.status, 200, "{}", p.body);
    let county = s.env.county.to_string();
    let week = IsoWeek::containing(chrono::Utc::now()).to_string();
    let body = posted(sup, "/weekly", &[("county", &county), ("week", &week)]).await;
    assert!(body.contains("周研判已重新生成"), "{body}");
    assert!(
        body.contains("<th scope=\"row\">登记件数</th><td>1</td>"),
        "this week's one registration: {body}"
    );
    assert!(body.contains("按渠道") && body.contains("走访"), "{body}");
    assert!(body.contains("<svg"), "{body}");
    let csv = format!("/weekly/report.csv?county={county}&week={week}");
    assert!(body.contains(&csv.replace('&', "&amp;")), "{body}");
    let p = sup.get(&csv).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(!p.body.trim().is_empty());
}

/// A leader reads and submits nothing.
async fn leader_reads(s: &Stack, case_no: &str) {
    let city = s.env.city.to_string();
    s.user("boss1", "leader", &city, None).await;
    let mut boss = s.sign_in("boss1").await;
    for path in ["/listed", "/leaders", "/weekly"] {
        let p = boss.get(path).await;
        assert_eq!(p.status, 200, "{path}: {}", p.body);
        assert!(!p.body.contains("method=\"post\" action=\"/listed\""));
    }
    let p = boss.get("/leaders").await;
    assert!(p.body.contains(case_no) && !p.body.contains("action=\"/leaders/cases\""));
    let p = boss
        .post(
            "/leaders/cases",
            &[("leader", "zhang_fxz"), ("case_no", case_no)],
        )
        .await;
    assert_eq!(p.status, 403, "{}", p.body);
    assert_eq!(boss.get("/conferences").await.status, 403);
}

#[tokio::test]
async fn the_bureau_keeps_its_practices_in_the_console() {
    let s = Stack::start("").await;
    let http = reqwest::Client::new();
    let (case_no, lead) = routed_case(&s, &http).await;
    let city = s.env.city.to_string();
    s.user("sup1", "supervisor", &city, None).await;
    let mut sup = s.sign_in("sup1").await;
    listed_matter(&mut sup, &case_no).await;
    let adviser = roster(&mut sup, &s.env.county.to_string()).await;
    conference(&s, &mut sup, &case_no, &lead, &adviser).await;
    leaders(&mut sup, &case_no, &adviser).await;
    weekly(&s, &mut sup).await;
    leader_reads(&s, &case_no).await;
    s.stop().await;
}
