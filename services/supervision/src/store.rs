//! The `deadlines` table: the record of every clock. Writers mark a changed row `indexed =
//! false` and wake the indexer, which brings Redis in line after the commit.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;
use xinfang_domain::county::CountyCode;
use xinfang_domain::deadline_state::{final_state_of, state};
use xinfang_domain::dept_notice::{OrganNotice, addressee, binds, for_organ, organ_bound};
use xinfang_domain::directory::{Directory, OrganRef};
use xinfang_domain::envelope::Envelope;
use xinfang_domain::events::{DeadlineStatus, DeptClock, DeptDeadlineStatus, kind};
use xinfang_domain::subject;
use xinfang_platform::outbox::Batch;

/// When a pending row next needs attention: its warning if one is still to come, else its due.
pub const NEXT_FIRE: &str = "case when warn_at is not null and warned_at is null and warn_at < due_at then warn_at else due_at end";

/// A clock to create.
#[derive(Debug, Clone)]
pub struct NewDeadline {
    pub id: Uuid,
    pub case_no: String,
    pub county: String,
    pub department: Option<String>,
    pub kind: String,
    pub reference: String,
    pub trigger_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub warn_at: Option<DateTime<Utc>>,
    /// The due time depends on a year the holiday calendar does not cover yet.
    pub provisional: bool,
    /// The time of the fact that started it; `None` for clocks no case fact starts.
    pub fact_at: Option<DateTime<Utc>>,
}

impl NewDeadline {
    /// When the row first needs attention.
    pub fn next_fire(&self) -> DateTime<Utc> {
        match self.warn_at {
            Some(w) if w < self.due_at => w,
            _ => self.due_at,
        }
    }
}

/// A deadline as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DeadlineRow {
    pub id: Uuid,
    pub case_no: String,
    pub county: String,
    pub department: Option<String>,
    pub kind: String,
    #[sqlx(rename = "ref")]
    #[serde(rename = "ref")]
    pub reference: String,
    pub trigger_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub warn_at: Option<DateTime<Utc>>,
    pub state: String,
    pub warned_at: Option<DateTime<Utc>>,
    pub fired_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub close_reason: Option<String>,
    pub paused_at: Option<DateTime<Utc>>,
    pub pauses: serde_json::Value,
    pub extension_days: Option<i32>,
    pub generation: i32,
    /// The due time depends on a year the holiday calendar does not cover yet (Monday–Friday
    /// assumed); recomputed when the calendar is reloaded with that year.
    #[sqlx(default)]
    pub provisional: bool,
    /// Trace context pairs of the fact that started it (read by the fire loop only).
    #[sqlx(default)]
    #[serde(skip)]
    pub trace: serde_json::Value,
}

/// Inserts clocks in one statement. `indexed` says whether the caller indexes them itself
/// (the benchmark and the fire loop do; event handlers leave it to the indexer).
pub async fn insert_batch(
    conn: &mut PgConnection,
    rows: &[NewDeadline],
    indexed: bool,
) -> sqlx::Result<u64> {
    // The current span is the fact's (a consumer's or a request's): what fires continues it.
    let traces = vec![current_trace(); rows.len()];
    insert_traced(conn, rows, &traces, indexed).await
}

/// The current span's trace context as stored with a clock (what fires continues it).
pub fn current_trace() -> serde_json::Value {
    serde_json::to_value(xinfang_platform::trace_context::current_as_pairs())
        .unwrap_or_else(|_| serde_json::json!([]))
}

