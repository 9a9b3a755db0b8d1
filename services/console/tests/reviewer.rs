//! The 复查/复核 desk against the real stack: a served 信访处理意见书 is appealed by the
//! petitioner (review's API); the county's reviewer finds the request on /reviews and decides
//! it through the page; the 复核 that follows belongs to the city's organ, so the county's
//! reviewer gets no form for it and the city's reviewer holds a hearing and decides; the case
//! is then in the 终结库 page. Effects are read back through review's API. A clerk is refused.

mod common;

use common::Stack;
use serde_json::{Value, json};
use xinfang_domain::access::Role;
use xinfang_domain::county::CountyCode;
use xinfang_domain::deadline::{CST, cst_date};

const ID: &str = "11010519491231002X";
const TEXT: &str =
    "我家的老房子年久失修成了危房，去年申请危房改造，村里说名额满了，请求调查核实后给个答复。";

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn reviewers_decide_through_the_desk_and_the_case_reaches_the_termination_registry() {
    let s = Stack::start("").await;
    let city = s.env.city.to_string();
    let county = s.env.county.to_string();
    s.user("rev1", "reviewer", &county, None).await;
    s.user("rev2", "reviewer", &city, None).await;
    s.user("clerk1", "clerk", &city, None).await;
    let http = reqwest::Client::new();
    let today = cst_date(chrono::Utc::now().with_timezone(&CST));
    let (post, get) = (reqwest::Method::POST, reqwest::Method::GET);
    let clerk = s
        .state
        .auth
        .create(Role::Clerk, &s.env.city, None, "t")
        .await
        .unwrap()
        .token;
    let operator = s
        .state
        .auth
        .create(Role::Operator, &s.env.city, None, "t")
        .await
        .unwrap()
        .token;
    let op = Some(operator.as_str());

    // Registered, assigned, accepted and answered with a 信访处理意见书 (tests/review_path.rs).
    let petition = json!({
        "channel": "letter",
        "petitioner": {"name": "测试人", "id_number": ID, "mobile": "13800138000"},
        "text": TEXT,
        "county": county,
        "received_at": chrono::Utc::now(),
        "clerk_id": "clerk-1",
    });
    let (status, receipt) = call(
        &http,
        post.clone(),
        &format!("{}/v1/petitions", s.urls.intake),
        Some(&clerk),
        Some(petition),
    )
    .await;
    assert_eq!(status, 201, "{receipt}");
    let case_no = receipt["case_no"].as_str().unwrap().to_owned();
    let code = receipt["query_code"].as_str().unwrap().to_owned();
    let routing_view = format!("{}/v1/cases/{case_no}", s.urls.routing);
    let intake_view = format!("{}/v1/cases/{case_no}", s.urls.intake);
    let review_view = format!("{}/v1/reviews/{case_no}", s.urls.review);
    let mut lead = String::new();
    s.env
        .wait_for("routing to assign the case", 30, async || {
            let (_, v) = call(&http, get.clone(), &routing_view, op, None).await;
            lead = v["lead"].as_str().unwrap_or("").to_owned();
            !lead.is_empty()
        })
        .await;
    let (lead_county, dept) = lead.split_once(':').unwrap();
    let dept_token = s
        .state
        .auth
        .create(
            Role::Department,
            &CountyCode::parse(lead_county).unwrap(),
            Some(dept),
            "t",
        )
        .await
        .unwrap()
        .token;
    let act = |a: &str| format!("{}/v1/cases/{case_no}/actions/{a}", s.urls.routing);
    let (st, v) = call(
        &http,
        post.clone(),
        &act("accept"),
        Some(&dept_token),
        Some(json!({"request_id": uuid::Uuid::now_v7(), "accepted_on": today})),
    )
    .await;
    assert!(st < 300, "{v}");
    let (st, v) = call(
        &http,
        post.clone(),
        &act("reply"),
        Some(&dept_token),
        Some(
            json!({"request_id": uuid::Uuid::now_v7(), "outcome": "not_supported",
                    "text": "经调查核实，不予支持。", "served_on": today}),
        ),
    )
    .await;
    assert!(st < 300, "{v}");
    s.env
        .wait_for("review to hold the served opinion", 30, async || {
            call(&http, get.clone(), &review_view, op, None).await.1["is_handling_opinion"] == true
        })
        .await;

    // The petitioner asks for 复查 (review's petitioner route: code + ID number).
    let reviews = format!("{}/v1/reviews", s.urls.review);
    let ask = json!({"query_code": code, "id_number": ID, "grounds": "认定事实不清"});
    let (st, v) = call(&http, post.clone(), &reviews, None, Some(ask.clone())).await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["organ"], format!("{county}:gov"));
    s.env
        .wait_for("intake to show the 复查 request", 30, async || {
            call(&http, get.clone(), &intake_view, op, None).await.1["status"] == "review_requested"
        })
        .await;

    // A clerk has no desk here.
    let mut clerk_b = s.sign_in("clerk1").await;
    assert_eq!(clerk_b.get("/reviews").await.status, 403);
    assert_eq!(
        clerk_b.get(&format!("/reviews/{case_no}")).await.status,
        403
    );
    assert_eq!(clerk_b.get("/terminations").await.status, 403);

    // The county's reviewer: the request on the desk, due in plain words, theirs to decide.
    let mut rev1 = s.sign_in("rev1").await;
    let p = rev1.get("/reviews").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("id=\"live\""));
    let row = p
        .body
        .split(&format!(">{case_no}</a>"))
        .nth(1)
        .expect("the case is listed");
    let row = row.split("</tr>").next().unwrap();
    assert!(
        row.contains("复查") && row.contains("测试县人民政府"),
        "{row}"
    );
    assert!(
        row.contains("应于") && row.contains("前作出复查意见"),
        "{row}"
    );
    assert!(row.contains("<td>是</td>"), "{row}");

    // A decision without its text: refused naming the field and the rule, input kept.
    let p = rev1.get(&format!("/reviews/{case_no}")).await;
    assert!(
        p.body
            .contains(&format!("action=\"/reviews/{case_no}/decision\"")),
        "{}",
        p.body
    );
    assert!(p.body.contains("认定事实不清"), "the grounds are shown");
    assert!(!p.body.contains("/hearing\""), "no hearing in a 复查");
    let decide = format!("/reviews/{case_no}/decision");
    let p = rev1
        .post(
            &decide,
            &[
                ("level", "review"),
                ("outcome", "uphold"),
                ("text", ""),
                ("served_on", &today.to_string()),
            ],
        )
        .await;
    assert_eq!(p.status, 200);
    assert!(
        p.body.contains("意见正文") && p.body.contains("text: ") && p.body.contains("required"),
        "{}",
        p.body
    );
    assert!(
        p.body.contains("value=\"uphold\" required checked"),
        "{}",
        p.body
    );
    let (_, v) = call(&http, get.clone(), &review_view, op, None).await;
    assert!(v["appeals"][0]["outcome"].is_null(), "{v}");

    // With the text: recorded, back on the page with a banner.
    let opinion = "经复查，原处理意见认定事实清楚，予以维持。";
    let p = rev1
        .post(
            &decide,
            &[
                ("level", "review"),
                ("outcome", "uphold"),
                ("text", opinion),
                ("served_on", &today.to_string()),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let back = p.location.unwrap();
    assert_eq!(back, format!("/reviews/{case_no}?done=decision"));
    let p = rev1.get(&back).await;
    assert!(p.body.contains("决定已记录"), "{}", p.body);
    assert!(p.body.contains(opinion));
    let (_, v) = call(&http, get.clone(), &review_view, op, None).await;
    let a = &v["appeals"][0];
    assert_eq!(a["outcome"], "uphold", "{v}");
    assert_eq!(a["decision_text"], opinion, "{v}");
    assert!(
        a["decided_by"]
            .as_str()
            .is_some_and(|d| d.starts_with("reviewer:")),
        "{v}"
    );

    // 复核 goes to the city's government: the county's reviewer sees it but has no form.
    let (st, v) = call(&http, post.clone(), &reviews, None, Some(ask)).await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["organ"], format!("{city}:gov"));
    let p = rev1.get(&format!("/reviews/{case_no}")).await;
    assert!(p.body.contains("不能作出该决定"), "{}", p.body);
    assert!(
        !p.body
            .contains(&format!("action=\"/reviews/{case_no}/decision\""))
    );

    // The city's reviewer: a hearing (started, finished), then the final decision.
    let mut rev2 = s.sign_in("rev2").await;
    s.env
        .wait_for("intake to show the 复核 request", 30, async || {
            call(&http, get.clone(), &intake_view, op, None).await.1["status"]
                == "rereview_requested"
        })
        .await;
    let p = rev2.get("/reviews").await;
    let row = p
        .body
        .split(&format!(">{case_no}</a>"))
        .nth(1)
        .expect("listed for the city");
    assert!(row.split("</tr>").next().unwrap().contains("复核"), "{row}");
    let p = rev2.get(&format!("/reviews/{case_no}")).await;
    assert!(
        p.body
            .contains(&format!("action=\"/reviews/{case_no}/hearing\"")),
        "{}",
        p.body
    );
    let hearing = format!("/reviews/{case_no}/hearing");
    let p = rev2
        .post(&hearing, &[("action", "start"), ("at", "")])
        .await;
    assert_eq!(
        p.location.as_deref(),
        Some(format!("/reviews/{case_no}?done=hearing_start").as_str()),
        "{}",
        p.body
    );
    let p = rev2
        .get(&format!("/reviews/{case_no}?done=hearing_start"))
        .await;
    assert!(
        p.body.contains("听证中") && p.body.contains("听证开始时间已记录"),
        "{}",
        p.body
    );
    let p = rev2
        .post(&hearing, &[("action", "finish"), ("at", "")])
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let (_, v) = call(&http, get.clone(), &review_view, op, None).await;
    let h = &v["appeals"][1]["hearings"][0];
    assert!(
        h["started_at"].is_string() && h["finished_at"].is_string(),
        "{v}"
    );
    rev2.get(&format!("/reviews/{case_no}")).await;
    let p = rev2
        .post(
            &decide,
            &[
                ("level", "rereview"),
                ("outcome", "uphold"),
                ("text", "经复核，维持复查意见。"),
                ("served_on", &today.to_string()),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    s.env
        .wait_for("review to terminate the case", 30, async || {
            call(&http, get.clone(), &review_view, op, None).await.1["terminated_at"].is_string()
        })
        .await;

    // The 终结库: found by the petitioner's ID number (sent in the form body, not shown back).
    let p = rev1.get("/terminations").await;
    assert_eq!(p.status, 200, "{}", p.body);
    let p = rev1
        .post(
            "/terminations",
            &[
                ("by", "id_number"),
                ("id_number", ID),
                ("reason", "核查是否属于不再受理情形"),
            ],
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    let found = p.body.split("查询结果").nth(1).expect("a result section");
    let found = found.split("本范围内已终结的案件").next().unwrap();
    assert!(
        found.contains(&case_no) && found.contains("维持"),
        "{found}"
    );
    assert!(!p.body.contains(ID), "the ID number is not shown back");
    let p = rev1
        .post(
            "/terminations",
            &[("by", "id_number"), ("id_number", "1101")],
        )
        .await;
    assert!(p.body.contains("身份证号码 — id_number"), "{}", p.body);

    s.stop().await;
}
