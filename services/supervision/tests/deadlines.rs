//! Lifecycle facts create, move, pause and close deadlines; the injected clock fires warnings,
//! overdue events and escalations without waiting days.

mod common;

use chrono::{TimeDelta, Utc};
use common::*;
use xinfang_domain::calendar::Calendar;
use xinfang_domain::deadline::{Adjustments, DeadlineKind, DeadlineRules, compute};
use xinfang_domain::events::{ReviewLevel, Supervised};
use xinfang_domain::petition::{Art31Branch, Rating};

#[tokio::test]
async fn a_reclassification_moves_starts_or_stops_the_running_handling_deadline() {
    // 31(5) matters get 30 days here, 31(1) ones none (their own procedure's limits apply).
    let h = Harness::start("[deadlines.handling_by_branch]\n\"31_1\" = \"none\"\n\"31_5\" = 30\n")
        .await;
    let c = h.county();
    let case = h.case_no(1);
    let t0 = Utc::now();
    h.case_event("registered", &case, registered(&case, &c, t0, "rsj", false))
        .await;
    h.case_event("assigned", &case, assigned(&case, "rsj", t0))
        .await;
    let tacc = h.now();
    h.case_event("accepted", &case, accepted(&case, "rsj", tacc))
        .await;
    let d5 = h.wait_state(&case, "D5", "pending").await;
    assert_eq!(d5.due_at, end_of_day_after(tacc, 60));

    // Into 31(5): the same clock, now 30 days from acceptance.
    let reclassify = async |branch| {
        h.case_event(
            "reclassified",
            &case,
            reclassified(&case, &c, "rsj", branch),
        )
        .await;
    };
    reclassify(Art31Branch::DutyPerformance).await;
    h.env
        .wait_for("D5 moved to 30 days", 15, async || {
            h.deadlines(&case).await.iter().any(|r| {
                r.id == d5.id && r.state == "pending" && r.due_at == end_of_day_after(tacc, 30)
            })
        })
        .await;

    // Into 31(1): no handling deadline applies, so the clock stops.
    reclassify(Art31Branch::LegalProcedure).await;
    let stopped = h.wait_state(&case, "D5", "withdrawn").await;
    assert_eq!(stopped.close_reason.as_deref(), Some("reclassified"));

    // Back into 31(6): a clock runs again, 60 days from the acceptance date.
    reclassify(Art31Branch::Residual).await;
    let again = h.wait_state(&case, "D5", "pending").await;
    assert_ne!(again.id, d5.id);
    assert_eq!(again.due_at, end_of_day_after(tacc, 60));

    // A matter accepted without a handling deadline gets one when reclassified into 31(6).
    let other = h.case_no(2);
    let mut r = registered(&other, &c, t0, "rsj", false);
    r.branch = Some(Art31Branch::LegalProcedure);
    h.case_event("registered", &other, r).await;
    let mut a = assigned(&other, "rsj", t0);
    a.branch = Some(Art31Branch::LegalProcedure);
    h.case_event("assigned", &other, a).await;
    h.case_event("accepted", &other, accepted(&other, "rsj", tacc))
        .await;
    h.wait_state(&other, "D3", "met").await;
    assert!(h.deadlines(&other).await.iter().all(|r| r.kind != "D5"));
    h.case_event(
        "reclassified",
        &other,
        reclassified(&other, &c, "rsj", Art31Branch::Residual),
    )
    .await;
    let started = h.wait_state(&other, "D5", "pending").await;
    assert_eq!(started.due_at, end_of_day_after(tacc, 60));
    assert_eq!(started.department.as_deref(), Some("rsj"));
    h.stop().await;
}

