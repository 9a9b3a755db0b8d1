//! The appeal path across two deployments on one NATS: a county case (registered → assigned →
//! accepted → replied with a 信访处理意见书) is reviewed (复查) at the county government,
//! re-reviewed (复核) at the city government — published on the city's subjects and recorded by
//! the city deployment — with a hearing pausing D10, and is then TERMINATED by its home
//! deployment: 终结库 entry and `case.terminated` on the county's subjects.

mod common;

use chrono::Utc;
use common::{Harness, ID, OTHER_ID};
use serde_json::json;
use xinfang_domain::events::{ReviewEvent, ReviewLevel, Terminated};

#[tokio::test]
async fn county_case_goes_up_to_the_city_and_is_terminated_at_home() {
    let h = Harness::start("").await.with_city().await;
    let (county, city) = (h.county(), h.city());
    let r = h.registered("rsj", &county);
    let case = r.case_no.clone();
    h.case_through_reply(&r, true, h.days_ago(2)).await;

    // A wrong ID number is refused before anything else (403, no personal data echoed).
    let (status, body) = h
        .post(
            &h.url("/v1/reviews"),
            json!({"query_code": r.query_code, "id_number": OTHER_ID}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "identity_mismatch");
    assert!(!body.to_string().contains(OTHER_ID));

    // 复查 by the petitioner: the county government, the next-higher organ of 县人社局.
    let (status, body) = h.petitioner_requests(&r).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["level"], "review");
    assert_eq!(body["organ"], format!("{county}:gov"));
    assert_eq!(body["events"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(
        body["events"][0]["subject"],
        format!("xf.{county}.review.requested")
    );

    // Requested once only.
    let (status, body) = h.petitioner_requests(&r).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "already_requested");

    // The city cannot record the county government's decision.
    let decision = |level: &str| {
        json!({"level": level, "outcome": "uphold", "text": "维持原处理意见。",
               "served_on": h.today(), "decided_by": "审核员甲"})
    };
    // 复核 cannot be asked before the 复查 decision (the lifecycle's order).
    let (status, body) = h
        .post(
            &h.url("/v1/reviews"),
            json!({"case_no": case, "clerk_id": "clerk-1", "level": "rereview"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "not_allowed");

    let (status, body) = h
        .post(
            &h.url(&format!("/v1/reviews/{case}/decision")),
            decision("review"),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["late"], false);

    // 复核: the city government, published on the city's subjects (and copied home).
    let (status, body) = h.petitioner_requests(&r).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["level"], "rereview");
    assert_eq!(body["organ"], format!("{city}:gov"));
    let subjects: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["subject"].as_str().unwrap())
        .collect();
    let want_city = format!("xf.{city}.review.requested");
    let want_home = format!("xf.{county}.review.requested");
    assert_eq!(subjects, vec![want_city.as_str(), want_home.as_str()]);
    let plain_due = body["decide_by"].as_str().unwrap().to_owned();

    // The city deployment consumes its review family and records the request.
    let city_view = h.city_url(&format!("/v1/reviews/{case}"));
    h.env
        .wait_for("the city to record the 复核 request", 20, async || {
            let (s, v) = h.get(&city_view).await;
            s == 200
                && v["appeals"].as_array().is_some_and(|a| {
                    a.iter()
                        .any(|x| x["level"] == "rereview" && x["handled_here"] == true)
                })
        })
        .await;
    let (_, v) = h.get(&city_view).await;
    assert_eq!(
        v["held_here"], false,
        "the city does not hold the county case: {v}"
    );

    // The county deployment may not decide what the city handles.
    let (status, body) = h
        .post(
            &h.url(&format!("/v1/reviews/{case}/decision")),
            decision("rereview"),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "organ_not_served");

    // A hearing pauses D10 and resumes it when recorded as finished.
    let hearing_url = h.city_url(&format!("/v1/reviews/{case}/hearing"));
    let started = Utc::now();
    let (status, body) = h
        .post(
            &hearing_url,
            json!({"action": "start", "at": started, "clerk_id": "clerk-city"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = h
        .post(
            &hearing_url,
            json!({"action": "start", "clerk_id": "clerk-city"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "hearing_open");
    h.clock.advance(chrono::TimeDelta::days(2));
    let (status, body) = h
        .post(
            &hearing_url,
            json!({"action": "finish", "clerk_id": "clerk-city"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let paused_due = body["decide_by"].as_str().unwrap().to_owned();
    assert!(
        paused_due > plain_due,
        "hearing days are not counted: {plain_due} -> {paused_due}"
    );

    for county_code in [&city, &county] {
        for (kind, filter) in [
            (
                "hearing_started",
                format!("xf.{county_code}.review.hearing_started"),
            ),
            (
                "hearing_finished",
                format!("xf.{county_code}.review.hearing_finished"),
            ),
        ] {
            let evs = h.wait_events(county_code, &filter, &case, 1).await;
            let e: ReviewEvent = evs[0].data_as().unwrap();
            assert_eq!(evs[0].kind, kind);
            assert_eq!(e.level, ReviewLevel::Rereview);
            assert_eq!(e.organ, format!("{city}:gov"));
            assert_eq!(e.case_county, county);
        }
    }

    // The city records the 复核 decision; the county (home) terminates the case.
    let (status, body) = h
        .post(
            &h.city_url(&format!("/v1/reviews/{case}/decision")),
            decision("rereview"),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let terminated = h
        .wait_events(&county, &format!("xf.{county}.case.terminated"), &case, 1)
        .await;
    let t: Terminated = terminated[0].data_as().unwrap();
    assert_eq!(t.case_no, case);
    assert_eq!(t.petitioner_key, h.petitioner_key());
    let decided = h
        .wait_events(&city, &format!("xf.{city}.review.decided"), &case, 1)
        .await;
    let d: ReviewEvent = decided[0].data_as().unwrap();
    assert_eq!(d.level, ReviewLevel::Rereview);
    assert_eq!(d.decision.as_deref(), Some("uphold"));
    assert_eq!(d.served_on, Some(h.today()));

    // 终结库: at home, with the petitioner hash and the fingerprint; not at the city.
    let key = h.petitioner_key();
    let (status, body) = h
        .get(&h.url(&format!("/v1/terminations?petitioner_key={key}")))
        .await;
    assert_eq!(status, 200, "{body}");
    let rows = body["terminations"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{body}");
    assert_eq!(rows[0]["case_no"], case);
    assert_eq!(rows[0]["rereview_organ"], format!("{city}:gov"));
    assert_eq!(rows[0]["fingerprint"].as_str().unwrap().len(), 128 * 8);
    let (_, body) = h
        .get(&h.city_url(&format!("/v1/terminations?petitioner_key={key}")))
        .await;
    assert_eq!(body["terminations"].as_array().unwrap().len(), 0);
    // A clerk finds it by the petitioner's ID number, given in the body and hashed on the
    // server as intake hashes it (issue #20: before, only the internal key found it).
    let search = h.url("/v1/terminations/search");
    let (status, body) = h.post(&search, json!({"id_number": ID})).await;
    assert_eq!(status, 200, "{body}");
    let found = body["terminations"].as_array().unwrap();
    assert_eq!(found.len(), 1, "{body}");
    assert_eq!(found[0]["case_no"], case);
    let (status, body) = h.post(&search, json!({"id_number": OTHER_ID})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["terminations"].as_array().unwrap().len(), 0);
    let (status, body) = h.post(&search, json!({"id_number": "12345"})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "id_number");
    assert!(!body.to_string().contains("12345"), "{body}");
    let (status, body) = h.post(&search, json!({})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "id_number");

    // Once only, whatever copies arrive; afterwards every appeal is refused (Art 36 para 3).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let all = h
        .events(&county, &format!("xf.{county}.case.terminated"))
        .await;
    assert_eq!(all.len(), 1);
    let (status, body) = h.petitioner_requests(&r).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "terminated");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Art 36")
    );
    h.stop().await;
}

/// A county department whose review parent is a city organ: its 复查 already goes up a level.
#[tokio::test]
async fn review_parent_in_the_city_takes_the_review_to_the_city() {
    let h = Harness::start("").await.with_city().await;
    let (county, city) = (h.county(), h.city());
    let r = h.registered("gaj", &county);
    let case = r.case_no.clone();
    h.case_through_reply(&r, true, h.days_ago(1)).await;
    let (status, body) = h
        .post(
            &h.url("/v1/reviews"),
            json!({"case_no": case, "clerk_id": "clerk-1"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["organ"], format!("{city}:gaj"));
    let evs = h
        .wait_events(&city, &format!("xf.{city}.review.requested"), &case, 1)
        .await;
    let e: ReviewEvent = evs[0].data_as().unwrap();
    assert_eq!(e.level, ReviewLevel::Review);
    assert_eq!(e.case_county, county);
    // The city upholds the opinion; the home deployment learns the decision from its copy, so
    // the petitioner's 复核 (to the city government) is accepted at home. (A decision that
    // changes or revokes it sends the matter back instead: see the test below.)
    let city_view = h.city_url(&format!("/v1/reviews/{case}"));
    h.env
        .wait_for("the city to record the 复查 request", 20, async || {
            h.get(&city_view).await.0 == 200
        })
        .await;
    let (status, body) = h
        .post(
            &h.city_url(&format!("/v1/reviews/{case}/decision")),
            json!({"level": "review", "outcome": "uphold", "text": "维持原处理意见。",
                   "served_on": h.today(), "decided_by": "市公安局"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let home_view = h.url(&format!("/v1/reviews/{case}"));
    h.env
        .wait_for(
            "the home deployment to learn the 复查 decision",
            20,
            async || {
                let (_, v) = h.get(&home_view).await;
                v["appeals"][0]["decision_served_on"].is_string()
            },
        )
        .await;
    let (status, body) = h.petitioner_requests(&r).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["level"], "rereview");
    assert_eq!(body["organ"], format!("{city}:gov"));
    h.stop().await;
}

/// Issue #20, item 2 (review's part): a 复查 that revokes the opinion sends the matter back.
/// No 复核 lies against it; `case.remanded` goes once to the case's county (routing, supervision
/// and the registry follow it); and once the handling organ's new opinion is served, a new
/// 复查 is accepted — the case's second round, recorded afresh also at the city organ that
/// reviews it (the county police's 复查 goes to the city police).
#[tokio::test]
async fn a_revoked_opinion_goes_back_and_the_new_one_is_reviewed_afresh() {
    use xinfang_domain::events::{Remanded, Replied, kind};
    use xinfang_domain::petition::OpinionOutcome;

    let h = Harness::start("").await.with_city().await;
    let (county, city) = (h.county(), h.city());
    let r = h.registered("gaj", &county);
    let case = r.case_no.clone();
    h.case_through_reply(&r, true, h.days_ago(3)).await;
    let (status, body) = h.petitioner_requests(&r).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["organ"], format!("{city}:gaj"));
    let city_view = h.city_url(&format!("/v1/reviews/{case}"));
    h.env
        .wait_for("the city to record the 复查 request", 20, async || {
            h.get(&city_view).await.0 == 200
        })
        .await;
    let (status, body) = h
        .post(
            &h.city_url(&format!("/v1/reviews/{case}/decision")),
            json!({"level": "review", "outcome": "revoke", "text": "事实不清，撤销原处理意见，由原办理机关重新办理。",
                   "served_on": h.today()}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["sends_back"], true, "{body}");

    // The home deployment sends the case back: once, on the county's case subjects.
    let remanded = h
        .wait_events(&county, &format!("xf.{county}.case.remanded"), &case, 1)
        .await;
    let m: Remanded = remanded[0].data_as().unwrap();
    assert_eq!(
        (m.level, m.outcome.as_str(), m.department.as_str(), m.round),
        (ReviewLevel::Review, "revoke", "gaj", 2)
    );
    assert_eq!(m.organ, format!("{city}:gaj"));
    let home_view = h.url(&format!("/v1/reviews/{case}"));
    let (_, v) = h.get(&home_view).await;
    assert_eq!(v["round"], 2, "{v}");
    assert_eq!(v["remanded"]["awaiting_new_opinion"], true, "{v}");
    // No 复核 against the revoked opinion, nor a 复查 before the new one is served.
    for level in [None, Some("rereview")] {
        let mut ask = json!({"case_no": case, "clerk_id": "clerk-1"});
        if let Some(l) = level {
            ask["level"] = json!(l);
        }
        let (status, body) = h.post(&h.url("/v1/reviews"), ask).await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"]["code"], "opinion_sent_back", "{body}");
    }

    // The organ's new opinion is served: a new 复查, round 2, at the city police again.
    h.publish(
        kind::REPLIED,
        &case,
        &Replied {
            case_no: case.clone(),
            department: "gaj".into(),
            outcome: Some(OpinionOutcome::Explained),
            is_handling_opinion: true,
            text: "重新调查后，作出解释说明。".into(),
            served_on: h.today(),
            at: Utc::now(),
        },
    )
    .await;
    let today = h.today().to_string();
    h.env
        .wait_for("the new opinion to be served", 20, async || {
            h.get(&home_view).await.1["served_on"].as_str() == Some(today.as_str())
        })
        .await;
    let (status, body) = h.petitioner_requests(&r).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["level"], "review");
    assert_eq!(body["organ"], format!("{city}:gaj"));
    let requested = h
        .wait_events(&city, &format!("xf.{city}.review.requested"), &case, 2)
        .await;
    let second: ReviewEvent = requested[1].data_as().unwrap();
    assert_eq!(second.round, 2);
    h.env
        .wait_for("the city to record the second 复查", 20, async || {
            let (_, v) = h.get(&city_view).await;
            v["appeals"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|x| x["round"] == 2 && x["handled_here"] == true)
            })
        })
        .await;
    let (status, body) = h
        .post(
            &h.city_url(&format!("/v1/reviews/{case}/decision")),
            json!({"level": "review", "outcome": "uphold", "text": "维持新的处理意见。",
                   "served_on": h.today()}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    h.env
        .wait_for("home to learn the second 复查 decision", 20, async || {
            let (_, v) = h.get(&home_view).await;
            v["appeals"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|x| x["round"] == 2 && x["decision_served_on"].is_string())
            })
        })
        .await;
    let (status, body) = h.petitioner_requests(&r).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["level"], "rereview");
    assert_eq!(body["organ"], format!("{city}:gov"));
    // The remand happened once, whatever copies arrived.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        h.events(&county, &format!("xf.{county}.case.remanded"))
            .await
            .len(),
        1
    );
    h.stop().await;
}
