//! Delivery guarantees over the real NATS, Postgres and Redis on 127.0.0.1: each test has its
//! own database, its own county code (so its own stream) and cleans up after itself.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use serde_json::json;
use sqlx::PgConnection;
use tokio_util::sync::CancellationToken;
use xinfang_domain::county::CountyCode;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::subject;
use xinfang_platform::case_order::{CaseOrder, Position};
use xinfang_platform::config::{Loaded, PlatformSettings, Secret};
use xinfang_platform::consumer::{self, ConsumerSpec, Handler, HandlerError, Incoming};
use xinfang_platform::host::{Infra, ServiceHost};
use xinfang_platform::{nats, outbox};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./tests/migrations");

/// Failed first deliveries of `flaky_once` events (outside any transaction).
static FIRST_ATTEMPTS: AtomicUsize = AtomicUsize::new(0);

/// Records every event it handles; fails the kinds it is told to.
struct Recorder;

impl Handler for Recorder {
    fn handle(
        &self,
        conn: &mut PgConnection,
        msg: &Incoming<'_>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let kind = msg.envelope.kind.clone();
        let id = msg.envelope.id;
        let delivered = msg.delivered;
        async move {
            // Written before failing, to prove the savepoint rolls it back.
            sqlx::query("insert into effects (event_id, kind) values ($1, $2)")
                .bind(id)
                .bind(&kind)
                .execute(&mut *conn)
                .await?;
            match kind.as_str() {
                "flaky" => Err(HandlerError::Retry(anyhow::anyhow!(
                    "dependency unavailable"
                ))),
                "flaky_once" if delivered == 1 => {
                    FIRST_ATTEMPTS.fetch_add(1, Ordering::SeqCst);
                    Err(HandlerError::Retry(anyhow::anyhow!(
                        "dependency unavailable at first"
                    )))
                }
                "poison" => Err(HandlerError::Reject(anyhow::anyhow!("refused by rule X"))),
                _ => Ok(()),
            }
        }
    }
}

struct Harness {
    county: CountyCode,
    /// Every county of the deployment, `county` (the city) first.
    counties: Vec<CountyCode>,
    host: ServiceHost,
    js: jetstream::Context,
    shutdown: CancellationToken,
    db_name: String,
}

impl Harness {
    async fn new(max_deliveries: i64, ack_wait_secs: u64) -> Harness {
        Self::with_counties(max_deliveries, ack_wait_secs, 1).await
    }

    /// A deployment of `n` counties, each with its own stream.
    async fn with_counties(max_deliveries: i64, ack_wait_secs: u64, n: usize) -> Harness {
        Self::with_backoff(max_deliveries, ack_wait_secs, n, 20).await
    }

    /// Retries after `backoff_initial_ms` (up to five times that).
    async fn with_backoff(
        max_deliveries: i64,
        ack_wait_secs: u64,
        n: usize,
        backoff_initial_ms: u64,
    ) -> Harness {
        let nonce = uuid::Uuid::now_v7().as_u128();
        // A city-level code (xxxx00) so the county is its own city: one stream per test.
        let base = xinfang_platform::testing::unique_base().await.unwrap();
        let counties: Vec<CountyCode> = (0..n)
            .map(|i| CountyCode::parse(&format!("{base}{i:02}")).unwrap())
            .collect();
        let county = counties[0].clone();
        let db_name = format!("xf_test_{}", uuid::Uuid::now_v7().simple());
        let mut p = PlatformSettings::default();
        p.database.url = Secret::new(format!("postgres://postgres@127.0.0.1:5432/{db_name}"));
        p.database.max_connections = 4;
        p.deployment.counties = counties.iter().map(|c| c.to_string()).collect();
        p.deployment.city = county.to_string();
        p.consumer.max_deliveries = max_deliveries;
        p.consumer.ack_wait_secs = ack_wait_secs;
        p.consumer.backoff_initial_ms = backoff_initial_ms;
        p.consumer.backoff_max_ms = backoff_initial_ms * 5;
        p.consumer.batch_size = 50;
        p.outbox.poll_interval_ms = 50;
        p.redis.key_prefix = format!("xftest{}", nonce % 1_000_000);
        // Every process loads the deployment's holiday calendar at start (a missing file stops it).
        p.paths.calendar =
            xinfang_platform::testing::repo_root().join("config/calendar/holidays-cn.toml");
        let shutdown = CancellationToken::new();
        let infra = Infra::connect(Loaded::from_platform(p).unwrap(), "test", shutdown.clone())
            .await
            .expect("local NATS, Postgres and Redis must be running");
        // Start from empty streams even if a previous run left one behind.
        for c in &counties {
            infra.stream(c).unwrap().purge().await.unwrap();
        }
        let host = ServiceHost::start(&infra, "svc", "svc", &MIGRATOR)
            .await
            .unwrap();
        Harness {
            county,
            counties,
            js: infra.js.clone(),
            host,
            shutdown,
            db_name,
        }
    }