#[tokio::test]
async fn case_facts_drive_d1_to_d7_and_the_clock_fires_warnings_extensions_and_escalations() {
    let h = Harness::start("").await;
    let c = h.county();
    let case = h.case_no(1);
    let t0 = Utc::now();

    // Registration starts D1 for the bureau: 15 days from receipt, warning 3 days before.
    h.case_event("registered", &case, registered(&case, &c, t0, "rsj", false))
        .await;
    let d1 = h.wait_state(&case, "D1", "pending").await;
    assert_eq!(d1.due_at, end_of_day_after(t0, 15));
    assert_eq!(d1.warn_at, Some(d1.due_at - TimeDelta::days(3)));
    assert_eq!(d1.department.as_deref(), Some("xfj"));
    assert!(h.fired(&case, "D1", "warning").await.is_empty());
    // The same fact published again (a new envelope id, so neither JetStream nor the inbox
    // drops it) leaves exactly one open D1, with the same due time.
    h.case_event("registered", &case, registered(&case, &c, t0, "rsj", false))
        .await;
    h.env
        .wait_for("the repeated registration handled", 15, async || {
            h.deadlines(&case)
                .await
                .iter()
                .any(|r| r.state == "withdrawn")
        })
        .await;
    let open: Vec<_> = h
        .deadlines(&case)
        .await
        .into_iter()
        .filter(|r| r.kind == "D1" && r.state == "pending")
        .collect();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].due_at, d1.due_at);
    let d1 = open[0].clone();

    // Into the warning window: the bureau and the deadline subject are warned, once.
    h.advance_to(d1.warn_at.unwrap() + TimeDelta::minutes(1));
    let w = h.wait_fired(&case, "D1", "warning", 2).await;
    assert_eq!(
        w,
        vec![
            format!("xf.{c}.deadline.warning"),
            format!("xf.{c}.dept.xfj.warning")
        ]
    );
    settle().await;
    assert_eq!(
        h.fired(&case, "D1", "warning").await.len(),
        2,
        "warned once"
    );
    assert!(h.fired(&case, "D1", "overdue").await.is_empty());

    // Assignment closes D1 and starts D3 (15 days) and D4 (5 working days) for the unit.
    let ta = h.now();
    h.case_event("assigned", &case, assigned(&case, "rsj", ta))
        .await;
    let d3 = h.wait_state(&case, "D3", "pending").await;
    let d4 = h.wait_state(&case, "D4", "pending").await;
    h.wait_state(&case, "D1", "met").await;
    assert_eq!(d3.due_at, end_of_day_after(ta, 15));
    let expect_d4 = compute(
        DeadlineKind::D4,
        ta.fixed_offset(),
        &Calendar::embedded(),
        &DeadlineRules::default(),
        &Adjustments::default(),
    )
    .unwrap()
    .due
    .unwrap();
    assert_eq!(d4.due_at, expect_d4);
    assert_eq!(d3.department.as_deref(), Some("rsj"));

    // Acceptance closes D3/D4 and starts D5: 60 days from the acceptance date.
    let tacc = h.now();
    h.case_event("accepted", &case, accepted(&case, "rsj", tacc))
        .await;
    let d5 = h.wait_state(&case, "D5", "pending").await;
    h.wait_state(&case, "D3", "met").await;
    // The acceptance makes the objection window moot.
    h.wait_state(&case, "D4", "withdrawn").await;
    assert_eq!(d5.due_at, end_of_day_after(tacc, 60));

    // The extension moves the same clock to D6, 30 days later.
    h.case_event("extended", &case, extended(&case, "rsj", 30, h.now()))
        .await;
    let d6 = h.wait_state(&case, "D6", "pending").await;
    assert_eq!(d6.id, d5.id);
    assert_eq!(d6.due_at, end_of_day_after(tacc, 90));
    assert_eq!(d6.extension_days, Some(30));
    assert!(d6.generation > d5.generation);

    // Past the original D5 date nothing fires: the deadline moved.
    h.advance_to(d5.due_at + TimeDelta::days(1));
    settle().await;
    settle().await;
    assert!(h.fired(&case, "D6", "overdue").await.is_empty());
    assert!(h.fired(&case, "D5", "overdue").await.is_empty());

    // Past D6: overdue to the unit and the deadline subject, and a 督办 escalation.
    h.advance_to(d6.due_at + TimeDelta::minutes(1));
    let o = h.wait_fired(&case, "D6", "overdue", 2).await;
    assert_eq!(
        o,
        vec![
            format!("xf.{c}.deadline.overdue"),
            format!("xf.{c}.dept.rsj.overdue")
        ]
    );
    h.wait_state(&case, "D6", "fired").await;
    let sup = h.wait_state(&case, "supervision", "pending").await;
    assert_eq!(sup.department.as_deref(), Some("rsj"));
    let mut escalations = Vec::new();
    h.env
        .wait_for("case.supervised", 15, async || {
            escalations = h.messages(&format!("xf.{c}.case.supervised")).await;
            !escalations.is_empty()
        })
        .await;
    let s: Supervised = escalations[0].1.data_as().unwrap();
    assert_eq!(s.form, "escalation");
    assert_eq!(s.department, "rsj");
    assert!(s.note.contains("D6"));
    assert_eq!(
        h.messages(&format!("xf.{c}.dept.rsj.supervision"))
            .await
            .len(),
        1
    );

    // The (late) reply closes D6 and the 督办 response clock; a handling opinion opens D7 and
    // every reply opens the evaluation window.
    let tr = h.now();
    h.case_event("replied", &case, replied(&case, "rsj", tr, true))
        .await;
    let d7 = h.wait_state(&case, "D7", "pending").await;
    assert_eq!(d7.due_at, end_of_day_after(tr, 30));
    let ev = h.wait_state(&case, "eval", "pending").await;
    assert_eq!(ev.due_at, end_of_day_after(tr, 30));
    h.wait_state(&case, "supervision", "met").await;
    let rows = h.deadlines(&case).await;
    let d6 = rows.iter().find(|r| r.kind == "D6").unwrap();
    // Passed, then met: met late (issue #20), no longer an open overdue.
    assert_eq!(d6.state, "met_late");
    assert_eq!(d6.close_reason.as_deref(), Some("replied"));

    // Evaluation closes the window.
    h.case_event(
        "evaluated",
        &case,
        evaluated(&case, "rsj", Rating::Satisfied, Rating::Satisfied, h.now()),
    )
    .await;
    h.wait_state(&case, "eval", "met").await;

    // Every event fired exactly once: each deterministic id is unique in the stream.
    let all = h.messages(&format!("xf.{c}.>")).await;
    let mut ids: Vec<_> = all.iter().map(|(_, e)| e.id).collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n);
    h.stop().await;
}

