//! Every page as its users get it, checked the way an accessibility and privacy review would:
//! each visible field has a label (or an aria-label), each POST form carries the CSRF token, no
//! link or form target holds the petitioner's ID number, mobile or name, and each page answers
//! 200. Walks every role's pages with a registered, routed case in them.

mod common;

use common::{Browser, Stack};
use serde_json::{Value, json};
use xinfang_domain::access::Role;

const ID: &str = "11010519491231002X";
const MOBILE: &str = "13800138000";
const NAME: &str = "易测试";
const TEXT: &str =
    "我家的老房子年久失修成了危房，去年申请危房改造，村里说名额满了，请求调查核实后给个答复。";

/// The tags named `tag` in `html`, each as its text between `<` and `>`.
fn tags<'a>(html: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        // `<input` but not `<inputx`.
        if after.starts_with(|c: char| c.is_whitespace() || c == '>' || c == '/') {
            let end = after.find('>').unwrap_or(after.len());
            out.push(&after[..end]);
        }
        rest = &after[1.min(after.len())..];
    }
    out
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let i = tag.find(&key)? + key.len();
    Some(&tag[i..i + tag[i..].find('"')?])
}

/// The problems of one page (empty: none).
fn review(path: &str, html: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let labels: Vec<&str> = tags(html, "label")
        .into_iter()
        .filter_map(|t| attr(t, "for"))
        .collect();
    for kind in ["input", "select", "textarea"] {
        for t in tags(html, kind) {
            let ty = attr(t, "type").unwrap_or("text");
            if matches!(ty, "hidden" | "submit" | "button" | "reset") {
                continue;
            }
            let labelled = attr(t, "aria-label").is_some()
                || attr(t, "id").is_some_and(|id| labels.contains(&id));
            if !labelled {
                problems.push(format!("{path}: <{kind}{t}> has no label"));
            }
        }
    }
    let mut forms = html.split("<form").skip(1);
    for f in forms.by_ref() {
        let head = &f[..f.find('>').unwrap_or(0)];
        if head.contains("method=\"post\"") {
            let body = &f[..f.find("</form>").unwrap_or(f.len())];
            if !body.contains("name=\"_csrf\"") {
                problems.push(format!("{path}: a POST form ({head}) without _csrf"));
            }
        }
    }
    for a in ["href", "action", "src"] {
        for t in ["a", "form", "link", "script", "img"]
            .iter()
            .flat_map(|k| tags(html, k))
        {
            if let Some(url) = attr(t, a)
                && [ID, MOBILE, NAME, "%E6%98%93"]
                    .iter()
                    .any(|p| url.contains(p))
            {
                problems.push(format!("{path}: personal data in a URL: {url}"));
            }
        }
    }
    problems
}