/// [`insert_batch`] with each row's own trace context (`traces[i]` for `rows[i]`): a batch's
/// clocks come from several facts.
pub async fn insert_traced(
    conn: &mut PgConnection,
    rows: &[NewDeadline],
    traces: &[serde_json::Value],
    indexed: bool,
) -> sqlx::Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let mut id = Vec::with_capacity(rows.len());
    let mut case_no = Vec::with_capacity(rows.len());
    let mut county = Vec::with_capacity(rows.len());
    let mut department = Vec::with_capacity(rows.len());
    let mut kind = Vec::with_capacity(rows.len());
    let mut reference = Vec::with_capacity(rows.len());
    let mut trigger_at = Vec::with_capacity(rows.len());
    let mut due_at = Vec::with_capacity(rows.len());
    let mut warn_at = Vec::with_capacity(rows.len());
    let mut provisional = Vec::with_capacity(rows.len());
    let mut fact_at = Vec::with_capacity(rows.len());
    for r in rows {
        id.push(r.id);
        case_no.push(r.case_no.as_str());
        county.push(r.county.as_str());
        department.push(r.department.as_deref());
        kind.push(r.kind.as_str());
        reference.push(r.reference.as_str());
        trigger_at.push(r.trigger_at);
        due_at.push(r.due_at);
        warn_at.push(r.warn_at);
        provisional.push(r.provisional);
        fact_at.push(r.fact_at);
    }
    let done = sqlx::query(
        "insert into deadlines (id, case_no, county, department, kind, ref, trigger_at, due_at, warn_at, provisional, fact_at, indexed, trace)
         select id, case_no, county, department, kind, ref, trigger_at, due_at, warn_at,
                provisional, fact_at, $12, trace
         from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::bool[],
                     $11::timestamptz[], $13::jsonb[])
              as u(id, case_no, county, department, kind, ref, trigger_at, due_at, warn_at,
                   provisional, fact_at, trace)
         on conflict do nothing",
    )
    .bind(&id)
    .bind(&case_no)
    .bind(&county)
    .bind(&department)
    .bind(&kind)
    .bind(&reference)
    .bind(&trigger_at)
    .bind(&due_at)
    .bind(&warn_at)
    .bind(&provisional)
    .bind(&fact_at)
    .bind(indexed)
    .bind(traces)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// Holds the cases until the transaction ends, locked in the order given (callers sort them).
/// Instances sharing a consumer may hold two facts of one case at once: the second waits for
/// the first's commit and then sees its clocks (the facts' times put them in order; see
/// `handlers`).
pub async fn lock_cases(conn: &mut PgConnection, case_nos: &[String]) -> sqlx::Result<()> {
    if case_nos.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "select count(pg_advisory_xact_lock(hashtext(current_schema()), hashtext(c.no)))
         from unnest($1::text[]) with ordinality as c(no, n)",
    )
    .bind(case_nos)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Wakes the indexer once the transaction commits.
pub async fn wake_indexer(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("select pg_notify(current_schema() || '_timers_wake', '')")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The columns of [`DeadlineRow`].
const COLUMNS: &str = "id, case_no, county, department, kind, ref, trigger_at, due_at, warn_at, state,
                warned_at, fired_at, closed_at, close_reason, paused_at, pauses, extension_days, generation,
                provisional";

/// `deadline.scheduled` / `deadline.closed` for a clock as it now stands, through the outbox in
/// the caller's transaction (issue #20: the registry learns every deadline from these). With
/// `to_organ` (the directory), a copy goes to the organ it binds (`dept.<d>.scheduled`: a
/// review organ learns of the request addressed to it and its decision deadline), naming the
/// organ, what binds it on the case and what it may do ([`DeptDeadlineStatus`]).
pub async fn publish_status(
    conn: &mut PgConnection,
    event: &str,
    status: &DeadlineStatus,
    county: &str,
    to_organ: Option<&Directory>,
) -> sqlx::Result<()> {
    let mut out = Batch::default();
    queue_status(conn, &mut out, event, status, county, to_organ).await?;
    out.write(conn)
        .await
        .map_err(|e| sqlx::Error::Encode(e.into()))?;
    Ok(())
}

/// [`publish_status`] into `out`, written by the caller (a consumer batch writes its events in
/// one statement at its end).
pub async fn queue_status(
    conn: &mut PgConnection,
    out: &mut Batch,
    event: &str,
    status: &DeadlineStatus,
    county: &str,
    to_organ: Option<&Directory>,
) -> sqlx::Result<()> {
    let Ok(county) = CountyCode::parse(county) else {
        tracing::warn!(case_no = %status.case_no, "deadline has an invalid county; no event");
        return Ok(());
    };
    let encode = |e: anyhow::Error| sqlx::Error::Encode(e.into());
    // Stamped when published, not with the fact's time (`status.at`): the registry keeps the
    // newest word on each clock by it, and facts' times mix precise instants with whole days.
    let env = Envelope::new(
        event,
        Some(status.case_no.clone()),
        county.clone(),
        Utc::now(),
        status,
    )
    .map_err(|e| encode(e.into()))?;
    let s = subject::deadline_event(&county, event).map_err(|e| encode(e.into()))?;
    // Each row continues its own fact's trace (a batch's events come from several).
    let trace = current_trace();
    out.push_traced(&s, &env, Some(&trace)).map_err(encode)?;
    if let Some(directory) = to_organ
        && let Some(organ) = status
            .department
            .as_deref()
            .and_then(|d| organ_bound(&county, d, &status.deadline))
    {
        let owed = owed_for_cases(conn, std::slice::from_ref(&status.case_no)).await?;
        let n = organ_notice(
            &owed,
            &status.case_no,
            &organ,
            Some((&status.deadline, &status.reference)),
        );
        let data = DeptDeadlineStatus {
            status: status.clone(),
            addressee: addressee(directory, &organ),
            deadlines: n.deadlines,
            actions: n.actions,
            action_routes: n.action_routes,
        };
        let s =
            subject::dept_event(&organ.county, &organ.dept, event).map_err(|e| encode(e.into()))?;
        let env = Envelope::new(
            event,
            Some(status.case_no.clone()),
            county,
            status.at,
            &data,
        )
        .map_err(|e| encode(e.into()))?;
        out.push_traced(&s, &env, Some(&trace)).map_err(encode)?;
    }
    Ok(())
}

/// The clocks of `cases` still owed (running, paused, or passed and not yet met), soonest
/// first: what department messages list for their organ.
pub async fn owed_for_cases(
    conn: &mut PgConnection,
    cases: &[String],
) -> sqlx::Result<Vec<DeadlineRow>> {
    if cases.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as::<_, DeadlineRow>(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from deadlines
         where case_no = any($1)
           and (state in ('pending', 'paused') or (state = 'fired' and closed_at is null))
         order by due_at, id"
    )))
    .bind(cases)
    .fetch_all(&mut *conn)
    .await
}

