//! The clerk's pages against the real stack: registration through the form (a refused field
//! named, the input kept), the case page with its classification, the receipt's 查询码, a
//! repeat petition whose proposed refusal the clerk confirms on the page (seen through intake's
//! API and routing applying it), a classification correction, the triage queue, and the
//! role check.

mod common;

use common::Stack;
use serde_json::Value;
use xinfang_domain::access::Role;

const ID: &str = "11010519491231002X";
/// The same number with a wrong check character.
const BAD_ID: &str = "110105194912310021";
const MOBILE: &str = "13800138000";
/// A matter a department handles (a wage claim would be diverted to arbitration, and a repeat
/// of a diverted matter is handled on its own rather than refused).
const ROAD: &str = "我家门前的村道年久失修，坑洼不平，雨天积水严重，群众出行十分不便，多次向村里反映没有结果，请求交通运输部门尽快修缮。";

fn refs<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn case_no_of(location: &str) -> String {
    let rest = location
        .strip_prefix("/clerk/cases/")
        .unwrap_or_else(|| panic!("not a case page: {location}"));
    rest.split('?').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_clerk_registers_prints_decides_a_repeat_and_corrects_a_classification() {
    let s = Stack::start("").await;
    let city = s.env.city.to_string();
    let county = s.env.county.to_string();
    s.user("clerk1", "clerk", &city, None).await;
    s.user("rsj1", "department", &county, Some("rsj")).await;
    let op = s
        .state
        .auth
        .create(Role::Operator, &s.env.city, None, "clerk page test")
        .await
        .unwrap()
        .token;
    let http = reqwest::Client::new();
    let intake = |path: String| {
        let http = http.clone();
        let op = op.clone();
        let url = format!("{}{path}", s.urls.intake);
        async move {
            let r = http.get(url).bearer_auth(op).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };

    let mut clerk = s.sign_in("clerk1").await;
    let form = clerk.get("/clerk").await;
    assert_eq!(form.status, 200, "{}", form.body);
    for needle in [
        "data-check=\"id_number\"",
        "data-check=\"mobile\"",
        "<label for=\"text\"",
        "<label for=\"county\"",
        "value=\"leader_mailbox\"",
        // The source (信访事项来源), the listed ones marked.
        "<label for=\"source\"",
        "省联席办交办（清单管理）",
    ] {
        assert!(form.body.contains(needle), "{needle} missing from the form");
    }

    // As-you-type check: a wrong check character is refused, the right number passes.
    let p = clerk.post("/check/id_number", &[("value", BAD_ID)]).await;
    let v: Value = serde_json::from_str(&p.body).unwrap();
    assert_eq!(v["ok"], false, "{v}");
    let p = clerk.post("/check/id_number", &[("value", ID)]).await;
    let v: Value = serde_json::from_str(&p.body).unwrap();
    assert_eq!(v["ok"], true, "{v}");

    // A bad ID number: the form comes back naming the field, with the text kept; nothing is
    // registered.
    clerk.get("/clerk").await;
    let petition = |id: &'static str, county: &str| -> Vec<(&'static str, String)> {
        vec![
            ("channel", "visit".into()),
            ("received_at", String::new()),
            ("county", county.to_owned()),
            ("name", "张三".into()),
            ("id_number", id.into()),
            ("mobile", MOBILE.into()),
            ("text", ROAD.into()),
        ]
    };
    let p = clerk
        .post("/clerk", &refs(&petition(BAD_ID, &county)))
        .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(
        p.body.contains("身份证号码") && p.body.contains("petitioner.id_number"),
        "{}",
        p.body
    );
    assert!(p.body.contains(ROAD), "the petition text is kept");
    assert!(p.body.contains("value=\"张三\""), "the name is kept");
    assert_eq!(
        intake("/v1/cases".into()).await["total"],
        0,
        "nothing registered"
    );

    // A city clerk must say which organ registers.
    let p = clerk.post("/clerk", &refs(&petition(ID, ""))).await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("county-error") && p.body.contains("市级登记人员须填写"));

    // Registered for the county: the case page shows the classification intake proposed.
    let p = clerk.post("/clerk", &refs(&petition(ID, &county))).await;
    assert_eq!(p.status, 303, "{}", p.body);
    let location = p.location.unwrap();
    let first = case_no_of(&location);
    let api = intake(format!("/v1/cases/{first}")).await;
    let code = api["query_code"].as_str().unwrap().to_owned();
    assert!(!location.contains(&code), "no query code in a URL");
    assert!(!location.contains(ID) && !location.contains(MOBILE));
    let page = clerk.get(&location).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&first));
    assert!(page.body.contains("已登记。请打印登记回执"), "flash");
    assert!(page.body.contains("分类建议"));
    let type_zh =
        xinfang_domain::petition::PetitionType::parse(api["petition_type"].as_str().unwrap())
            .unwrap()
            .zh();
    assert!(page.body.contains(type_zh), "the proposed type {type_zh}");
    let first_reason = api["reasons"][0].as_str().unwrap();
    assert!(
        page.body.contains(first_reason),
        "the classifier's reasons are shown"
    );
    // In the clerk's language: no reason opens with a developer's English word ("rule …").
    for r in api["reasons"].as_array().unwrap() {
        let r = r.as_str().unwrap();
        assert!(!r.starts_with(|c: char| c.is_ascii_alphabetic()), "{r}");
    }
    assert!(
        page.body.contains(&format!("<dd>测试县（{county}）</dd>")),
        "the registering county by its name"
    );
    // Art 31's branches as the regulation numbers its items (（六）调查核实…), not as wire codes.
    assert!(!page.body.contains(">31_") && !page.body.contains("31_1 "));
    for (i, b) in xinfang_domain::petition::Art31Branch::ALL
        .iter()
        .enumerate()
    {
        let item = ["（一）", "（二）", "（三）", "（四）", "（五）", "（六）"][i];
        assert!(page.body.contains(&format!("{item}{}", b.zh())), "{item}");
    }

    // The receipt carries the 查询码 and says where to query.
    let receipt = clerk.get(&format!("/clerk/cases/{first}/receipt")).await;
    assert_eq!(receipt.status, 200);
    assert!(receipt.body.contains("class=\"receipt"));
    assert!(receipt.body.contains(&code), "query code on the receipt");
    assert!(receipt.body.contains("/q"));

    // The same person with the same facts, now at the city: a refusal (Art 19 para 3) is only
    // proposed, and the page shows both texts.
    clerk.get("/clerk").await;
    let p = clerk.post("/clerk", &refs(&petition(ID, &city))).await;
    assert_eq!(p.status, 303, "{}", p.body);
    let second = case_no_of(&p.location.unwrap());
    let api = intake(format!("/v1/cases/{second}")).await;
    assert_eq!(api["repeat_of"], first.as_str(), "{api}");
    assert_eq!(api["repeat_proposed"], true, "{api:#}");
    let page = clerk.get(&format!("/clerk/cases/{second}")).await;
    assert!(page.body.contains("拟议，待登记人员确认"));
    assert!(page.body.contains("id=\"this-text\"") && page.body.contains("id=\"earlier-text\""));
    assert_eq!(
        page.body.matches(ROAD).count(),
        2,
        "both texts side by side"
    );

    // Routing holds it for the clerk: it is in the triage queue.
    s.env
        .wait_for("the proposal in the triage queue", 30, async || {
            let q = clerk.get("/clerk/triage").await;
            q.status == 200 && q.body.contains(&second)
        })
        .await;
    let q = clerk.get("/clerk/triage").await;
    assert!(q.body.contains("id=\"live\"") && q.body.contains("data-live=\"1\""));
    assert!(q.body.contains("data-kind=\"repeat\""));
    assert!(
        !q.body.contains(&format!(">{first}<")),
        "the routed case is not held"
    );

    // No reason: refused naming the field, the choice kept.
    clerk.get(&format!("/clerk/cases/{second}")).await;
    let p = clerk
        .post(
            &format!("/clerk/cases/{second}/repeat"),
            &[("decision", "confirm"), ("reason", " ")],
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(
        p.body.contains("理由") && p.body.contains("reason: "),
        "{}",
        p.body
    );
    assert!(p.body.contains("value=\"confirm\" checked"));
    assert_eq!(
        intake(format!("/v1/cases/{second}")).await["repeat_proposed"],
        true
    );

    let p = clerk
        .post(
            &format!("/clerk/cases/{second}/repeat"),
            &[
                ("decision", "confirm"),
                ("reason", "经核实，与原案事实和理由相同"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let page = clerk.get(&p.location.unwrap()).await;
    assert!(page.body.contains("已确认拒绝受理"));
    let api = intake(format!("/v1/cases/{second}")).await;
    assert_eq!(api["repeat_proposed"], false);
    let confirmed = api["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["event"] == "refusal_confirmed")
        .count();
    assert_eq!(confirmed, 1, "{api}");
    s.env
        .wait_for("routing to apply the confirmed refusal", 30, async || {
            intake(format!("/v1/cases/{second}")).await["status"] == "not_accepted"
        })
        .await;

    // A correction of the first case's classification: a reason is required, then it applies.
    let before = intake(format!("/v1/cases/{first}")).await;
    let target = if before["suggested_department"] == "rsj" {
        "gaj"
    } else {
        "rsj"
    };
    clerk.get(&format!("/clerk/cases/{first}")).await;
    let p = clerk
        .post(
            &format!("/clerk/cases/{first}/classification"),
            &[("department", target), ("reason", "")],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(
        p.body.contains("reason: ") && p.body.contains("规则：required"),
        "{}",
        p.body
    );
    assert!(
        p.body.contains(&format!("value=\"{target}\" selected")),
        "choice kept"
    );
    let p = clerk
        .post(
            &format!("/clerk/cases/{first}/classification"),
            &[
                ("department", target),
                ("reason", "经核实，该道路属另一单位管理"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert!(
        clerk
            .get(&p.location.unwrap())
            .await
            .body
            .contains("分类已更正")
    );
    assert_eq!(
        intake(format!("/v1/cases/{first}")).await["suggested_department"],
        target
    );

    // Other roles are kept out.
    let mut dept = s.sign_in("rsj1").await;
    assert_eq!(dept.get("/clerk").await.status, 403);
    assert_eq!(dept.get("/clerk/triage").await.status, 403);
    assert_eq!(dept.get(&format!("/clerk/cases/{first}")).await.status, 403);
    s.stop().await;
}
