//! The practices' facts on a case (`xf.<county>.case.<kind>`), written to the outbox in the
//! caller's transaction with deterministic ids: writing the same record again yields the same
//! event id, which JetStream and every consumer's inbox drop.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;
use xinfang_domain::county::CountyCode;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::subject;
use xinfang_platform::outbox::Batch;

use crate::ids::{deterministic_v7, millis_of};

/// The id of the `kind` fact about the record `record` (a UUIDv7 of ours).
pub(super) fn record_event_id(record: Uuid, kind: &str) -> Uuid {
    deterministic_v7(millis_of(record), &[record.as_bytes(), kind.as_bytes()])
}

/// The id of the `kind` fact about `case_no` and `about` (a leader, a reception day) at `at`.
pub(super) fn fact_event_id(kind: &str, case_no: &str, about: &str, at: DateTime<Utc>) -> Uuid {
    let ms = at.timestamp_millis();
    deterministic_v7(
        ms,
        &[
            kind.as_bytes(),
            case_no.as_bytes(),
            about.as_bytes(),
            &ms.to_be_bytes(),
        ],
    )
}

/// Adds `xf.<county>.case.<kind>` to `batch`.
pub(super) fn push_case_event<T: Serialize>(
    batch: &mut Batch,
    id: Uuid,
    county: &CountyCode,
    kind: &str,
    case_no: &str,
    at: DateTime<Utc>,
    data: &T,
) -> anyhow::Result<()> {
    let env = Envelope::with_id(id, kind, Some(case_no.to_owned()), county.clone(), at, data)?;
    batch.push(&subject::case_event(county, kind)?, &env)?;
    Ok(())
}
