//! Redis connection. Keys carry the deployment prefix and a per-county hash tag
//! (`xf:{411282}:timers`) so a Redis Cluster can shard by county.

use redis::aio::ConnectionManager;

use crate::config::Redis as RedisSettings;
use xinfang_domain::county::CountyCode;

pub async fn connect(settings: &RedisSettings) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(settings.url.expose())?;
    let conn = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        ConnectionManager::new(client),
    )
    .await
    .map_err(|_| anyhow::anyhow!("redis: connection timed out"))??;
    Ok(conn)
}

/// `<prefix>:{<county>}:<name>`
pub fn county_key(prefix: &str, county: &CountyCode, name: &str) -> String {
    format!("{prefix}:{{{county}}}:{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_the_county_hash_tag() {
        let c = CountyCode::parse("411282").unwrap();
        assert_eq!(county_key("xf", &c, "timers"), "xf:{411282}:timers");
    }
}
