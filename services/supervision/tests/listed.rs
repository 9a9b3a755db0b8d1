//! Listed matters (清单, issue #15 item 1): a listed source lists the matter at registration with
//! its milestones; the lists per source, weekly progress, milestones, KPIs (their own and the
//! `listed=` subset of `GET /v1/stats`), the earlier 督办, and validation.

mod common;

use std::collections::BTreeMap;

use chrono::TimeDelta;
use common::*;
use serde_json::{Value, json};
use xinfang_domain::events::kind;
use xinfang_domain::petition::Channel;

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn get(base: &str, path: &str) -> (u16, Value) {
    let r = client().get(format!("{base}{path}")).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn post(base: &str, path: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// Waits until supervision's projection knows the case.
async fn wait_case(h: &Harness, case: &str) {
    h.env
        .wait_for(&format!("{case} projected"), 15, async || {
            sqlx::query_scalar::<_, i64>(
                "select count(*) from cases where case_no = $1 and registered_at is not null",
            )
            .bind(case)
            .fetch_one(h.pool())
            .await
            .unwrap()
                == 1
        })
        .await;
}

#[tokio::test]
async fn a_listed_source_lists_the_matter_with_milestones_progress_and_kpis() {
    let h = Harness::start("").await;
    let base = format!("http://{}", h.sup.started.http);
    let county = h.county();
    let now = h.now();

    // Two matters handed down by the provincial joint office, one ordinary petition.
    let listed_a = h.case_no(1);
    let listed_b = h.case_no(2);
    let ordinary = h.case_no(3);
    for (case, source) in [
        (&listed_a, Some("provincial_joint")),
        (&listed_b, Some("provincial_joint")),
        (&ordinary, None),
    ] {
        let mut r = registered(case, &county, now, "rsj", false);
        r.source = source.map(str::to_owned);
        r.listed = source.is_some();
        r.channel = Channel::Visit;
        r.group_size = 6;
        r.town = Some("原店镇".into());
        r.redacted_text = Some("村里修物流园占地没有补偿。请求处理。".into());
        r.matter_words = Some(BTreeMap::from([
            ("物流园".to_owned(), 4.5),
            ("占地".to_owned(), 2.0),
        ]));
        h.case_event(kind::REGISTERED, case, r).await;
    }
    for case in [&listed_a, &listed_b, &ordinary] {
        wait_case(&h, case).await;
    }

    // The projection keeps what the weekly analysis needs.
    let (channel, town, group, listed, words): (
        Option<String>,
        Option<String>,
        i32,
        bool,
        Option<Value>,
    ) = sqlx::query_as(
        "select channel, town, group_size, listed, matter_words from cases where case_no = $1",
    )
    .bind(&listed_a)
    .fetch_one(h.pool())
    .await
    .unwrap();
    assert_eq!(channel.as_deref(), Some("visit"));
    assert_eq!(town.as_deref(), Some("原店镇"));
    assert_eq!(group, 6);
    assert!(listed);
    assert_eq!(words.unwrap()["物流园"], 4.5);

    // The list: one per listed source, ours with two items and the configured milestones.
    let (s, v) = get(&base, "/v1/listed?source=provincial_joint").await;
    assert_eq!(s, 200, "{v}");
    let lists = v["lists"].as_array().unwrap();
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0]["name"], "省联席办交办");
    let items = lists[0]["items"].as_array().unwrap();
    let cases: Vec<&str> = items
        .iter()
        .map(|i| i["case_no"].as_str().unwrap())
        .collect();
    assert_eq!(cases, vec![listed_a.as_str(), listed_b.as_str()]);
    let a = &items[0];
    assert_eq!(a["title"], "村里修物流园占地没有补偿");
    let ms = a["milestones"].as_array().unwrap();
    assert_eq!(
        ms.iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["签收交办", "调查核实", "办结反馈"]
    );
    assert_eq!(a["progress_this_week"], false);
    assert_eq!(a["overdue_milestones"], 0);
    // The ordinary petition is on no list.
    let (_, all) = get(&base, "/v1/listed").await;
    assert!(!all.to_string().contains(&ordinary));

    // Weekly progress, then a second entry in the same week replaces the first.
    let progress = json!({"who": "县人社局", "done": "已约谈用地单位", "next_step": "测算补偿", "due": "2027-01-10"});
    let (s, v) = post(
        &base,
        &format!("/v1/listed/{listed_a}/progress"),
        progress.clone(),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let mut again = progress.clone();
    again["done"] = json!("已完成测算");
    let (s, v) = post(&base, &format!("/v1/listed/{listed_a}/progress"), again).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["progress"].as_array().unwrap().len(), 1);
    assert_eq!(v["latest_progress"]["done"], "已完成测算");
    assert_eq!(v["progress_this_week"], true);

    // The first milestone is reached in time; B's passes its due time unmet.
    let first = ms[0]["id"].as_str().unwrap();
    let (s, v) = post(
        &base,
        &format!("/v1/listed/{listed_a}/milestones/{first}/done"),
        json!({"note": "已签收"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = post(
        &base,
        &format!("/v1/listed/{listed_a}/milestones/{first}/done"),
        json!({}),
    )
    .await;
    assert_eq!(s, 409, "twice");
    h.advance_to(now + TimeDelta::days(4));
    let (_, v) = get(&base, &format!("/v1/listed/{listed_b}")).await;
    assert_eq!(v["overdue_milestones"], 1, "{v}");

    // Own KPIs per source, counted from what happened above.
    let (s, v) = get(&base, "/v1/listed/kpis").await;
    assert_eq!(s, 200, "{v}");
    let k = v["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["source"] == "provincial_joint")
        .unwrap()
        .clone();
    assert_eq!(k["matters"], 2);
    assert_eq!(k["milestones"], 6);
    assert_eq!(k["milestones_done"], 1);
    assert_eq!(k["milestones_done_on_time"], 1);
    assert_eq!(k["milestones_overdue"], 1, "B's first milestone");

    // The KPIs of `GET /v1/stats` for the listed subset count two of the three registrations.
    let from = cst_date(now).format("%Y-%m-%d");
    let (s, all) = get(&base, &format!("/v1/stats?from={from}&to={from}")).await;
    assert_eq!(s, 200, "{all}");
    let (_, listed_only) = get(
        &base,
        &format!("/v1/stats?from={from}&to={from}&listed=true"),
    )
    .await;
    let (_, by_source) = get(
        &base,
        &format!("/v1/stats?from={from}&to={from}&source=provincial_joint"),
    )
    .await;
    assert_eq!(all["registered"], 3);
    assert_eq!(listed_only["registered"], 2, "{listed_only}");
    assert_eq!(by_source["registered"], 2);
    assert_eq!(listed_only["subset"]["listed"], true);

    // 包案: a leader owns the ordinary case; `leader=` gives the KPIs of the leader's cases.
    let (s, v) = post(
        &base,
        "/v1/leaders",
        json!({"id": "wang", "name": "王五", "title": "副县长", "county": county.as_str()}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = post(
        &base,
        "/v1/leaders/wang/cases",
        json!({"case_no": ordinary}),
    )
    .await;
    assert!((200..300).contains(&s), "{v}");
    let (_, by_leader) = get(
        &base,
        &format!("/v1/stats?from={from}&to={from}&leader=wang"),
    )
    .await;
    assert_eq!(by_leader["registered"], 1, "{by_leader}");
    assert_eq!(by_leader["subset"]["leader"], "wang");
    let (s, e) = get(
        &base,
        &format!("/v1/stats?from={from}&to={from}&leader=Wang%20X"),
    )
    .await;
    assert_eq!((s, e["error"]["field"].as_str()), (422, Some("leader")));

    // Closing takes it off the open list.
    let (s, _) = post(&base, &format!("/v1/listed/{listed_b}/close"), json!({})).await;
    assert_eq!(s, 200);
    let (_, v) = get(&base, "/v1/listed?source=provincial_joint").await;
    assert_eq!(v["lists"][0]["count"], 1);
    let (_, v) = get(&base, "/v1/listed?source=provincial_joint&closed=true").await;
    assert_eq!(v["lists"][0]["count"], 2);
    h.stop().await;
}

#[tokio::test]
async fn a_case_listed_later_is_announced_and_bad_requests_name_the_field() {
    let h = Harness::start("").await;
    let base = format!("http://{}", h.sup.started.http);
    let county = h.county();
    let case = h.case_no(11);
    h.case_event(
        kind::REGISTERED,
        &case,
        registered(&case, &county, h.now(), "zjj", false),
    )
    .await;
    wait_case(&h, &case).await;

    let good = json!({"case_no": case, "source": "leader_instruction", "title": "领导批示：小区停水",
                      "milestones": [{"name": "调查核实", "due": "2027-01-15"}]});
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        b
    };
    for (body, field, code) in [
        (with("case_no", json!("XF 1;")), "case_no", "case_number"),
        (
            with("source", json!("mayor_hotline")),
            "source",
            "unknown_value",
        ),
        (with("source", json!("ordinary")), "source", "not_listed"),
        (
            with("title", json!("题".repeat(101))),
            "title",
            "max_length",
        ),
        (
            with("milestones", json!([{"name": "x", "due": "next week"}])),
            "milestones[0].due",
            "date",
        ),
        (
            with("milestones", json!([{"due": "2027-01-01"}])),
            "milestones[0].name",
            "required",
        ),
    ] {
        let (s, e) = post(&base, "/v1/listed", body).await;
        assert_eq!(s, 422, "{field}: {e}");
        assert_eq!(e["error"]["field"], field, "{e}");
        assert_eq!(e["error"]["code"], code, "{e}");
    }
    let unknown = h.case_no(99);
    let (s, _) = post(&base, "/v1/listed", with("case_no", json!(unknown))).await;
    assert_eq!(s, 404, "a case supervision never heard of");

    let (s, v) = post(&base, "/v1/listed", good.clone()).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["source_name"], "领导批示");
    assert_eq!(v["milestones"].as_array().unwrap().len(), 1);
    let (s, _) = post(&base, "/v1/listed", good.clone()).await;
    assert_eq!(s, 200, "listing again from the same source changes nothing");
    let (s, e) = post(&base, "/v1/listed", with("source", json!("superior"))).await;
    assert_eq!(s, 409, "{e}");

    // `case.listed` goes on the case's record (and so on its timeline).
    let mut listed = Vec::new();
    h.env
        .wait_for("case.listed published", 10, async || {
            listed = h.messages(&format!("xf.{county}.case.listed")).await;
            !listed.is_empty()
        })
        .await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].1.data["source"], "leader_instruction");

    let (s, e) = post(
        &base,
        &format!("/v1/listed/{case}/progress"),
        json!({"who": "", "done": "x", "next_step": "y"}),
    )
    .await;
    assert_eq!((s, e["error"]["field"].as_str()), (422, Some("who")));
    h.stop().await;
}

#[tokio::test]
async fn listed_matters_are_escalated_before_their_deadlines_fall_due_and_only_once() {
    // Warnings off so only the earlier 督办 can write a record before the due time.
    let h = Harness::start(
        "[supervision.listed]\nescalate_days_before_due = 5\nsweep_interval_secs = 3600\n",
    )
    .await;
    let county = h.county();
    let now = h.now();
    let listed = h.case_no(21);
    let ordinary = h.case_no(22);
    for (case, source) in [(&listed, Some("central_inspection")), (&ordinary, None)] {
        let mut r = registered(case, &county, now, "rsj", false);
        r.source = source.map(str::to_owned);
        r.listed = source.is_some();
        h.case_event(kind::REGISTERED, case, r).await;
    }
    // D1 (15 days) runs on both.
    let d1 = h.wait_state(&listed, "D1", "pending").await;
    h.wait_state(&ordinary, "D1", "pending").await;
    let rules = h.sup.rules.clone();
    let sweep = |at| {
        let rules = rules.clone();
        let pool = h.pool().clone();
        let counties = vec![county.clone()];
        async move {
            xinfang_supervision::listed::escalate::sweep(&pool, &rules, at, &counties)
                .await
                .unwrap()
        }
    };
    // Out of reach: nothing.
    assert_eq!(sweep(d1.due_at - TimeDelta::days(6)).await, 0);
    // Within five days of D1: one 督办 on the listed matter only, and later sweeps add none.
    // (A sweep skips a clock another transaction holds — the indexer marking it — so it is
    // tried again until it has written.)
    let mut written = 0;
    for _ in 0..50 {
        written += sweep(d1.due_at - TimeDelta::days(4)).await;
        if written > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(written, 1);
    assert_eq!(sweep(d1.due_at - TimeDelta::days(4)).await, 0);
    assert_eq!(sweep(d1.due_at - TimeDelta::days(3)).await, 0);
    let notes: Vec<(String, String, String)> =
        sqlx::query_as("select case_no, form, note from supervisions order by created_at")
            .fetch_all(h.pool())
            .await
            .unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].0, listed);
    assert_eq!(notes[0].1, "escalation");
    assert!(notes[0].2.starts_with("清单事项提前督办"), "{}", notes[0].2);
    // Its response deadline is tracked like any 督办's, due no later than D1 itself.
    let sup = h.wait_state(&listed, "supervision", "pending").await;
    assert!(sup.due_at <= d1.due_at);
    h.stop().await;
}
