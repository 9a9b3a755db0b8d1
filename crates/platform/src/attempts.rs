//! Failed attempts at something guessable, counted in Redis so every instance shares the count:
//! a petitioner proves who they are with the ID number of the case a query code names, and an
//! ID number's last digits can be guessed in a few thousand tries. After `limit` failures for
//! one target within `window`, every attempt at it is refused until the window ends, right or
//! wrong, so guessing gains nothing.

use std::time::Duration;

use redis::aio::ConnectionManager;

/// Counts failures per target (e.g. a query code) in fixed windows.
#[derive(Clone)]
pub struct FailedAttempts {
    redis: ConnectionManager,
    /// `<deployment prefix>:failed:<what>:`
    prefix: String,
    limit: u32,
    window: Duration,
}

/// The target is locked: try again after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locked {
    pub retry_after_secs: u64,
}

impl FailedAttempts {
    /// `what` names the kind of attempt in the keys (`id_number`). A `limit` of 0 locks nothing.
    pub fn new(
        redis: ConnectionManager,
        key_prefix: &str,
        what: &str,
        limit: u32,
        window: Duration,
    ) -> Self {
        Self {
            redis,
            prefix: format!("{key_prefix}:failed:{what}:"),
            limit,
            window: window.max(Duration::from_secs(1)),
        }
    }

    /// `Err(Locked)` when `target` has failed `limit` times in the current window.
    pub async fn check(&self, target: &str) -> anyhow::Result<Result<(), Locked>> {
        if self.limit == 0 {
            return Ok(Ok(()));
        }
        let mut conn = self.redis.clone();
        let key = self.key(target);
        let (count, ttl): (Option<u32>, i64) = redis::pipe()
            .get(&key)
            .ttl(&key)
            .query_async(&mut conn)
            .await?;
        if count.unwrap_or(0) >= self.limit {
            let retry_after_secs = u64::try_from(ttl).unwrap_or(self.window.as_secs()).max(1);
            return Ok(Err(Locked { retry_after_secs }));
        }
        Ok(Ok(()))
    }

    /// Counts one failure; the first of a window starts the window.
    pub async fn record_failure(&self, target: &str) -> anyhow::Result<()> {
        if self.limit == 0 {
            return Ok(());
        }
        let mut conn = self.redis.clone();
        let key = self.key(target);
        let secs = i64::try_from(self.window.as_secs()).unwrap_or(i64::MAX);
        // EXPIRE NX: only the window's first failure sets the expiry, so failures do not extend
        // the lock forever.
        let _: (u32, i64) = redis::pipe()
            .incr(&key, 1)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(secs)
            .arg("NX")
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    fn key(&self, target: &str) -> String {
        format!("{}{target}", self.prefix)
    }
}
