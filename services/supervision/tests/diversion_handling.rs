//! Diversion and handling (issue #13) on the clocks: a diversion by the handling unit after
//! acceptance ends the handling deadline; an approved transfer starts the receiving unit's
//! acceptance clocks; a failed completion-report check runs the handling deadline again from
//! the acceptance date.

mod common;

use chrono::Utc;
use common::*;
use xinfang_domain::events::{Diverted, ReturnedForRedo};
use xinfang_domain::petition::Diversion;

#[tokio::test]
async fn a_diversion_after_acceptance_closes_the_handling_deadline() {
    let h = Harness::start("").await;
    let c = h.county();
    let case = h.case_no(1);
    let t0 = Utc::now();
    h.case_event("registered", &case, registered(&case, &c, t0, "zjj", false))
        .await;
    h.case_event("assigned", &case, assigned(&case, "zjj", t0))
        .await;
    h.case_event("accepted", &case, accepted(&case, "zjj", t0))
        .await;
    let d5 = h.wait_state(&case, "D5", "pending").await;
    h.case_event(
        "diverted",
        &case,
        Diverted {
            case_no: case.clone(),
            diversion: Some(Diversion::AdministrativeReconsideration),
            organ: format!("{c}:sfj"),
            guidance: "请依法申请行政复议".into(),
            at: h.now(),
            after_acceptance: true,
            department: Some("zjj".into()),
            served_on: Some(cst_date(h.now())),
        },
    )
    .await;
    let closed = h.wait_state(&case, "D5", "met").await;
    assert_eq!(closed.id, d5.id);
    assert_eq!(closed.close_reason.as_deref(), Some("diverted"));
    h.stop().await;
}

#[tokio::test]
async fn an_approved_transfer_starts_the_receiving_units_clocks() {
    let h = Harness::start("").await;
    let c = h.county();
    let case = h.case_no(2);
    let t0 = Utc::now();
    h.case_event(
        "registered",
        &case,
        registered(&case, &c, t0, "sthjj", false),
    )
    .await;
    h.case_event("assigned", &case, assigned(&case, "sthjj", t0))
        .await;
    let d3 = h.wait_state(&case, "D3", "pending").await;
    assert_eq!(d3.department.as_deref(), Some("sthjj"));
    let approved = h.now();
    h.case_event("transferred", &case, transferred(&case, &c, approved))
        .await;
    h.env
        .wait_for("the receiving unit's D3 and D4", 15, async || {
            let rows = h.deadlines(&case).await;
            ["D3", "D4"].iter().all(|k| {
                rows.iter().any(|r| {
                    r.kind == *k && r.state == "pending" && r.department.as_deref() == Some("slj")
                })
            })
        })
        .await;
    let rows = h.deadlines(&case).await;
    let first = rows.iter().find(|r| r.id == d3.id).unwrap();
    assert_eq!(
        first.state, "withdrawn",
        "the first unit's clock is replaced"
    );
    let new_d3 = rows
        .iter()
        .find(|r| r.kind == "D3" && r.state == "pending")
        .unwrap();
    assert_eq!(new_d3.due_at, end_of_day_after(approved, 15));
    h.stop().await;
}

#[tokio::test]
async fn a_failed_check_runs_the_handling_deadline_again_from_acceptance() {
    let h = Harness::start("").await;
    let c = h.county();
    let case = h.case_no(3);
    let t0 = Utc::now();
    h.case_event("registered", &case, registered(&case, &c, t0, "zjj", false))
        .await;
    h.case_event("assigned", &case, assigned(&case, "zjj", t0))
        .await;
    h.case_event("accepted", &case, accepted(&case, "zjj", t0))
        .await;
    let d5 = h.wait_state(&case, "D5", "pending").await;
    h.case_event("replied", &case, replied(&case, "zjj", h.now(), true))
        .await;
    h.wait_state(&case, "D5", "met").await;
    h.wait_state(&case, "D7", "pending").await;
    h.case_event(
        "returned_for_redo",
        &case,
        ReturnedForRedo {
            case_no: case.clone(),
            department: "zjj".into(),
            by: format!("{c}:xfj"),
            reason: "事实不清".into(),
            accepted_on: Some(cst_date(t0)),
            extension_days: None,
            at: h.now(),
        },
    )
    .await;
    let again = h.wait_state(&case, "D5", "pending").await;
    assert_ne!(again.id, d5.id);
    assert_eq!(
        again.due_at, d5.due_at,
        "the handling clock does not restart"
    );
    let d7 = h.wait_state(&case, "D7", "withdrawn").await;
    assert_eq!(d7.close_reason.as_deref(), Some("returned_for_redo"));
    h.stop().await;
}