    /// An event of `kind` on a case of its own kind (events of one case wait for each other).
    fn env(&self, kind: &str) -> Envelope {
        self.env_of(kind, &format!("XF-T-{kind}"))
    }

    fn env_of(&self, kind: &str, case: &str) -> Envelope {
        Envelope::new(
            kind,
            Some(case.to_owned()),
            self.county.clone(),
            chrono::Utc::now(),
            json!({"n": 1}),
        )
        .unwrap()
    }

    fn case_subject(&self, kind: &str) -> subject::Subject {
        subject::case_event(&self.county, kind).unwrap()
    }

    async fn publish_raw(&self, subject: &str, payload: Vec<u8>, msg_id: &str) {
        self.js
            .send_publish(
                subject.to_owned(),
                jetstream::message::PublishMessage::build()
                    .payload(payload.into())
                    .message_id(msg_id),
            )
            .await
            .unwrap()
            .await
            .unwrap();
    }

    fn spec(&self) -> ConsumerSpec {
        ConsumerSpec {
            county: self.county.clone(),
            name: "svc_case".into(),
            filter: subject::family_filter(&self.county, "case").unwrap(),
        }
    }

    /// Up to `max` messages of `svc_case`'s durable consumer, fetched by hand (a batch the
    /// test hands to `handle_batch` itself), with the consumer.
    async fn fetch_batch(
        &self,
        max: usize,
    ) -> (jetstream::consumer::PullConsumer, Vec<jetstream::Message>) {
        let settings = &self.host.infra.settings.platform.consumer;
        let stream = self.host.infra.stream(&self.county).unwrap();
        let c = nats::ensure_consumer(&stream, "svc_case", &self.spec().filter, settings)
            .await
            .unwrap();
        let msgs = c
            .fetch()
            .max_messages(max)
            .messages()
            .await
            .unwrap()
            .filter_map(|m| async { m.ok() })
            .collect()
            .await;
        (c, msgs)
    }

    fn start_consumer(&self) {
        self.host
            .spawn_consumer(
                &self.county,
                "case",
                subject::family_filter(&self.county, "case").unwrap(),
                Arc::new(Recorder),
            )
            .unwrap();
    }

    async fn effects(&self, kind: &str) -> i64 {
        sqlx::query_scalar("select count(*) from effects where kind = $1")
            .bind(kind)
            .fetch_one(&self.host.pool)
            .await
            .unwrap()
    }

    async fn wait_for(&self, what: &str, mut f: impl AsyncFnMut() -> bool) {
        for _ in 0..300 {
            if f().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }

    async fn consumer_settled(&self, name: &str) -> bool {
        // The consumer is created by the spawned loop; not there yet means not settled.
        let Ok(mut c) = self
            .host
            .infra
            .stream(&self.county)
            .unwrap()
            .get_consumer::<jetstream::consumer::pull::Config>(name)
            .await
        else {
            return false;
        };
        let info = c.info().await.unwrap();
        info.num_ack_pending == 0 && info.num_pending == 0
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.host.infra.drain(Duration::from_secs(10)).await;
        for c in &self.counties {
            let _ = self.js.delete_stream(subject::stream_name(c)).await;
        }
        self.host.pool.close().await;
        let admin = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres")
            .await
            .unwrap();
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "drop database if exists \"{}\" with (force)",
            self.db_name
        )))
        .execute(&admin)
        .await;
    }
}

