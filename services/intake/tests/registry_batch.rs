//! The registry applies a batch's events together (a few statements per batch) and one by one
//! (a message redone under its own savepoint): both must leave a case exactly as the events
//! say, in their order, whatever else the batch holds.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;
use xinfang_domain::county::CountyCode;
use xinfang_domain::envelope::Envelope;
use xinfang_intake::registry::RegistryHandler;
use xinfang_platform::consumer::{Handler, Incoming};
use xinfang_platform::db;
use xinfang_platform::testing;

const COUNTY: &str = "411282";

/// A case row as registration leaves it (only what the registry reads matters here).
async fn registered(conn: &mut PgConnection, case_no: &str) {
    sqlx::query(
        "insert into cases (case_no, query_code, county, channel, received_at, registered_at,
            clerk_id, petitioner_sealed, petitioner_key, text, petition_type, department,
            accuses_official, confidential, confidence, needs_triage, status)
         values ($1, $1 || '-q', $2, 'online', now(), now(), 'clerk', 'sealed', 'p-key', 'text',
                 '申诉求决', 'rsj', false, false, 0.9, false, 'registered')",
    )
    .bind(case_no)
    .bind(COUNTY)
    .execute(conn)
    .await
    .expect("case row");
}

/// A case's life: assignment, its clocks, acceptance, an event delivered late (older than the
/// status it would set), a conference (a public line and a staff-only one), a reply and its
/// clock closing, and the clock's start delivered again after that.
fn life(case_no: &str, t0: DateTime<Utc>) -> Vec<(String, Envelope)> {
    let at = |h: i64| t0 + Duration::hours(h);
    let clock = |state: &str, reason: &str, h: i64| {
        json!({"case_no": case_no, "deadline": "D5", "department": "rsj",
               "trigger": at(0), "due": at(24 * 60), "state": state, "reason": reason,
               "at": at(h)})
    };
    let events: Vec<(&str, &str, i64, Value)> = vec![
        (
            "case",
            "assigned",
            1,
            json!({"department": "rsj", "mode": "assign"}),
        ),
        ("deadline", "scheduled", 2, clock("pending", "started", 2)),
        ("case", "accepted", 3, json!({"department": "rsj"})),
        // Older than the acceptance: must not set the status back.
        (
            "case",
            "assigned",
            0,
            json!({"department": "zjj", "mode": "forward"}),
        ),
        (
            "case",
            "conference_held",
            4,
            json!({"case_no": case_no, "conference": "0190e5a0-0000-7000-8000-000000000001",
                   "kind": "difficult_case", "held_at": at(4), "minutes": "各方同意补发工资",
                   "decisions": [], "by": "clerk", "at": at(4)}),
        ),
        (
            "case",
            "replied",
            5,
            json!({"department": "rsj", "outcome": "supported",
                   "is_handling_opinion": true, "served_on": "2026-03-10"}),
        ),
        ("deadline", "closed", 6, clock("met", "replied", 6)),
        // Supervision's earlier word on the clock, delivered after its closing (another
        // instance's relay published it late): the clock stays met.
        ("deadline", "scheduled", 2, clock("pending", "started", 2)),
    ];
    events
        .into_iter()
        .map(|(family, kind, h, data)| {
            let env = Envelope::new(
                kind,
                Some(case_no.to_owned()),
                CountyCode::parse(COUNTY).expect("county"),
                at(h),
                data,
            )
            .expect("envelope");
            (format!("xf.{COUNTY}.{family}.{kind}"), env)
        })
        .collect()
}

