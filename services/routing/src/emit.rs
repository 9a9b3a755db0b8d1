//! Writing events to the outbox (the only way routing publishes a state change).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use xinfang_domain::county::CountyCode;
use xinfang_domain::directory::OrganRef;
use xinfang_domain::subject;
use xinfang_platform::outbox;

pub use xinfang_platform::outbox::EventRef;

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
    outbox::emit(conn, &subject, county, kind, case_no, at, data).await
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
    outbox::emit(conn, &subject, &organ.county, kind, case_no, at, data).await
}
