//! The Redis timer index: per county a sorted set of deadline ids scored by the time they next
//! need attention (warning or due), and a lease set of ids being fired. Keys carry the county
//! hash tag (`<prefix>:{<county>}:timers`) so a Redis Cluster shards by county and the claim
//! script touches one slot.
//!
//! The index is only a hint: Postgres holds the truth and every claimed id is checked against
//! its row before anything is fired. A missing entry is restored by reconciliation; a stale one
//! is dropped when claimed.

use redis::aio::ConnectionManager;
use uuid::Uuid;
use xinfang_domain::county::CountyCode;
use xinfang_platform::redis::county_key;

/// Moves due members (score ≤ now) into the lease set (score = lease expiry) and returns them
/// with their due scores. Leases that expired (a claimer died or stalled) come back first, due
/// now. Atomic, so two claimers never get the same member from one index state.
const CLAIM: &str = r#"
local now = tonumber(ARGV[1])
local lease_until = ARGV[2]
local limit = tonumber(ARGV[3])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, limit)
if #expired > 0 then
  for i = 1, #expired, 500 do
    local args = {}
    local rem = {}
    for j = i, math.min(i + 499, #expired) do
      args[#args + 1] = now
      args[#args + 1] = expired[j]
      rem[#rem + 1] = expired[j]
    end
    redis.call('ZADD', KEYS[1], unpack(args))
    redis.call('ZREM', KEYS[2], unpack(rem))
  end
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
if #due > 0 then
  for i = 1, #due, 1000 do
    local args = {}
    local rem = {}
    for j = i, math.min(i + 999, #due), 2 do
      args[#args + 1] = lease_until
      args[#args + 1] = due[j]
      rem[#rem + 1] = due[j]
    end
    redis.call('ZADD', KEYS[2], unpack(args))
    redis.call('ZREM', KEYS[1], unpack(rem))
  end
end
return due
"#;

/// Members per pipelined command.
const CHUNK: usize = 1000;

#[derive(Clone)]
pub struct TimerIndex {
    redis: ConnectionManager,
    prefix: String,
    claim: redis::Script,
}

impl TimerIndex {
    pub fn new(redis: ConnectionManager, prefix: &str) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            claim: redis::Script::new(CLAIM),
        }
    }

    /// `<prefix>:{<county>}:timers`
    pub fn timers_key(&self, county: &CountyCode) -> String {
        county_key(&self.prefix, county, "timers")
    }

    /// `<prefix>:{<county>}:timers:lease`
    pub fn lease_key(&self, county: &CountyCode) -> String {
        county_key(&self.prefix, county, "timers:lease")
    }

    /// `<prefix>:{<county>}:timers:built` — present while the index is known to be complete.
    pub fn marker_key(&self, county: &CountyCode) -> String {
        county_key(&self.prefix, county, "timers:built")
    }

    /// Every key of a county's index.
    pub fn keys(&self, county: &CountyCode) -> Vec<String> {
        vec![
            self.timers_key(county),
            self.lease_key(county),
            self.marker_key(county),
        ]
    }

    /// Adds or moves entries (id, due in epoch ms), pipelined.
    pub async fn index(
        &self,
        county: &CountyCode,
        items: &[(Uuid, i64)],
    ) -> redis::RedisResult<()> {
        if items.is_empty() {
            return Ok(());
        }
        let key = self.timers_key(county);
        let mut pipe = redis::pipe();
        for chunk in items.chunks(CHUNK) {
            let cmd = pipe.cmd("ZADD").arg(&key);
            for (id, ms) in chunk {
                cmd.arg(*ms).arg(id.to_string());
            }
            cmd.ignore();
        }
        pipe.query_async::<()>(&mut self.redis.clone()).await
    }

    /// Removes entries (cancelled, paused or fired deadlines).
    pub async fn remove(&self, county: &CountyCode, ids: &[Uuid]) -> redis::RedisResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let key = self.timers_key(county);
        let mut pipe = redis::pipe();
        for chunk in ids.chunks(CHUNK) {
            let members: Vec<String> = chunk.iter().map(Uuid::to_string).collect();
            pipe.cmd("ZREM").arg(&key).arg(members).ignore();
        }
        pipe.query_async::<()>(&mut self.redis.clone()).await
    }

    /// Claims up to `limit` entries due at `now_ms`, leased until `now_ms + lease_ms`.
    pub async fn claim(
        &self,
        county: &CountyCode,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> redis::RedisResult<Vec<(String, i64)>> {
        let raw: Vec<String> = self
            .claim
            .key(self.timers_key(county))
            .key(self.lease_key(county))
            .arg(now_ms)
            .arg(now_ms + lease_ms)
            .arg(limit)
            .invoke_async(&mut self.redis.clone())
            .await?;
        let mut out = Vec::with_capacity(raw.len() / 2);
        let mut it = raw.into_iter();
        while let (Some(member), Some(score)) = (it.next(), it.next()) {
            // Scores come back as decimal strings.
            let ms = score.parse::<f64>().map(|s| s as i64).unwrap_or(now_ms);
            out.push((member, ms));
        }
        Ok(out)
    }

    /// Ends leases: `done` leave the index, `rearm` go back at their new time.
    pub async fn settle(
        &self,
        county: &CountyCode,
        done: &[String],
        rearm: &[(String, i64)],
    ) -> redis::RedisResult<()> {
        if done.is_empty() && rearm.is_empty() {
            return Ok(());
        }
        let lease = self.lease_key(county);
        let timers = self.timers_key(county);
        let mut pipe = redis::pipe();
        for chunk in done.chunks(CHUNK) {
            pipe.cmd("ZREM").arg(&lease).arg(chunk).ignore();
        }
        for chunk in rearm.chunks(CHUNK) {
            let cmd = pipe.cmd("ZADD").arg(&timers);
            for (m, ms) in chunk {
                cmd.arg(*ms).arg(m);
            }
            cmd.ignore();
            let members: Vec<&String> = chunk.iter().map(|(m, _)| m).collect();
            pipe.cmd("ZREM").arg(&lease).arg(members).ignore();
        }
        pipe.query_async::<()>(&mut self.redis.clone()).await
    }

    pub async fn marker_exists(&self, county: &CountyCode) -> redis::RedisResult<bool> {
        redis::cmd("EXISTS")
            .arg(self.marker_key(county))
            .query_async::<bool>(&mut self.redis.clone())
            .await
    }

    pub async fn set_marker(&self, county: &CountyCode, at_ms: i64) -> redis::RedisResult<()> {
        redis::cmd("SET")
            .arg(self.marker_key(county))
            .arg(at_ms)
            .query_async::<()>(&mut self.redis.clone())
            .await
    }

    /// Entries in the index (not counting leased ones).
    pub async fn len(&self, county: &CountyCode) -> redis::RedisResult<u64> {
        redis::cmd("ZCARD")
            .arg(self.timers_key(county))
            .query_async::<u64>(&mut self.redis.clone())
            .await
    }

    /// The earliest entry's time, if any.
    pub async fn next_due(&self, county: &CountyCode) -> redis::RedisResult<Option<i64>> {
        let v: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg(self.timers_key(county))
            .arg(0)
            .arg(0)
            .arg("WITHSCORES")
            .query_async(&mut self.redis.clone())
            .await?;
        Ok(v.first().map(|(_, s)| *s as i64))
    }

    /// Deletes the county's index (tests, the benchmark's clean-up).
    pub async fn drop_all(&self, county: &CountyCode) -> redis::RedisResult<()> {
        redis::cmd("DEL")
            .arg(self.keys(county))
            .query_async::<()>(&mut self.redis.clone())
            .await
    }
}
