//! A consumer batch writes its new clocks, their status events, the projection's due columns
//! and remembered marks once, at its end. A case's facts handled in one batch, interleaved with
//! another case's and out of their order, must leave the same clocks, projection, marks and
//! events as the same facts handled one at a time.

mod common;

use chrono::{DateTime, NaiveDate, SubsecRound, TimeDelta, Utc};
use common::*;
use serde::Serialize;
use sqlx::PgConnection;
use xinfang_domain::deadline_plan::Family;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::subject;
use xinfang_platform::consumer::{Handler, Incoming};
use xinfang_supervision::handlers::DeadlineHandler;

/// A case's facts as delivered: the extension before the acceptance it extends and the
/// acceptance before the assignment it follows (other instances took those), then the reply.
fn life(h: &Harness, case: &str, t0: DateTime<Utc>) -> Vec<(String, Envelope)> {
    let c = h.county();
    let hours = |n: i64| t0 + TimeDelta::hours(n);
    let event = |kind: &str, at: DateTime<Utc>, data: &dyn Fn() -> serde_json::Value| {
        let s = subject::case_event(&c, kind).expect("subject");
        let env = Envelope::new(kind, Some(case.to_owned()), c.clone(), at, data()).expect("env");
        (s.as_str().to_owned(), env)
    };
    fn v(x: impl Serialize) -> serde_json::Value {
        serde_json::to_value(x).expect("json")
    }
    vec![
        event("registered", t0, &|| {
            v(registered(case, &c, t0, "rsj", false))
        }),
        event("extended", hours(3), &|| {
            v(extended(case, "rsj", 30, hours(3)))
        }),
        event("accepted", hours(2), &|| v(accepted(case, "rsj", hours(2)))),
        event("assigned", hours(1), &|| v(assigned(case, "rsj", hours(1)))),
        event("replied", hours(4), &|| {
            v(replied(case, "rsj", hours(4), false))
        }),
    ]
}

/// Each fact on its own, as a batch redone message by message applies them.
async fn one_at_a_time(
    handler: &DeadlineHandler,
    conn: &mut PgConnection,
    facts: Vec<(String, Envelope)>,
) {
    for (subject, env) in facts {
        let msg = Incoming {
            subject: &subject,
            envelope: &env,
            delivered: 1,
        };
        handler.handle(&mut *conn, &msg).await.expect("handled");
    }
}

