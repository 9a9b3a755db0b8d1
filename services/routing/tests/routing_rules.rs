//! Routing rules end to end: `case.registered` / `case.reclassified` in, assignments,
//! diversions and refusals out, over the real NATS and Postgres.

mod common;

use common::{Harness, MOBILE, NAME};
use xinfang_domain::events::{
    self, AssignMode, Assigned, DeptAssignment, DeptRole, Diverted, Reclassified, Refused,
    RepeatDisposition,
};
use xinfang_domain::petition::{Art31Branch, Diversion, PetitionType};

fn filter(county: &impl std::fmt::Display, rest: &str) -> String {
    format!("xf.{county}.{rest}")
}

#[tokio::test]
async fn ordinary_matter_is_forwarded_to_the_suggested_department_with_the_petitioner() {
    let h = Harness::start().await;
    let c = h.county();
    let r = h.registered("zjj");
    h.register(&r).await;
    let assigned = h
        .wait_events(&c, &filter(&c, "case.assigned"), &r.case_no, 1)
        .await;
    let a: Assigned = assigned[0].1.data_as().unwrap();
    assert_eq!(a.department, "zjj");
    assert_eq!(a.mode, AssignMode::Forward);
    assert!(!a.report_required && a.assisting.is_empty());
    let dept = h
        .wait_events(&c, &filter(&c, "dept.zjj.assigned"), &r.case_no, 1)
        .await;
    let d: DeptAssignment = dept[0].1.data_as().unwrap();
    assert_eq!(d.role, DeptRole::Lead);
    assert_eq!(d.text, r.text);
    let p = d
        .petitioner
        .expect("an ordinary matter carries the petitioner");
    assert_eq!((p.name.as_str(), p.mobile.as_deref()), (NAME, Some(MOBILE)));
    assert!(
        d.accept_by.is_some(),
        "D3: 15 days to send the acceptance notice"
    );
    h.wait_state(&r.case_no, "forwarded").await;
    assert_eq!(
        h.assignment(&r.case_no, "zjj").await,
        Some(("lead".into(), "assigned".into()))
    );
    // No other department heard of it.
    assert_eq!(
        h.events(&c, &filter(&c, "dept.*.assigned"), &r.case_no)
            .await
            .len(),
        1
    );
    h.stop().await;
}