/// What the registry shows of a case: its row and its timeline.
async fn shown(conn: &mut PgConnection, case_no: &str) -> (Value, Vec<(String, String, bool)>) {
    let row: Value = sqlx::query_scalar(
        "select jsonb_build_object('status', status, 'status_at', status_at,
            'current_department', current_department, 'milestones', milestones,
            'deadlines', deadlines, 'decisions', decisions, 'overdue', overdue,
            'final_without_appeal', final_without_appeal, 'terminated_at', terminated_at)
         from cases where case_no = $1",
    )
    .bind(case_no)
    .fetch_one(&mut *conn)
    .await
    .expect("case row");
    let timeline: Vec<(String, String, bool)> = sqlx::query_as(
        "select event, summary, public from timeline where case_no = $1 order by id",
    )
    .bind(case_no)
    .fetch_all(&mut *conn)
    .await
    .expect("timeline");
    (row, timeline)
}

/// The same case numbers in both results' text, so two cases' views compare equal.
fn renamed(v: (Value, Vec<(String, String, bool)>), from: &str) -> String {
    format!("{:?}", v).replace(from, "CASE")
}

#[tokio::test]
async fn a_batch_leaves_each_case_as_its_events_in_order_do() {
    let (mut p, _, _) = testing::settings().await.expect("settings");
    p.database.create_if_missing = true;
    let pool = db::connect(&p.database, "intake")
        .await
        .expect("local Postgres");
    db::migrate(&pool, "intake", &xinfang_intake::service::MIGRATOR)
        .await
        .expect("migrations");
    let mut conn = pool.acquire().await.expect("connection");
    let t0: DateTime<Utc> = "2026-03-05T02:00:00Z".parse().expect("time");
    let (one, two, three) = (
        "XF-411282-2026-000001",
        "XF-411282-2026-000002",
        "XF-411282-2026-000003",
    );
    for case_no in [one, two, three] {
        registered(&mut conn, case_no).await;
    }

    // Case one: one event at a time, as a redone batch applies them.
    for (subject, env) in life(one, t0) {
        let msg = Incoming {
            subject: &subject,
            envelope: &env,
            delivered: 1,
        };
        RegistryHandler
            .handle(&mut conn, &msg)
            .await
            .expect("handled");
    }

    // Cases two and three interleaved in one batch, with an event of a case held elsewhere.
    let mut batch = Vec::new();
    for (a, b) in life(two, t0).into_iter().zip(life(three, t0)) {
        batch.push(a);
        batch.push(b);
    }
    let elsewhere = life("XF-411200-2026-000009", t0);
    batch.insert(3, elsewhere[0].clone());
    let msgs: Vec<(Incoming<'_>, tracing::Span)> = batch
        .iter()
        .map(|(subject, env)| {
            (
                Incoming {
                    subject,
                    envelope: env,
                    delivered: 1,
                },
                tracing::Span::none(),
            )
        })
        .collect();
    RegistryHandler
        .handle_all(&mut conn, &msgs)
        .await
        .expect("batch handled");

    let by_one = shown(&mut conn, one).await;
    // The events did what they say: the late assignment did not set the status back.
    assert_eq!(by_one.0["status"], "replied", "{}", by_one.0);
    assert_eq!(
        by_one.0["status_at"], "2026-03-05T07:00:00+00:00",
        "{}",
        by_one.0
    );
    assert_eq!(by_one.0["deadlines"]["D5"]["state"], "met", "{}", by_one.0);
    // Four public lines, and the conference's as a public and a staff-only line.
    assert_eq!(by_one.1.len(), 6, "{:?}", by_one.1);
    assert_eq!(
        (by_one.1[3].2, by_one.1[4].2),
        (true, false),
        "{:?}",
        by_one.1
    );
    let one_view = renamed(by_one, one);
    for case_no in [two, three] {
        let view = renamed(shown(&mut conn, case_no).await, case_no);
        assert_eq!(view, one_view, "{case_no} from the batch");
    }
    let held: i64 =
        sqlx::query_scalar("select count(*) from cases where case_no = 'XF-411200-2026-000009'")
            .fetch_one(&mut *conn)
            .await
            .expect("count");
    assert_eq!(held, 0, "an event of a case held elsewhere creates nothing");

    drop(conn);
    pool.close().await;
    db::drop_database(&p.database).await.expect("drop");
}