#[tokio::test]
async fn the_case_countys_copy_of_a_review_at_the_city_keeps_only_the_petitioners_windows() {
    let h = Harness::start("").await;
    let c = h.county();
    let case = h.case_no(3);
    let t0 = Utc::now();
    h.case_event("replied", &case, replied(&case, "rsj", t0, true))
        .await;
    h.wait_state(&case, "D7", "pending").await;
    // The 复查 organ is the city's: the city's deployment tracks its D8. The copy on this
    // county's subjects closes the petitioner's D7 and starts nothing.
    let mut at_city = review(&case, &c, ReviewLevel::Review, t0, None);
    at_city.organ = format!("{}:gov", h.env.city);
    h.review_event("requested", at_city).await;
    h.wait_state(&case, "D7", "met").await;
    settle().await;
    assert!(
        h.deadlines(&case).await.iter().all(|r| r.kind != "D8"),
        "D8 is the city's to track"
    );
    h.stop().await;
}

#[tokio::test]
async fn review_facts_drive_d8_to_d10_and_hearings_pause_d10() {
    // D10 without roll-over, so the hearing days show one for one whatever today's weekday.
    let h = Harness::start("[deadlines.kinds.D10]\nroll_over = false\n").await;
    let d10_rules = DeadlineRules::default()
        .with_roll_over(DeadlineKind::D10, false)
        .unwrap();
    let c = h.county();
    let case = h.case_no(2);
    let t0 = Utc::now();

    h.case_event("replied", &case, replied(&case, "rsj", t0, true))
        .await;
    h.wait_state(&case, "D7", "pending").await;
    h.review_event(
        "requested",
        review(
            &case,
            &c,
            ReviewLevel::Review,
            t0 + TimeDelta::days(3),
            None,
        ),
    )
    .await;
    let d8 = h.wait_state(&case, "D8", "pending").await;
    h.wait_state(&case, "D7", "met").await;
    assert_eq!(d8.due_at, end_of_day_after(t0 + TimeDelta::days(3), 30));
    assert_eq!(d8.department.as_deref(), Some("shfj"));

    let served = cst_date(t0 + TimeDelta::days(20));
    h.review_event(
        "decided",
        review(
            &case,
            &c,
            ReviewLevel::Review,
            t0 + TimeDelta::days(19),
            Some(served),
        ),
    )
    .await;
    let d9 = h.wait_state(&case, "D9", "pending").await;
    h.wait_state(&case, "D8", "met").await;
    assert_eq!(d9.due_at, end_of_day_after(t0 + TimeDelta::days(20), 30));

    let tr = t0 + TimeDelta::days(25);
    h.review_event(
        "requested",
        review(&case, &c, ReviewLevel::Rereview, tr, None),
    )
    .await;
    let d10 = h.wait_state(&case, "D10", "pending").await;
    h.wait_state(&case, "D9", "met").await;
    let plain = compute(
        DeadlineKind::D10,
        tr.fixed_offset(),
        &Calendar::embedded(),
        &d10_rules,
        &Adjustments::default(),
    )
    .unwrap();
    assert_eq!(d10.due_at, plain.due.unwrap());

    // A hearing from day 5 to day 7 (three China-time days touched) pauses D10.
    let hs = tr + TimeDelta::days(5);
    let hf = tr + TimeDelta::days(7);
    h.review_event(
        "hearing_started",
        review(&case, &c, ReviewLevel::Rereview, hs, None),
    )
    .await;
    let paused = h.wait_state(&case, "D10", "paused").await;
    assert!(paused.paused_at.is_some());
    // While paused nothing fires, even past the original date.
    h.advance_to(d10.due_at + TimeDelta::hours(1));
    settle().await;
    settle().await;
    assert!(h.fired(&case, "D10", "overdue").await.is_empty());

    h.review_event(
        "hearing_finished",
        review(&case, &c, ReviewLevel::Rereview, hf, None),
    )
    .await;
    let mut resumed = d10.clone();
    h.env
        .wait_for("D10 resumed", 15, async || {
            resumed = h
                .deadlines(&case)
                .await
                .into_iter()
                .find(|r| r.kind == "D10")
                .unwrap();
            resumed.state == "pending" && resumed.generation > d10.generation
        })
        .await;
    let expected = compute(
        DeadlineKind::D10,
        tr.fixed_offset(),
        &Calendar::embedded(),
        &d10_rules,
        &Adjustments {
            extension_days: None,
            paused: vec![(hs.fixed_offset(), hf.fixed_offset())],
        },
    )
    .unwrap();
    assert_eq!(resumed.due_at, expected.due.unwrap());
    assert_eq!(expected.paused.len(), 3);
    assert_eq!(resumed.due_at, d10.due_at + TimeDelta::days(3));
    // The clock is an hour past the old due, the new one is three days out: the warning comes
    // (it is within 3 days), the overdue does not.
    let warned = h.wait_fired(&case, "D10", "warning", 2).await;
    assert_eq!(
        warned,
        vec![
            format!("xf.{c}.deadline.warning"),
            format!("xf.{c}.dept.shfj.warning")
        ]
    );
    assert!(h.fired(&case, "D10", "overdue").await.is_empty());
    h.advance_to(resumed.due_at + TimeDelta::minutes(1));
    h.wait_fired(&case, "D10", "overdue", 2).await;
    h.stop().await;
}

