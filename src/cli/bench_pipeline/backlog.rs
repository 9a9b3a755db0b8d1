//! What is still on its way at a moment: unpublished outbox rows per service schema, what the
//! services' durable consumers of the scratch streams have not yet had or acknowledged
//! (JetStream consumer info; the departments' feeds apart), and notify's deliveries by status.

use std::collections::BTreeMap;

use async_nats::jetstream::stream::Stream;
use futures::TryStreamExt;
use sqlx::PgPool;
use xinfang_platform::config::Database;

/// The schemas that may have an outbox.
const SCHEMAS: [&str; 6] = [
    "intake",
    "routing",
    "supervision",
    "review",
    "notify",
    "console",
];

#[derive(Debug, Clone, Default)]
pub struct Backlog {
    /// Unpublished outbox rows per schema.
    pub outbox: BTreeMap<String, i64>,
    /// Per durable consumer of a service (`<stream>/<name>`): messages not yet delivered plus
    /// delivered and not yet acknowledged.
    pub consumers: BTreeMap<String, u64>,
    /// The same for the departments' durable feeds (`dept_<dept>`), which their clients read:
    /// none runs here, so these only grow.
    pub department_feeds: u64,
    /// Notify's deliveries per status (pending, retrying, sent, failed, dead).
    pub deliveries: BTreeMap<String, i64>,
}

impl Backlog {
    pub fn outbox_total(&self) -> i64 {
        self.outbox.values().sum()
    }

    pub fn consumer_total(&self) -> u64 {
        self.consumers.values().sum()
    }

    /// Nothing on its way: every outbox published, the services' consumers caught up, no
    /// notice waiting to be sent (the departments' feeds apart: nobody reads them here).
    pub fn quiet(&self) -> bool {
        let unsent: i64 = ["pending", "retrying"]
            .iter()
            .filter_map(|s| self.deliveries.get(*s))
            .sum();
        self.outbox_total() == 0 && self.consumer_total() == 0 && unsent == 0
    }

    /// The consumer furthest behind.
    pub fn worst_consumer(&self) -> Option<(&str, u64)> {
        self.consumers
            .iter()
            .max_by_key(|(_, n)| **n)
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| (k.as_str(), *n))
    }
}

/// A small pool on the scratch database for the counts.
pub struct Db {
    pool: PgPool,
}

impl Db {
    pub async fn connect(database: &Database) -> anyhow::Result<Db> {
        let mut small = database.clone();
        small.max_connections = 2;
        Ok(Db {
            pool: xinfang_platform::db::connect(&small, "public").await?,
        })
    }

    pub async fn snapshot(&self, streams: &[Stream]) -> anyhow::Result<Backlog> {
        let mut b = Backlog::default();
        for schema in SCHEMAS {
            let table = format!("{schema}.outbox");
            let exists: bool = sqlx::query_scalar("select to_regclass($1) is not null")
                .bind(&table)
                .fetch_one(&self.pool)
                .await?;
            if exists {
                let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "select count(*) from {table} where published_at is null"
                )))
                .fetch_one(&self.pool)
                .await?;
                b.outbox.insert(schema.to_owned(), n);
            }
        }
        let deliveries: Vec<(String, i64)> = sqlx::query_as(
            "select status, count(*) from notify.deliveries group by status order by status",
        )
        .fetch_all(&self.pool)
        .await?;
        b.deliveries = deliveries.into_iter().collect();
        for stream in streams {
            let mut infos = stream.consumers();
            while let Some(info) = infos
                .try_next()
                .await
                .map_err(|e| anyhow::anyhow!("consumer info: {e}"))?
            {
                let pending = info.num_pending + info.num_ack_pending as u64;
                if info.name.starts_with("dept_") {
                    b.department_feeds += pending;
                } else {
                    b.consumers
                        .insert(format!("{}/{}", info.stream_name, info.name), pending);
                }
            }
        }
        Ok(b)
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
