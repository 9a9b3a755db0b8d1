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

    // An accusation handled by another department: no petitioner at all, in any field, and
    // the informant's name and number masked inside the text it still gets to act on (an
    // older event without intake's masked text is masked by routing itself).
    let mut r2 = h.accusation("sthjj", false);
    r2.text = format!("我是{NAME}，电话{MOBILE}。举报某化工厂夜间从暗管偷排废水，请为我保密。");
    h.register(&r2).await;
    let msgs = h
        .wait_events(&c, &filter(&c, "dept.sthjj.assigned"), &r2.case_no, 1)
        .await;
    let d: DeptAssignment = msgs[0].1.data_as().unwrap();
    assert_eq!(d.petitioner, None);
    let raw = serde_json::to_string(&msgs[0].1).unwrap();
    assert!(!raw.contains(NAME) && !raw.contains(MOBILE), "{raw}");
    assert!(d.text.contains("暗管偷排废水"), "{}", d.text);

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
        accused_level: None,
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
    // The accuser may name themself in the text: only the lead 纪委监委 reads it whole; the
    // assisting unit reads it with identifiers masked and is sent to the bureau for contact.
    assert!(zzd.text.contains("信访局"), "{}", zzd.text);
    assert!(
        !zzd.text.contains(NAME) && !zzd.text.contains(MOBILE),
        "{}",
        zzd.text
    );
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