#[tokio::test]
async fn a_petition_handed_directly_to_another_organ_starts_d2_for_it_instead_of_d1() {
    // Art 23 paras 1-2: the organ that received it directly tells the petitioner within 15 days.
    let h = Harness::start("").await;
    let c = h.county();
    let case = h.case_no(31);
    let t0 = Utc::now();
    let mut r = registered(&case, &c, t0, "rsj", false);
    r.received_by = Some("rsj".into());
    h.case_event("registered", &case, r).await;
    let d2 = h.wait_state(&case, "D2", "pending").await;
    assert_eq!(d2.department.as_deref(), Some("rsj"));
    assert_eq!(d2.due_at, end_of_day_after(t0, 15));
    // The bureau did not receive it: its D1 does not run.
    assert!(h.deadlines(&case).await.iter().all(|r| r.kind != "D1"));
    // The acceptance notice is the written notice: D2 ends.
    h.case_event("accepted", &case, accepted(&case, "rsj", h.now()))
        .await;
    let closed = h.wait_state(&case, "D2", "met").await;
    assert_eq!(closed.close_reason.as_deref(), Some("accepted"));
    h.stop().await;
}

#[tokio::test]
async fn discipline_handling_an_accusation_gets_no_acceptance_notice_deadline() {
    // Art 23 para 4: 纪检监察机关 tell the petitioner under their own rules; routing marks the
    // assignment `notice_exempt`. The objection window D4 still runs.
    let h = Harness::start("").await;
    let case = h.case_no(32);
    let t0 = Utc::now();
    let mut a = assigned(&case, "jwjw", t0);
    a.petition_type = xinfang_domain::petition::PetitionType::Accusation;
    a.branch = None;
    a.notice_exempt = true;
    h.case_event("assigned", &case, a).await;
    h.wait_state(&case, "D4", "pending").await;
    assert!(h.deadlines(&case).await.iter().all(|r| r.kind != "D3"));
    // Without the mark (an older event, or any other department) D3 runs as before.
    let other = h.case_no(33);
    h.case_event("assigned", &other, assigned(&other, "rsj", t0))
        .await;
    h.wait_state(&other, "D3", "pending").await;
    h.stop().await;
}

