//! The petitioner's pages against the real stack: a petition registered through intake's API
//! is followed with its query code and ID number from a browser that never signs in, answered
//! by the department, rated and appealed (复查) through the pages; the effects are read back
//! through review's API. Neither the code nor the ID number may appear in a URL.

mod common;

use common::{Browser, Page, Stack};
use serde_json::{Value, json};
use xinfang_domain::access::Role;
use xinfang_domain::county::CountyCode;
use xinfang_domain::deadline::{CST, cst_date};

const ID: &str = "11010519491231002X";
/// Well-formed, but not the petitioner's.
const OTHER_ID: &str = "110105198001010016";
const TEXT: &str =
    "我家的老房子年久失修成了危房，去年申请危房改造，村里说名额满了，请求调查核实后给个答复。";

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// No link, form target or redirect carries the code or the ID number.
fn no_secret_in_urls(p: &Page, secrets: &[&str]) {
    if let Some(l) = &p.location {
        for s in secrets {
            assert!(!l.contains(s), "a redirect carries a secret: {l}");
        }
    }
    for attr in ["href=\"", "action=\"", "src=\""] {
        for part in p.body.split(attr).skip(1) {
            let url = part.split('"').next().unwrap_or("");
            for s in secrets {
                assert!(
                    !url.contains(s),
                    "a URL on the page carries a secret: {url}"
                );
            }
        }
    }
}

