//! The timer index under failure and load: Redis loses its keys, a claimer dies holding a
//! lease, and two instances share 10,000 due timers.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use common::*;
use uuid::Uuid;
use xinfang_supervision::fire::Engine;
use xinfang_supervision::store::{self, NewDeadline};

async fn count_state(h: &Harness, kind: &str, state: &str) -> i64 {
    sqlx::query_scalar("select count(*) from deadlines where kind = $1 and state = $2")
        .bind(kind)
        .bind(state)
        .fetch_one(h.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn every_pending_deadline_still_fires_after_redis_loses_the_index() {
    let h = Harness::start("").await;
    let c = h.county();
    let t0 = Utc::now();
    let n = 30;
    for i in 0..n {
        let case = h.case_no(100 + i);
        h.case_event("registered", &case, registered(&case, &c, t0, "rsj", false))
            .await;
    }
    h.env
        .wait_for("all D1 indexed", 15, async || {
            let pending: i64 = sqlx::query_scalar(
                "select count(*) from deadlines where kind = 'D1' and state = 'pending' and indexed",
            )
            .fetch_one(h.pool())
            .await
            .unwrap();
            pending == i64::from(n)
        })
        .await;
    assert_eq!(h.sup.index.len(&c).await.unwrap(), u64::from(n));

    // Redis loses everything of this deployment (as after a restart without persistence).
    let mut redis = h.env.infra.redis.clone();
    let pattern = format!("{}:*", h.env.infra.settings.platform.redis.key_prefix);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(&pattern)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(h.sup.index.len(&c).await.unwrap(), 0);

    h.advance_to(end_of_day_after(t0, 15) + TimeDelta::minutes(1));
    h.env
        .wait_for("every D1 fired", 20, async || {
            count_state(&h, "D1", "fired").await == i64::from(n)
                && h.sup.stats.overdue() >= u64::from(n)
        })
        .await;
    assert_eq!(h.sup.stats.overdue(), u64::from(n));
    // Each case got its overdue notices and its escalation exactly once.
    for i in 0..n {
        let case = h.case_no(100 + i);
        h.wait_fired(&case, "D1", "overdue", 2).await;
    }
    assert_eq!(
        h.sup.stats.escalations.load(Ordering::Relaxed),
        u64::from(n)
    );
    h.stop().await;
}

fn due_rows(county: &str, n: usize, due: chrono::DateTime<Utc>) -> Vec<NewDeadline> {
    (0..n)
        .map(|i| NewDeadline {
            id: Uuid::now_v7(),
            case_no: format!("XF-{county}-2026-{i:06}"),
            county: county.to_owned(),
            department: None,
            kind: "D7".into(),
            reference: String::new(),
            trigger_at: due - TimeDelta::days(30),
            due_at: due,
            warn_at: None,
            provisional: false,
            fact_at: None,
        })
        .collect()
}

async fn schedule(h: &Harness, rows: &[NewDeadline]) {
    let mut conn = h.pool().acquire().await.unwrap();
    for chunk in rows.chunks(5000) {
        store::insert_batch(&mut conn, chunk, true).await.unwrap();
    }
    let items: Vec<(Uuid, i64)> = rows
        .iter()
        .map(|r| (r.id, r.due_at.timestamp_millis()))
        .collect();
    h.sup.index.index(&h.county(), &items).await.unwrap();
}

#[tokio::test]
async fn a_dead_claimers_lease_expires_and_its_timers_fire() {
    let h = Harness::start("timers_enabled = false\nlease_secs = 5\n").await;
    let c = h.county();
    // Let the start-up reconciliation (which re-adds every pending row) finish first.
    h.env
        .wait_for("start-up reconciliation", 10, async || {
            h.sup.index.marker_exists(&c).await.unwrap()
        })
        .await;
    settle().await;
    let rows = due_rows(c.as_str(), 5, h.now() - TimeDelta::seconds(1));
    schedule(&h, &rows).await;
    let engine = Engine {
        pool: h.pool().clone(),
        index: h.sup.index.clone(),
        rules: h.sup.rules.clone(),
        clock: h.sup.clock.clone(),
        counties: vec![c.clone()],
        stats: Default::default(),
        wake: Default::default(),
    };
    // The first one was started by a traced fact: what it fires continues that trace.
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    sqlx::query("update deadlines set trace = $2 where id = $1")
        .bind(rows[0].id)
        .bind(serde_json::json!([["traceparent", traceparent]]))
        .execute(h.pool())
        .await
        .unwrap();
    // Another instance claims them and dies before firing.
    let stolen = h
        .sup
        .index
        .claim(&c, h.now().timestamp_millis(), 5000, 100)
        .await
        .unwrap();
    assert_eq!(stolen.len(), 5);
    assert_eq!(
        engine.tick(&c).await.unwrap(),
        0,
        "leased timers are not claimable"
    );
    assert_eq!(count_state(&h, "D7", "fired").await, 0);
    // The lease runs out: they come back and fire, once.
    h.sup.clock.advance(TimeDelta::seconds(6));
    assert_eq!(engine.tick(&c).await.unwrap(), 5);
    assert_eq!(count_state(&h, "D7", "fired").await, 5);
    assert_eq!(engine.stats.overdue(), 5);
    // A second claim of the same ids (say the dead claimer wakes up) fires nothing.
    let items: Vec<(Uuid, i64)> = rows.iter().map(|r| (r.id, 0)).collect();
    h.sup.index.index(&c, &items).await.unwrap();
    assert_eq!(engine.tick(&c).await.unwrap(), 5);
    assert_eq!(engine.stats.overdue(), 5);
    assert_eq!(engine.stats.stale.load(Ordering::Relaxed), 5);
    let outbox: i64 =
        sqlx::query_scalar("select count(*) from outbox where subject like '%.deadline.overdue'")
            .fetch_one(h.pool())
            .await
            .unwrap();
    assert_eq!(outbox, 5);
    let id = xinfang_supervision::ids::firing_event_id(
        rows[0].id,
        "overdue",
        rows[0].due_at.timestamp_millis(),
        "deadline",
    );
    let headers: serde_json::Value =
        sqlx::query_scalar("select headers from outbox where event_id = $1")
            .bind(id)
            .fetch_one(h.pool())
            .await
            .unwrap();
    assert_eq!(headers, serde_json::json!([["traceparent", traceparent]]));
    h.stop().await;
}

#[tokio::test]
async fn two_instances_fire_each_of_10000_due_timers_exactly_once() {
    let h = Harness::start("").await;
    let b = h.second_instance().await;
    let c = h.county();
    let n = 10_000;
    let rows = due_rows(c.as_str(), n, h.now() + TimeDelta::milliseconds(500));
    let started = Instant::now();
    schedule(&h, &rows).await;
    let scheduled = started.elapsed();
    let total = || h.sup.stats.overdue() + b.stats.overdue();
    h.env
        .wait_for("10,000 timers fired", 60, async || total() >= n as u64)
        .await;
    let fired_in = started.elapsed();
    // Leave time for any double fire to show up.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (a_n, b_n) = (h.sup.stats.overdue(), b.stats.overdue());
    eprintln!(
        "scheduled {n} in {scheduled:?}; all fired after {fired_in:?}; instance A {a_n}, B {b_n}"
    );
    assert_eq!(
        a_n + b_n,
        n as u64,
        "each timer fired exactly once across both instances"
    );
    assert_eq!(count_state(&h, "D7", "fired").await, n as i64);
    let events: i64 = sqlx::query_scalar(
        "select count(distinct event_id) from outbox where subject like '%.deadline.overdue'",
    )
    .fetch_one(h.pool())
    .await
    .unwrap();
    assert_eq!(events, n as i64);
    h.stop().await;
}
