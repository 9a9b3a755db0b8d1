//! SQL of the `notify` schema: the registration projection and the delivery log.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;
use xinfang_domain::events::Registered;

/// Postgres channel that wakes the sender (per schema).
pub const WAKE_SUFFIX: &str = "_deliveries_wake";

/// Records (or refreshes) a case's registration facts and sealed contact.
pub async fn upsert_case(
    conn: &mut PgConnection,
    r: &Registered,
    event_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into cases (case_no, county, query_code, channel, petition_type, department,
                            confidential, urgent, contact_sealed, registered_at, event_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         on conflict (case_no) do update set
            county = excluded.county, query_code = excluded.query_code,
            channel = excluded.channel, petition_type = excluded.petition_type,
            department = excluded.department, confidential = excluded.confidential,
            urgent = excluded.urgent, contact_sealed = excluded.contact_sealed,
            registered_at = excluded.registered_at, event_id = excluded.event_id,
            updated_at = now()",
    )
    .bind(&r.case_no)
    .bind(r.county.as_str())
    .bind(&r.query_code)
    .bind(r.channel.as_str())
    .bind(r.petition_type.as_str())
    .bind(&r.department)
    .bind(r.confidential)
    .bind(r.urgent)
    .bind(r.contact.as_ref().map(|c| c.0.as_str()))
    .bind(r.registered_at)
    .bind(event_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// What notify knows of a case.
#[derive(Clone)]
pub struct CaseRow {
    pub case_no: String,
    pub query_code: String,
    pub confidential: bool,
    pub urgent: bool,
    pub contact_sealed: Option<String>,
}

pub async fn find_case(
    conn: &mut PgConnection,
    case_no: &str,
) -> Result<Option<CaseRow>, sqlx::Error> {
    let row = sqlx::query(
        "select case_no, query_code, confidential, urgent, contact_sealed
         from cases where case_no = $1",
    )
    .bind(case_no)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(CaseRow {
            case_no: r.try_get("case_no")?,
            query_code: r.try_get("query_code")?,
            confidential: r.try_get("confidential")?,
            urgent: r.try_get("urgent")?,
            contact_sealed: r.try_get("contact_sealed")?,
        })
    })
    .transpose()
}

/// A delivery to write.
pub struct NewDelivery<'a> {
    pub event_id: Uuid,
    pub recipient: &'a str,
    pub channel: &'a str,
    pub notice: &'a str,
    pub audience: &'a str,
    pub department: Option<&'a str>,
    pub case_no: &'a str,
    pub county: &'a str,
    pub address_sealed: &'a str,
    pub address_masked: &'a str,
    pub subject: Option<&'a str>,
    pub body: &'a str,
    pub params: serde_json::Value,
    pub quiet_exempt: bool,
    pub next_attempt_at: DateTime<Utc>,
    pub deferred: bool,
}

/// Inserts a pending delivery unless (event, recipient, channel) exists; true if new.
pub async fn insert_delivery(
    conn: &mut PgConnection,
    d: &NewDelivery<'_>,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "insert into deliveries (id, event_id, recipient, channel, notice, audience, department,
                                 case_no, county, address_sealed, address_masked, subject, body,
                                 params, quiet_exempt, next_attempt_at, deferred)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         on conflict on constraint deliveries_once do nothing",
    )
    .bind(Uuid::now_v7())
    .bind(d.event_id)
    .bind(d.recipient)
    .bind(d.channel)
    .bind(d.notice)
    .bind(d.audience)
    .bind(d.department)
    .bind(d.case_no)
    .bind(d.county)
    .bind(d.address_sealed)
    .bind(d.address_masked)
    .bind(d.subject)
    .bind(d.body)
    .bind(&d.params)
    .bind(d.quiet_exempt)
    .bind(d.next_attempt_at)
    .bind(d.deferred)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// A report to e-mail to a leader (no case): HTML body, optional attachment.
pub struct NewReportDelivery<'a> {
    pub event_id: Uuid,
    pub recipient: &'a str,
    pub notice: &'a str,
    pub county: &'a str,
    pub address_sealed: &'a str,
    pub address_masked: &'a str,
    pub subject: &'a str,
    pub html: &'a str,
    pub attachment: Option<(&'a str, &'a str)>,
    pub next_attempt_at: DateTime<Utc>,
}

/// Inserts a pending report e-mail unless (event, notice, recipient, e-mail) exists; true if
/// new.
pub async fn insert_report_delivery(
    conn: &mut PgConnection,
    d: &NewReportDelivery<'_>,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(
        "insert into deliveries (id, event_id, recipient, channel, notice, audience, county,
                                 address_sealed, address_masked, subject, body, body_format,
                                 attachment_name, attachment, quiet_exempt, next_attempt_at)
         values ($1, $2, $3, 'email', $4, 'leader', $5, $6, $7, $8, $9, 'html', $10, $11, true,
                 $12)
         on conflict on constraint deliveries_once do nothing",
    )
    .bind(Uuid::now_v7())
    .bind(d.event_id)
    .bind(d.recipient)
    .bind(d.notice)
    .bind(d.county)
    .bind(d.address_sealed)
    .bind(d.address_masked)
    .bind(d.subject)
    .bind(d.html)
    .bind(d.attachment.map(|a| a.0))
    .bind(d.attachment.map(|a| a.1))
    .bind(d.next_attempt_at)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Wakes the sender when the surrounding transaction commits.