/// Decisions 7: a refusal the similarity proposes is held — nothing published — until a
/// clerk confirms it; then it is applied by the rule that applies (`case.not_reaccepted`,
/// `case.not_accepted`, which notify turns into the petitioner's notice).
#[tokio::test]
async fn repeats_are_refused_by_the_rule_that_applies_once_a_clerk_confirms() {
    let h = Harness::start().await;
    let c = h.county();
    let only_registered = async |case_no: &str| {
        h.events(&c, &format!("xf.{c}.>"), case_no)
            .await
            .iter()
            .all(|(s, _)| s.ends_with(".registered"))
    };

    let r = h.repeat(RepeatDisposition::NotReaccepted);
    h.register(&r).await;
    let held = h.wait_held(&r.case_no).await;
    assert!(held.contains("awaiting a clerk's confirmation"), "{held}");
    h.wait_state(&r.case_no, "registered").await;
    assert!(
        only_registered(&r.case_no).await,
        "nothing before the clerk"
    );
    h.decide_repeat(&r, events::RepeatDecision::Confirm, None)
        .await;
    let f: Refused = h
        .wait_events(&c, &filter(&c, "case.not_reaccepted"), &r.case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!(f.rule, "Art 36 para 3");
    h.wait_state(&r.case_no, "not_reaccepted").await;

    // Art 19 para 3 with the earlier matter's due time known: the lifecycle's guard applies
    // (PendingElsewhere), the earlier case recorded.
    let r = h.repeat(RepeatDisposition::NotAccepted);
    h.register(&r).await;
    h.wait_held(&r.case_no).await;
    assert!(
        only_registered(&r.case_no).await,
        "nothing before the clerk"
    );
    let due = chrono::Utc::now() + chrono::TimeDelta::days(20);
    h.decide_repeat(&r, events::RepeatDecision::Confirm, Some(due))
        .await;
    let f: Refused = h
        .wait_events(&c, &filter(&c, "case.not_accepted"), &r.case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!(f.rule, "Art 19 para 3");
    assert!(f.where_to_go.is_some());
    h.wait_state(&r.case_no, "not_accepted").await;
    let repeat_of: Option<String> =
        sqlx::query_scalar("select lifecycle->>'repeat_of' from cases where case_no = $1")
            .bind(&r.case_no)
            .fetch_one(h.pool())
            .await
            .unwrap();
    assert_eq!(repeat_of, r.repeat.as_ref().map(|l| l.of.clone()));

    // Merged into an open case: nothing is sent anywhere.
    let r = h.repeat(RepeatDisposition::Merged);
    h.register(&r).await;
    h.wait_state(&r.case_no, "registered").await;
    h.wait_held(&r.case_no).await;
    assert!(only_registered(&r.case_no).await);
    h.stop().await;
}

/// Art 19 para 3 "在规定期限内": a confirmation that reaches routing after the earlier matter's
/// time limit is not applied; the petition is routed here instead, and the action log says why.
#[tokio::test]
async fn an_art19_refusal_past_the_earlier_time_limit_is_routed_instead() {
    let h = Harness::start().await;
    let c = h.county();
    let r = h.repeat(RepeatDisposition::NotAccepted);
    h.register(&r).await;
    h.wait_held(&r.case_no).await;
    let overdue = chrono::Utc::now() - chrono::TimeDelta::days(1);
    h.decide_repeat(&r, events::RepeatDecision::Confirm, Some(overdue))
        .await;
    h.wait_events(&c, &filter(&c, "case.assigned"), &r.case_no, 1)
        .await;
    h.wait_state(&r.case_no, "forwarded").await;
    assert!(
        h.events(&c, &filter(&c, "case.not_accepted"), &r.case_no)
            .await
            .is_empty()
    );
    let lapsed: i64 = sqlx::query_scalar(
        "select count(*) from actions where case_no = $1 and action = 'refusal_lapsed'",
    )
    .bind(&r.case_no)
    .fetch_one(h.pool())
    .await
    .unwrap();
    assert_eq!(lapsed, 1);
    h.stop().await;
}

/// A clerk's rejection or unlinking routes the petition as one of its own; a repeat of a
/// finished matter (`related`) is routed at once, never held.
#[tokio::test]
async fn rejected_unlinked_and_related_repeats_are_routed() {
    let h = Harness::start().await;
    let c = h.county();
    let r = h.repeat(RepeatDisposition::NotReaccepted);
    h.register(&r).await;
    h.wait_held(&r.case_no).await;
    h.decide_repeat(&r, events::RepeatDecision::Reject, None)
        .await;
    h.wait_events(&c, &filter(&c, "case.assigned"), &r.case_no, 1)
        .await;

    let r = h.repeat(RepeatDisposition::Merged);
    h.register(&r).await;
    h.wait_held(&r.case_no).await;
    h.decide_repeat(&r, events::RepeatDecision::Unlink, None)
        .await;
    h.wait_events(&c, &filter(&c, "case.assigned"), &r.case_no, 1)
        .await;
    let facts: serde_json::Value = sqlx::query_scalar("select facts from cases where case_no = $1")
        .bind(&r.case_no)
        .fetch_one(h.pool())
        .await
        .unwrap();
    assert!(facts["repeat"].is_null(), "{facts}");

    let r = h.repeat(RepeatDisposition::Related);
    h.register(&r).await;
    h.wait_events(&c, &filter(&c, "case.assigned"), &r.case_no, 1)
        .await;
    // A decision arriving for a case routed already is recorded, nothing more.
    h.decide_repeat(&r, events::RepeatDecision::Unlink, None)
        .await;
    h.env
        .wait_for("the late decision recorded", 10, async || {
            sqlx::query_scalar::<_, i64>(
                "select count(*) from actions where case_no = $1 and action = 'repeat_unlinked'",
            )
            .bind(&r.case_no)
            .fetch_one(h.pool())
            .await
            .unwrap()
                == 1
        })
        .await;
    assert_eq!(
        h.events(&c, &filter(&c, "case.assigned"), &r.case_no)
            .await
            .len(),
        1
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
        accused_level: None,
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

/// A clerk reclassifies a routed case twice and two routing instances handle the two events
/// in reverse order: the newer classification stands, the older is logged as not applied.
#[tokio::test]
async fn an_older_reclassification_handled_last_does_not_replace_the_newer() {
    let h = Harness::start().await;
    let c = h.county();
    let r = h.registered("zjj");
    h.register(&r).await;
    h.wait_events(&c, &filter(&c, "dept.zjj.assigned"), &r.case_no, 1)
        .await;
    let reclassified = |department: &str| Reclassified {
        case_no: r.case_no.clone(),
        petition_type: PetitionType::Grievance,
        branch: Some(Art31Branch::Residual),
        diversion: None,
        department: department.into(),
        county: c.clone(),
        accuses_official: false,
        by: "clerk".into(),
        reason: "重新分类".into(),
        assisting: vec![],
        accused_level: None,
    };
    let t = chrono::Utc::now();
    let (newer, older) = (
        t + chrono::TimeDelta::seconds(2),
        t + chrono::TimeDelta::seconds(1),
    );
    let kind = events::kind::RECLASSIFIED;
    h.env
        .publish_case_at(&c, kind, &r.case_no, &reclassified("slj"), newer)
        .await;
    h.env
        .publish_case_at(&c, kind, &r.case_no, &reclassified("sthjj"), older)
        .await;
    let notes = async || -> Vec<Option<String>> {
        sqlx::query_scalar(
            "select note from actions where case_no = $1 and action = 'reclassified' order by id",
        )
        .bind(&r.case_no)
        .fetch_all(h.pool())
        .await
        .unwrap()
    };
    h.env
        .wait_for("both reclassifications handled", 15, async || {
            notes().await.len() == 2
        })
        .await;
    let department: Option<String> =
        sqlx::query_scalar("select facts->>'department' from cases where case_no = $1")
            .bind(&r.case_no)
            .fetch_one(h.pool())
            .await
            .unwrap();
    assert_eq!(department.as_deref(), Some("slj"));
    let last = notes().await.pop().flatten().unwrap_or_default();
    assert!(last.contains("not applied"), "{last}");
    h.stop().await;
}

/// A case routed as an ordinary grievance and then reclassified by a clerk as an accusation
/// against an official: the unit that had it (perhaps the accused's own) loses it, what it had
/// been given is on record, and 纪委监委 gets the case with the informant.
#[tokio::test]
async fn reclassification_into_an_accusation_takes_the_case_back_and_reroutes_it() {
    let h = Harness::start().await;
    let c = h.county();
    let mut r = h.registered("zjj");
    r.text = format!("我是{NAME}，电话{MOBILE}。住建局某科长收受开发商好处，质量问题不管。");
    h.register(&r).await;
    h.wait_events(&c, &filter(&c, "dept.zjj.assigned"), &r.case_no, 1)
        .await;
    let re = Reclassified {
        case_no: r.case_no.clone(),
        petition_type: PetitionType::Accusation,
        branch: None,
        diversion: None,
        department: "jwjw".into(),
        county: c.clone(),
        accuses_official: true,
        by: "clerk".into(),
        reason: "举报干部受贿".into(),
        assisting: vec![],
        accused_level: None,
    };
    h.publish(events::kind::RECLASSIFIED, &r.case_no, &re).await;
    let withdrawn = h
        .wait_events(&c, &filter(&c, "dept.zjj.withdrawn"), &r.case_no, 1)
        .await;
    let w: events::DeptWithdrawn = withdrawn[0].1.data_as().unwrap();
    assert_eq!(w.case_no, r.case_no);
    let rerouted: events::Rerouted = h
        .wait_events(&c, &filter(&c, "case.rerouted"), &r.case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!(rerouted.withdrawn.len(), 1);
    assert_eq!(rerouted.withdrawn[0].department, "zjj");
    assert!(rerouted.withdrawn[0].had_identity && rerouted.withdrawn[0].had_full_text);
    let jw: DeptAssignment = h
        .wait_events(&c, &filter(&c, "dept.jwjw.assigned"), &r.case_no, 1)
        .await[0]
        .1
        .data_as()
        .unwrap();
    assert_eq!(jw.petitioner.map(|p| p.name), Some(NAME.to_owned()));
    assert_eq!(
        h.assignment(&r.case_no, "zjj")
            .await
            .map(|a| a.1)
            .as_deref(),
        Some("withdrawn")
    );
    let logged: Option<String> = sqlx::query_scalar(
        "select note from actions where case_no = $1 and department = 'zjj'
           and action = 'access_withdrawn'",
    )
    .bind(&r.case_no)
    .fetch_optional(h.pool())
    .await
    .unwrap()
    .flatten();
    let logged = logged.expect("what zjj had seen is on record");
    assert!(logged.contains("identity"), "{logged}");
    h.stop().await;
}
