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
    ] {
        check(&mut b, &path, &mut problems).await;
    }
    let mut b = s.sign_in("unit1").await;
    let inbox = check(&mut b, "/dept", &mut problems).await;
    assert!(inbox.contains(&case_no), "the case is in its unit's inbox");
    check(&mut b, &format!("/dept/cases/{case_no}"), &mut problems).await;
    for user in ["sup1", "ops1"] {
        let mut b = s.sign_in(user).await;
        for path in ["/board", "/kpi", "/approvals"] {
            check(&mut b, path, &mut problems).await;
        }
    }
    let mut b = s.sign_in("lead1").await;
    for path in ["/board", "/kpi"] {
        check(&mut b, path, &mut problems).await;
    }
    // 县区对比: both served counties, the month's registration counted and ranked.
    let compare = check(&mut b, "/compare?metric=registered&months=3", &mut problems).await;
    assert!(
        compare.contains(&county) && compare.contains(&city),
        "{compare}"
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
