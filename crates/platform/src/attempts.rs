//! Failed attempts at something guessable, counted in Redis so every instance shares the count:
//! a petitioner proves who they are with the ID number of the case a query code names, and an
//! ID number's last digits can be guessed in a few thousand tries. After `limit` failures for
//! one target within `window`, every attempt at it is refused until the window ends, right or
//! wrong, so guessing gains nothing.
//!
//! The same fixed-window counter also rate-limits the petitioner routes per client address and
//! per query code ([`crate::rate_limit`]): [`FailedAttempts::hit`] counts an attempt and says
//! at once whether it is over the limit (strict under concurrency: the count is taken before
//! the work is done), [`FailedAttempts::refund`] takes it back when the attempt turned out not
//! to be a failure.
//!
//! Every write is one Lua script (INCR, then PEXPIRE when the key has no expiry), so a key
//! never outlives its window even when a process dies between the two commands, and the
//! window is not extended by attempts made while it runs.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;

/// `INCR` the key; start the window (`PEXPIRE`) when the key has no expiry yet. Returns the
/// count and the milliseconds left in the window.
static HIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
",
    )
});

/// `DECR` an existing, positive count (never creates a key without an expiry).
static REFUND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then return redis.call('DECR', KEYS[1]) end
return 0
",
    )
});

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

/// An attempt [`FailedAttempts::hit`] admitted: the count in the window so far, this one
/// included (0 when there is no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub count: u64,
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
        Self::with_key_prefix(redis, format!("{key_prefix}:failed:{what}:"), limit, window)
    }

    /// A counter whose keys are `<prefix><target>` (e.g. `xf:limit:intake:addr:`).
    pub fn with_key_prefix(
        redis: ConnectionManager,
        prefix: String,
        limit: u32,
        window: Duration,
    ) -> Self {
        Self {
            redis,
            prefix,
            limit,
            window: window.max(Duration::from_secs(1)),
        }
    }

    /// The most attempts a window admits (0: no limit).
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The window's length.
    pub fn window(&self) -> Duration {
        self.window
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
        // Only the window's first failure sets the expiry, so failures do not extend the lock
        // forever.
        self.incr(target).await?;
        Ok(())
    }

    /// Counts one attempt at `target` and, atomically with it, tells whether it is within the
    /// limit: `Err(Locked)` when this is attempt `limit + 1` or later in the window. Attempts
    /// refused this way count too (they do not extend the window).
    pub async fn hit(&self, target: &str) -> anyhow::Result<Result<Hit, Locked>> {
        if self.limit == 0 {
            return Ok(Ok(Hit { count: 0 }));
        }
        let (count, ttl_ms) = self.incr(target).await?;
        if count > u64::from(self.limit) {
            let retry_after_secs = ttl_ms.div_ceil(1000).max(1);
            return Ok(Err(Locked { retry_after_secs }));
        }
        Ok(Ok(Hit { count }))
    }

    /// Takes back one attempt counted by [`Self::hit`] (it was not a failure after all). Does
    /// nothing when the window has ended meanwhile.
    pub async fn refund(&self, target: &str) -> anyhow::Result<()> {
        if self.limit == 0 {
            return Ok(());
        }
        let mut conn = self.redis.clone();
        let _: i64 = REFUND.key(self.key(target)).invoke_async(&mut conn).await?;
        Ok(())
    }

    /// INCR + start of the window in one script: (count, milliseconds left).
    async fn incr(&self, target: &str) -> anyhow::Result<(u64, u64)> {
        let mut conn = self.redis.clone();
        let window_ms = u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX);
        let (count, ttl_ms): (u64, i64) = HIT
            .key(self.key(target))
            .arg(window_ms)
            .invoke_async(&mut conn)
            .await?;
        Ok((count, u64::try_from(ttl_ms).unwrap_or(window_ms)))
    }

    fn key(&self, target: &str) -> String {
        format!("{}{target}", self.prefix)
    }
}
