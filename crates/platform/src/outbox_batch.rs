//! Many outbox rows in one statement. Same table, columns, conflict rule and wake-up as
//! [`crate::outbox::enqueue`], which writes one row per call (two round trips each): a
//! transaction emitting a thousand events (firing timers) needs one round trip for all.

use crate::trace_context;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::subject::Subject;

/// Events to write, built up while a transaction decides what happens.
#[derive(Default)]
pub struct Batch {
    ids: Vec<Uuid>,
    subjects: Vec<String>,
    payloads: Vec<Vec<u8>>,
    /// Trace context per row; `None` takes the current span's.
    traces: Vec<Option<serde_json::Value>>,
}

impl Batch {
    pub fn push<T: Serialize>(
        &mut self,
        subject: &Subject,
        env: &Envelope<T>,
    ) -> anyhow::Result<()> {
        self.push_traced(subject, env, None)
    }

    /// Like [`Batch::push`], continuing the trace given as stored W3C pairs.
    pub fn push_traced<T: Serialize>(
        &mut self,
        subject: &Subject,
        env: &Envelope<T>,
        trace: Option<&serde_json::Value>,
    ) -> anyhow::Result<()> {
        self.payloads.push(env.to_bytes()?);
        self.ids.push(env.id);
        self.subjects.push(subject.as_str().to_owned());
        self.traces.push(
            trace
                .filter(|t| t.as_array().is_some_and(|a| !a.is_empty()))
                .cloned(),
        );
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Writes the rows in the caller's transaction; the relay wakes on commit. A row whose
    /// event id is already there (a repeated firing) is dropped, as `enqueue` does.
    pub async fn write(self, conn: &mut PgConnection) -> anyhow::Result<u64> {
        if self.ids.is_empty() {
            return Ok(0);
        }
        let current = serde_json::to_value(trace_context::current_as_pairs())?;
        let headers: Vec<serde_json::Value> = self
            .traces
            .into_iter()
            .map(|t| t.unwrap_or_else(|| current.clone()))
            .collect();
        let mut written = 0;
        // Bounded statements keep memory and parameter sizes reasonable.
        for (((ids, subjects), payloads), headers) in self
            .ids
            .chunks(5000)
            .zip(self.subjects.chunks(5000))
            .zip(self.payloads.chunks(5000))
            .zip(headers.chunks(5000))
        {
            written += sqlx::query(
                "insert into outbox (event_id, subject, payload, headers)
                 select * from unnest($1::uuid[], $2::text[], $3::bytea[], $4::jsonb[])
                 on conflict (event_id) do nothing",
            )
            .bind(ids)
            .bind(subjects)
            .bind(payloads)
            .bind(headers)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        }
        sqlx::query("select pg_notify(current_schema() || '_outbox_wake', '')")
            .execute(&mut *conn)
            .await?;
        Ok(written)
    }
}