/// Supervision's records on the case, made through its API (as an operator), so that the
/// practices' pages show their per-item forms: a listed matter, a lawyer, a leader with a
/// reception day and the case, a conference held with a task for `dept` and one scheduled,
/// last week's analysis.
async fn practices(s: &Stack, token: &str, case_no: &str, dept: &str) {
    let http = reqwest::Client::new();
    let sup = &s.urls.supervision;
    s.env
        .wait_for("supervision to know the case", 30, async || {
            let r = http
                .get(format!("{sup}/v1/deadlines?case_no={case_no}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let v: Value = r.json().await.unwrap_or_default();
            v["deadlines"].as_array().is_some_and(|d| !d.is_empty())
        })
        .await;
    let post = async |path: &str, body: Value| -> Value {
        let r = http
            .post(format!("{sup}{path}"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    };
    let county = s.env.county.to_string();
    let at = (chrono::Utc::now() + chrono::TimeDelta::days(1)).to_rfc3339();
    let due = (chrono::Utc::now() + chrono::TimeDelta::days(10)).to_rfc3339();
    post(
        "/v1/listed",
        json!({"case_no": case_no, "source": "superior"}),
    )
    .await;
    let lawyer = post(
        "/v1/advisers",
        json!({"kind": "lawyer", "name": "李律师", "organisation": "某律师事务所", "county": county}),
    )
    .await;
    let lawyer = lawyer["id"].as_str().unwrap();
    post(
        "/v1/leaders",
        json!({"id": "li_fxz", "name": "李四", "title": "副县长", "county": county}),
    )
    .await;
    let day = post(
        "/v1/reception-days",
        json!({"leader": "li_fxz", "at": at, "place": "接待大厅", "advisers": [lawyer]}),
    )
    .await;
    let day = day["id"].as_str().unwrap();
    post(
        &format!("/v1/reception-days/{day}/cases"),
        json!({"case_no": case_no}),
    )
    .await;
    post("/v1/leaders/li_fxz/cases", json!({"case_no": case_no})).await;
    let schedule = json!({"case_no": case_no, "kind": "major_issue", "scheduled_at": at,
        "place": "会议室", "participants": [{"role": "department", "id": dept},
        {"role": "leader", "id": "li_fxz"}, {"role": "lawyer", "id": lawyer}]});
    let held = post("/v1/conferences", schedule.clone()).await;
    post(
        &format!("/v1/conferences/{}/minutes", held["id"].as_str().unwrap()),
        json!({"minutes": "纪要", "decisions": [{"text": "核实", "department": dept, "due_at": due}]}),
    )
    .await;
    post("/v1/conferences", schedule).await;
    post("/v1/reports/weekly", json!({"county": county})).await;
}

async fn check(b: &mut Browser, path: &str, problems: &mut Vec<String>) -> String {
    let p = b.get(path).await;
    if p.status != 200 {
        problems.push(format!("{path}: HTTP {}", p.status));
    }
    if let Some(l) = &p.location
        && [ID, MOBILE].iter().any(|x| l.contains(x))
    {
        problems.push(format!("{path}: personal data in a redirect"));
    }
    problems.extend(review(path, &p.body));
    p.body
}

#[test]
fn the_review_finds_what_it_looks_for() {
    let bad = r#"<form method="post" action="/x?id=11010519491231002X"><input name="a" id="a"><select id="s" aria-label="选择"></select></form>"#;
    let p = review("/bad", bad);
    assert_eq!(p.len(), 3, "{p:#?}");
    let good = r#"<form method="post"><input type="hidden" name="_csrf" value="x"><label for="a">甲</label><input id="a" name="a"></form>"#;
    assert!(review("/good", good).is_empty());
}

#[tokio::test]
async fn every_page_labels_its_fields_guards_its_forms_and_keeps_personal_data_out_of_urls() {
    let s = Stack::start("").await;
    let http = reqwest::Client::new();
    let (city, county) = (s.env.city.to_string(), s.env.county.to_string());
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
    let r = http
        .post(format!("{}/v1/petitions", s.urls.intake))
        .bearer_auth(&clerk)
        .json(&json!({
            "channel": "visit",
            "petitioner": {"name": NAME, "id_number": ID, "mobile": MOBILE},
            "text": TEXT,
            "county": county,
            "received_at": chrono::Utc::now(),
            "clerk_id": "clerk-1",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let receipt: Value = r.json().await.unwrap();
    let case_no = receipt["case_no"].as_str().unwrap().to_owned();
    let code = receipt["query_code"].as_str().unwrap().to_owned();
    let mut lead = String::new();
    s.env
        .wait_for("routing to assign the case", 30, async || {
            let r = http
                .get(format!("{}/v1/cases/{case_no}", s.urls.routing))
                .bearer_auth(&operator)
                .send()
                .await
                .unwrap();
            let v: Value = r.json().await.unwrap_or_default();
            match v["lead"].as_str() {
                Some(l) => {
                    lead = l.to_owned();
                    true
                }
                None => false,
            }
        })
        .await;
    let (lead_county, dept) = lead.split_once(':').unwrap();
    practices(&s, &operator, &case_no, dept).await;
    for (user, role, scope, d) in [
        ("clerk1", "clerk", city.as_str(), None),
        ("unit1", "department", lead_county, Some(dept)),
        ("sup1", "supervisor", city.as_str(), None),
        ("lead1", "leader", city.as_str(), None),
        ("rev1", "reviewer", city.as_str(), None),
        ("ops1", "operator", city.as_str(), None),
    ] {
        s.user(user, role, scope, d).await;
    }
    let mut problems = Vec::new();
    let mut anon = Browser::new(s.console);
    check(&mut anon, "/login", &mut problems).await;
    check(&mut anon, "/q", &mut problems).await;
    let status = anon
        .post("/q", &[("query_code", &code), ("id_number", ID)])
        .await;
    assert_eq!(status.status, 200);
    problems.extend(review("POST /q", &status.body));
    assert!(status.body.contains("当前状态"), "{}", status.body);
    assert!(
        !status.body.contains(ID),
        "the status page does not echo the ID number"
    );

    let mut b = s.sign_in("clerk1").await;
    for path in [
        "/clerk".to_owned(),
        "/clerk/triage".to_owned(),
        format!("/clerk/cases/{case_no}"),
        format!("/clerk/cases/{case_no}/receipt"),
        "/listed".to_owned(),
        "/conferences".to_owned(),
        format!("/conferences?case_no={case_no}"),
    ] {
        check(&mut b, &path, &mut problems).await;
    }
    let mut b = s.sign_in("unit1").await;
    let inbox = check(&mut b, "/dept", &mut problems).await;
    assert!(inbox.contains(&case_no), "the case is in its unit's inbox");
    check(&mut b, &format!("/dept/cases/{case_no}"), &mut problems).await;
    let tasks = check(&mut b, "/dept/tasks", &mut problems).await;
    assert!(
        tasks.contains("核实"),
        "the unit's conference task: {tasks}"
    );
    check(&mut b, "/listed", &mut problems).await;
    for user in ["sup1", "ops1"] {
        let mut b = s.sign_in(user).await;
        for path in [
            "/board",
            "/kpi",
            "/approvals",
            "/listed",
            "/weekly",
            "/leaders",
        ] {
            check(&mut b, path, &mut problems).await;
        }
        let advisers = format!("/advisers?case_no={case_no}");
        let conferences = format!("/conferences?case_no={case_no}");
        for path in [advisers.as_str(), conferences.as_str()] {
            let page = check(&mut b, path, &mut problems).await;
            assert!(page.contains("李律师"), "{path}: {page}");
        }
    }
    let mut b = s.sign_in("lead1").await;
    for path in ["/board", "/kpi", "/listed", "/weekly", "/leaders"] {
        check(&mut b, path, &mut problems).await;
    }
    // 县区对比: both served counties, the month's registration counted and ranked.
    let compare = check(&mut b, "/compare?metric=registered&months=3", &mut problems).await;
    assert!(
        compare.contains("<th scope=\"row\">测试县</th>")
            && compare.contains("<th scope=\"row\">测试市</th>"),
        "the counties by name: {compare}"
    );
    assert!(
        compare.contains("<svg") && compare.contains("第1"),
        "{compare}"
    );
    let mut b = s.sign_in("rev1").await;
    for path in ["/reviews", "/terminations"] {
        check(&mut b, path, &mut problems).await;
    }
    assert!(problems.is_empty(), "{problems:#?}");
    s.stop().await;
}
