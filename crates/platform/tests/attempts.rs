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