/// What a department message about the clock `about` (`(kind, ref)`) says of `organ` on
/// `case_no`, from the owed clocks `owed` (any cases; [`owed_for_cases`]): the ones that bind
/// the organ, and the actions they ask for.
pub fn organ_notice(
    owed: &[DeadlineRow],
    case_no: &str,
    organ: &OrganRef,
    about: Option<(&str, &str)>,
) -> OrganNotice {
    let clocks = owed
        .iter()
        .filter(|r| r.case_no == case_no && binds(&r.kind, &r.state, r.closed_at.is_some()))
        .filter(|r| {
            let county = CountyCode::parse(&r.county).ok();
            match (county, r.department.as_deref()) {
                (Some(c), Some(d)) => organ_bound(&c, d, &r.kind).as_ref() == Some(organ),
                _ => false,
            }
        })
        .map(|r| DeptClock {
            deadline: r.kind.clone(),
            reference: r.reference.clone(),
            due: r.due_at,
            state: r.state.clone(),
            provisional: r.provisional,
        })
        .collect();
    for_organ(case_no, about, clocks)
}

/// What [`publish_status`] says about a stored clock.
pub fn status_of(row: &DeadlineRow, reason: &str, at: DateTime<Utc>) -> DeadlineStatus {
    DeadlineStatus {
        case_no: row.case_no.clone(),
        deadline: row.kind.clone(),
        reference: row.reference.clone(),
        department: row.department.clone(),
        trigger: row.trigger_at,
        due: row.due_at,
        state: row.state.clone(),
        provisional: row.provisional,
        reason: reason.to_owned(),
        at,
    }
}

/// [`publish_status`] for a clock that moved, paused or resumed (`deadline.scheduled`).
async fn announce(
    conn: &mut PgConnection,
    events: &mut Batch,
    id: Uuid,
    reason: &str,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    let row: Option<DeadlineRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from deadlines where id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = row {
        let status = status_of(&row, reason, at);
        queue_status(
            conn,
            events,
            kind::DEADLINE_SCHEDULED,
            &status,
            &row.county,
            None,
        )
        .await?;
    }
    Ok(())
}