#[tokio::test]
async fn a_petitioner_follows_the_case_rates_it_and_asks_for_review() {
    // Review lets six requests name one code a minute: the last steps run into it.
    let s = Stack::start("[review.rate_limit]\nper_code = 6\n").await;
    let http = reqwest::Client::new();
    let today = cst_date(chrono::Utc::now().with_timezone(&CST));
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
    let post = reqwest::Method::POST;
    let get = reqwest::Method::GET;

    let petition = json!({
        "channel": "letter",
        "petitioner": {"name": "测试人", "id_number": ID, "mobile": "13800138000"},
        "text": TEXT,
        "county": s.env.county.to_string(),
        "received_at": chrono::Utc::now(),
        "clerk_id": "clerk-1",
    });
    let (status, receipt) = call(
        &http,
        post.clone(),
        &format!("{}/v1/petitions", s.urls.intake),
        &clerk,
        Some(petition),
    )
    .await;
    assert_eq!(status, 201, "{receipt}");
    let case_no = receipt["case_no"].as_str().unwrap().to_owned();
    let code = receipt["query_code"].as_str().unwrap().to_owned();
    let secrets = [code.as_str(), ID, OTHER_ID];
    let intake_view = format!("{}/v1/cases/{case_no}", s.urls.intake);
    let review_view = format!("{}/v1/reviews/{case_no}", s.urls.review);

    // Routing assigns it (the status then holds until the department accepts).
    let routing_view = format!("{}/v1/cases/{case_no}", s.urls.routing);
    let mut lead = String::new();
    s.env
        .wait_for("routing to assign the case", 30, async || {
            let (_, v) = call(&http, get.clone(), &routing_view, &operator, None).await;
            lead = v["lead"].as_str().unwrap_or("").to_owned();
            !lead.is_empty()
        })
        .await;
    let mut assigned = String::new();
    s.env
        .wait_for("intake to show the assignment", 30, async || {
            let (_, v) = call(&http, get.clone(), &intake_view, &operator, None).await;
            assigned = v["status"].as_str().unwrap_or("").to_owned();
            ["assigned", "forwarded"].contains(&assigned.as_str())
        })
        .await;

    // A browser that never signed in: the form, with the anonymous CSRF token.
    let mut b = Browser::new(s.console);
    let p = b.get("/q").await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("for=\"query_code\"") && p.body.contains("for=\"id_number\""));
    assert!(!b.csrf.is_empty(), "the form carries a CSRF token");

    // A malformed ID number, an unknown code: a message, nothing of the case.
    let p = b
        .post("/q", &[("query_code", &code), ("id_number", "1101051949")])
        .await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("身份证号码应为18位"), "{}", p.body);
    assert!(!p.body.contains(&case_no));
    let p = b
        .post("/q", &[("query_code", "ZZZZ2222"), ("id_number", ID)])
        .await;
    assert!(p.body.contains("未找到该查询码"), "{}", p.body);
    assert!(!p.body.contains(&case_no));
    no_secret_in_urls(&p, &secrets);

    // The right code (typed in lower case) and ID number: the status in Chinese.
    let p = b
        .post(
            "/q",
            &[("query_code", &code.to_lowercase()), ("id_number", ID)],
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains(&case_no), "{}", p.body);
    let status_zh = xinfang_console::words::status_zh(&assigned);
    assert!(
        p.body.contains(&format!("<strong>{status_zh}</strong>")),
        "{status_zh}: {}",
        p.body
    );
    assert!(p.body.contains("已登记"), "the timeline: {}", p.body);
    assert!(!p.body.contains("/q/review"), "nothing to appeal yet");
    assert!(
        !p.body.contains("registered"),
        "the timeline reads in Chinese: {}",
        p.body
    );
    no_secret_in_urls(&p, &secrets);

    // The department accepts and serves a 信访处理意见书.
    let (county, dept) = lead.split_once(':').unwrap();
    let dept_token = s
        .state
        .auth
        .create(
            Role::Department,
            &CountyCode::parse(county).unwrap(),
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
        &dept_token,
        Some(json!({"request_id": uuid::Uuid::now_v7(), "accepted_on": today})),
    )
    .await;
    assert!(st < 300, "{v}");
    let (st, v) = call(
        &http,
        post.clone(),
        &act("reply"),
        &dept_token,
        Some(
            json!({"request_id": uuid::Uuid::now_v7(), "outcome": "not_supported",
                    "text": "经调查核实，不予支持。", "served_on": today}),
        ),
    )
    .await;
    assert!(st < 300, "{v}");
    s.env
        .wait_for("review to hold the served opinion", 30, async || {
            call(&http, get.clone(), &review_view, &operator, None)
                .await
                .1["is_handling_opinion"]
                == true
        })
        .await;
    s.env
        .wait_for("intake to know the 复查 window", 30, async || {
            let (_, v) = call(&http, get.clone(), &intake_view, &operator, None).await;
            v["decisions"][0]["appeal"]["due"].is_string()
        })
        .await;

    // The status page: the opinion, the window in plain words, both forms.
    let p = b
        .post("/q", &[("query_code", &code), ("id_number", ID)])
        .await;
    assert!(
        p.body.contains("信访处理意见书") && p.body.contains("不予支持"),
        "{}",
        p.body
    );
    assert!(
        p.body.contains("如不服，应于") && p.body.contains("申请复查"),
        "{}",
        p.body
    );
    assert!(p.body.contains("action=\"/q/review\"") && p.body.contains("action=\"/q/evaluate\""));
    assert!(
        p.body
            .contains(&format!("name=\"query_code\" value=\"{code}\"")),
        "hidden fields carry the code"
    );
    no_secret_in_urls(&p, &secrets);

    // A 复查 request with someone else's ID number is refused, and nothing is filed.
    let p = b
        .post(
            "/q/review",
            &[
                ("query_code", &code),
                ("id_number", OTHER_ID),
                ("level", "review"),
                ("grounds", "不服"),
            ],
        )
        .await;
    assert!(
        p.body.contains("身份证号码与登记时提供的不一致"),
        "{}",
        p.body
    );
    let (_, v) = call(&http, get.clone(), &review_view, &operator, None).await;
    assert_eq!(v["appeals"].as_array().map(Vec::len), Some(0), "{v}");

    // The evaluation: 不满意 needs a reason; with one it is recorded.
    let p = b
        .post(
            "/q/evaluate",
            &[
                ("query_code", &code),
                ("id_number", ID),
                ("bureau", "满意"),
                ("unit", "不满意"),
            ],
        )
        .await;
    assert!(p.body.contains("请填写理由"), "{}", p.body);
    assert!(
        p.body.contains("value=\"不满意\" required checked"),
        "the choice is kept: {}",
        p.body
    );
    let p = b
        .post(
            "/q/evaluate",
            &[
                ("query_code", &code),
                ("id_number", ID),
                ("bureau", "满意"),
                ("unit", "不满意"),
                ("reason", "调查不够细致"),
            ],
        )
        .await;
    assert!(p.body.contains("感谢您的评价"), "{}", p.body);
    let (_, v) = call(&http, get.clone(), &review_view, &operator, None).await;
    assert_eq!(v["evaluation"]["bureau"], "satisfied", "{v}");
    assert_eq!(v["evaluation"]["unit"], "dissatisfied", "{v}");
    assert_eq!(v["evaluation"]["reason"], "调查不够细致", "{v}");

    // The 复查 request with the right number: filed with the grounds, the decision day told.
    let grounds = "处理意见认定事实不清，请求复查。";
    let p = b
        .post(
            "/q/review",
            &[
                ("query_code", &code),
                ("id_number", ID),
                ("level", "review"),
                ("grounds", grounds),
            ],
        )
        .await;
    assert!(p.body.contains("您的复查申请已提交给"), "{}", p.body);
    assert!(p.body.contains("前作出复查意见"), "{}", p.body);
    no_secret_in_urls(&p, &secrets);
    let (_, v) = call(&http, get.clone(), &review_view, &operator, None).await;
    let appeal = &v["appeals"][0];
    assert_eq!(appeal["level"], "review", "{v}");
    assert_eq!(appeal["requested_by"], "petitioner", "{v}");
    assert_eq!(appeal["grounds"], grounds, "{v}");

    // Again: already asked.
    let p = b
        .post(
            "/q/review",
            &[
                ("query_code", &code),
                ("id_number", ID),
                ("level", "review"),
                ("grounds", grounds),
            ],
        )
        .await;
    assert!(p.body.contains("已经提出过该申请"), "{}", p.body);

    // Review's limit on requests naming one code: a 429, told with the wait in Chinese.
    let mut limited = None;
    for _ in 0..4 {
        let p = b
            .post(
                "/q/review",
                &[
                    ("query_code", &code),
                    ("id_number", ID),
                    ("grounds", grounds),
                ],
            )
            .await;
        no_secret_in_urls(&p, &secrets);
        if p.body.contains("操作过于频繁") {
            limited = Some(p);
            break;
        }
    }
    let p = limited.expect("review's per-code limit answers 429");
    assert!(
        p.body.contains("秒后再试") || p.body.contains("分钟后再试"),
        "{}",
        p.body
    );
    let (_, v) = call(&http, get.clone(), &review_view, &operator, None).await;
    assert_eq!(v["appeals"].as_array().map(Vec::len), Some(1), "{v}");

    s.stop().await;
}
