//! Writing events to the outbox (the only way routing publishes a state change).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;
use xinfang_domain::county::CountyCode;
use xinfang_domain::directory::OrganRef;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::subject;
use xinfang_platform::outbox;

/// An event written to the outbox, as reported back to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRef {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: String,
    pub subject: String,
}

/// `xf.<county>.case.<kind>` for the case's home county.
pub async fn case_event<T: Serialize>(
    conn: &mut PgConnection,
    county: &CountyCode,
    kind: &str,
    case_no: &str,
    at: DateTime<Utc>,
    data: &T,
) -> anyhow::Result<EventRef> {
    let subject = subject::case_event(county, kind)?;
    let env = Envelope::new(kind, Some(case_no.to_owned()), county.clone(), at, data)?;
    outbox::enqueue(conn, &subject, &env).await?;
    Ok(EventRef {
        id: env.id,
        kind: kind.to_owned(),
        subject: subject.to_string(),
    })
}

/// `xf.<organ county>.dept.<organ dept>.<kind>`: what one department receives.
pub async fn dept_event<T: Serialize>(
    conn: &mut PgConnection,
    organ: &OrganRef,
    kind: &str,
    case_no: &str,
    at: DateTime<Utc>,
    data: &T,
) -> anyhow::Result<EventRef> {
    let subject = subject::dept_event(&organ.county, &organ.dept, kind)?;
    let env = Envelope::new(
        kind,
        Some(case_no.to_owned()),
        organ.county.clone(),
        at,
        data,
    )?;
    outbox::enqueue(conn, &subject, &env).await?;
    Ok(EventRef {
        id: env.id,
        kind: kind.to_owned(),
        subject: subject.to_string(),
    })
}
