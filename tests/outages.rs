//! Outages are answered, not hung (issue #18 item 3): a service on its own PostgreSQL (started
//! by the project's `infra/local/up.sh` on free ports) answers every API call with 503 and
//! `Retry-After` within a second while that PostgreSQL is stopped, `/readyz` names it, and
//! both come back once it runs again.

use std::time::{Duration, Instant};

use xinfang_platform::config::Secret;
use xinfang_platform::testing::TestEnv;

#[path = "common/private_infra.rs"]
mod private_infra;
use private_infra::*;

async fn call(url: &str) -> (u16, Option<String>, serde_json::Value, Duration) {
    let start = Instant::now();
    let r = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("the service answers");
    let took = start.elapsed();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, retry, r.json().await.unwrap_or_default(), took)
}

#[tokio::test]
async fn while_postgres_is_down_calls_get_503_with_retry_after_at_once() {
    let (pg, redis, nats) = free_ports();
    let servers = Infra::new(pg, redis, nats);
    let up = servers.run("up.sh");
    assert!(up.ok(), "up.sh failed:\n{up}");
    let env = TestEnv::start(
        |p| {
            p.database.url = Secret::new(format!("postgres://postgres@127.0.0.1:{pg}/xf_outage"));
        },
        "",
    )
    .await
    .expect("the service's infrastructure");
    let started = xinfang_supervision::service::start(env.infra.clone())
        .await
        .expect("supervision starts on the private PostgreSQL");
    let base = format!("http://{}", started.http);
    let stats = format!("{base}/v1/stats");
    let (status, _, body, _) = call(&stats).await;
    assert_eq!(status, 200, "{body}");

    // Stop PostgreSQL (fast shutdown of the postmaster up.sh started).
    let (pid, _) = servers.started()["postgres"];
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .expect("kill")
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while answers(pg) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!answers(pg), "postgres stopped");

    // Within a couple of seconds every call is refused at once, saying when to come back.
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let (status, retry, body, took) = call(&stats).await;
        if status == 503 {
            break (retry, body, took);
        }
        assert!(
            Instant::now() < deadline,
            "still {status} after 10 s: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(refused.0.as_deref(), Some("5"), "Retry-After");
    assert_eq!(refused.1["error"]["code"], "unavailable", "{}", refused.1);
    for _ in 0..3 {
        let (status, retry, _, took) = call(&stats).await;
        assert_eq!((status, retry.as_deref()), (503, Some("5")));
        assert!(took < Duration::from_secs(1), "answered in {took:?}");
    }
    let (status, _, ready, took) = call(&format!("{base}/readyz")).await;
    assert_eq!(status, 503, "{ready}");
    assert_ne!(ready["checks"]["postgres"], "ok", "{ready}");
    assert_eq!(ready["checks"]["nats"], "ok", "{ready}");
    assert!(took < Duration::from_secs(1), "readyz answered in {took:?}");

    // PostgreSQL back: the service is too, without a restart.
    let up = servers.run("up.sh");
    assert!(up.ok(), "up.sh again:\n{up}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, body, _) = call(&stats).await;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not back after 30 s: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (status, _, ready, _) = call(&format!("{base}/readyz")).await;
    assert_eq!(status, 200, "{ready}");
    env.stop().await;
}

fn petition(county: &str) -> serde_json::Value {
    serde_json::json!({
        "channel": "letter",
        "petitioner": {"name": "测试人", "mobile": "13800138000"},
        "text": "小区电梯坏了三个月，物业一直不修，请求住建部门督促维修。",
        "county": county,
        "received_at": chrono::Utc::now(),
        "clerk_id": "clerk-1",
    })
}

/// Events of `subject` about `case_no`.
async fn events_of(env: &TestEnv, subject: &str, case_no: &str) -> Vec<serde_json::Value> {
    env.read(&env.county, subject)
        .await
        .iter()
        .filter_map(|m| serde_json::from_slice::<serde_json::Value>(&m.payload).ok())
        .filter(|e| e["case_id"] == case_no || e["data"]["case_no"] == case_no)
        .collect()
}

#[tokio::test]
async fn while_nats_is_down_registration_succeeds_through_the_outbox_and_catches_up() {
    let (pg, redis, nats) = free_ports();
    let servers = Infra::new(pg, redis, nats);
    let up = servers.run("up.sh");
    assert!(up.ok(), "up.sh failed:\n{up}");
    let env = TestEnv::start(|p| p.nats.url = format!("nats://127.0.0.1:{nats}"), "")
        .await
        .expect("the service's infrastructure");
    let intake = xinfang_intake::service::start(env.infra.clone())
        .await
        .expect("intake starts on the private NATS");
    let county = env.county.to_string();
    servers.stop("nats").await;

    // Registration does not need the broker: the event waits in the outbox.
    let start = Instant::now();
    let r = reqwest::Client::new()
        .post(format!("http://{}/v1/petitions", intake.http))
        .json(&petition(&county))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("intake answers");
    assert_eq!(r.status(), 201);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    let receipt: serde_json::Value = r.json().await.unwrap();
    let case_no = receipt["case_no"].as_str().unwrap().to_owned();

    // The broker back: the event is published, once.
    let up = servers.run("up.sh");
    assert!(up.ok(), "up.sh again:\n{up}");
    let subject = format!("xf.{county}.case.registered");
    let deadline = Instant::now() + Duration::from_secs(30);
    while events_of(&env, &subject, &case_no).await.is_empty() {
        assert!(Instant::now() < deadline, "case.registered never published");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(events_of(&env, &subject, &case_no).await.len(), 1);
    env.stop().await;
}

#[tokio::test]
async fn while_redis_is_down_deadlines_fire_once_when_it_is_back_empty() {
    use xinfang_supervision::clock::Clock;

    let (pg, redis, nats) = free_ports();
    let servers = Infra::new(pg, redis, nats);
    let up = servers.run("up.sh");
    assert!(up.ok(), "up.sh failed:\n{up}");
    let env = TestEnv::start(
        |p| p.redis.url = Secret::new(format!("redis://127.0.0.1:{redis}")),
        "[supervision]\npoll_interval_ms = 20\nindex_check_interval_secs = 1\nreconcile_interval_secs = 3600\n",
    )
    .await
    .expect("the service's infrastructure");
    let intake = xinfang_intake::service::start(env.infra.clone())
        .await
        .expect("intake starts");
    let sup = xinfang_supervision::service::start_with(env.infra.clone(), Clock::manual())
        .await
        .expect("supervision starts on the private Redis");
    let county = env.county.to_string();
    let r = reqwest::Client::new()
        .post(format!("http://{}/v1/petitions", intake.http))
        .json(&petition(&county))
        .send()
        .await
        .expect("intake answers");
    assert_eq!(r.status(), 201);
    let case_no = r.json::<serde_json::Value>().await.unwrap()["case_no"]
        .as_str()
        .unwrap()
        .to_owned();
    let pool = &sup.started.host.pool;
    let d1_due = async || -> Option<(chrono::DateTime<chrono::Utc>, String)> {
        sqlx::query_as("select due_at, state from deadlines where case_no = $1 and kind = 'D1'")
            .bind(&case_no)
            .fetch_optional(pool)
            .await
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let due = loop {
        if let Some((due, _)) = d1_due().await {
            break due;
        }
        assert!(Instant::now() < deadline, "D1 never scheduled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Let the indexer put it in Redis, then lose Redis and let D1 pass.
    tokio::time::sleep(Duration::from_secs(1)).await;
    servers.stop("redis").await;
    sup.clock
        .advance(due - sup.clock.now() + chrono::TimeDelta::hours(1));
    sup.engine_wake.notify_one();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        d1_due().await.unwrap().1,
        "pending",
        "nothing fires without the index"
    );

    // Redis back, empty: the index is rebuilt from PostgreSQL and D1 fires — late, once.
    let up = servers.run("up.sh");
    assert!(up.ok(), "up.sh again:\n{up}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while d1_due().await.unwrap().1 != "fired" {
        assert!(
            Instant::now() < deadline,
            "D1 never fired after Redis came back"
        );
        sup.engine_wake.notify_one();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let subject = format!("xf.{county}.deadline.overdue");
    let deadline = Instant::now() + Duration::from_secs(20);
    let d1 = |events: Vec<serde_json::Value>| {
        events
            .into_iter()
            .filter(|e| e["data"]["deadline"] == "D1")
            .count()
    };
    while d1(events_of(&env, &subject, &case_no).await) == 0 {
        assert!(
            Instant::now() < deadline,
            "deadline.overdue never published"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        d1(events_of(&env, &subject, &case_no).await),
        1,
        "fired once"
    );
    env.stop().await;
}