/// Ends clocks that are open or passed-and-unclosed, as the fact `reason` at `at` means for
/// each ([`xinfang_domain::deadline_state`]): met, met late, withdrawn, or (passed, then made
/// moot) left `fired` with the closing recorded. Publishes `deadline.closed` for each.
async fn end(
    conn: &mut PgConnection,
    out_events: &mut Batch,
    rows: Vec<DeadlineRow>,
    at: DateTime<Utc>,
    reason: &str,
) -> sqlx::Result<Vec<DeadlineRow>> {
    let mut out = Vec::with_capacity(rows.len());
    for mut row in rows {
        let fired = row.state == state::FIRED;
        let to = final_state_of(&row.kind, reason, fired, at > row.due_at);
        sqlx::query(
            "update deadlines set state = $2, closed_at = $3, close_reason = $4,
                    indexed = indexed and state = 'fired', updated_at = now()
             where id = $1",
        )
        .bind(row.id)
        .bind(to)
        .bind(at)
        .bind(reason)
        .execute(&mut *conn)
        .await?;
        row.state = to.to_owned();
        row.closed_at = Some(at);
        row.close_reason = Some(reason.to_owned());
        let status = status_of(&row, reason, at);
        queue_status(
            conn,
            out_events,
            kind::DEADLINE_CLOSED,
            &status,
            &row.county,
            None,
        )
        .await?;
        out.push(row);
    }
    Ok(out)
}

/// Withdraws the open clock of `kind` (ref '') on a case, e.g. before starting it anew.
/// Returns what it withdrew.
pub async fn cancel_open(
    conn: &mut PgConnection,
    events: &mut Batch,
    case_no: &str,
    kind: &str,
    at: DateTime<Utc>,
    reason: &str,
) -> sqlx::Result<Vec<DeadlineRow>> {
    let rows: Vec<DeadlineRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from deadlines
         where case_no = $1 and kind = $2 and ref = '' and state in ('pending', 'paused')
         order by created_at, id for update"
    )))
    .bind(case_no)
    .bind(kind)
    .fetch_all(&mut *conn)
    .await?;
    end(conn, events, rows, at, reason).await
}

/// Closes the clocks of `kinds` on a case (all kinds when `kinds` is None), as the fact
/// `reason` means for each: open ones are met or withdrawn; passed ones not yet closed are met
/// late, or keep `fired` and record the closing. Returns what it closed.
pub async fn close(
    conn: &mut PgConnection,
    events: &mut Batch,
    case_no: &str,
    kinds: Option<&[String]>,
    at: DateTime<Utc>,
    reason: &str,
) -> sqlx::Result<Vec<DeadlineRow>> {
    let all = kinds.is_none();
    let kinds: Vec<String> = kinds.map(<[String]>::to_vec).unwrap_or_default();
    let rows: Vec<DeadlineRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from deadlines
         where case_no = $1 and ($3 or kind = any($2))
           and (state in ('pending', 'paused') or (state = 'fired' and closed_at is null))
         order by created_at, id for update"
    )))
    .bind(case_no)
    .bind(&kinds)
    .bind(all)
    .fetch_all(&mut *conn)
    .await?;
    end(conn, events, rows, at, reason).await
}

/// The latest clock of one of `kinds` on a case, locked for update.
pub async fn latest_for_update(
    conn: &mut PgConnection,
    case_no: &str,
    kinds: &[&str],
) -> sqlx::Result<Option<DeadlineRow>> {
    let kinds: Vec<String> = kinds.iter().map(|k| (*k).to_owned()).collect();
    sqlx::query_as::<_, DeadlineRow>(
        "select id, case_no, county, department, kind, ref, trigger_at, due_at, warn_at, state,
                warned_at, fired_at, closed_at, close_reason, paused_at, pauses, extension_days, generation,
                provisional
         from deadlines where case_no = $1 and kind = any($2) and ref = ''
         order by created_at desc, id desc limit 1 for update",
    )
    .bind(case_no)
    .bind(&kinds)
    .fetch_optional(&mut *conn)
    .await
}

/// Moves a clock: new kind, due and warning time; the warning may come again.
#[allow(clippy::too_many_arguments)]
pub async fn reschedule(
    conn: &mut PgConnection,
    events: &mut Batch,
    id: Uuid,
    kind: &str,
    due_at: DateTime<Utc>,
    warn_at: Option<DateTime<Utc>>,
    extension_days: Option<i32>,
    provisional: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "update deadlines set kind = $2, due_at = $3, warn_at = $4, extension_days = $5,
                provisional = $6,
                warned_at = null, state = 'pending', paused_at = null, generation = generation + 1,
                indexed = false, updated_at = now()
         where id = $1",
    )
    .bind(id)
    .bind(kind)
    .bind(due_at)
    .bind(warn_at)
    .bind(extension_days)
    .bind(provisional)
    .execute(&mut *conn)
    .await?;
    announce(conn, events, id, "rescheduled", Utc::now()).await
}