/// One loop serves a consumer on every county's stream: each county's events are handled once,
/// a poison message is dead-lettered on its own county's subject, and each county's durable
/// consumer acknowledges exactly its own messages.
#[tokio::test]
async fn one_loop_serves_every_county_and_each_keeps_its_own_dead_letters() {
    let h = Harness::with_counties(3, 30, 2).await;
    let (a, b) = (h.counties[0].clone(), h.counties[1].clone());
    let envelope = |county: &CountyCode, kind: &str| {
        Envelope::new(
            kind,
            Some("XF-T-1".into()),
            county.clone(),
            chrono::Utc::now(),
            json!({"n": 1}),
        )
        .unwrap()
    };
    for county in [&a, &b] {
        for _ in 0..5 {
            let e = envelope(county, "registered");
            nats::publish(
                &h.js,
                &subject::case_event(county, "registered").unwrap(),
                &e,
            )
            .await
            .unwrap()
            .await
            .unwrap();
        }
    }
    let poison = envelope(&b, "poison");
    nats::publish(&h.js, &subject::case_event(&b, "poison").unwrap(), &poison)
        .await
        .unwrap()
        .await
        .unwrap();
    h.host
        .spawn_consumers(
            &h.counties,
            "case",
            |c| Ok(subject::family_filter(c, "case")?),
            Arc::new(Recorder),
        )
        .unwrap();
    let stream_b = h.host.infra.stream(&b).unwrap();
    let dlq_b = subject::dead_letter(&b, "svc_case").unwrap();
    h.wait_for(
        "both counties handled and the poison dead-lettered",
        async || {
            h.effects("registered").await == 10
                && count_subject(&h.js, &stream_b, dlq_b.as_str()).await == 1
        },
    )
    .await;
    let stream_a = h.host.infra.stream(&a).unwrap();
    let dlq_a = subject::dead_letter(&a, "svc_case").unwrap();
    assert_eq!(
        count_subject(&h.js, &stream_a, dlq_a.as_str()).await,
        0,
        "nothing of county b's is dead-lettered on county a's subject"
    );
    for (county, handled) in [(&a, 5), (&b, 6)] {
        let mut c: jetstream::consumer::PullConsumer = h
            .host
            .infra
            .stream(county)
            .unwrap()
            .get_consumer("svc_case")
            .await
            .unwrap();
        let info = c.info().await.unwrap().clone();
        assert_eq!(
            (
                info.ack_floor.stream_sequence,
                info.num_ack_pending,
                info.num_pending
            ),
            (handled, 0, 0),
            "county {county}: its own messages acknowledged, nothing left"
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn a_redelivered_event_changes_nothing() {
    let h = Harness::new(5, 30).await;
    let env = h.env("registered");
    let bytes = env.to_bytes().unwrap();
    let subject = h.case_subject("registered");
    // Two publishes of one event under different message ids get past JetStream's
    // duplicate window, as a redelivery or a republish after its window would.
    h.publish_raw(subject.as_str(), bytes.clone(), "a").await;
    h.publish_raw(subject.as_str(), bytes, "b").await;
    h.start_consumer();
    h.wait_for("both deliveries settled", async || {
        h.consumer_settled("svc_case").await
    })
    .await;
    assert_eq!(h.effects("registered").await, 1);
    let inbox: i64 = sqlx::query_scalar("select count(*) from inbox where event_id = $1")
        .bind(env.id)
        .fetch_one(&h.host.pool)
        .await
        .unwrap();
    assert_eq!(inbox, 1);
    h.stop().await;
}

#[tokio::test]
async fn a_crash_between_commit_and_ack_leads_to_exactly_one_effect() {
    let h = Harness::new(5, 1).await;
    let env = h.env("registered");
    nats::publish(&h.js, &h.case_subject("registered"), &env)
        .await
        .unwrap()
        .await
        .unwrap();
    let settings = h.host.infra.settings.platform.consumer.clone();
    let (c, msgs) = h.fetch_batch(10).await;
    assert_eq!(msgs.len(), 1);
    let settlements =
        consumer::handle_batch(&h.host.pool, &h.spec(), &Recorder, &settings, &msgs).await;
    assert!(matches!(settlements[0], consumer::Settlement::Ack));
    assert_eq!(h.effects("registered").await, 1);
    // The "crash": the transaction committed, the process dies before acking.
    drop(msgs);
    h.start_consumer();
    h.wait_for("the redelivery to be acked", async || {
        h.consumer_settled("svc_case").await
    })
    .await;
    let info = c.clone().info().await.unwrap().clone();
    assert!(info.delivered.stream_sequence >= 1);
    assert_eq!(
        h.effects("registered").await,
        1,
        "redelivery must not repeat the effect"
    );
    h.stop().await;
}

/// One batch with a failing message, a refused one and a copy of a good one: the good ones
/// take effect once, the failing one leaves neither effect nor inbox row (so a later delivery
/// applies it), and handling the same batch again changes nothing.
#[tokio::test]
async fn one_failing_message_does_not_undo_the_rest_of_its_batch() {
    let h = Harness::new(5, 30).await;
    let good = h.env("registered");
    let flaky = h.env("flaky");
    let poison = h.env("poison");
    let other = h.env("assigned");
    for e in [&good, &flaky, &poison, &other] {
        nats::publish(&h.js, &h.case_subject(&e.kind), e)
            .await
            .unwrap()
            .await
            .unwrap();
    }
    // The same event again under another message id: JetStream keeps both.
    h.publish_raw(
        h.case_subject("registered").as_str(),
        serde_json::to_vec(&good).unwrap(),
        "copy",
    )
    .await;
    let settings = h.host.infra.settings.platform.consumer.clone();
    let (_, msgs) = h.fetch_batch(10).await;
    assert_eq!(msgs.len(), 5);
    let first = consumer::handle_batch(&h.host.pool, &h.spec(), &Recorder, &settings, &msgs).await;
    assert_eq!(kinds(&first), ["ack", "retry", "dead", "ack", "ack"]);
    assert_eq!(
        h.effects("registered").await,
        1,
        "the copy is not applied again"
    );
    assert_eq!(h.effects("assigned").await, 1);
    assert_eq!(
        h.effects("flaky").await,
        0,
        "a failed message's effect is undone"
    );
    assert_eq!(h.effects("poison").await, 0);
    let inbox: Vec<uuid::Uuid> =
        sqlx::query_scalar("select event_id from inbox where consumer = 'svc_case' order by 1")
            .fetch_all(&h.host.pool)
            .await
            .unwrap();
    let mut expected = vec![good.id, other.id];
    expected.sort();
    assert_eq!(inbox, expected, "only the applied events are in the inbox");
    let again = consumer::handle_batch(&h.host.pool, &h.spec(), &Recorder, &settings, &msgs).await;
    assert_eq!(kinds(&again), ["ack", "retry", "dead", "ack", "ack"]);
    assert_eq!(h.effects("registered").await, 1);
    assert_eq!(h.effects("assigned").await, 1);
    for m in msgs {
        m.ack().await.unwrap();
    }
    h.stop().await;
}

/// Each settlement's name, in order.
fn kinds(settlements: &[consumer::Settlement]) -> Vec<&'static str> {
    settlements
        .iter()
        .map(|s| match s {
            consumer::Settlement::Ack => "ack",
            consumer::Settlement::Retry { .. } => "retry",
            consumer::Settlement::DeadLetter { .. } => "dead",
            consumer::Settlement::Wait { .. } => "wait",
        })
        .collect()
}

/// The kinds of the effects applied, in the order they were applied.
async fn applied(h: &Harness) -> Vec<String> {
    sqlx::query_scalar("select kind from effects order by id")
        .fetch_all(&h.host.pool)
        .await
        .unwrap()
}

/// A case's event that fails waits for its retry, and the case's later events wait behind it,
/// in the batch and across batches; other cases go on, and an earlier event of the case is not
/// held behind a later one that failed.
#[tokio::test]
async fn a_cases_later_events_wait_behind_its_failed_one() {
    let h = Harness::new(5, 30).await;
    let settings = h.host.infra.settings.platform.consumer.clone();
    let positions = |msgs: &[jetstream::Message]| -> Vec<Position> {
        msgs.iter()
            .map(|m| Position {
                stream: 0,
                sequence: m.info().unwrap().stream_sequence,
            })
            .collect()
    };
    let mut order = CaseOrder::new(Duration::from_secs(30));
    for e in [
        h.env_of("flaky_once", "A"),
        h.env_of("next", "A"),
        h.env_of("other", "B"),
    ] {
        nats::publish(&h.js, &h.case_subject(&e.kind), &e)
            .await
            .unwrap()
            .await
            .unwrap();
    }
    // In one batch: A's second event waits, B's is applied.
    let (_, batch) = h.fetch_batch(10).await;
    assert_eq!(batch.len(), 3);
    let s = consumer::handle_batch_in_order(
        &h.host.pool,
        &h.spec(),
        &Recorder,
        &settings,
        &batch,
        &positions(&batch),
        &mut order,
    )
    .await;
    assert_eq!(kinds(&s), ["retry", "wait", "ack"]);
    assert_eq!(applied(&h).await, ["other"]);
    // A later batch while the failed event's retry is pending: A's events still wait.
    let late = h.env_of("late", "A");
    nats::publish(&h.js, &h.case_subject("late"), &late)
        .await
        .unwrap()
        .await
        .unwrap();
    let (_, second) = h.fetch_batch(1).await;
    let s = consumer::handle_batch_in_order(
        &h.host.pool,
        &h.spec(),
        &Recorder,
        &settings,
        &second,
        &positions(&second),
        &mut order,
    )
    .await;
    assert_eq!(kinds(&s), ["wait"]);
    assert_eq!(order.len(), 1, "A is held");
    for m in second {
        m.ack_with(jetstream::AckKind::Nak(Some(Duration::from_millis(400))))
            .await
            .unwrap();
    }
    // Settled by hand: the failed one and the waiting one come back (the failed first), the
    // applied one is acked.
    let by_hand = [
        jetstream::AckKind::Nak(Some(Duration::from_millis(200))),
        jetstream::AckKind::Nak(Some(Duration::from_millis(300))),
        jetstream::AckKind::Ack,
    ];
    for (m, s) in batch.into_iter().zip(by_hand) {
        m.ack_with(s).await.unwrap();
    }
    // The loop takes over: the failed event comes back first, then A's others, in order.
    h.start_consumer();
    h.wait_for("every event applied", async || applied(&h).await.len() == 4)
        .await;
    assert_eq!(applied(&h).await, ["other", "flaky_once", "next", "late"]);
    // An earlier event is never held behind a later one of its case that failed.
    let mut order = CaseOrder::new(Duration::from_secs(30));
    let now = std::time::Instant::now();
    order.failed(
        now,
        Some("C"),
        Position {
            stream: 0,
            sequence: 50,
        },
        Duration::from_secs(1),
    );
    assert_eq!(
        order.wait(
            now,
            Some("C"),
            Position {
                stream: 0,
                sequence: 49
            },
            1,
            5
        ),
        None
    );
    h.stop().await;
}

/// The consume loop keeps the holds across its batches: an event of the case that arrives
/// while the failed one waits for its retry is applied after it.
#[tokio::test]
async fn the_loop_applies_a_case_in_order_when_its_first_event_fails() {
    let h = Harness::with_backoff(5, 30, 1, 600).await;
    h.start_consumer();
    let case = format!("D-{}", uuid::Uuid::now_v7().simple());
    let before = FIRST_ATTEMPTS.load(Ordering::SeqCst);
    let first = h.env_of("flaky_once", &case);
    nats::publish(&h.js, &h.case_subject(&first.kind), &first)
        .await
        .unwrap()
        .await
        .unwrap();
    h.wait_for("the first attempt to fail", async || {
        FIRST_ATTEMPTS.load(Ordering::SeqCst) > before
    })
    .await;
    // Its retry is due in 300–600 ms; these arrive before it.
    for e in [h.env_of("next", &case), h.env_of("other", "E")] {
        nats::publish(&h.js, &h.case_subject(&e.kind), &e)
            .await
            .unwrap()
            .await
            .unwrap();
    }
    h.wait_for("every event applied", async || applied(&h).await.len() == 3)
        .await;
    assert_eq!(applied(&h).await, ["other", "flaky_once", "next"]);
    h.stop().await;
}

#[tokio::test]
async fn an_event_that_keeps_failing_is_dead_lettered_with_its_error() {
    let h = Harness::new(3, 30).await;
    let flaky = h.env("flaky");
    let poison = h.env("poison");
    let good = h.env("registered");
    for e in [&flaky, &poison, &good] {
        nats::publish(&h.js, &h.case_subject(&e.kind), e)
            .await
            .unwrap()
            .await
            .unwrap();
    }
    h.publish_raw(
        h.case_subject("garbage").as_str(),
        b"{not json".to_vec(),
        "g",
    )
    .await;
    h.start_consumer();
    let dlq = subject::dead_letter(&h.county, "svc_case").unwrap();
    let stream = h.host.infra.stream(&h.county).unwrap();
    h.wait_for("three dead letters", async || {
        count_subject(&h.js, &stream, dlq.as_str()).await == 3
    })
    .await;
    let letters = read_subject(&h.js, &stream, dlq.as_str()).await;
    let by_error = |needle: &str| {
        letters
            .iter()
            .find(|m| header(m, "Xf-Error").contains(needle))
            .unwrap_or_else(|| panic!("no dead letter with {needle:?}"))
    };
    let f = by_error("dependency unavailable");
    assert_eq!(
        header(f, "Xf-Deliveries"),
        "3",
        "dead-lettered after max deliveries"
    );
    assert_eq!(
        header(f, "Xf-Original-Subject"),
        h.case_subject("flaky").as_str()
    );
    let p = by_error("refused by rule X");
    assert_eq!(
        header(p, "Xf-Deliveries"),
        "1",
        "a rejected event is not retried"
    );
    let g = by_error("malformed envelope");
    assert_eq!(&g.payload[..], b"{not json");
    // Failed attempts left no effect; the good event in the same batches committed.
    assert_eq!(h.effects("flaky").await, 0);
    assert_eq!(h.effects("poison").await, 0);
    assert_eq!(h.effects("registered").await, 1);
    h.stop().await;
}

#[tokio::test]
async fn the_outbox_publishes_every_committed_event_once_across_relay_restarts() {
    let h = Harness::new(5, 30).await;
    let n = 1500usize;
    let mut ids = Vec::new();
    let mut tx = h.host.pool.begin().await.unwrap();
    for i in 0..n {
        let e = Envelope::new(
            "registered",
            Some(format!("XF-T-{i}")),
            h.county.clone(),
            chrono::Utc::now(),
            json!({"i": i}),
        )
        .unwrap();
        outbox::enqueue(&mut tx, &h.case_subject("registered"), &e)
            .await
            .unwrap();
        ids.push(e.id);
    }
    // An event in a rolled-back transaction must never be published.
    let mut aborted = h.host.pool.begin().await.unwrap();
    let ghost = h.env("ghost");
    outbox::enqueue(&mut aborted, &h.case_subject("ghost"), &ghost)
        .await
        .unwrap();
    aborted.rollback().await.unwrap();
    tx.commit().await.unwrap();

    h.wait_for("the relay to drain the outbox", async || {
        outbox::backlog(&h.host.pool).await.unwrap() == 0
    })
    .await;
    // A relay that died after publishing but before marking: the rows look unpublished.
    sqlx::query("update outbox set published_at = null where seq % 3 = 0")
        .execute(&h.host.pool)
        .await
        .unwrap();
    // This relay and the host's (running since start) share the rows via SKIP LOCKED.
    outbox::relay_once(&h.host.pool, &h.js, 200).await.unwrap();
    h.wait_for("the restarted relays to drain the outbox", async || {
        outbox::backlog(&h.host.pool).await.unwrap() == 0
    })
    .await;

    let stream = h.host.infra.stream(&h.county).unwrap();
    let msgs = read_subject(
        &h.js,
        &stream,
        &subject::family_filter(&h.county, "case").unwrap(),
    )
    .await;
    assert_eq!(
        msgs.len(),
        n,
        "each committed event exactly once in the stream"
    );
    let mut seen: Vec<uuid::Uuid> = msgs
        .iter()
        .map(|m| {
            Envelope::<serde_json::Value>::from_bytes(&m.payload)
                .unwrap()
                .id
        })
        .collect();
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids);
    h.stop().await;
}

fn header(m: &async_nats::Message, name: &str) -> String {
    m.headers
        .as_ref()
        .and_then(|h| h.get(name))
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default()
}

async fn read_subject(
    _js: &jetstream::Context,
    stream: &jetstream::stream::Stream,
    filter: &str,
) -> Vec<async_nats::Message> {
    nats::read_all(stream, filter)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.message)
        .collect()
}

