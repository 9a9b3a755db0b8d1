//! The bureau's pages against the real stack: the deadline board lists a routed case's running
//! deadline; a supervisor issues a 督办 from it and supervision records it; a leader reads the
//! board without a 督办 form and a forged 督办 is refused; the KPI page draws SVG and its CSV
//! downloads; a transfer a department asks for waits on /approvals, where a supervisor can
//! only look and an operator, acting for the bureau, approves it.

mod common;

use common::{Browser, Stack};
use serde_json::{Value, json};
use xinfang_domain::access::Role;
use xinfang_domain::deadline::CST;

const TEXT: &str =
    "我家的老房子年久失修成了危房，去年申请危房改造，村里说名额满了，请求调查核实后给个答复。";

async fn get(http: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let r = http.get(url).bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Registers a petition as a clerk and waits for routing's lead (`<county>:<dept>`).
async fn routed_case(
    s: &Stack,
    http: &reqwest::Client,
    clerk: &str,
    operator: &str,
) -> (String, String) {
    let r = http
        .post(format!("{}/v1/petitions", s.urls.intake))
        .bearer_auth(clerk)
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
    let view = format!("{}/v1/cases/{case_no}", s.urls.routing);
    let mut lead = String::new();
    s.env
        .wait_for("routing to assign the case", 30, async || {
            let (status, v) = get(http, &view, operator).await;
            match (status, v["lead"].as_str()) {
                (200, Some(l)) => {
                    lead = l.to_owned();
                    true
                }
                _ => false,
            }
        })
        .await;
    (case_no, lead)
}

/// A download as the browser would fetch it: its content type and body.
async fn download(b: &Browser, path: &str) -> (u16, String, String, String) {
    let cookies = b
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let r = reqwest::Client::new()
        .get(format!("{}{path}", b.base))
        .header("cookie", cookies)
        .send()
        .await
        .unwrap();
    let h = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (ct, cd) = (h("content-type"), h("content-disposition"));
    (r.status().as_u16(), ct, cd, r.text().await.unwrap())
}

#[tokio::test]
async fn the_board_supervises_the_leader_reads_and_the_bureau_approves() {
    let s = Stack::start("").await;
    let http = reqwest::Client::new();
    let city = s.env.city.to_string();
    let token = async |role: Role| {
        s.state
            .auth
            .create(role, &s.env.city, None, "supervisor pages test")
            .await
            .unwrap()
            .token
    };
    let clerk = token(Role::Clerk).await;
    let operator = token(Role::Operator).await;
    let (case_no, lead) = routed_case(&s, &http, &clerk, &operator).await;
    let (county, dept) = lead.split_once(':').unwrap();
    s.user("sup1", "supervisor", &city, None).await;
    s.user("boss1", "leader", &city, None).await;
    s.user("op1", "operator", &city, None).await;

    // The board, over 30 days, lists the unit's running deadlines of the case.
    let mut sup = s.sign_in("sup1").await;
    let mut board = String::new();
    s.env
        .wait_for("the case's deadlines on the board", 30, async || {
            let p = sup.get("/board?within=30").await;
            assert_eq!(p.status, 200, "{}", p.body);
            board = p.body;
            board.contains(&case_no)
        })
        .await;
    assert!(
        board.contains("id=\"live\"") && board.contains("data-live"),
        "a live page"
    );
    assert!(
        board.contains("action=\"/board/supervise\""),
        "a 督办 form per row"
    );
    assert!(
        board.contains("提出异议") || board.contains("受理告知"),
        "{board}"
    );
    // Three days is the default window: a fresh case's clocks (5 working and 15 days) are not in it.
    let p = sup.get("/board").await;
    assert!(!p.body.contains(&case_no), "nothing due within 3 days yet");
    // Grouped by county, which is named as the directory names it (测试县), not by its code.
    let p = sup.get("/board?within=30&sort=county").await;
    assert!(p.body.contains("测试县 · "), "{}", p.body);
    assert!(!p.body.contains(&format!("{county} · ")), "{}", p.body);

    // A 督办 with an answer date in the past is refused by supervision: rule shown, input kept.
    sup.get("/board?within=30").await;
    let yesterday = (chrono::Utc::now().with_timezone(&CST) - chrono::TimeDelta::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let p = sup
        .post(
            "/board/supervise",
            &[
                ("case_no", &case_no),
                ("department", dept),
                ("form", "written_notice"),
                ("respond_by", &yesterday),
                ("note", "请于三日内书面说明受理情况"),
                ("back", "within=30"),
            ],
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(p.body.contains("答复期限（respond_by）"), "{}", p.body);
    assert!(
        p.body.contains("请于三日内书面说明受理情况"),
        "the note is kept"
    );
    let supervisions = format!("{}/v1/supervisions?case_no={case_no}", s.urls.supervision);
    let (_, v) = get(&http, &supervisions, &operator).await;
    assert_eq!(v["supervisions"].as_array().map(Vec::len), Some(0), "{v}");

    // A right one, from the board.
    let in_two_days = (chrono::Utc::now().with_timezone(&CST) + chrono::TimeDelta::days(2))
        .format("%Y-%m-%d")
        .to_string();
    let p = sup
        .post(
            "/board/supervise",
            &[
                ("case_no", &case_no),
                ("department", dept),
                ("form", "summons"),
                ("respond_by", &in_two_days),
                ("note", "请于两日内书面说明受理情况"),
                ("back", "within=30&sort=dept"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let back = p.location.unwrap();
    assert!(
        back.starts_with("/board?") && back.contains("within=30") && back.contains("sort=dept"),
        "{back}"
    );
    let p = sup.get(&back).await;
    assert!(p.body.contains("已发出督办"), "the flash");
    let (_, v) = get(&http, &supervisions, &operator).await;
    let list = v["supervisions"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{v}");
    assert_eq!(list[0]["department"], dept);
    assert_eq!(list[0]["form"], "summons");
    assert_eq!(list[0]["note"], "请于两日内书面说明受理情况");
    assert_eq!(list[0]["issuer"], "测试sup1");
    assert!(
        list[0]["respond_by"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{in_two_days}T15:59:59")),
        "answer by the end of that day, Beijing time: {v}"
    );
    // The 督办's own answer deadline is on the board, due within 3 days.
    s.env
        .wait_for("the 督办 answer deadline on the board", 30, async || {
            let p = sup.get("/board").await;
            p.body.contains(&case_no) && p.body.contains("督办答复")
        })
        .await;

    // A leader sees the board and signs nothing.
    let mut boss = s.sign_in("boss1").await;
    let p = boss.get("/board?within=30").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains(&case_no));
    assert!(
        !p.body.contains("/board/supervise"),
        "no 督办 form for a leader"
    );
    let p = boss
        .post(
            "/board/supervise",
            &[
                ("case_no", &case_no),
                ("department", dept),
                ("form", "written_notice"),
                ("respond_by", &in_two_days),
            ],
        )
        .await;
    assert_eq!(p.status, 403, "{}", p.body);
    let (_, v) = get(&http, &supervisions, &operator).await;
    assert_eq!(v["supervisions"].as_array().map(Vec::len), Some(1), "{v}");

    // KPIs: drawn as SVG; the CSV has a header row and the month's registration by type.
    let p = boss.get("/kpi").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.body.contains("<svg") && p.body.contains("及时受理率") && p.body.contains("按期办结率")
    );
    assert!(p.body.contains("<label for=\"k-month\">"));
    let month = chrono::Utc::now()
        .with_timezone(&CST)
        .format("%Y-%m")
        .to_string();
    let (status, ct, cd, body) =
        download(&boss, &format!("/kpi.csv?month={month}&county={county}")).await;
    assert_eq!(status, 200, "{body}");
    assert!(ct.starts_with("text/csv"), "{ct}");
    assert!(
        cd.starts_with("attachment") && cd.contains(&format!("kpi-{county}-{month}.csv")),
        "{cd}"
    );
    let mut lines = body.trim_start_matches('\u{feff}').lines();
    assert_eq!(lines.next(), Some("指标类别,指标,分子,分母,数值"));
    assert!(body.contains("责任单位,按期办结率,"), "{body}");
    assert!(body.contains("按类型,申诉求决,,,1"), "{body}");
    // A leader approves nothing either.
    assert_eq!(boss.get("/approvals").await.status, 403);

    // A transfer request waits for the bureau.
    s.user("unit1", "department", county, Some(dept)).await;
    let target = if dept == "rsj" { "zjj" } else { "rsj" };
    let mut unit = s.sign_in("unit1").await;
    let page = format!("/dept/cases/{case_no}");
    unit.get(&page).await;
    let p = unit
        .post(
            &format!("{page}/actions/transfer"),
            &[("to", target), ("reason", "该事项属于对方单位职责")],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let p = sup.get("/approvals").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.body.contains(&case_no),
        "the waiting transfer: {}",
        p.body
    );
    assert!(p.body.contains("/clerk/triage"));
    let action = format!("/approvals/{case_no}/transfer_decision");
    assert!(!p.body.contains(&action), "a supervisor cannot decide it");
    let p = sup
        .post(
            &action,
            &[("decision", "approved"), ("reason", "经核实属对方职责")],
        )
        .await;
    assert_eq!(p.status, 403, "{}", p.body);

    // The operator, acting for the bureau: a decision without a reason is refused, then approved.
    let mut op = s.sign_in("op1").await;
    let p = op.get("/approvals").await;
    assert!(
        p.body.contains(&format!("action=\"{action}\"")),
        "{}",
        p.body
    );
    let p = op
        .post(&action, &[("decision", "approved"), ("reason", "")])
        .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(p.body.contains("reason"), "{}", p.body);
    op.get("/approvals").await;
    let p = op
        .post(
            &action,
            &[("decision", "approved"), ("reason", "经核实属对方职责")],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let view = format!("{}/v1/cases/{case_no}", s.urls.routing);
    let (_, v) = get(&http, &view, &operator).await;
    assert_eq!(v["lead"], format!("{county}:{target}"), "{v}");
    let p = op.get("/approvals").await;
    assert!(!p.body.contains(&case_no), "decided: no longer waiting");
    s.stop().await;
}
