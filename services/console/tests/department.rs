//! The handling unit's pages against the real stack: a petition registered through intake and
//! routed to a department shows in that department's inbox with a countdown; the unit accepts
//! it, asks for an extension and serves its opinion through the case page's forms, and the
//! services record each step; a refused form comes back with the rule and the input kept;
//! another department's user cannot open the case.

mod common;

use common::Stack;
use serde_json::{Value, json};
use xinfang_domain::access::Role;
use xinfang_domain::deadline::CST;

/// An Art 31(6) matter (investigated, answered with a 信访处理意见书), as in deadlines_path.
const TEXT: &str =
    "我家的老房子年久失修成了危房，去年申请危房改造，村里说名额满了，请求调查核实后给个答复。";

async fn get(http: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let r = http.get(url).bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_department_accepts_extends_and_replies_through_its_pages() {
    let s = Stack::start("").await;
    let http = reqwest::Client::new();
    let token = async |role: Role| {
        s.state
            .auth
            .create(role, &s.env.city, None, "department pages test")
            .await
            .unwrap()
            .token
    };
    let clerk = token(Role::Clerk).await;
    let operator = token(Role::Operator).await;
    let today = chrono::Utc::now()
        .with_timezone(&CST)
        .format("%Y-%m-%d")
        .to_string();

    // A petition registered by a clerk through intake's API…
    let r = http
        .post(format!("{}/v1/petitions", s.urls.intake))
        .bearer_auth(&clerk)
        .json(&json!({
            "channel": "letter",
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

    // …and routed to a department.
    let routing_view = format!("{}/v1/cases/{case_no}", s.urls.routing);
    let mut lead = String::new();
    s.env
        .wait_for("routing to assign the case", 30, async || {
            let (status, v) = get(&http, &routing_view, &operator).await;
            match (status, v["lead"].as_str()) {
                (200, Some(l)) => {
                    lead = l.to_owned();
                    true
                }
                _ => false,
            }
        })
        .await;
    let (county, dept) = lead.split_once(':').unwrap();
    s.user("unit1", "department", county, Some(dept)).await;
    let other = if dept == "rsj" { "zjj" } else { "rsj" };
    s.user("other1", "department", county, Some(other)).await;

    // The inbox lists the case with a countdown to the unit's deadline (D4 or D3).
    let mut unit = s.sign_in("unit1").await;
    let mut inbox = String::new();
    s.env
        .wait_for("the case and its countdown in the inbox", 30, async || {
            let p = unit.get("/dept").await;
            assert_eq!(p.status, 200, "{}", p.body);
            inbox = p.body;
            inbox.contains(&case_no) && inbox.contains("剩 ")
        })
        .await;
    assert!(
        inbox.contains("id=\"live\"") && inbox.contains("data-live"),
        "a live page"
    );
    assert!(
        inbox.contains("class=\"due-ok\"") || inbox.contains("class=\"due-soon\""),
        "the countdown is coloured: {inbox}"
    );

    // The case page: the matter, its deadlines and the forms routing's state allows now.
    let page = format!("/dept/cases/{case_no}");
    let p = unit.get(&page).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("危房"), "the matter's text");
    assert!(
        p.body
            .contains(&format!("action=\"{page}/actions/accept\""))
    );
    assert!(
        p.body.contains("异议期限截至"),
        "the D4 window on the objection form"
    );
    assert!(p.body.contains("<label for=\"accept-accepted_on\">"));

    // Accept.
    let p = unit
        .post(
            &format!("{page}/actions/accept"),
            &[("accepted_on", &today)],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(
        p.location.as_deref(),
        Some(format!("{page}?done=accept").as_str())
    );
    let p = unit.get(&format!("{page}?done=accept")).await;
    assert!(p.body.contains("已提交：受理告知"), "the flash");
    let (_, v) = get(&http, &routing_view, &operator).await;
    assert_eq!(v["state"], "under_investigation", "{v}");

    // An extension beyond Art 34's 30 days comes back with the field, the rule and the input.
    let p = unit
        .post(
            &format!("{page}/actions/extend"),
            &[
                ("days", "45"),
                ("approver", "王局长"),
                ("reason", "需要现场核查"),
            ],
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(p.body.contains("延长天数（days）"), "{}", p.body);
    assert!(
        p.body.contains("王局长") && p.body.contains("需要现场核查"),
        "input kept"
    );
    let (_, v) = get(&http, &routing_view, &operator).await;
    assert_eq!(v["state"], "under_investigation", "nothing changed: {v}");

    // A right one.
    unit.get(&page).await;
    let p = unit
        .post(
            &format!("{page}/actions/extend"),
            &[
                ("days", "15"),
                ("approver", "王局长"),
                ("reason", "需要现场核查"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let (_, v) = get(&http, &routing_view, &operator).await;
    assert_eq!(v["state"], "extended", "{v}");

    // The opinion, served today.
    unit.get(&page).await;
    let p = unit
        .post(
            &format!("{page}/actions/reply"),
            &[
                ("outcome", "not_supported"),
                ("text", "经调查核实，您的房屋不符合危房改造条件，不予支持。"),
                ("served_on", &today),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let (_, v) = get(&http, &routing_view, &operator).await;
    assert_eq!(v["state"], "opinion_issued", "{v}");
    let done: Vec<&str> = v["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["outcome"] == "done")
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert_eq!(done, ["accept", "extend", "reply"], "{v}");

    // Intake's registry learns each step: accepted, extended, the opinion served today.
    let intake_case = format!("{}/v1/cases/{case_no}", s.urls.intake);
    s.env
        .wait_for("intake to record the served opinion", 30, async || {
            let (_, v) = get(&http, &intake_case, &operator).await;
            v["status"] == "replied"
                && v["milestones"]["accepted_at"].is_string()
                && v["milestones"]["extended_at"].is_string()
                && v["decisions"][0]["served_on"] == today.as_str()
        })
        .await;

    // Another department's user is refused the case, its page and its actions.
    let mut stranger = s.sign_in("other1").await;
    let p = stranger.get(&page).await;
    assert_eq!(p.status, 403, "{}", p.body);
    assert!(!p.body.contains("危房"));
    stranger.get("/dept").await;
    let p = stranger
        .post(
            &format!("{page}/actions/report"),
            &[("report", "伪造的办结报告")],
        )
        .await;
    assert_eq!(p.status, 403, "{}", p.body);
    let p = stranger.get("/dept").await;
    assert!(!p.body.contains(&case_no), "not in another unit's inbox");
    s.stop().await;
}
