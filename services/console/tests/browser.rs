//! The console in a real browser (headless Chromium over WebDriver) against the whole stack:
//! a clerk registers a petition through the form and reads the 查询码 off the receipt; the
//! department's inbox, open before routing assigns the case, shows it without a reload (live
//! updates); the department accepts, extends and serves its opinion; the petitioner, on a
//! 360-px phone, finds the case with the code, rates it and asks for 复查; a reviewer decides
//! it; the same facts raised again at the city are refused once a clerk confirms it; a
//! transfer a department asks for is approved by the bureau's operator; a department is shown
//! 无权访问 on another department's case. Every role's main page is photographed
//! (target/console-screenshots or $XF_SCREENSHOTS). Effects are read back through the APIs.

#[path = "browser/mod.rs"]
mod browser;
mod common;

use browser::{choose, click, fill, reveal, screenshot, set_date, submit, text, wait_path};
use common::{PASSWORD, Stack};
use fantoccini::{Client, Locator};
use serde_json::{Value, json};
use xinfang_domain::access::Role;
use xinfang_domain::classify::Departments;
use xinfang_domain::deadline::{CST, cst_date};

const ID: &str = "11010519491231002X";
/// Another (well-formed) person, for the case that is transferred.
const OTHER_ID: &str = "110105198001010016";
/// The same number with a wrong check character.
const BAD_ID: &str = "110105194912310021";
const MOBILE: &str = "13800138000";
/// An Art 31(6) matter a department investigates and answers with a 信访处理意见书.
const TEXT: &str =
    "我家的老房子年久失修成了危房，去年申请危房改造，村里说名额满了，请求调查核实后给个答复。";
/// A matter of another department, for the transfer.
const ROAD: &str = "我家门前的村道年久失修，坑洼不平，雨天积水严重，群众出行十分不便，多次向村里反映没有结果，请求交通运输部门尽快修缮。";

async fn api(http: &reqwest::Client, url: &str, token: &str) -> Value {
    let r = http.get(url).bearer_auth(token).send().await.unwrap();
    let status = r.status();
    let v = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{url}: {status} {v}");
    v
}

/// Signs `username` in on `c` and waits to land on the role's page.
async fn sign_in(c: &Client, s: &Stack, username: &str, home: &str) {
    browser::sign_in(c, &s.url(""), username, PASSWORD).await;
    wait_path(c, home, 10).await;
}

