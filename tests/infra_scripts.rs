//! Exercises `infra/local/up.sh` and `infra/local/down.sh` for real.
//!
//! * On three free ports with a fresh XF_INFRA_DIR: up.sh starts PostgreSQL,
//!   Redis and NATS, which then work (database exists, PING, JetStream
//!   publish with ack); a second up.sh is a no-op; down.sh stops exactly those
//!   servers.
//! * On the machine's standard ports (5432/6379/4222, already served here):
//!   up.sh reports them as already running and records nothing to stop.
//!
//! Every temporary XF_INFRA_DIR is owned by a guard whose Drop runs down.sh
//! and removes the directory, so a failing assertion leaves nothing running.

use std::time::{Duration, Instant};

use sqlx::Connection;

#[path = "common/private_infra.rs"]
mod private_infra;
use private_infra::*;

const SERVERS: [&str; 3] = ["postgres", "redis", "nats"];

async fn check_postgres(port: u16) {
    let url = format!("postgres://postgres@127.0.0.1:{port}/xinfang");
    let mut conn = tokio::time::timeout(NET_TIMEOUT, sqlx::PgConnection::connect(&url))
        .await
        .expect("postgres connect timed out")
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    let one: i32 = sqlx::query_scalar("select 1")
        .fetch_one(&mut conn)
        .await
        .expect("select 1");
    assert_eq!(one, 1);
    let db: String = sqlx::query_scalar("select current_database()")
        .fetch_one(&mut conn)
        .await
        .expect("current_database()");
    assert_eq!(db, "xinfang");
    conn.close().await.expect("close postgres connection");
}

async fn check_redis(port: u16) {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("redis url");
    let mut con = tokio::time::timeout(NET_TIMEOUT, client.get_multiplexed_async_connection())
        .await
        .expect("redis connect timed out")
        .expect("redis connect");
    let pong: String = redis::cmd("PING")
        .query_async(&mut con)
        .await
        .expect("redis PING");
    assert_eq!(pong, "PONG");
}

async fn check_nats_jetstream(port: u16) {
    let client = tokio::time::timeout(
        NET_TIMEOUT,
        async_nats::connect(format!("127.0.0.1:{port}")),
    )
    .await
    .expect("nats connect timed out")
    .expect("nats connect");
    let js = async_nats::jetstream::new(client.clone());
    let work = async {
        js.create_stream(async_nats::jetstream::stream::Config {
            name: "XF_INFRA_TEST".to_string(),
            subjects: vec!["xf.infra.test".to_string()],
            ..Default::default()
        })
        .await
        .expect("create JetStream stream");
        js.publish("xf.infra.test", "hello".into())
            .await
            .expect("publish")
            .await
            .expect("publish ack")
    };
    let ack = tokio::time::timeout(NET_TIMEOUT, work)
        .await
        .expect("JetStream round trip timed out");
    assert_eq!(ack.stream, "XF_INFRA_TEST");
    assert_eq!(ack.sequence, 1);
    client.flush().await.ok();
    drop(client);
}

#[tokio::test]
async fn up_starts_servers_on_free_ports_and_down_stops_them() {
    let t0 = Instant::now();
    let (pg, redis_port, nats_port) = free_ports();
    let infra = Infra::new(pg, redis_port, nats_port);

    // First run: nothing answers on these ports, so up.sh starts all three.
    let first = infra.run("up.sh");
    assert!(first.ok(), "first up.sh failed:\n{first}");
    for server in SERVERS {
        let port = infra.port_of(server);
        let expected = format!("{server} 127.0.0.1:{port} (started by xinfang, data in ");
        assert!(
            first.stdout.contains(&expected),
            "missing {expected:?}:\n{first}"
        );
    }
    let started = infra.started();
    assert_eq!(
        started.keys().map(String::as_str).collect::<Vec<_>>(),
        vec!["nats", "postgres", "redis"],
        "started file: {started:?}\n{first}"
    );
    for server in SERVERS {
        assert_eq!(started[server].1, infra.port_of(server), "port of {server}");
    }

    // They work.
    check_postgres(pg).await;
    check_redis(redis_port).await;
    check_nats_jetstream(nats_port).await;

    // Second run: a no-op that reports all three as already running.
    let second = infra.run("up.sh");
    assert!(second.ok(), "second up.sh failed:\n{second}");
    for server in SERVERS {
        let port = infra.port_of(server);
        let expected = format!("{server} 127.0.0.1:{port} (already running");
        assert!(
            second.stdout.contains(&expected),
            "missing {expected:?}:\n{second}"
        );
    }
    assert!(
        !second.stdout.contains("started by xinfang, data in"),
        "second run started something:\n{second}"
    );
    assert_eq!(
        infra.started(),
        started,
        "second up.sh changed the pids:\n{second}"
    );

    // down.sh stops exactly what up.sh started.
    let down = infra.run("down.sh");
    assert!(down.ok(), "down.sh failed:\n{down}");
    for server in SERVERS {
        let port = infra.port_of(server);
        let expected = format!("{server} 127.0.0.1:{port} (stopped");
        assert!(
            down.stdout.contains(&expected),
            "missing {expected:?}:\n{down}"
        );
    }
    for server in SERVERS {
        let port = infra.port_of(server);
        // down.sh waits for each process to exit; allow the kernel a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        while answers(port) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            !answers(port),
            "{server} still answers on {port} after down.sh:\n{down}"
        );
    }
    assert!(
        !infra.started_file().exists(),
        "started file left behind after down.sh:\n{down}"
    );

    // down.sh again: nothing to do, still success.
    let again = infra.run("down.sh");
    assert!(again.ok(), "second down.sh failed:\n{again}");
    assert!(
        again.stdout.contains("nothing started by xinfang"),
        "{again}"
    );

    assert!(
        t0.elapsed() < Duration::from_secs(60),
        "took {:?}",
        t0.elapsed()
    );
}

#[tokio::test]
async fn up_uses_servers_that_already_answer_and_records_nothing() {
    let (pg, redis_port, nats_port) = (5432, 6379, 4222);
    for (server, port) in [("postgres", pg), ("redis", redis_port), ("nats", nats_port)] {
        assert!(
            answers(port),
            "this test expects the machine's own {server} on 127.0.0.1:{port}; nothing answers there"
        );
    }
    let infra = Infra::new(pg, redis_port, nats_port);

    let run = infra.run("up.sh");
    assert!(run.ok(), "up.sh on the standard ports failed:\n{run}");
    for server in SERVERS {
        let port = infra.port_of(server);
        let expected = format!("{server} 127.0.0.1:{port} (already running)");
        assert!(
            run.stdout.contains(&expected),
            "missing {expected:?}:\n{run}"
        );
    }
    assert!(
        infra.started().is_empty(),
        "up.sh recorded servers it did not start: {:?}\n{run}",
        infra.started()
    );

    // down.sh has nothing of ours to stop, and the servers keep answering.
    let down = infra.run("down.sh");
    assert!(down.ok(), "down.sh failed:\n{down}");
    for (server, port) in [("postgres", pg), ("redis", redis_port), ("nats", nats_port)] {
        assert!(
            answers(port),
            "{server} on {port} stopped answering:\n{down}"
        );
    }
}