#[tokio::test]
async fn urgent_matter_is_assigned_with_a_completion_report() {
    let h = Harness::start().await;
    let c = h.county();
    let mut r = h.registered("sthjj");
    r.urgent = true;
    h.register(&r).await;
    let a: Assigned = h
        .wait_events(&c, &filter(&c, "case.assigned"), &r.case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!(a.mode, AssignMode::Assign);
    assert!(a.report_required);
    let d: DeptAssignment = h
        .wait_events(&c, &filter(&c, "dept.sthjj.assigned"), &r.case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!(d.mode, AssignMode::Assign);
    assert!(d.report_required);
    h.wait_state(&r.case_no, "assigned").await;
    h.stop().await;
}

#[tokio::test]
async fn accusation_goes_to_discipline_and_no_other_department_learns_who_accused() {
    let h = Harness::start().await;
    let c = h.county();

    // Against an official: 纪委监委 of the case's level, with the petitioner.
    let r = h.accusation("zjj", true);
    h.register(&r).await;
    let a: Assigned = h
        .wait_events(&c, &filter(&c, "case.assigned"), &r.case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!(a.department, "jwjw");
    assert_eq!(a.petition_type, PetitionType::Accusation);
    let d: DeptAssignment = h
        .wait_events(&c, &filter(&c, "dept.jwjw.assigned"), &r.case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!(d.petitioner.map(|p| p.name), Some(NAME.to_owned()));
    // The accused's department (the suggested zjj) gets nothing.
    assert!(
        h.events(&c, &filter(&c, "dept.zjj.>"), &r.case_no)
            .await
            .is_empty()
    );

    // An accusation handled by another department: no petitioner at all, in any field.
    let r2 = h.accusation("sthjj", false);
    h.register(&r2).await;
    let msgs = h
        .wait_events(&c, &filter(&c, "dept.sthjj.assigned"), &r2.case_no, 1)
        .await;
    let d: DeptAssignment = msgs[0].1.data_as().unwrap();
    assert_eq!(d.petitioner, None);
    let raw = serde_json::to_string(&msgs[0].1).unwrap();
    assert!(!raw.contains(NAME) && !raw.contains(MOBILE), "{raw}");

    // A multi-department accusation (a clerk adds 组织部, Art 30 para 2): only jwjw gets the
    // identity.
    let mut r3 = h.accusation("zjj", true);
    r3.needs_triage = true;
    h.register(&r3).await;
    h.wait_state(&r3.case_no, "registered").await;
    let re = Reclassified {
        case_no: r3.case_no.clone(),
        petition_type: PetitionType::Accusation,
        branch: None,
        diversion: None,
        department: "jwjw".into(),
        county: c.clone(),
        accuses_official: true,
        by: "clerk".into(),
        reason: "cadre matter: notify the organisation department".into(),
        assisting: vec!["zzb".into()],
    };
    h.publish(events::kind::RECLASSIFIED, &r3.case_no, &re)
        .await;
    let jw: DeptAssignment = h
        .wait_events(&c, &filter(&c, "dept.jwjw.assigned"), &r3.case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert!(jw.petitioner.is_some());
    let zz = h
        .wait_events(&c, &filter(&c, "dept.zzb.assigned"), &r3.case_no, 1)
        .await;
    let zzd: DeptAssignment = zz[0].1.data_as().unwrap();
    assert_eq!(zzd.role, DeptRole::Assisting);
    assert_eq!(zzd.petitioner, None);
    assert!(!serde_json::to_string(&zz[0].1).unwrap().contains(MOBILE));
    // The accuser may name themself in the text: only 纪委监委 reads it.
    assert_eq!(zzd.text, xinfang_routing::apply::WITHHELD_TEXT);
    assert_ne!(jw.text, zzd.text);
    h.stop().await;
}

#[tokio::test]
async fn litigation_goes_to_the_political_legal_organ_with_guidance() {
    let h = Harness::start().await;
    let c = h.county();
    let r = h.diverted(
        Art31Branch::LegalProcedure,
        Some(Diversion::PoliceFiling),
        "zjj",
    );
    h.register(&r).await;
    let d: Diverted = h
        .wait_events(&c, &filter(&c, "case.diverted"), &r.case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!(d.organ, format!("{c}:gaj"));
    assert!(
        d.guidance.contains("测试县公安局") && d.guidance.contains("第三十一条第一项"),
        "{}",
        d.guidance
    );
    // The police get the letter (Art 22 para 2).
    let fwd: DeptAssignment = h
        .wait_events(&c, &filter(&c, "dept.gaj.assigned"), &r.case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!(fwd.mode, AssignMode::Forward);
    h.wait_state(&r.case_no, "routed_political_legal").await;
    assert!(
        h.events(&c, &filter(&c, "case.assigned"), &r.case_no)
            .await
            .is_empty()
    );

    let r = h.diverted(
        Art31Branch::LegalProcedure,
        Some(Diversion::Litigation),
        "fy",
    );
    h.register(&r).await;
    let d: Diverted = h
        .wait_events(&c, &filter(&c, "case.diverted"), &r.case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!(d.organ, format!("{c}:fy"));
    h.stop().await;
}

#[tokio::test]
async fn art31_2_to_4_are_diverted_naming_channel_and_organ_and_no_department_is_assigned() {
    let h = Harness::start().await;
    let c = h.county();
    let cases = [
        (
            h.diverted(Art31Branch::Arbitration, None, "rsj"),
            "rsj",
            "劳动人事争议仲裁委员会",
            Diversion::Arbitration,
        ),
        (
            h.diverted(Art31Branch::PartyAppeal, None, "zzb"),
            "zzb",
            "党员申诉",
            Diversion::PartyAppeal,
        ),
        (
            h.diverted(
                Art31Branch::AdministrativeProcedure,
                Some(Diversion::AdministrativeReconsideration),
                "zrzyj",
            ),
            "sfj",
            "测试县人民政府",
            Diversion::AdministrativeReconsideration,
        ),
    ];
    for (r, _, _, _) in &cases {
        h.register(r).await;
    }
    for (r, organ, words, diversion) in &cases {
        let d: Diverted = h
            .wait_events(&c, &filter(&c, "case.diverted"), &r.case_no, 1)
            .await[0]
            .1
            .data_as()
            .unwrap();
        assert_eq!(d.organ, format!("{c}:{organ}"));
        assert_eq!(d.diversion, Some(*diversion));
        assert!(d.guidance.contains(words), "{}", d.guidance);
        h.wait_state(&r.case_no, "guided_elsewhere").await;
        assert!(
            h.events(&c, &filter(&c, "dept.*.assigned"), &r.case_no)
                .await
                .is_empty()
        );
        assert!(
            h.events(&c, &filter(&c, "case.assigned"), &r.case_no)
                .await
                .is_empty()
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn repeats_are_refused_by_the_rule_that_applies() {
    let h = Harness::start().await;
    let c = h.county();
    let r = h.repeat(RepeatDisposition::NotReaccepted);
    h.register(&r).await;
    let f: Refused = h
        .wait_events(&c, &filter(&c, "case.not_reaccepted"), &r.case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!(f.rule, "Art 36 para 3");
    h.wait_state(&r.case_no, "not_reaccepted").await;

    let r = h.repeat(RepeatDisposition::NotAccepted);
    h.register(&r).await;
    let f: Refused = h
        .wait_events(&c, &filter(&c, "case.not_accepted"), &r.case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!(f.rule, "Art 19 para 3");
    assert!(f.where_to_go.is_some());
    h.wait_state(&r.case_no, "not_accepted").await;

    // Merged into an open case: nothing is sent anywhere.
    let r = h.repeat(RepeatDisposition::Merged);
    h.register(&r).await;
    h.wait_state(&r.case_no, "registered").await;
    assert!(
        h.events(&c, &format!("xf.{c}.>"), &r.case_no)
            .await
            .iter()
            .all(|(s, _)| s.ends_with(".registered"))
    );
    h.stop().await;
}

#[tokio::test]
async fn a_county_not_in_the_directory_is_handled_by_the_city() {
    let h = Harness::start().await;
    let c = h.county();
    let city = h.city();
    let mut r = h.registered("zjj");
    r.county =
        xinfang_domain::county::CountyCode::parse(&format!("{}99", &city.as_str()[..4])).unwrap();
    h.register(&r).await;
    let a: Assigned = h
        .wait_events(&c, &filter(&c, "case.assigned"), &r.case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!(a.department, "zjj");
    // The city's department hears of it on the city's subject.
    h.wait_events(&city, &filter(&city, "dept.zjj.assigned"), &r.case_no, 1)
        .await;
    assert!(
        h.events(&c, &filter(&c, "dept.zjj.assigned"), &r.case_no)
            .await
            .is_empty()
    );
    h.stop().await;
}

#[tokio::test]
async fn triage_waits_for_the_clerk_and_an_unknown_department_is_held_not_lost() {
    let h = Harness::start().await;
    let c = h.county();
    let mut r = h.registered("zjj");
    r.needs_triage = true;
    h.register(&r).await;
    h.wait_state(&r.case_no, "registered").await;
    let mut bad = h.registered("nope");
    bad.needs_triage = false;
    h.register(&bad).await;
    h.wait_state(&bad.case_no, "registered").await;
    let held: Option<String> =
        sqlx::query_scalar("select held_reason from cases where case_no = $1")
            .bind(&bad.case_no)
            .fetch_one(h.pool())
            .await
            .unwrap();
    assert!(held.unwrap_or_default().contains("`nope`"));
    assert!(
        h.events(&c, &filter(&c, "case.assigned"), &r.case_no)
            .await
            .is_empty()
    );

    // The clerk decides: 住建局 leads, 自然资源局 and 民政局 assist, each with its own status.
    let re = Reclassified {
        case_no: r.case_no.clone(),
        petition_type: PetitionType::Grievance,
        branch: Some(Art31Branch::Residual),
        diversion: None,
        department: "zjj".into(),
        county: c.clone(),
        accuses_official: false,
        by: "clerk".into(),
        reason: "touches land and relief".into(),
        assisting: vec!["zrzyj".into(), "mzj".into()],
    };
    h.publish(events::kind::RECLASSIFIED, &r.case_no, &re).await;
    let a: Assigned = h
        .wait_events(&c, &filter(&c, "case.assigned"), &r.case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!(a.department, "zjj");
    assert_eq!(a.assisting, ["zrzyj", "mzj"]);
    for d in ["zjj", "zrzyj", "mzj"] {
        let got: DeptAssignment = h
            .wait_events(
                &c,
                &filter(&c, &format!("dept.{d}.assigned")),
                &r.case_no,
                1,
            )
            .await[0]
            .1
            .data_as()
            .unwrap();
        assert_eq!(
            got.role,
            if d == "zjj" {
                DeptRole::Lead
            } else {
                DeptRole::Assisting
            }
        );
    }
    assert_eq!(
        h.assignment(&r.case_no, "mzj").await,
        Some(("assisting".into(), "assigned".into()))
    );
    h.stop().await;
}

#[tokio::test]
async fn a_case_registered_twice_is_routed_once() {
    let h = Harness::start().await;
    let c = h.county();
    let r = h.registered("zjj");
    // Two publishes with different event ids (the inbox cannot dedupe them).
    h.register(&r).await;
    h.register(&r).await;
    h.wait_events(&c, &filter(&c, "case.assigned"), &r.case_no, 1)
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        h.events(&c, &filter(&c, "case.assigned"), &r.case_no)
            .await
            .len(),
        1
    );
    assert_eq!(
        h.events(&c, &filter(&c, "dept.zjj.assigned"), &r.case_no)
            .await
            .len(),
        1
    );
    h.stop().await;
}