async fn count_subject(
    _js: &jetstream::Context,
    stream: &jetstream::stream::Stream,
    filter: &str,
) -> usize {
    nats::count(stream, filter).await.unwrap()
}

#[tokio::test]
async fn a_dead_letter_can_be_listed_and_replayed_once() {
    let h = Harness::new(1, 30).await;
    let poison = h.env("poison");
    nats::publish(&h.js, &h.case_subject("poison"), &poison)
        .await
        .unwrap()
        .await
        .unwrap();
    h.start_consumer();
    h.wait_for("the dead letter", async || {
        xinfang_platform::dlq::list(&h.js, &h.county)
            .await
            .unwrap()
            .len()
            == 1
    })
    .await;
    let letters = xinfang_platform::dlq::list(&h.js, &h.county).await.unwrap();
    let dl = &letters[0];
    assert_eq!(dl.consumer, "svc_case");
    assert_eq!(dl.event_type.as_deref(), Some("poison"));
    assert!(dl.error.contains("refused by rule X"));
    let original = xinfang_platform::dlq::replay(&h.js, &h.county, dl.seq)
        .await
        .unwrap();
    assert_eq!(original, h.case_subject("poison").to_string());
    // Replayed: handled (and rejected) again, so it comes back as a new dead letter, and the
    // replayed one is gone.
    h.wait_for("the replayed event to be dead-lettered again", async || {
        let l = xinfang_platform::dlq::list(&h.js, &h.county).await.unwrap();
        l.len() == 1 && l[0].seq != dl.seq
    })
    .await;
    assert!(
        xinfang_platform::dlq::replay(&h.js, &h.county, dl.seq)
            .await
            .is_err(),
        "a replayed letter is gone"
    );
    h.stop().await;
}