pub async fn wake(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_notify(current_schema() || $1, '')")
        .bind(WAKE_SUFFIX)
        .execute(conn)
        .await?;
    Ok(())
}

/// A claimed delivery.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: Uuid,
    pub event_id: Uuid,
    pub channel: String,
    pub notice: String,
    pub audience: String,
    pub department: Option<String>,
    pub case_no: Option<String>,
    pub county: String,
    pub address_sealed: String,
    pub address_masked: String,
    pub subject: Option<String>,
    pub body: String,
    pub params: serde_json::Value,
    pub quiet_exempt: bool,
    /// Attempts including this one (also the guard of the result update).
    pub attempts: i32,
    /// `text` or `html` (reports).
    pub body_format: String,
    /// A file sent with an e-mail (a report's CSV): name and content.
    pub attachment: Option<(String, String)>,
}

/// Claims up to `limit` due deliveries of one channel with a lease, skipping rows other
/// senders hold.
pub async fn claim(
    pool: &PgPool,
    channel: &str,
    now: DateTime<Utc>,
    limit: i64,
    lease_secs: u64,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let rows = sqlx::query(
        "with due as (
            select id from deliveries
            where status in ('pending', 'retrying') and next_attempt_at <= $1
              and channel = $4
              and (lease_until is null or lease_until < $1)
            order by next_attempt_at, created_at
            limit $2
            for update skip locked)
         update deliveries d
            set lease_until = $1 + make_interval(secs => $3), attempts = d.attempts + 1,
                updated_at = now()
           from due where d.id = due.id
         returning d.id, d.event_id, d.channel, d.notice, d.audience, d.department, d.case_no,
                   d.county, d.address_sealed, d.address_masked, d.subject, d.body, d.params,
                   d.quiet_exempt, d.attempts, d.body_format, d.attachment_name, d.attachment",
    )
    .bind(now)
    .bind(limit)
    .bind(lease_secs as f64)
    .bind(channel)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Claimed {
                id: r.try_get("id")?,
                event_id: r.try_get("event_id")?,
                channel: r.try_get("channel")?,
                notice: r.try_get("notice")?,
                audience: r.try_get("audience")?,
                department: r.try_get("department")?,
                case_no: r.try_get("case_no")?,
                county: r.try_get("county")?,
                address_sealed: r.try_get("address_sealed")?,
                address_masked: r.try_get("address_masked")?,
                subject: r.try_get("subject")?,
                body: r.try_get("body")?,
                params: r.try_get("params")?,
                quiet_exempt: r.try_get("quiet_exempt")?,
                attempts: r.try_get("attempts")?,
                body_format: r.try_get("body_format")?,
                attachment: match (
                    r.try_get::<Option<String>, _>("attachment_name")?,
                    r.try_get::<Option<String>, _>("attachment")?,
                ) {
                    (Some(name), Some(content)) => Some((name, content)),
                    _ => None,
                },
            })
        })
        .collect()
}

/// The guard of every update to a claimed row: not finished yet. Said this way, not as
/// "pending or retrying" (the same rows under the table's check), so that no plan can read
/// the partial due index for it (see [`MARK_SENT`]).
macro_rules! unfinished {
    () => {
        "status not in ('sent', 'failed', 'dead')"
    };
}

/// Gives back claims that were never sent (the lane stopped, or they waited too long for a
/// slot): the lease ends now and the attempt is not counted. Guarded like a result.
pub async fn release(pool: &PgPool, claims: &[Claimed]) -> Result<u64, sqlx::Error> {
    if claims.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = claims.iter().map(|c| c.id).collect();
    let attempts: Vec<i32> = claims.iter().map(|c| c.attempts).collect();
    let r = sqlx::query(concat!(
        "update deliveries d set lease_until = null, attempts = d.attempts - 1, updated_at = now()
         from unnest($1::uuid[], $2::int[]) as c(id, attempts)
         where d.id = c.id and d.attempts = c.attempts and d.",
        unfinished!()
    ))
    .bind(&ids)
    .bind(&attempts)
    .execute(pool)
    .await?;
    Ok(r.rows_affected())
}

