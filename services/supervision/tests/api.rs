//! HTTP: manual 督办 with a tracked response deadline, and the KPIs.

mod common;

use chrono::TimeDelta;
use common::*;
use serde_json::{Value, json};
use xinfang_domain::events::{Diverted, Supervised};
use xinfang_domain::petition::Rating;
use xinfang_supervision::stats::{Kpis, render_csv, render_table};

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test]
async fn supervisors_issue_supervision_by_http_and_its_response_deadline_is_tracked() {
    let h = Harness::start("").await;
    let base = format!("http://{}", h.sup.started.http);
    let case = h.case_no(7);
    let respond_by = h.now() + TimeDelta::days(5);
    let good = json!({
        "case_no": case, "department": "rsj", "form": "written_notice",
        "issuer": "督查科", "note": "请于期限内报告办理情况", "respond_by": respond_by.to_rfc3339(),
    });
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        b
    };
    let cases = [
        (with("case_no", Value::Null), "case_no", "required"),
        (
            with("case_no", json!("XF 1; drop")),
            "case_no",
            "case_number",
        ),
        (
            with("department", json!("RSJ.*")),
            "department",
            "department_code",
        ),
        (with("form", json!("phone_call")), "form", "unknown_value"),
        (with("issuer", json!("")), "issuer", "required"),
        (with("issuer", json!("x".repeat(65))), "issuer", "too_long"),
        (
            with("respond_by", json!("tomorrow")),
            "respond_by",
            "datetime",
        ),
        (
            with(
                "respond_by",
                json!((h.now() - TimeDelta::hours(1)).to_rfc3339()),
            ),
            "respond_by",
            "in_past",
        ),
        (with("county", json!("411224")), "county", "not_served"),
    ];
    for (body, field, code) in cases {
        let r = client()
            .post(format!("{base}/v1/supervisions"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{field}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["field"], field, "{e}");
        assert_eq!(e["error"]["code"], code, "{e}");
    }
    let r = client()
        .post(format!("{base}/v1/supervisions"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "syntax");

    // A valid 督办: the record, the events and a tracked response deadline.
    let r = client()
        .post(format!("{base}/v1/supervisions"))
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["form"], "written_notice");
    assert_eq!(first["county"], h.county().as_str());
    let first_id = first["id"].as_str().unwrap().to_owned();
    let d = h.wait_state(&case, "supervision", "pending").await;
    assert_eq!(d.reference, first_id);
    assert_eq!(d.due_at.timestamp(), respond_by.timestamp());
    let c = h.county();
    let mut sup = Vec::new();
    h.env
        .wait_for("case.supervised", 15, async || {
            sup = h.messages(&format!("xf.{c}.case.supervised")).await;
            !sup.is_empty()
        })
        .await;
    let s: Supervised = sup[0].1.data_as().unwrap();
    assert_eq!(
        (s.form.as_str(), s.department.as_str()),
        ("written_notice", "rsj")
    );
    assert_eq!(
        h.messages(&format!("xf.{c}.dept.rsj.supervision"))
            .await
            .len(),
        1
    );

    // A second one is answered: its clock closes.
    let r = client()
        .post(format!("{base}/v1/supervisions"))
        .json(&with("form", json!("summons")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let second: Value = r.json().await.unwrap();
    let second_id = second["id"].as_str().unwrap();
    let r = client()
        .post(format!("{base}/v1/supervisions/{second_id}/response"))
        .json(&json!({"response": "已整改"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client()
        .post(format!(
            "{base}/v1/supervisions/{}/response",
            uuid::Uuid::now_v7()
        ))
        .json(&json!({"response": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = client()
        .post(format!("{base}/v1/supervisions/not-a-uuid/response"))
        .json(&json!({"response": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    h.env
        .wait_for("answered clock closed", 15, async || {
            h.deadlines(&case)
                .await
                .iter()
                .any(|r| r.reference == second_id && r.state == "met")
        })
        .await;

    // Past the respond-by time the unanswered one is overdue, to the department and the
    // deadline subject; a 督办 response is not escalated again.
    h.advance_to(respond_by + TimeDelta::minutes(1));
    let o = h.wait_fired(&case, "supervision", "overdue", 2).await;
    assert_eq!(
        o,
        vec![
            format!("xf.{c}.deadline.overdue"),
            format!("xf.{c}.dept.rsj.overdue")
        ]
    );
    settle().await;
    let listed: Value = client()
        .get(format!("{base}/v1/supervisions?case_no={case}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["supervisions"].as_array().unwrap().len(), 2);
    // Without a case number: the board of every county in the caller's scope.
    let r = client()
        .get(format!("{base}/v1/deadlines"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    h.stop().await;
}

#[tokio::test]
async fn kpis_follow_the_practice_definitions() {
    let h = Harness::start("").await;
    let c = h.county();
    let base = format!("http://{}", h.sup.started.http);
    let t0 = h.now() - TimeDelta::days(40);
    let day = |n: i64| t0 + TimeDelta::days(n);
    let (a, b, cc, d) = (h.case_no(1), h.case_no(2), h.case_no(3), h.case_no(4));

    // A: everything on time; replied after 10 days; bureau satisfied, unit not.
    h.case_event("registered", &a, registered(&a, &c, t0, "rsj", false))
        .await;
    h.case_event("assigned", &a, assigned(&a, "rsj", day(1)))
        .await;
    h.case_event("accepted", &a, accepted(&a, "rsj", day(2)))
        .await;
    h.case_event("replied", &a, replied(&a, "rsj", day(12), true))
        .await;
    h.case_event(
        "evaluated",
        &a,
        evaluated(&a, "rsj", Rating::Satisfied, Rating::Dissatisfied, day(13)),
    )
    .await;
    // B: a repeat; assigned late (day 20 > D1), accepted late (day 40 > D3), not replied yet.
    h.case_event("registered", &b, registered(&b, &c, t0, "rsj", true))
        .await;
    h.case_event("assigned", &b, assigned(&b, "rsj", day(20)))
        .await;
    h.case_event("accepted", &b, accepted(&b, "rsj", day(40)))
        .await;
    // C: never disposed by the bureau; its D1 is overdue now.
    h.case_event("registered", &cc, registered(&cc, &c, t0, "zjj", false))
        .await;
    // D: diverted on time.
    h.case_event("registered", &d, registered(&d, &c, t0, "rsj", false))
        .await;
    h.case_event(
        "diverted",
        &d,
        Diverted {
            case_no: d.clone(),
            diversion: None,
            organ: "法院".into(),
            guidance: "依法起诉".into(),
            at: day(3),
            after_acceptance: false,
            department: None,
            served_on: None,
        },
    )
    .await;

    h.env
        .wait_for("facts projected and C's D1 fired", 20, async || {
            let evaluated: i64 = sqlx::query_scalar("select count(*) from cases where evaluated_at is not null")
                .fetch_one(h.pool())
                .await
                .unwrap();
            let d1_open: i64 = sqlx::query_scalar(
                "select count(*) from deadlines where kind = 'D1' and (state in ('pending', 'paused') or (state = 'fired' and closed_at is null))",
            )
            .fetch_one(h.pool())
            .await
            .unwrap();
            let c_fired: i64 = sqlx::query_scalar(
                "select count(*) from deadlines where kind = 'D1' and case_no = $1 and state = 'fired'",
            )
            .bind(&cc)
            .fetch_one(h.pool())
            .await
            .unwrap();
            let b_accepted: i64 = sqlx::query_scalar("select count(*) from cases where accepted_at is not null")
                .fetch_one(h.pool())
                .await
                .unwrap();
            let diverted: i64 = sqlx::query_scalar("select count(*) from cases where disposed_at is not null")
                .fetch_one(h.pool())
                .await
                .unwrap();
            evaluated == 1 && d1_open == 1 && c_fired == 1 && b_accepted == 2 && diverted == 3
        })
        .await;

    let from = cst_date(t0 - TimeDelta::days(1));
    let to = cst_date(h.now());
    let get = |q: String| {
        let base = base.clone();
        async move {
            let r = client()
                .get(format!("{base}/v1/stats?{q}"))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = get(format!("county={c}&from={from}&to={to}")).await;
    assert_eq!(status, 200, "{body}");
    let k: Kpis = serde_json::from_value(body).unwrap();
    assert_eq!((k.registered, k.repeats), (4, 1));
    let bt = k.bureau.timely_acceptance;
    assert_eq!((bt.on_time, bt.late, bt.overdue_open), (2, 1, 1));
    assert_eq!(bt.rate.rate, Some(0.5));
    let ut = k.unit.timely_acceptance;
    assert_eq!((ut.on_time, ut.late, ut.overdue_open), (1, 1, 0));
    let oc = k.unit.on_time_completion;
    assert_eq!(
        (oc.on_time, oc.late, oc.open, oc.overdue_open),
        (1, 0, 1, 0)
    );
    assert_eq!(oc.rate.rate, Some(0.5));
    assert_eq!(
        (
            k.bureau.participation.numerator,
            k.bureau.participation.denominator
        ),
        (1, 1)
    );
    assert_eq!(k.bureau.satisfaction.rate, Some(1.0));
    assert_eq!(k.unit.satisfaction.rate, Some(0.0));
    assert_eq!(k.unit.average_handling_days, Some(10.0));
    assert_eq!(k.bureau.overdue_now, 1);
    assert_eq!(k.unit.overdue_now, 0);
    // The same matters counted from how their clocks ended (issue #20): D1 met by A and D, met
    // late by B, missed by C; D3 met by A, met late by B.
    let d1 = k.deadlines["D1"];
    assert_eq!(
        (d1.met, d1.met_late, d1.missed, d1.withdrawn, d1.open),
        (2, 1, 1, 0, 0)
    );
    assert_eq!(d1.on_time.rate, Some(0.5));
    let d3 = k.deadlines["D3"];
    assert_eq!((d3.met, d3.met_late, d3.missed), (1, 1, 0));
    assert!(render_table(&k).contains("及时受理率"));
    assert!(render_csv(&k).contains(",bureau,timely_acceptance,2,4,50.0"));

    // Per department: C belongs to zjj.
    let (_, body) = get(format!("county={c}&dept=rsj&from={from}&to={to}")).await;
    let k: Kpis = serde_json::from_value(body).unwrap();
    assert_eq!(k.registered, 3);
    assert_eq!(k.bureau.timely_acceptance.overdue_open, 0);
    let (_, body) = get(format!("county={c}&dept=zjj&from={from}&to={to}")).await;
    let k: Kpis = serde_json::from_value(body).unwrap();
    assert_eq!(
        (k.registered, k.bureau.timely_acceptance.overdue_open),
        (1, 1)
    );
    // A period before everything is empty, with no scores rather than zeros.
    let (_, body) = get(format!("county={c}&from=2020-01-01&to=2020-01-31")).await;
    let k: Kpis = serde_json::from_value(body).unwrap();
    assert_eq!(k.registered, 0);
    assert_eq!(k.bureau.timely_acceptance.rate.rate, None);

    for (q, field) in [
        ("county=411224".to_owned(), "county"),
        ("from=2026-02-30".to_owned(), "from"),
        ("from=2026-03-02&to=2026-03-01".to_owned(), "from"),
        ("dept=RSJ".to_owned(), "dept"),
    ] {
        let (status, body) = get(q).await;
        assert_eq!(status, 422);
        assert_eq!(body["error"]["field"], field);
    }
    h.stop().await;
}

/// The deadline board: a county's open clocks by due time, one department's on request, a
/// met clock gone from it.
#[tokio::test]
async fn the_board_lists_a_countys_open_clocks_soonest_first() {
    let h = Harness::start("").await;
    let c = h.county();
    let base = format!("http://{}", h.sup.started.http);
    let t0 = h.now() - TimeDelta::days(1);
    let (a, b) = (h.case_no(1), h.case_no(2));
    h.case_event("registered", &a, registered(&a, &c, t0, "rsj", false))
        .await;
    h.case_event("assigned", &a, assigned(&a, "rsj", t0)).await;
    h.case_event("registered", &b, registered(&b, &c, t0, "gaj", false))
        .await;
    h.case_event("assigned", &b, assigned(&b, "gaj", t0)).await;
    let board = async |q: &str| -> Value {
        let r = client()
            .get(format!("{base}/v1/deadlines?county={c}{q}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{q}");
        r.json().await.unwrap()
    };
    h.env
        .wait_for("both cases' clocks", 15, async || {
            let v = board("&within_days=60").await;
            let cases: Vec<&str> = v["deadlines"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|d| d["case_no"].as_str())
                .collect();
            cases.contains(&a.as_str()) && cases.contains(&b.as_str())
        })
        .await;
    let all = board("&within_days=60").await;
    let due: Vec<&str> = all["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["due_at"].as_str().unwrap())
        .collect();
    let mut sorted = due.clone();
    sorted.sort();
    assert_eq!(due, sorted, "soonest first");
    let rsj = board("&within_days=60&department=rsj").await;
    assert!(
        rsj["deadlines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["department"] == "rsj" && d["case_no"] == a.as_str()),
        "{rsj}"
    );
    // Nothing of these is due within 0 days (D3 is 15 days): a short window is empty.
    let soon = board("&within_days=0").await;
    assert!(soon["deadlines"].as_array().unwrap().is_empty(), "{soon}");
    // Accepting meets D3: it leaves the board, while D5 starts.
    h.case_event("accepted", &a, accepted(&a, "rsj", h.now()))
        .await;
    h.env
        .wait_for(
            "D3 of the accepted case to leave the board",
            15,
            async || {
                let v = board("&within_days=60&department=rsj").await;
                !v["deadlines"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|d| d["kind"] == "D3")
            },
        )
        .await;
    for bad in ["&within_days=999", "&limit=0", "&department=Not-A-Code"] {
        let r = client()
            .get(format!("{base}/v1/deadlines?county={c}{bad}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{bad}");
    }
    h.stop().await;
}

/// 县区对比: each served county's figures for the month with its rank, the diversions counted
/// apart (at intake, after acceptance) and equal to a direct count of the projection.
#[tokio::test]
async fn counties_are_compared_and_ranked_month_by_month() {
    use xinfang_domain::petition::Diversion;
    let h = Harness::start("").await;
    let c = h.county();
    let city = h.env.city.clone();
    let base = format!("http://{}", h.sup.started.http);
    let now = h.now();
    let (a, b) = (h.case_no(1), h.case_no(2));
    for n in [&a, &b] {
        h.case_event("registered", n, registered(n, &c, now, "rsj", false))
            .await;
    }
    let diverted = |n: &str, after: bool| Diverted {
        case_no: n.to_owned(),
        diversion: Some(Diversion::Arbitration),
        organ: "劳动人事争议仲裁委员会".into(),
        guidance: "依法申请仲裁".into(),
        at: now,
        after_acceptance: after,
        department: after.then(|| "rsj".to_owned()),
        served_on: None,
    };
    h.case_event("diverted", &a, diverted(&a, false)).await;
    h.case_event("diverted", &b, diverted(&b, true)).await;
    // One matter in the city, not diverted.
    let city_case = format!("XF-{city}-2026-000001");
    let env = xinfang_domain::envelope::Envelope::new(
        "registered",
        Some(city_case.clone()),
        city.clone(),
        chrono::Utc::now(),
        registered(&city_case, &city, now, "gaj", false),
    )
    .unwrap();
    xinfang_platform::nats::publish(
        &h.env.infra.js,
        &xinfang_domain::subject::case_event(&city, "registered").unwrap(),
        &env,
    )
    .await
    .unwrap()
    .await
    .unwrap();
    h.env
        .wait_for("three cases projected, two diverted", 15, async || {
            let (all, div): (i64, i64) = sqlx::query_as(
                "select count(*), count(*) filter (where diverted_at is not null) from cases",
            )
            .fetch_one(h.pool())
            .await
            .unwrap();
            all == 3 && div == 2
        })
        .await;
    let r = client()
        .get(format!("{base}/v1/stats/comparison?months=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v}");
    let row = |county: &str| {
        rows.iter()
            .find(|r| r["county"] == county)
            .unwrap_or_else(|| panic!("{county} in {v}"))
    };
    let (rc, rcity) = (row(c.as_str()), row(city.as_str()));
    let direct: (i64, i64) = sqlx::query_as(
        "select count(*) filter (where not diverted_after_acceptance),
                count(*) filter (where diverted_after_acceptance)
         from cases where county = $1 and diverted_at is not null",
    )
    .bind(c.as_str())
    .fetch_one(h.pool())
    .await
    .unwrap();
    assert_eq!(rc["diverted_at_intake"], direct.0, "{rc}");
    assert_eq!(rc["diverted_after_acceptance"], direct.1, "{rc}");
    assert_eq!((direct.0, direct.1), (1, 1));
    assert_eq!(rcity["diverted_at_intake"], 0);
    assert_eq!(rc["registered"], 2);
    assert_eq!(rcity["registered"], 1);
    assert_eq!(rc["ranks"]["diverted"], 1);
    assert_eq!(rcity["ranks"]["diverted"], 2);
    assert_eq!(rc["ranks"]["registered"], 1);
    assert_eq!(v["metrics"].as_array().unwrap().len(), 7);
    // The KPI report counts the same diversions.
    let k: Value = client()
        .get(format!("{base}/v1/stats?county={c}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(k["diversions"]["at_intake"], 1, "{k}");
    assert_eq!(k["diversions"]["after_acceptance"], 1, "{k}");
    assert_eq!(k["diversions"]["by_channel"]["arbitration"], 2, "{k}");
    for bad in ["months=13", "months=0", "to=2099-01", "to=december"] {
        let r = client()
            .get(format!("{base}/v1/stats/comparison?{bad}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{bad}");
    }
    h.stop().await;
}

/// A county's matter handled by a city department (`organ_county` on the assignment): the
/// unit's clocks bind the city's organ, and their warnings go to the city department's own
/// subject, addressed to it — never to the county's department of the same code.
#[tokio::test]
async fn a_city_department_on_a_county_case_hears_on_its_own_subject() {
    let h = Harness::start("").await;
    let c = h.county();
    let city = h.env.city.clone();
    let a = h.case_no(1);
    let t0 = h.now();
    h.case_event("registered", &a, registered(&a, &c, t0, "rsj", false))
        .await;
    let mut assignment = assigned(&a, "rsj", t0);
    assignment.organ_county = Some(city.to_string());
    h.case_event("assigned", &a, assignment).await;
    let organ = format!("{city}:rsj");
    h.env
        .wait_for("D3 bound to the city's rsj", 15, async || {
            h.deadlines(&a)
                .await
                .iter()
                .any(|r| r.kind == "D3" && r.department.as_deref() == Some(organ.as_str()))
        })
        .await;
    h.advance_to(end_of_day_after(t0, 15) + TimeDelta::minutes(1));
    let city_filter = format!("xf.{city}.dept.rsj.overdue");
    let mut data = Value::Null;
    h.env
        .wait_for(
            "the overdue notice on the city department's subject",
            15,
            async || {
                for m in h.env.read(&city, &city_filter).await {
                    let env: xinfang_domain::envelope::Envelope =
                        serde_json::from_slice(&m.payload).unwrap();
                    if env.case_id.as_deref() == Some(a.as_str()) && env.data["deadline"] == "D3" {
                        data = env.data.clone();
                        return true;
                    }
                }
                false
            },
        )
        .await;
    assert_eq!(data["addressee"]["county"], city.as_str(), "{data}");
    assert_eq!(data["addressee"]["level"], "city", "{data}");
    assert_eq!(data["addressee"]["department"], "rsj", "{data}");
    let county_copies = h.env.read(&c, &format!("xf.{c}.dept.rsj.>")).await;
    assert!(
        county_copies.is_empty(),
        "the county's own rsj hears nothing of a case it does not have"
    );
    h.stop().await;
}