/// Handles slowly, so shutdown arrives while a batch is in flight.
/// Takes 30 ms a message; counts the messages it has begun.
#[derive(Default)]
struct Slow {
    started: AtomicUsize,
}

impl Handler for Slow {
    fn handle(
        &self,
        conn: &mut PgConnection,
        msg: &Incoming<'_>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let id = msg.envelope.id;
        self.started.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            sqlx::query("insert into effects (event_id, kind) values ($1, 'slow')")
                .bind(id)
                .execute(&mut *conn)
                .await?;
            Ok(())
        }
    }
}

#[tokio::test]
async fn shutdown_finishes_the_in_flight_batch_and_leaves_nothing_unacked() {
    // A short ack_wait: messages the server had pushed but the client had not yet received
    // cannot be released at shutdown and come back after it.
    let h = Harness::new(5, 3).await;
    // Codes are reused across runs, and a purge keeps the stream's sequence going: the ack
    // floor is compared with what this test published, not with 0.
    let before = h
        .host
        .infra
        .stream(&h.county)
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .last_sequence;
    for _ in 0..60 {
        let e = h.env("registered");
        nats::publish(&h.js, &h.case_subject("registered"), &e)
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let slow = Arc::new(Slow::default());
    h.host
        .spawn_consumer(&h.county, "case", h.spec().filter, slow.clone())
        .unwrap();
    // Cancel only once the loop is handling a batch: messages merely delivered to the client
    // are released at shutdown, which is another test's case.
    h.wait_for("the first batch to be under way", async || {
        slow.started.load(Ordering::SeqCst) > 0
    })
    .await;
    h.shutdown.cancel();
    assert!(
        h.host.infra.drain(Duration::from_secs(20)).await,
        "tasks finished after the signal"
    );
    let effects: i64 = h.effects("slow").await;
    let mut c: jetstream::consumer::PullConsumer = h
        .host
        .infra
        .stream(&h.county)
        .unwrap()
        .get_consumer("svc_case")
        .await
        .unwrap();
    let info = c.info().await.unwrap().clone();
    // What the loop committed is exactly what the server counts as acknowledged.
    assert!(effects > 0, "the in-flight batch completed");
    assert_eq!(
        (info.ack_floor.stream_sequence - before) as i64,
        effects,
        "acked exactly what was committed"
    );
    // A new instance picks up the rest (released ones at once, any still in transit after
    // ack_wait), each event once.
    let restart = CancellationToken::new();
    let task = tokio::spawn(consumer::run(
        h.host.pool.clone(),
        h.js.clone(),
        h.host.infra.stream(&h.county).unwrap(),
        h.spec(),
        Arc::new(Slow::default()),
        h.host.infra.settings.platform.consumer.clone(),
        restart.clone(),
    ));
    h.wait_for("the rest to be handled by the new instance", async || {
        h.effects("slow").await == 60
    })
    .await;
    let distinct: i64 =
        sqlx::query_scalar("select count(distinct event_id) from effects where kind = 'slow'")
            .fetch_one(&h.host.pool)
            .await
            .unwrap();
    assert_eq!(
        distinct, 60,
        "each event handled exactly once across the restart"
    );
    restart.cancel();
    let _ = task.await;
    h.stop().await;
}