/// Result of one attempt. Every update is guarded by the claim's attempt number, so a
/// sender whose lease expired cannot overwrite a newer attempt's result.
///
/// The guards say "not finished" (`status not in ('sent', 'failed', 'dead')`), not "pending or
/// retrying": the same condition under the table's check, but one the partial due index's
/// predicate cannot match. Written as the index's own predicate, a plan made while the queue
/// was empty (statistics from a quiet hour) read the whole due index for every result once a
/// backlog built up: 0.8 ms per sent message at 3,000 pending in `bench pipeline`.
pub const MARK_SENT: &str = concat!(
    "update deliveries set status = 'sent', sent_at = $3, provider_id = $4,
        lease_until = null, last_error = null, updated_at = now()
    where id = $1 and attempts = $2 and ",
    unfinished!()
);

pub async fn mark_sent(
    pool: &PgPool,
    c: &Claimed,
    now: DateTime<Utc>,
    provider_id: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(MARK_SENT)
        .bind(c.id)
        .bind(c.attempts)
        .bind(now)
        .bind(provider_id)
        .execute(pool)
        .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn mark_retry(
    pool: &PgPool,
    c: &Claimed,
    next: DateTime<Utc>,
    deferred: bool,
    error: &str,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(concat!(
        "update deliveries set status = 'retrying', next_attempt_at = $3, deferred = $4,
                last_error = $5, lease_until = null, updated_at = now()
         where id = $1 and attempts = $2 and ",
        unfinished!()
    ))
    .bind(c.id)
    .bind(c.attempts)
    .bind(next)
    .bind(deferred)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Gives the claim back without counting an attempt (quiet hours began meanwhile).
pub async fn defer(pool: &PgPool, c: &Claimed, until: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(concat!(
        "update deliveries set next_attempt_at = $3, deferred = true, attempts = attempts - 1,
                lease_until = null, updated_at = now()
         where id = $1 and attempts = $2 and ",
        unfinished!()
    ))
    .bind(c.id)
    .bind(c.attempts)
    .bind(until)
    .execute(pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Final states: `failed` (not attempted) or `dead` (with the alert written in the same
/// transaction by the caller through `conn`).
pub async fn mark_final(
    conn: &mut PgConnection,
    c: &Claimed,
    status: &str,
    error: &str,
) -> Result<bool, sqlx::Error> {
    let r = sqlx::query(concat!(
        "update deliveries set status = $3, last_error = $4, lease_until = null,
                updated_at = now()
         where id = $1 and attempts = $2 and ",
        unfinished!()
    ))
    .bind(c.id)
    .bind(c.attempts)
    .bind(status)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// One row of the delivery log as shown to operators (address masked).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: Uuid,
    pub event_id: Uuid,
    pub case_no: Option<String>,
    pub notice: String,
    pub channel: String,
    pub audience: String,
    pub department: Option<String>,
    pub recipient: String,
    pub status: String,
    pub attempts: i32,
    pub deferred: bool,
    pub next_attempt_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Records that `dept` of `county` was assigned `case_no` (idempotent).
pub async fn record_department(
    conn: &mut PgConnection,
    case_no: &str,
    county: &xinfang_domain::county::CountyCode,
    dept: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into case_departments (case_no, county, department) values ($1, $2, $3)
         on conflict do nothing",
    )
    .bind(case_no)
    .bind(county.as_str())
    .bind(dept)
    .execute(conn)
    .await?;
    Ok(())
}

/// The (county, department) pairs `case_no` was assigned to.
pub async fn departments_of(
    pool: &PgPool,
    case_no: &str,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as("select county, department from case_departments where case_no = $1")
        .bind(case_no)
        .fetch_all(pool)
        .await
}

/// The delivery log of one case, oldest first.
pub async fn deliveries_for_case(
    pool: &PgPool,
    case_no: &str,
) -> Result<Vec<DeliveryView>, sqlx::Error> {
    let rows = sqlx::query(
        "select id, event_id, case_no, notice, channel, audience, department, address_masked,
                status, attempts, deferred, next_attempt_at, sent_at, last_error, created_at
         from deliveries where case_no = $1 order by created_at, id",
    )
    .bind(case_no)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(DeliveryView {
                id: r.try_get("id")?,
                event_id: r.try_get("event_id")?,
                case_no: r.try_get("case_no")?,
                notice: r.try_get("notice")?,
                channel: r.try_get("channel")?,
                audience: r.try_get("audience")?,
                department: r.try_get("department")?,
                recipient: r.try_get("address_masked")?,
                status: r.try_get("status")?,
                attempts: r.try_get("attempts")?,
                deferred: r.try_get("deferred")?,
                next_attempt_at: r.try_get("next_attempt_at")?,
                sent_at: r.try_get("sent_at")?,
                last_error: r.try_get("last_error")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// Counts by status (for `/metrics`-style summaries and the CLI).
pub async fn status_counts(pool: &PgPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows =
        sqlx::query("select status, count(*) as n from deliveries group by status order by status")
            .fetch_all(pool)
            .await?;
    rows.into_iter()
        .map(|r| Ok((r.try_get("status")?, r.try_get("n")?)))
        .collect()
}
