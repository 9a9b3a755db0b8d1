//! Failed-attempt counting over the real Redis.

use std::time::Duration;

use xinfang_platform::attempts::{FailedAttempts, Locked};
use xinfang_platform::{redis, testing};

async fn attempts(limit: u32, window: Duration) -> FailedAttempts {
    let (p, _, _) = testing::settings().await.expect("test settings");
    let conn = redis::connect(&p.redis).await.expect("redis");
    FailedAttempts::new(conn, &p.redis.key_prefix, "id_number", limit, window)
}

#[tokio::test]
async fn a_target_locks_after_the_limit_until_the_window_ends() {
    let a = attempts(2, Duration::from_secs(1)).await;
    assert_eq!(a.check("CODE0001").await.unwrap(), Ok(()));
    a.record_failure("CODE0001").await.unwrap();
    assert_eq!(a.check("CODE0001").await.unwrap(), Ok(()));
    a.record_failure("CODE0001").await.unwrap();
    assert_eq!(
        a.check("CODE0001").await.unwrap(),
        Err(Locked {
            retry_after_secs: 1
        })
    );
    // Other targets are not affected.
    assert_eq!(a.check("CODE0002").await.unwrap(), Ok(()));
    // Failing on while locked does not extend the window.
    a.record_failure("CODE0001").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(a.check("CODE0001").await.unwrap(), Ok(()));
}

#[tokio::test]
async fn a_limit_of_zero_never_locks() {
    let a = attempts(0, Duration::from_secs(60)).await;
    for _ in 0..5 {
        a.record_failure("CODE0003").await.unwrap();
    }
    assert_eq!(a.check("CODE0003").await.unwrap(), Ok(()));
}

async fn raw_conn() -> ::redis::aio::ConnectionManager {
    let (p, _, _) = testing::settings().await.expect("test settings");
    redis::connect(&p.redis).await.expect("redis")
}

#[tokio::test]
async fn hits_are_counted_atomically_and_refunds_take_them_back() {
    let (p, _, _) = testing::settings().await.expect("test settings");
    let conn = redis::connect(&p.redis).await.expect("redis");
    let prefix = format!("{}:limit:t:", p.redis.key_prefix);
    let a =
        FailedAttempts::with_key_prefix(conn.clone(), prefix.clone(), 3, Duration::from_secs(60));
    // Twenty at once: exactly three get in, however they interleave.
    let hits = futures::future::join_all((0..20).map(|_| a.hit("203.0.113.9"))).await;
    let admitted = hits.iter().filter(|h| matches!(h, Ok(Ok(_)))).count();
    let refused: Vec<u64> = hits
        .iter()
        .filter_map(|h| match h {
            Ok(Err(l)) => Some(l.retry_after_secs),
            _ => None,
        })
        .collect();
    assert_eq!((admitted, refused.len()), (3, 17));
    assert!(refused.iter().all(|s| (59..=60).contains(s)), "{refused:?}");
    // The window started once and does not move.
    let mut c = conn.clone();
    let key = format!("{prefix}203.0.113.9");
    let ttl: i64 = ::redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut c)
        .await
        .unwrap();
    assert!((55_000..=60_000).contains(&ttl), "{ttl}");
    // Taking back refused attempts brings the count under the limit again.
    for _ in 0..18 {
        a.refund("203.0.113.9").await.unwrap();
    }
    // 20 counted - 18 taken back = 2: one more gets in, the next does not.
    assert_eq!(a.hit("203.0.113.9").await.unwrap().map(|h| h.count), Ok(3));
    assert!(a.hit("203.0.113.9").await.unwrap().is_err());
    // A refund never creates a key (it would have no expiry).
    a.refund("198.51.100.1").await.unwrap();
    let exists: bool = ::redis::cmd("EXISTS")
        .arg(format!("{prefix}198.51.100.1"))
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(!exists);
}

#[tokio::test]
async fn a_count_left_without_expiry_gets_one() {
    let (p, _, _) = testing::settings().await.expect("test settings");
    let conn = redis::connect(&p.redis).await.expect("redis");
    let a = FailedAttempts::new(
        conn,
        &p.redis.key_prefix,
        "id_number",
        2,
        Duration::from_secs(30),
    );
    // As a process dying between INCR and EXPIRE could once leave it: locked forever.
    let key = format!("{}:failed:id_number:CODE0009", p.redis.key_prefix);
    let mut c = raw_conn().await;
    let _: () = ::redis::cmd("SET")
        .arg(&key)
        .arg(5)
        .query_async(&mut c)
        .await
        .unwrap();
    a.record_failure("CODE0009").await.unwrap();
    let ttl: i64 = ::redis::cmd("TTL")
        .arg(&key)
        .query_async(&mut c)
        .await
        .unwrap();
    assert!((1..=30).contains(&ttl), "{ttl}");
    assert_eq!(
        a.check("CODE0009")
            .await
            .unwrap()
            .unwrap_err()
            .retry_after_secs,
        u64::try_from(ttl).unwrap()
    );
}