/// Open clocks marked provisional, oldest first, locked (others skip them): what a calendar
/// reload may settle.
pub async fn provisional_open(
    conn: &mut PgConnection,
    limit: i64,
    after: Option<Uuid>,
) -> sqlx::Result<Vec<DeadlineRow>> {
    sqlx::query_as::<_, DeadlineRow>(
        "select id, case_no, county, department, kind, ref, trigger_at, due_at, warn_at, state,
                warned_at, fired_at, closed_at, close_reason, paused_at, pauses, extension_days, generation,
                provisional
         from deadlines
         where provisional and state in ('pending', 'paused') and ($2::uuid is null or id > $2)
         order by id limit $1 for update skip locked",
    )
    .bind(limit)
    .bind(after)
    .fetch_all(&mut *conn)
    .await
}

/// Records that a clock's due time no longer depends on a missing calendar year (or still
/// does), without moving it.
pub async fn set_provisional(
    conn: &mut PgConnection,
    events: &mut Batch,
    id: Uuid,
    provisional: bool,
) -> sqlx::Result<()> {
    sqlx::query("update deadlines set provisional = $2, updated_at = now() where id = $1")
        .bind(id)
        .bind(provisional)
        .execute(&mut *conn)
        .await?;
    announce(conn, events, id, "rescheduled", Utc::now()).await
}

/// Stops a clock while a hearing runs (D10).
pub async fn pause(
    conn: &mut PgConnection,
    events: &mut Batch,
    id: Uuid,
    at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "update deadlines set state = 'paused', paused_at = $2, indexed = false, updated_at = now()
         where id = $1 and state = 'pending'",
    )
    .bind(id)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    announce(conn, events, id, "paused", at).await
}

/// Records a finished pause and restarts the clock at its recomputed due time.
#[allow(clippy::too_many_arguments)]
pub async fn resume(
    conn: &mut PgConnection,
    events: &mut Batch,
    id: Uuid,
    pauses: &serde_json::Value,
    paused_secs: f64,
    due_at: DateTime<Utc>,
    warn_at: Option<DateTime<Utc>>,
    provisional: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "update deadlines set state = 'pending', paused_at = null, pauses = $2, provisional = $6,
                paused_total = paused_total + make_interval(secs => $3),
                due_at = $4, warn_at = $5, warned_at = case when $5 is null or warned_at < $5 then null else warned_at end,
                generation = generation + 1, indexed = false, updated_at = now()
         where id = $1 and state = 'paused'",
    )
    .bind(id)
    .bind(pauses)
    .bind(paused_secs)
    .bind(due_at)
    .bind(warn_at)
    .bind(provisional)
    .execute(&mut *conn)
    .await?;
    announce(conn, events, id, "resumed", Utc::now()).await
}

/// Open clocks of `counties` (pending, paused, or fired and not yet met) due before `before`,
/// soonest first; one department's when `department` is given, plus (`own_organ`,
/// `<county>:<dept>`) that organ's clocks on other counties' matters.
pub async fn open_in_counties(
    pool: &sqlx::PgPool,
    counties: &[String],
    department: Option<&str>,
    own_organ: Option<&str>,
    before: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<DeadlineRow>> {
    sqlx::query_as::<_, DeadlineRow>(
        "select id, case_no, county, department, kind, ref, trigger_at, due_at, warn_at, state,
                warned_at, fired_at, closed_at, close_reason, paused_at, pauses, extension_days, generation,
                provisional
         from deadlines
         where closed_at is null and state <> 'cancelled' and due_at < $2
           and ((county = any($1) and ($3::text is null or department = $3))
                or ($5::text is not null and department = $5))
         order by due_at, id
         limit $4",
    )
    .bind(counties)
    .bind(before)
    .bind(department)
    .bind(limit)
    .bind(own_organ)
    .fetch_all(pool)
    .await
}

/// The clocks of a case, oldest first.
pub async fn for_case(pool: &sqlx::PgPool, case_no: &str) -> sqlx::Result<Vec<DeadlineRow>> {
    sqlx::query_as::<_, DeadlineRow>(
        "select id, case_no, county, department, kind, ref, trigger_at, due_at, warn_at, state,
                warned_at, fired_at, closed_at, close_reason, paused_at, pauses, extension_days, generation,
                provisional
         from deadlines where case_no = $1 order by created_at, id",
    )
    .bind(case_no)
    .fetch_all(pool)
    .await
}
