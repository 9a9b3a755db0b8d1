//! Facts delivered out of their order (two instances share a consumer, or a fact is retried
//! after its case's next one was handled) leave the clocks and the KPI projection as the facts
//! in their order would: nothing a newer fact settled runs again, nothing it started is undone.

mod common;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use common::*;
use xinfang_domain::events::ReviewLevel;
use xinfang_domain::petition::Art31Branch;

/// Whole seconds, as far back as the test needs, so the times survive the database as they are.
fn base() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0) - TimeDelta::hours(6)
}

fn open_kinds(rows: &[xinfang_supervision::store::DeadlineRow]) -> Vec<&str> {
    rows.iter()
        .filter(|r| r.state == "pending" || r.state == "paused")
        .map(|r| r.kind.as_str())
        .collect()
}

async fn unit_and_answer(h: &Harness, case: &str) -> (Option<String>, Option<DateTime<Utc>>) {
    sqlx::query_as("select department, unit_answered_at from cases where case_no = $1")
        .bind(case)
        .fetch_one(h.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_registration_or_assignment_delivered_late_starts_no_clock_a_newer_fact_settled() {
    let h = Harness::start("").await;
    let c = h.county();
    let case = h.case_no(1);
    let (t0, t1) = (base(), base() + TimeDelta::hours(1));

    // The assignment is handled before the registration it follows.
    h.case_event_at("assigned", &case, assigned(&case, "rsj", t1), t1)
        .await;
    h.wait_state(&case, "D3", "pending").await;
    h.case_event_at(
        "registered",
        &case,
        registered(&case, &c, t0, "rsj", false),
        t0,
    )
    .await;
    // D1 is recorded, and met by the assignment, instead of running out unanswered.
    let d1 = h.wait_state(&case, "D1", "met").await;
    assert_eq!(d1.closed_at, Some(t1));
    assert_eq!(d1.close_reason.as_deref(), Some("assigned"));
    assert_eq!(d1.due_at, end_of_day_after(t0, 15));
    assert_eq!(open_kinds(&h.deadlines(&case).await), vec!["D3", "D4"]);

    // Accepted; then an older assignment to another unit arrives (the other instance's).
    let t2 = t0 + TimeDelta::hours(3);
    h.case_event_at("accepted", &case, accepted(&case, "rsj", t2), t2)
        .await;
    h.wait_state(&case, "D5", "pending").await;
    let older = t0 + TimeDelta::hours(2);
    let late = h
        .case_event_at("assigned", &case, assigned(&case, "zjj", older), older)
        .await;
    h.wait_handled(late).await;
    let rows = h.deadlines(&case).await;
    assert_eq!(open_kinds(&rows), vec!["D5"], "{rows:#?}");
    // Its acceptance clock exists, settled as the acceptance settled it.
    let d3: Vec<_> = rows.iter().filter(|r| r.kind == "D3").collect();
    assert_eq!(d3.len(), 2);
    assert!(
        d3.iter()
            .all(|r| r.state == "met" && r.closed_at == Some(t2))
    );
    // The KPIs keep the accepting unit and its answer.
    assert_eq!(
        unit_and_answer(&h, &case).await,
        (Some("rsj".to_owned()), Some(t2))
    );
    h.stop().await;
}

#[tokio::test]
async fn an_assignment_delivered_after_the_transfer_does_not_undo_it() {
    let h = Harness::start("").await;
    let c = h.county();
    let case = h.case_no(2);
    let (t0, t1, t2) = (
        base(),
        base() + TimeDelta::hours(1),
        base() + TimeDelta::hours(2),
    );
    h.case_event_at(
        "registered",
        &case,
        registered(&case, &c, t0, "sthjj", false),
        t0,
    )
    .await;
    h.wait_state(&case, "D1", "pending").await;
    h.case_event_at("transferred", &case, transferred(&case, &c, t2), t2)
        .await;
    h.wait_state(&case, "D3", "pending").await;
    // The first assignment comes last: it still answers D1, and changes nothing of the
    // receiving unit's clocks.
    let late = h
        .case_event_at("assigned", &case, assigned(&case, "sthjj", t1), t1)
        .await;
    h.wait_handled(late).await;
    let rows = h.deadlines(&case).await;
    let d1 = rows.iter().find(|r| r.kind == "D1").unwrap();
    assert_eq!((d1.state.as_str(), d1.closed_at), ("met", Some(t1)));
    assert_eq!(open_kinds(&rows), vec!["D3", "D4"], "{rows:#?}");
    for r in rows.iter().filter(|r| r.state == "pending") {
        assert_eq!(r.department.as_deref(), Some("slj"), "{r:#?}");
    }
    let d3 = rows.iter().find(|r| r.kind == "D3" && r.state == "pending");
    assert_eq!(d3.map(|r| r.due_at), Some(end_of_day_after(t2, 15)));

    h.stop().await;
}

#[tokio::test]
async fn a_hearings_end_or_an_extension_handled_first_still_moves_the_clock() {
    // D10 without roll-over, so the hearing days show one for one whatever the weekday.
    let h = Harness::start("[deadlines.kinds.D10]\nroll_over = false\n").await;
    let c = h.county();

    // 复核: the hearing's end is handled before its start.
    let case = h.case_no(3);
    let tr = base();
    h.review_event(
        "requested",
        review(&case, &c, ReviewLevel::Rereview, tr, None),
    )
    .await;
    let d10 = h.wait_state(&case, "D10", "pending").await;
    let (hs, hf) = (tr + TimeDelta::days(5), tr + TimeDelta::days(7));
    let end = h
        .review_event(
            "hearing_finished",
            review(&case, &c, ReviewLevel::Rereview, hf, None),
        )
        .await;
    h.wait_handled(end).await;
    h.review_event(
        "hearing_started",
        review(&case, &c, ReviewLevel::Rereview, hs, None),
    )
    .await;
    let mut now = d10.clone();
    h.env
        .wait_for("D10 paused and resumed", 15, async || {
            now = h.deadlines(&case).await.into_iter().next().unwrap();
            now.state == "pending" && now.generation > d10.generation
        })
        .await;
    assert_eq!(now.due_at, d10.due_at + TimeDelta::days(3));
    assert_eq!(
        serde_json::from_value::<Vec<(DateTime<Utc>, DateTime<Utc>)>>(now.pauses.clone()).unwrap(),
        vec![(hs, hf)]
    );

    // The extension is handled before the acceptance that started the handling deadline.
    let case = h.case_no(4);
    let (tacc, text) = (base(), base() + TimeDelta::hours(1));
    let ext = h
        .case_event_at("extended", &case, extended(&case, "rsj", 30, text), text)
        .await;
    h.wait_handled(ext).await;
    h.case_event_at("accepted", &case, accepted(&case, "rsj", tacc), tacc)
        .await;
    let d6 = h.wait_state(&case, "D6", "pending").await;
    assert_eq!(d6.extension_days, Some(30));
    assert_eq!(d6.due_at, end_of_day_after(tacc, 90));
    assert_eq!(open_kinds(&h.deadlines(&case).await), vec!["D6"]);
    h.stop().await;
}

#[tokio::test]
async fn an_older_reclassification_delivered_last_does_not_undo_the_newer() {
    let h = Harness::start("[deadlines.handling_by_branch]\n\"31_1\" = \"none\"\n\"31_5\" = 30\n")
        .await;
    let c = h.county();
    let case = h.case_no(5);
    let t0 = base();
    let tacc = t0 + TimeDelta::hours(1);
    h.case_event_at("assigned", &case, assigned(&case, "rsj", t0), t0)
        .await;
    h.case_event_at("accepted", &case, accepted(&case, "rsj", tacc), tacc)
        .await;
    let d5 = h.wait_state(&case, "D5", "pending").await;

    // The clerk moved it into 31(1) (no handling deadline), then into 31(5) (30 days); the
    // second reclassification is handled first.
    let newer = t0 + TimeDelta::hours(3);
    let id = h
        .case_event_at(
            "reclassified",
            &case,
            reclassified(&case, &c, "rsj", Art31Branch::DutyPerformance),
            newer,
        )
        .await;
    h.wait_handled(id).await;
    let older = t0 + TimeDelta::hours(2);
    let id = h
        .case_event_at(
            "reclassified",
            &case,
            reclassified(&case, &c, "rsj", Art31Branch::LegalProcedure),
            older,
        )
        .await;
    h.wait_handled(id).await;
    let rows = h.deadlines(&case).await;
    let now = rows.iter().find(|r| r.id == d5.id).unwrap();
    assert_eq!(now.state, "pending", "{rows:#?}");
    assert_eq!(now.due_at, end_of_day_after(tacc, 30));
    let branch: Option<String> = sqlx::query_scalar("select branch from cases where case_no = $1")
        .bind(&case)
        .fetch_one(h.pool())
        .await
        .unwrap();
    assert_eq!(
        branch.as_deref(),
        Some(Art31Branch::DutyPerformance.as_str())
    );
    h.stop().await;
}

#[tokio::test]
async fn a_fact_waits_while_another_transaction_holds_its_case() {
    let h = Harness::start("").await;
    let c = h.county();
    let (case, other) = (h.case_no(6), h.case_no(7));
    // What another instance handling a fact of the case does first.
    let mut holder = h.pool().begin().await.unwrap();
    xinfang_supervision::store::lock_cases(&mut holder, std::slice::from_ref(&case))
        .await
        .unwrap();
    let t0 = base();
    let id = h
        .case_event_at(
            "registered",
            &case,
            registered(&case, &c, t0, "rsj", false),
            t0,
        )
        .await;
    settle().await;
    settle().await;
    let handled = async |id| {
        sqlx::query_scalar::<_, bool>("select exists(select 1 from inbox where event_id = $1)")
            .bind(id)
            .fetch_one(h.pool())
            .await
            .unwrap()
    };
    assert!(!handled(id).await, "handled while the case was held");
    holder.rollback().await.unwrap();
    h.wait_handled(id).await;
    h.wait_state(&case, "D1", "pending").await;
    // Another case is not held by it.
    let mut holder = h.pool().begin().await.unwrap();
    xinfang_supervision::store::lock_cases(&mut holder, std::slice::from_ref(&case))
        .await
        .unwrap();
    let id = h
        .case_event_at(
            "registered",
            &other,
            registered(&other, &c, t0, "rsj", false),
            t0,
        )
        .await;
    h.wait_handled(id).await;
    holder.rollback().await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn a_reroute_and_the_new_units_assignment_at_one_instant_start_the_new_clocks() {
    // Routing stamps the reroute (closing the first unit's clocks) and the new assignment with
    // one instant; in their order, the new unit's clocks run.
    let h = Harness::start("").await;
    let c = h.county();
    let case = h.case_no(8);
    let (t0, t1) = (base(), base() + TimeDelta::hours(1));
    h.case_event_at(
        "registered",
        &case,
        registered(&case, &c, t0, "sthjj", false),
        t0,
    )
    .await;
    h.case_event_at("assigned", &case, assigned(&case, "sthjj", t0), t0)
        .await;
    h.wait_state(&case, "D3", "pending").await;
    h.case_event_at(
        "rerouted",
        &case,
        serde_json::json!({"case_no": case, "at": t1}),
        t1,
    )
    .await;
    let id = h
        .case_event_at("assigned", &case, assigned(&case, "slj", t1), t1)
        .await;
    h.wait_handled(id).await;
    let rows = h.deadlines(&case).await;
    assert_eq!(open_kinds(&rows), vec!["D3", "D4"], "{rows:#?}");
    assert!(
        rows.iter()
            .filter(|r| r.state == "pending")
            .all(|r| r.department.as_deref() == Some("slj")),
        "{rows:#?}"
    );
    h.stop().await;
}

#[tokio::test]
async fn the_kpis_keep_the_newest_acceptance_when_an_older_one_comes_last() {
    let h = Harness::start("").await;
    let case = h.case_no(9);
    let t0 = base() - TimeDelta::days(3);
    // Unit A accepted, the case was rerouted, unit B accepted two days later; A's acceptance
    // is handled last.
    let (first, second) = (t0, t0 + TimeDelta::days(2));
    let id = h
        .case_event_at("accepted", &case, accepted(&case, "zjj", second), second)
        .await;
    h.wait_handled(id).await;
    let id = h
        .case_event_at("accepted", &case, accepted(&case, "rsj", first), first)
        .await;
    h.wait_handled(id).await;
    let row: (
        Option<String>,
        Option<DateTime<Utc>>,
        Option<chrono::NaiveDate>,
    ) = sqlx::query_as("select department, accepted_at, accepted_on from cases where case_no = $1")
        .bind(&case)
        .fetch_one(h.pool())
        .await
        .unwrap();
    assert_eq!(
        row,
        (Some("zjj".to_owned()), Some(second), Some(cst_date(second)))
    );
    h.stop().await;
}