/// Fills the registration form as a clerk at the window would, and submits it; returns the
/// case number from the case page the browser lands on.
async fn register(c: &Client, county: &str, shot: Option<&str>) -> String {
    choose(c, "channel", "visit").await;
    fill(c, "county", county).await;
    fill(c, "name", "张三").await;
    // The number checked as it is typed: a wrong check character is pointed out at once,
    // and the message goes when it is corrected.
    fill(c, "id_number", BAD_ID).await;
    fill(c, "mobile", MOBILE).await;
    let message = async || {
        c.find(Locator::Id("id_number-error"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap_or_default()
    };
    browser::poll("the wrong ID number pointed out", 5, async || {
        !message().await.is_empty()
    })
    .await;
    fill(c, "id_number", ID).await;
    browser::poll("the ID number accepted", 5, async || {
        message().await.is_empty()
    })
    .await;
    fill(c, "text", TEXT).await;
    if let Some(name) = shot {
        screenshot(c, name).await;
    }
    submit(c, "/clerk").await;
    let path = wait_path(c, "/clerk/cases/", 15).await;
    path.trim_start_matches("/clerk/cases/").to_owned()
}

#[tokio::test]
async fn every_role_works_its_cases_in_a_real_browser() {
    let started = std::time::Instant::now();
    let s = Stack::start("").await;
    let http = reqwest::Client::new();
    let city = s.env.city.to_string();
    let county = s.env.county.to_string();
    let today = cst_date(chrono::Utc::now().with_timezone(&CST)).to_string();
    let token = async |role: Role| {
        s.state
            .auth
            .create(role, &s.env.city, None, "browser test")
            .await
            .unwrap()
            .token
    };
    let op = token(Role::Operator).await;
    let clerk_token = token(Role::Clerk).await;
    let intake_case = |no: &str| format!("{}/v1/cases/{no}", s.urls.intake);
    let routing_case = |no: &str| format!("{}/v1/cases/{no}", s.urls.routing);
    let review_case = |no: &str| format!("{}/v1/reviews/{no}", s.urls.review);

    // The department the petition will go to, as intake's classifier will decide it: its
    // user must have the inbox open before the case is even registered.
    let classifier = xinfang_intake::service::load_classifier(
        &s.env.infra.settings.platform.paths.classification,
    )
    .unwrap();
    let dept = classifier
        .classify_with_id_number(TEXT, Some(ID))
        .department;
    s.user("clerk1", "clerk", &city, None).await;
    s.user("unit1", "department", &county, Some(&dept)).await;
    s.user("rev1", "reviewer", &county, None).await;
    s.user("sup1", "supervisor", &city, None).await;
    s.user("boss1", "leader", &city, None).await;
    s.user("op1", "operator", &city, None).await;

    let mut d = browser::Driver::start().await;
    let desk = d.browser(false).await;
    let unit = d.browser(false).await;
    let phone = d.browser(true).await;

    // The department's inbox, open and empty; a marker in the page tells a reload from a swap.
    sign_in(&unit, &s, "unit1", "/dept").await;
    assert!(
        text(&unit)
            .await
            .contains("目前没有转送、交办给本单位的案件")
    );
    unit.execute("window.xfNotReloaded = true;", vec![])
        .await
        .unwrap();

    // The clerk registers at the window, sees the proposed classification, reads the code.
    browser::sign_in_by_keyboard(&desk, &s.url(""), "clerk1", PASSWORD).await;
    wait_path(&desk, "/clerk", 10).await;
    let case_no = register(&desk, &county, Some("clerk")).await;
    let submitted = std::time::Instant::now();
    let page = browser::wait_text(&desk, "分类建议", 10).await;
    assert!(page.contains("已登记。请打印登记回执"), "{page}");
    let registered = api(&http, &intake_case(&case_no), &op).await;
    let type_zh =
        xinfang_console::words::petition_type_zh(registered["petition_type"].as_str().unwrap());
    let dept_zh = Departments::embedded()
        .iter()
        .find(|d| d.code == dept)
        .map(|d| d.name.clone())
        .unwrap();
    assert!(
        page.contains(&type_zh) && page.contains(&dept_zh),
        "the proposed type {type_zh} and department {dept_zh}: {page}"
    );
    assert!(page.contains(registered["reasons"][0].as_str().unwrap()));
    screenshot(&desk, "clerk-case").await;
    browser::follow(&desk, "打印登记回执").await;
    browser::wait_element(&desk, "query-code", 10).await;
    let code = desk
        .find(Locator::Id("query-code"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(code, registered["query_code"].as_str().unwrap());
    assert!(text(&desk).await.contains("如何查询办理进展"));
    assert!(!desk.current_url().await.unwrap().as_str().contains(&code));

    // Routing assigns it: the open inbox shows the row by itself, within seconds.
    let row = browser::wait_text(&unit, &case_no, 10).await;
    assert!(
        submitted.elapsed() < std::time::Duration::from_secs(10),
        "the row came {:?} after the registration",
        submitted.elapsed()
    );
    assert!(row.contains(&type_zh), "{row}");
    let swapped = unit
        .execute(
            "return [window.xfNotReloaded === true, document.body.hasAttribute('data-refreshed')];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(swapped, json!([true, true]), "swapped in, not reloaded");
    let lead = api(&http, &routing_case(&case_no), &op).await["lead"].clone();
    assert_eq!(
        lead,
        format!("{county}:{dept}"),
        "routing chose as predicted"
    );
    // Reloaded once supervision has the deadlines, for the picture with the countdown.
    browser::reload_until(&unit, &s.url("/dept"), "剩 ", 15).await;
    screenshot(&unit, "department").await;

    // A second petition, another person's, for the transfer later: routed meanwhile.
    let r = http
        .post(format!("{}/v1/petitions", s.urls.intake))
        .bearer_auth(&clerk_token)
        .json(&json!({
            "channel": "letter",
            "petitioner": {"name": "李四", "id_number": OTHER_ID, "mobile": "13900139000"},
            "text": ROAD,
            "county": county,
            "received_at": chrono::Utc::now(),
            "clerk_id": "clerk-1",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let road_no = r.json::<Value>().await.unwrap()["case_no"]
        .as_str()
        .unwrap()
        .to_owned();

    // The same person brings the same facts to the city while the county handles them:
    // a refusal is proposed, and the clerk confirms it on the case page.
    browser::follow(&desk, "返回案件").await;
    browser::wait_text(&desk, "分类建议", 10).await;
    browser::follow(&desk, "继续登记").await;
    browser::wait_element(&desk, "channel", 10).await;
    let repeat_no = register(&desk, &city, None).await;
    assert_ne!(repeat_no, case_no);
    let page = browser::wait_text(&desk, "拟议，待登记人员确认", 10).await;
    assert!(page.contains(&case_no), "the earlier case named: {page}");
    assert_eq!(page.matches(TEXT).count(), 2, "both texts side by side");
    browser::reload_until(&desk, &s.url("/clerk/triage"), &repeat_no, 20).await;
    desk.goto(&s.url(&format!("/clerk/cases/{repeat_no}")))
        .await
        .unwrap();
    click(&desk, "#decision-confirm").await;
    fill(
        &desk,
        "repeat-reason",
        "经核实，与原案事实和理由相同，原案正在办理期限内",
    )
    .await;
    submit(&desk, &format!("/clerk/cases/{repeat_no}/repeat")).await;
    browser::wait_text(&desk, "已确认拒绝受理", 10).await;
    s.env
        .wait_for("the confirmed refusal applied", 20, async || {
            api(&http, &intake_case(&repeat_no), &op).await["status"] == "not_accepted"
        })
        .await;

    // The unit accepts, asks for an extension and serves its opinion.
    browser::follow(&unit, &case_no).await;
    let case_page = format!("/dept/cases/{case_no}");
    wait_path(&unit, &case_page, 10).await;
    assert!(text(&unit).await.contains("危房"), "the matter's text");
    reveal(&unit, "accept-accepted_on").await;
    set_date(&unit, "accept-accepted_on", &today).await;
    submit(&unit, &format!("{case_page}/actions/accept")).await;
    browser::wait_text(&unit, "已提交：受理告知", 10).await;
    reveal(&unit, "extend-days").await;
    fill(&unit, "extend-days", "15").await;
    fill(&unit, "extend-approver", "王局长").await;
    fill(&unit, "extend-reason", "需要现场核查房屋安全等级").await;
    submit(&unit, &format!("{case_page}/actions/extend")).await;
    browser::wait_text(&unit, "已提交：申请延期", 10).await;
    reveal(&unit, "reply-text").await;
    choose(&unit, "reply-outcome", "not_supported").await;
    fill(
        &unit,
        "reply-text",
        "经调查核实，您的房屋经鉴定不属于危房，不符合危房改造条件，不予支持。",
    )
    .await;
    set_date(&unit, "reply-served_on", &today).await;
    submit(&unit, &format!("{case_page}/actions/reply")).await;
    browser::wait_text(&unit, "已提交：答复/出具处理意见", 10).await;
    screenshot(&unit, "department-case").await;
    let v = api(&http, &routing_case(&case_no), &op).await;
    let done: Vec<&str> = v["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["outcome"] == "done")
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert_eq!(done, ["accept", "extend", "reply"], "{v}");
    s.env
        .wait_for(
            "the served opinion known to intake and review",
            20,
            async || {
                let i = api(&http, &intake_case(&case_no), &op).await;
                i["decisions"][0]["served_on"] == today.as_str()
                    && i["decisions"][0]["appeal"]["due"].is_string()
                    && api(&http, &review_case(&case_no), &op).await["is_handling_opinion"] == true
            },
        )
        .await;

    // The petitioner, on a phone: the status in Chinese, a rating, a 复查 request.
    phone.goto(&s.url("/q")).await.unwrap();
    let (content, window) = browser::widths(&phone).await;
    assert!(
        content <= window,
        "the form fits the phone: {content} > {window}"
    );
    fill(&phone, "query_code", &code.to_lowercase()).await;
    fill(&phone, "id_number", ID).await;
    submit(&phone, "/q").await;
    let page = browser::wait_text(&phone, "当前状态", 10).await;
    let status = api(&http, &intake_case(&case_no), &op).await["status"]
        .as_str()
        .unwrap()
        .to_owned();
    let status_zh = xinfang_console::words::status_zh(&status);
    assert!(
        page.contains(&format!("当前状态：{status_zh}")),
        "{status_zh}: {page}"
    );
    assert!(
        page.contains("不予支持") && page.contains("申请复查"),
        "{page}"
    );
    let (content, window) = browser::widths(&phone).await;
    assert!(
        content <= window,
        "the status fits the phone: {content} > {window}"
    );
    assert!(!phone.current_url().await.unwrap().as_str().contains(&code));
    screenshot(&phone, "petitioner-phone").await;
    click(&phone, "#bureau-1").await;
    click(&phone, "#unit-2").await;
    submit(&phone, "/q/evaluate").await;
    browser::wait_text(&phone, "感谢您的评价", 10).await;
    let grounds = "房屋墙体开裂严重，鉴定时未入户查看，认定事实不清，请求复查。";
    fill(&phone, "grounds", grounds).await;
    submit(&phone, "/q/review").await;
    let page = browser::wait_text(&phone, "您的复查申请已提交给", 10).await;
    assert!(page.contains("前作出复查意见"), "{page}");
    let v = api(&http, &review_case(&case_no), &op).await;
    assert_eq!(v["evaluation"]["bureau"], "satisfied", "{v}");
    assert_eq!(v["evaluation"]["unit"], "basically_satisfied", "{v}");
    assert_eq!(v["appeals"][0]["grounds"], grounds, "{v}");
    assert_eq!(v["appeals"][0]["requested_by"], "petitioner", "{v}");

    // The county's reviewer finds the request and decides it.
    browser::sign_out(&desk).await;
    sign_in(&desk, &s, "rev1", "/reviews").await;
    let page = browser::reload_until(&desk, &s.url("/reviews"), &case_no, 20).await;
    assert!(page.contains("复查"), "{page}");
    screenshot(&desk, "reviewer").await;
    browser::follow(&desk, &case_no).await;
    browser::wait_text(&desk, grounds, 10).await;
    choose(&desk, "d-level", "review").await;
    click(&desk, "#d-outcome-uphold").await;
    let opinion = "经复查，原处理意见认定事实清楚，予以维持。";
    fill(&desk, "d-text", opinion).await;
    set_date(&desk, "d-served", &today).await;
    submit(&desk, &format!("/reviews/{case_no}/decision")).await;
    let page = browser::wait_text(&desk, "决定已记录", 10).await;
    assert!(page.contains(opinion));
    let v = api(&http, &review_case(&case_no), &op).await;
    assert_eq!(v["appeals"][0]["outcome"], "uphold", "{v}");
    assert_eq!(v["appeals"][0]["decision_text"], opinion, "{v}");

    // A transfer: the road case's unit asks, the bureau's operator approves.
    let mut road_lead = String::new();
    s.env
        .wait_for("routing to assign the road case", 20, async || {
            road_lead = api(&http, &routing_case(&road_no), &op).await["lead"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            !road_lead.is_empty()
        })
        .await;
    let (road_county, road_dept) = road_lead.split_once(':').unwrap();
    let target = if road_dept == "rsj" { "zjj" } else { "rsj" };
    let road_user = if (road_county, road_dept) == (county.as_str(), dept.as_str()) {
        "unit1"
    } else {
        s.user("unit2", "department", road_county, Some(road_dept))
            .await;
        "unit2"
    };
    browser::sign_out(&unit).await;
    sign_in(&unit, &s, road_user, "/dept").await;
    let road_page = format!("/dept/cases/{road_no}");
    // After a dozen live pages in this browser, the next opens at once: pages left for the
    // back/forward cache hold no event stream (Chrome allows six connections to a host).
    let opening = std::time::Instant::now();
    unit.goto(&s.url(&road_page)).await.unwrap();
    assert!(
        opening.elapsed() < std::time::Duration::from_secs(5),
        "a page waited {:?} for a connection",
        opening.elapsed()
    );
    reveal(&unit, "transfer-to").await;
    choose(&unit, "transfer-to", target).await;
    fill(&unit, "transfer-reason", "该村道由对方单位负责管理养护").await;
    submit(&unit, &format!("{road_page}/actions/transfer")).await;
    browser::wait_text(&unit, "已提交：申请转办", 10).await;

    browser::sign_out(&desk).await;
    sign_in(&desk, &s, "op1", "/board").await;
    desk.goto(&s.url("/approvals")).await.unwrap();
    let page = browser::wait_text(&desk, &road_no, 5).await;
    assert!(page.contains("转办申请"), "{page}");
    screenshot(&desk, "approvals").await;
    let row = format!("//tr[td[normalize-space()='{road_no}']]//details/summary");
    desk.find(Locator::XPath(&row))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    choose(
        &desk,
        &format!("transfer_decision-{road_no}-decision"),
        "approved",
    )
    .await;
    fill(
        &desk,
        &format!("transfer_decision-{road_no}-reason"),
        "经核实，该村道属对方单位管理",
    )
    .await;
    submit(&desk, &format!("/approvals/{road_no}/transfer_decision")).await;
    let page = browser::wait_text(&desk, "已作出转办决定", 10).await;
    assert!(!page.contains(&road_no), "no longer waiting: {page}");
    let v = api(&http, &routing_case(&road_no), &op).await;
    assert_eq!(v["lead"], format!("{road_county}:{target}"), "{v}");

    // Another department's user on the first case: the 403 page.
    if road_user == "unit1" {
        let other = if dept == "rsj" { "zjj" } else { "rsj" };
        s.user("other1", "department", &county, Some(other)).await;
        browser::sign_out(&unit).await;
        sign_in(&unit, &s, "other1", "/dept").await;
    }
    unit.goto(&s.url(&case_page)).await.unwrap();
    let page = text(&unit).await;
    assert!(page.contains("无权访问"), "{page}");
    assert!(!page.contains("危房"), "nothing of the case: {page}");
    let r = reqwest::Client::new()
        .get(s.url(&case_page))
        .header("cookie", browser::cookie_header(&unit).await)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // The bureau's pages: the board and the KPIs for the supervisor, the KPIs for a leader.
    browser::sign_out(&desk).await;
    sign_in(&desk, &s, "sup1", "/board").await;
    desk.goto(&s.url("/board?within=30")).await.unwrap();
    let page = browser::wait_text(&desk, &road_no, 10).await;
    assert!(page.contains("期限看板"), "{page}");
    screenshot(&desk, "supervisor-board").await;
    desk.goto(&s.url("/kpi")).await.unwrap();
    let page = browser::wait_text(&desk, "及时受理率", 10).await;
    assert!(page.contains("按期办结率"), "{page}");
    assert!(desk.find(Locator::Css("svg")).await.is_ok(), "a chart");
    // The counties' chart and the selector name the counties; no code is shown.
    assert!(page.contains("测试县"), "{page}");
    assert!(!page.contains(&county) && !page.contains(&city), "{page}");
    screenshot(&desk, "supervisor-kpi").await;
    // The bureau's practices (issue #15): the weekly analysis with its charts, the lists.
    // This week's, which has the petitions registered above (last week's is the default).
    let week = {
        use chrono::Datelike;
        let w = chrono::Utc::now()
            .with_timezone(&xinfang_domain::deadline::CST)
            .iso_week();
        format!("{}-W{:02}", w.year(), w.week())
    };
    desk.goto(&s.url(&format!("/weekly?week={week}")))
        .await
        .unwrap();
    let page = browser::wait_text(&desk, "周研判", 10).await;
    assert!(page.contains("登记"), "{page}");
    assert!(desk.find(Locator::Css("svg")).await.is_ok(), "a chart");
    screenshot(&desk, "supervisor-weekly").await;
    desk.goto(&s.url("/listed")).await.unwrap();
    let page = browser::wait_text(&desk, "清单事项", 10).await;
    assert!(page.contains("省联席办交办"), "{page}");
    screenshot(&desk, "supervisor-listed").await;
    browser::sign_out(&desk).await;
    sign_in(&desk, &s, "boss1", "/board").await;
    desk.goto(&s.url("/kpi")).await.unwrap();
    browser::wait_text(&desk, "及时受理率", 10).await;
    screenshot(&desk, "leader-kpi").await;

    for c in [desk, unit, phone] {
        c.close().await.unwrap();
    }
    drop(d);
    eprintln!("browser test: {:?}", started.elapsed());
    s.stop().await;
}