/// A calendar file covering the years from this one to `last` with ordinary weeks only.
fn plain_years(first: i32, last: i32) -> String {
    (first..=last).map(|y| format!("[{y}]\n")).collect()
}

#[tokio::test]
async fn deadlines_past_the_calendars_end_are_provisional_until_a_reload_adds_the_year() {
    use chrono::Datelike;
    let today = cst_date(Utc::now());
    // The calendar ends with `last`; the trigger is 17 December of it (at least a week ahead),
    // so D3 (15 days) ends on 1 January of a year the file does not have.
    let last = if today < chrono::NaiveDate::from_ymd_opt(today.year(), 12, 10).unwrap() {
        today.year()
    } else {
        today.year() + 1
    };
    let file = std::env::temp_dir().join(format!("xf-cal-{}.toml", uuid::Uuid::now_v7()));
    std::fs::write(&file, plain_years(today.year(), last)).unwrap();
    let path = file.clone();
    let h = Harness::start_configured("", move |p| p.paths.calendar = path).await;
    let base = format!("http://{}", h.sup.started.http);
    let http = reqwest::Client::new();
    let case = h.case_no(34);
    let trigger = xinfang_domain::deadline::end_of_day(
        chrono::NaiveDate::from_ymd_opt(last, 12, 17).unwrap(),
    )
    .unwrap()
    .with_timezone(&Utc)
        - TimeDelta::hours(12);
    h.case_event("assigned", &case, assigned(&case, "rsj", trigger))
        .await;
    let d3 = h.wait_state(&case, "D3", "pending").await;
    let d4 = h.wait_state(&case, "D4", "pending").await;
    let new_year = chrono::NaiveDate::from_ymd_opt(last + 1, 1, 1).unwrap();
    assert_eq!(cst_date(d3.due_at), new_year);
    assert!(d3.provisional, "D3 ends in a year the calendar lacks");
    assert!(!d4.provisional, "D4 ends within the calendar");

    // Shown wherever deadlines are listed.
    let listed: serde_json::Value = http
        .get(format!("{base}/v1/deadlines?case_no={case}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shown = |v: &serde_json::Value, kind: &str| {
        v["deadlines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["kind"] == kind)
            .cloned()
            .unwrap()
    };
    assert_eq!(shown(&listed, "D3")["provisional"], true);
    assert_eq!(shown(&listed, "D4")["provisional"], false);

    // Readiness reports the calendar's end and stays ready.
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: serde_json::Value = ready.json().await.unwrap();
    let end = chrono::NaiveDate::from_ymd_opt(last, 12, 31).unwrap();
    assert_eq!(ready["calendar"]["covered_until"], end.to_string());
    let left = (end - today).num_days();
    assert_eq!(ready["calendar"]["days_left"], left);
    let warn = left <= 60;
    assert_eq!(ready["calendar"]["state"], if warn { "warn" } else { "ok" });
    assert_eq!(
        ready["checks"]["calendar"],
        if warn { "warn" } else { "ok" }
    );
    assert_eq!(ready["status"], if warn { "warn" } else { "ok" });
    assert_eq!(ready["ready"], true);

    // A broken file is refused loudly; the running calendar stays.
    std::fs::write(
        &file,
        format!(
            "{}[{}]\noff = [\"1 January\"]\n",
            plain_years(today.year(), last),
            last + 1
        ),
    )
    .unwrap();
    let refused = http
        .post(format!("{base}/v1/calendar/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "calendar_invalid");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1 January"),
        "{body}"
    );
    assert_eq!(h.env.infra.calendar.current().years().last(), Some(&last));

    // The operator adds next year (1 January off) and reloads: D3 is computed again.
    let grown = format!(
        "{}[{}]\noff = [\"{new_year}\"]\n",
        plain_years(today.year(), last),
        last + 1
    );
    std::fs::write(&file, &grown).unwrap();
    let reloaded = http
        .post(format!("{base}/v1/calendar/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(reloaded.status(), 200);
    let body: serde_json::Value = reloaded.json().await.unwrap();
    assert_eq!(body["added_years"], serde_json::json!([last + 1]));
    let expected = compute(
        DeadlineKind::D3,
        trigger.fixed_offset(),
        &Calendar::from_toml_str(&grown).unwrap(),
        &DeadlineRules::default(),
        &Adjustments::default(),
    )
    .unwrap();
    assert!(!expected.is_provisional());
    let expected = expected.due.unwrap();
    assert!(cst_date(expected.with_timezone(&Utc)) > new_year);
    h.env
        .wait_for("D3 recomputed with the grown calendar", 15, async || {
            h.deadlines(&case)
                .await
                .iter()
                .any(|r| r.id == d3.id && r.due_at == expected && !r.provisional)
        })
        .await;
    let ready: serde_json::Value = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ready["calendar"]["covered_until"],
        chrono::NaiveDate::from_ymd_opt(last + 1, 12, 31)
            .unwrap()
            .to_string()
    );
    let _ = std::fs::remove_file(&file);
    h.stop().await;
}

#[tokio::test]
async fn a_review_window_ending_on_national_day_is_listed_as_ending_on_the_next_working_day() {
    // Issue #13: an opinion served 2026-09-01 opens D7 until the end of 10-08 (10-01..07 off).
    let h = Harness::start("").await;
    let case = h.case_no(35);
    let mut r = replied(&case, "rsj", Utc::now(), true);
    r.served_on = chrono::NaiveDate::from_ymd_opt(2026, 9, 1).unwrap();
    h.case_event("replied", &case, r).await;
    let base = format!("http://{}", h.sup.started.http);
    let mut d7 = serde_json::Value::Null;
    h.env
        .wait_for("D7 listed", 15, async || {
            let v: serde_json::Value = reqwest::get(format!("{base}/v1/deadlines?case_no={case}"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(d) = v["deadlines"]
                .as_array()
                .and_then(|a| a.iter().find(|d| d["kind"] == "D7"))
            {
                d7 = d.clone();
            }
            !d7.is_null()
        })
        .await;
    assert_eq!(d7["due_at"], "2026-10-08T15:59:59Z", "{d7}");
    assert_eq!(d7["provisional"], false);
    h.stop().await;
}