/// The facts as one batch tried whole.
async fn as_one_batch(
    handler: &DeadlineHandler,
    conn: &mut PgConnection,
    facts: &[(String, Envelope)],
) {
    let msgs: Vec<(Incoming<'_>, tracing::Span)> = facts
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
    handler
        .handle_all(&mut *conn, &msgs)
        .await
        .expect("batch handled");
}

type Clock = (
    String,
    String,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<i32>,
    Option<String>,
);

async fn clocks(conn: &mut PgConnection, case: &str) -> Vec<Clock> {
    sqlx::query_as(
        "select kind, ref, state, trigger_at, due_at, closed_at, close_reason, fact_at,
                extension_days, department
         from deadlines where case_no = $1 order by kind, trigger_at, state",
    )
    .bind(case)
    .fetch_all(&mut *conn)
    .await
    .expect("clocks")
}

type Projection = (
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<String>,
    Option<NaiveDate>,
    Option<DateTime<Utc>>,
);

async fn projection(conn: &mut PgConnection, case: &str) -> Projection {
    sqlx::query_as(
        "select d1_due, d3_due, handling_due, department, accepted_on, replied_at
         from cases where case_no = $1",
    )
    .bind(case)
    .fetch_one(&mut *conn)
    .await
    .expect("projection")
}

async fn marks(
    conn: &mut PgConnection,
    case: &str,
) -> Vec<(String, String, DateTime<Utc>, String, Option<i32>)> {
    sqlx::query_as(
        "select kind, mark, at, reason, days from clock_marks where case_no = $1
         order by kind, mark, at",
    )
    .bind(case)
    .fetch_all(&mut *conn)
    .await
    .expect("marks")
}

/// The case's status events in the order written: (type, deadline, state, reason, due).
async fn events(
    conn: &mut PgConnection,
    case: &str,
) -> Vec<(String, String, String, String, String)> {
    let payloads: Vec<Vec<u8>> = sqlx::query_scalar("select payload from outbox order by seq")
        .fetch_all(&mut *conn)
        .await
        .expect("outbox");
    payloads
        .iter()
        .filter_map(|p| Envelope::<serde_json::Value>::from_bytes(p).ok())
        .filter(|e| e.case_id.as_deref() == Some(case))
        .map(|e| {
            let s = |k: &str| e.data.get(k).map(|v| v.to_string()).unwrap_or_default();
            (
                e.kind.clone(),
                s("deadline"),
                s("state"),
                s("reason"),
                s("due"),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_batch_leaves_each_case_as_its_facts_one_at_a_time_do() {
    let h = Harness::start("").await;
    let handler = DeadlineHandler {
        family: Family::Case,
        rules: h.sup.rules.clone(),
    };
    let mut conn = h.pool().acquire().await.expect("connection");
    let t0 = Utc::now().trunc_subsecs(0) - TimeDelta::hours(6);
    let (one, two, three) = (h.case_no(1), h.case_no(2), h.case_no(3));

    // Case one: one fact at a time, as a batch redone message by message applies them.
    one_at_a_time(&handler, &mut conn, life(&h, &one, t0)).await;

    // Cases two and three registered and extended by earlier batches (the extension is only
    // remembered: no handling clock yet), the rest of their facts interleaved in one batch,
    // with another case's registration.
    let mut batch = Vec::new();
    for (a, b) in life(&h, &two, t0).into_iter().zip(life(&h, &three, t0)) {
        batch.push(a);
        batch.push(b);
    }
    one_at_a_time(&handler, &mut conn, batch.drain(..4).collect()).await;
    let elsewhere = h.case_no(9);
    batch.insert(3, life(&h, &elsewhere, t0).remove(0));
    as_one_batch(&handler, &mut conn, &batch).await;

    // The facts did what they say, whatever their order: D1 met by the acceptance (handled
    // first), D3 and D4 (started by the late assignment) settled by it, D5 extended into D6
    // by the extension that came before it, and met by the reply, which starts the evaluation
    // window.
    let by_one = clocks(&mut conn, &one).await;
    let settled: Vec<(&str, &str, Option<&str>)> = by_one
        .iter()
        .map(|c| (c.0.as_str(), c.2.as_str(), c.6.as_deref()))
        .collect();
    assert_eq!(
        settled,
        vec![
            ("D1", "met", Some("accepted")),
            ("D3", "met", Some("accepted")),
            ("D4", "withdrawn", Some("accepted")),
            ("D6", "met", Some("replied")),
            ("eval", "pending", None),
        ],
        "{by_one:?}"
    );
    let projected = projection(&mut conn, &one).await;
    assert!(projected.0.is_some() && projected.1.is_some() && projected.2.is_some());
    let told = events(&mut conn, &one).await;
    assert!(told.len() >= 8, "{told:?}");

    for case in [&two, &three] {
        assert_eq!(clocks(&mut conn, case).await, by_one, "{case}'s clocks");
        assert_eq!(
            projection(&mut conn, case).await,
            projected,
            "{case}'s projection"
        );
        assert_eq!(
            marks(&mut conn, case).await,
            marks(&mut conn, &one).await,
            "{case}'s marks"
        );
        assert_eq!(events(&mut conn, case).await, told, "{case}'s events");
    }
    let d1: Vec<String> = clocks(&mut conn, &elsewhere)
        .await
        .into_iter()
        .map(|c| format!("{} {}", c.0, c.2))
        .collect();
    assert_eq!(d1, vec!["D1 pending"]);
    h.stop().await;
}

/// A fact that sets a due column before the case has a projection row (a transfer delivered
/// before anything else) changes nothing, handled alone; a batch in which a later fact creates
/// the row must not give the column that value either.
#[tokio::test]
async fn a_due_set_before_the_case_has_a_row_is_dropped_in_a_batch_too() {
    let h = Harness::start("").await;
    let handler = DeadlineHandler {
        family: Family::Case,
        rules: h.sup.rules.clone(),
    };
    let mut conn = h.pool().acquire().await.expect("connection");
    let c = h.county();
    let t1 = Utc::now().trunc_subsecs(0) - TimeDelta::hours(6);
    let t2 = t1 + TimeDelta::hours(1);
    let facts = |case: &str| -> Vec<(String, Envelope)> {
        let env = |kind: &str, at: DateTime<Utc>, data: serde_json::Value| {
            let s = subject::case_event(&c, kind).expect("subject");
            let env = Envelope::new(kind, Some(case.to_owned()), c.clone(), at, data).expect("env");
            (s.as_str().to_owned(), env)
        };
        vec![
            env(
                "transferred",
                t2,
                serde_json::to_value(transferred(case, &c, t2)).expect("json"),
            ),
            env(
                "assigned",
                t1,
                serde_json::to_value(assigned(case, "sthjj", t1)).expect("json"),
            ),
        ]
    };
    let (alone, together) = (h.case_no(1), h.case_no(2));
    one_at_a_time(&handler, &mut conn, facts(&alone)).await;
    as_one_batch(&handler, &mut conn, &facts(&together)).await;

    // The transfer's D3 runs; the older assignment started nothing it superseded, and the
    // projection never heard the transfer's due (no row then).
    let alone_clocks = clocks(&mut conn, &alone).await;
    let open: Vec<(&str, &str)> = alone_clocks
        .iter()
        .map(|c| (c.0.as_str(), c.2.as_str()))
        .collect();
    assert!(open.contains(&("D3", "pending")), "{alone_clocks:?}");
    let projected = projection(&mut conn, &alone).await;
    assert_eq!(projected.1, None, "{projected:?}");
    assert_eq!(clocks(&mut conn, &together).await, alone_clocks);
    assert_eq!(projection(&mut conn, &together).await, projected);
    h.stop().await;
}
