//! The review schema: case facts, appeals, hearings, the termination registry (终结库) and
//! evaluations. Every function works on the caller's connection or transaction.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use xinfang_domain::appeal::{
    AppealFacts, AppealRecord, EXTERNAL_PREFIX, ReviewOutcome, ServedReply, level_str, parse_level,
};
use xinfang_domain::county::CountyCode;
use xinfang_domain::deadline::CST;
use xinfang_domain::events::ReviewLevel;
use xinfang_domain::petition::{Art31Branch, OpinionOutcome, PetitionType};

/// What this deployment knows of one of its cases.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRow {
    pub case_no: String,
    pub home_county: CountyCode,
    pub matter_county: CountyCode,
    pub petitioner_key: String,
    pub query_code: String,
    pub petition_type: PetitionType,
    pub branch: Option<Art31Branch>,
    pub department: String,
    pub fingerprint: Vec<u8>,
    pub fingerprint_version: i32,
    pub reply_department: Option<String>,
    pub reply_outcome: Option<OpinionOutcome>,
    pub is_handling_opinion: bool,
    pub served_on: Option<NaiveDate>,
    pub final_without_appeal: Option<String>,
    pub terminated_at: Option<DateTime<Utc>>,
    /// The case's current opinion: 1 for the first, one more per remand (issue #20).
    pub round: i32,
    /// The last remand, its level and outcome (`revoke` / `change`).
    pub remanded_at: Option<DateTime<Utc>>,
    pub remanded_level: Option<String>,
    pub remanded_outcome: Option<String>,
}

/// A 复查 or 复核 as recorded here.
#[derive(Debug, Clone, PartialEq)]
pub struct AppealRow {
    pub case_no: String,
    pub level: ReviewLevel,
    pub case_county: CountyCode,
    pub organ: String,
    pub external: bool,
    pub requested_at: DateTime<Utc>,
    pub requested_by: String,
    pub grounds: Option<String>,
    pub outcome: Option<String>,
    pub decision_text: Option<String>,
    pub decision_served_on: Option<NaiveDate>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The postmark date of a request sent by post, as the clerk keyed it in.
    pub posted_on: Option<NaiveDate>,
    /// The round of the opinion it is against.
    pub round: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HearingRow {
    pub round: i32,
    pub level: ReviewLevel,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

fn county(row: &PgRow, col: &str) -> Result<CountyCode, sqlx::Error> {
    let raw: String = row.try_get(col)?;
    CountyCode::parse(&raw).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

fn level(row: &PgRow) -> Result<ReviewLevel, sqlx::Error> {
    let raw: String = row.try_get("level")?;
    parse_level(&raw).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

const CASE_COLUMNS: &str = "case_no, home_county, matter_county, petitioner_key, query_code,
    petition_type, branch, department, fingerprint, fingerprint_version, reply_department,
    reply_outcome, is_handling_opinion, served_on, final_without_appeal, terminated_at, round,
    remanded_at, remanded_level, remanded_outcome";

fn case_row(row: &PgRow) -> Result<CaseRow, sqlx::Error> {
    let decode = |e: xinfang_domain::validation::ValidationError| sqlx::Error::Decode(Box::new(e));
    let petition_type: String = row.try_get("petition_type")?;
    let branch: Option<String> = row.try_get("branch")?;
    let outcome: Option<String> = row.try_get("reply_outcome")?;
    Ok(CaseRow {
        case_no: row.try_get("case_no")?,
        home_county: county(row, "home_county")?,
        matter_county: county(row, "matter_county")?,
        petitioner_key: row.try_get("petitioner_key")?,
        query_code: row.try_get("query_code")?,
        petition_type: PetitionType::parse(&petition_type).map_err(decode)?,
        branch: branch
            .map(|b| Art31Branch::parse(&b))
            .transpose()
            .map_err(decode)?,
        department: row.try_get("department")?,
        fingerprint: row.try_get("fingerprint")?,
        fingerprint_version: row.try_get("fingerprint_version")?,
        reply_department: row.try_get("reply_department")?,
        reply_outcome: outcome
            .map(|o| OpinionOutcome::parse(&o))
            .transpose()
            .map_err(decode)?,
        is_handling_opinion: row.try_get("is_handling_opinion")?,
        served_on: row.try_get("served_on")?,
        final_without_appeal: row.try_get("final_without_appeal")?,
        terminated_at: row.try_get("terminated_at")?,
        round: row.try_get("round")?,
        remanded_at: row.try_get("remanded_at")?,
        remanded_level: row.try_get("remanded_level")?,
        remanded_outcome: row.try_get("remanded_outcome")?,
    })
}

/// A case by number, locked for the rest of the transaction when `lock`.
pub async fn case_by_no(
    conn: &mut PgConnection,
    case_no: &str,
    lock: bool,
) -> Result<Option<CaseRow>, sqlx::Error> {
    let row = if lock {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "select {CASE_COLUMNS} from cases where case_no = $1 for update"
        )))
        .bind(case_no)
        .fetch_optional(&mut *conn)
        .await?
    } else {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "select {CASE_COLUMNS} from cases where case_no = $1"
        )))
        .bind(case_no)
        .fetch_optional(&mut *conn)
        .await?
    };
    row.as_ref().map(case_row).transpose()
}

/// The case a query code names, locked. `Err(None)`-like ambiguity is reported as `None`.
pub async fn case_by_query_code(
    conn: &mut PgConnection,
    query_code: &str,
) -> Result<Option<CaseRow>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "select {CASE_COLUMNS} from cases where query_code = $1 limit 2 for update"
    )))
    .bind(query_code)
    .fetch_all(&mut *conn)
    .await?;
    match rows.as_slice() {
        [one] => case_row(one).map(Some),
        _ => Ok(None),
    }
}

/// Cases whose appeal window may have passed unused by `today` (China date): no 复查 and
/// served before `d7_cutoff`, or a 复查 decided before `d9_cutoff` and no 复核. Locked,
/// skipping rows another instance holds.
pub async fn lapse_candidates(
    conn: &mut PgConnection,
    d7_cutoff: NaiveDate,
    d9_cutoff: NaiveDate,
    types: &[String],
    branches: &[String],
    limit: i64,
) -> Result<Vec<CaseRow>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "select {CASE_COLUMNS} from cases c
         where terminated_at is null and final_without_appeal is null and served_on is not null
           and (is_handling_opinion or petition_type = any($3) or branch = any($4))
           and not exists (select 1 from appeals a where a.case_no = c.case_no
                             and a.round = c.round and a.level = 'rereview')
           and (
             (served_on < $1 and not exists
                (select 1 from appeals a where a.case_no = c.case_no and a.round = c.round
                                          and a.level = 'review'))
             or exists (select 1 from appeals a where a.case_no = c.case_no and a.round = c.round
                          and a.level = 'review' and a.decision_served_on < $2)
           )
         order by served_on
         limit $5
         for update skip locked"
    )))
    .bind(d7_cutoff)
    .bind(d9_cutoff)
    .bind(types)
    .bind(branches)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(case_row).collect()
}

fn appeal_row(row: &PgRow) -> Result<AppealRow, sqlx::Error> {
    Ok(AppealRow {
        case_no: row.try_get("case_no")?,
        level: level(row)?,
        case_county: county(row, "case_county")?,
        organ: row.try_get("organ")?,
        external: row.try_get("external")?,
        requested_at: row.try_get("requested_at")?,
        requested_by: row.try_get("requested_by")?,
        grounds: row.try_get("grounds")?,
        outcome: row.try_get("outcome")?,
        decision_text: row.try_get("decision_text")?,
        decision_served_on: row.try_get("decision_served_on")?,
        decided_by: row.try_get("decided_by")?,
        decided_at: row.try_get("decided_at")?,
        posted_on: row.try_get("posted_on")?,
        round: row.try_get("round")?,
    })
}

/// Records the postmark date of a request sent by post.
pub async fn set_posted_on(
    conn: &mut PgConnection,
    case_no: &str,
    round: i32,
    level: ReviewLevel,
    posted_on: NaiveDate,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update appeals set posted_on = $3, updated_at = now()
         where case_no = $1 and level = $2 and round = $4",
    )
    .bind(case_no)
    .bind(level_str(level))
    .bind(posted_on)
    .bind(round)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Every appeal of a case, by round and 复查 first; locked when `lock`. The rules look at the
/// current round's ([`current_round`], [`appeal_facts`]); the others are the history.
pub async fn appeals(
    conn: &mut PgConnection,
    case_no: &str,
    lock: bool,
) -> Result<Vec<AppealRow>, sqlx::Error> {
    let sql = if lock {
        "select * from appeals where case_no = $1
         order by round, level = 'rereview', requested_at for update"
    } else {
        "select * from appeals where case_no = $1 order by round, level = 'rereview', requested_at"
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(case_no)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(appeal_row).collect()
}

pub async fn hearings(
    conn: &mut PgConnection,
    case_no: &str,
) -> Result<Vec<HearingRow>, sqlx::Error> {
    let rows = sqlx::query(
        "select round, level, started_at, finished_at from hearings where case_no = $1
         order by started_at",
    )
    .bind(case_no)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(HearingRow {
                round: r.try_get("round")?,
                level: level(r)?,
                started_at: r.try_get("started_at")?,
                finished_at: r.try_get("finished_at")?,
            })
        })
        .collect()
}

/// The round the rules look at: the case's own when this deployment holds it, else the latest
/// round of the appeals addressed here.
pub fn current_round(case: Option<&CaseRow>, appeals: &[AppealRow]) -> i32 {
    case.map(|c| c.round)
        .or_else(|| appeals.iter().map(|a| a.round).max())
        .unwrap_or(1)
}

/// The current round's appeal of `level`.
pub fn current_appeal<'a>(
    case: Option<&CaseRow>,
    appeals: &'a [AppealRow],
    level: ReviewLevel,
) -> Option<&'a AppealRow> {
    let round = current_round(case, appeals);
    appeals
        .iter()
        .find(|a| a.round == round && a.level == level)
}

/// What the rules need: the case's facts (when this deployment holds the case) and the appeals
/// of its current round.
pub fn appeal_facts(
    case: Option<&CaseRow>,
    appeals: &[AppealRow],
    hearings: &[HearingRow],
) -> AppealFacts {
    let round = current_round(case, appeals);
    let record = |level: ReviewLevel| {
        current_appeal(case, appeals, level).map(|a| AppealRecord {
            requested_at: a.requested_at.with_timezone(&CST),
            decision_served_on: a.decision_served_on,
            outcome: a
                .outcome
                .as_deref()
                .and_then(|o| ReviewOutcome::parse(o).ok()),
            hearings: hearings
                .iter()
                .filter(|h| h.round == round && h.level == level)
                .map(|h| {
                    (
                        h.started_at.with_timezone(&CST),
                        h.finished_at.map(|f| f.with_timezone(&CST)),
                    )
                })
                .collect(),
        })
    };
    AppealFacts {
        petition_type: case.map_or(PetitionType::Grievance, |c| c.petition_type),
        branch: case.and_then(|c| c.branch),
        reply: case.and_then(|c| {
            c.served_on.map(|served_on| ServedReply {
                outcome: c.reply_outcome,
                is_handling_opinion: c.is_handling_opinion,
                served_on,
            })
        }),
        review: record(ReviewLevel::Review),
        rereview: record(ReviewLevel::Rereview),
        final_without_appeal: case.is_some_and(|c| c.final_without_appeal.is_some()),
        terminated: case.is_some_and(|c| c.terminated_at.is_some()),
        awaiting_new_opinion: case.and_then(awaiting_new_opinion),
    }
}

/// Sent back and its new opinion not served yet: the remanding level and outcome.
fn awaiting_new_opinion(c: &CaseRow) -> Option<(ReviewLevel, ReviewOutcome)> {
    if c.remanded_at.is_none() || c.served_on.is_some() {
        return None;
    }
    let level = parse_level(c.remanded_level.as_deref()?).ok()?;
    let outcome = ReviewOutcome::parse(c.remanded_outcome.as_deref()?).ok()?;
    Some((level, outcome))
}

/// Sends the case back for a new opinion (issue #20) when it is still in `round`: the next
/// round starts, the revoked opinion's reply and its windows go (`served_on` cleared, so no
/// appeal and no lapse until the new opinion is served). `false` when it was done already.
pub async fn remand(
    conn: &mut PgConnection,
    case_no: &str,
    round: i32,
    level: ReviewLevel,
    outcome: ReviewOutcome,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "update cases set round = round + 1, remanded_at = $3, remanded_level = $4,
            remanded_outcome = $5, reply_department = null, reply_outcome = null,
            is_handling_opinion = false, served_on = null, replied_at = null,
            final_without_appeal = null, final_at = null, updated_at = now()
         where case_no = $1 and round = $2 and terminated_at is null",
    )
    .bind(case_no)
    .bind(round)
    .bind(at)
    .bind(level_str(level))
    .bind(outcome.as_str())
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// A new appeal row; `false` when one of that case and level exists already.
#[allow(clippy::too_many_arguments)]
pub async fn insert_appeal(
    conn: &mut PgConnection,
    case_no: &str,
    round: i32,
    level: ReviewLevel,
    case_county: &CountyCode,
    organ: &str,
    requested_at: DateTime<Utc>,
    requested_by: &str,
    grounds: Option<&str>,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "insert into appeals (case_no, level, case_county, organ, external, requested_at,
            requested_by, grounds, round)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict (case_no, round, level) do nothing",
    )
    .bind(case_no)
    .bind(level_str(level))
    .bind(case_county.as_str())
    .bind(organ)
    .bind(organ.starts_with(EXTERNAL_PREFIX))
    .bind(requested_at)
    .bind(requested_by)
    .bind(grounds)
    .bind(round)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// Records a decision unless one is recorded already; `false` then.
#[allow(clippy::too_many_arguments)]
pub async fn record_decision(
    conn: &mut PgConnection,
    case_no: &str,
    round: i32,
    level: ReviewLevel,
    outcome: Option<&str>,
    text: Option<&str>,
    served_on: Option<NaiveDate>,
    decided_by: Option<&str>,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "update appeals set outcome = $3, decision_text = coalesce($4, decision_text),
            decision_served_on = $5, decided_by = coalesce($6, decided_by), decided_at = $7,
            updated_at = now()
         where case_no = $1 and level = $2 and round = $8 and decided_at is null",
    )
    .bind(case_no)
    .bind(level_str(level))
    .bind(outcome)
    .bind(text)
    .bind(served_on)
    .bind(decided_by)
    .bind(at)
    .bind(round)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// A hearing starts; `by` is who acted for the organ (`None` when learnt from an event).
pub async fn start_hearing(
    conn: &mut PgConnection,
    case_no: &str,
    round: i32,
    level: ReviewLevel,
    at: DateTime<Utc>,
    by: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into hearings (case_no, level, started_at, round, started_by)
         values ($1, $2, $3, $4, $5) on conflict do nothing",
    )
    .bind(case_no)
    .bind(level_str(level))
    .bind(at)
    .bind(round)
    .bind(by)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Ends the open hearing (if any) at `at`; `by` as for [`start_hearing`].
pub async fn finish_hearing(
    conn: &mut PgConnection,
    case_no: &str,
    round: i32,
    level: ReviewLevel,
    at: DateTime<Utc>,
    by: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update hearings set finished_at = greatest($3, started_at), finished_by = $5
         where case_no = $1 and level = $2 and round = $4 and finished_at is null",
    )
    .bind(case_no)
    .bind(level_str(level))
    .bind(at)
    .bind(round)
    .bind(by)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One entry of the termination registry.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Termination {
    pub case_no: String,
    pub home_county: String,
    pub petitioner_key: String,
    /// Hex of the MinHash fingerprint of the petition's facts.
    pub fingerprint: String,
    pub fingerprint_version: i32,
    pub rereview_organ: String,
    pub outcome: Option<String>,
    pub decision_served_on: Option<NaiveDate>,
    pub terminated_at: DateTime<Utc>,
    pub event_id: uuid::Uuid,
    /// `local` (terminated here) or `province` (imported from the province's list,
    /// [`crate::registry`]).
    pub source: String,
}

fn termination_row(r: &PgRow) -> Result<Termination, sqlx::Error> {
    Ok(Termination {
        case_no: r.try_get("case_no")?,
        home_county: r.try_get("home_county")?,
        petitioner_key: r.try_get("petitioner_key")?,
        fingerprint: hex::encode(r.try_get::<Vec<u8>, _>("fingerprint")?),
        fingerprint_version: r.try_get("fingerprint_version")?,
        rereview_organ: r.try_get("rereview_organ")?,
        outcome: r.try_get("outcome")?,
        decision_served_on: r.try_get("decision_served_on")?,
        terminated_at: r.try_get("terminated_at")?,
        event_id: r.try_get("event_id")?,
        source: r.try_get("source")?,
    })
}

/// Enters a case in the 终结库; `false` when it is there already.
pub async fn insert_termination(
    conn: &mut PgConnection,
    case: &CaseRow,
    rereview: &AppealRow,
    at: DateTime<Utc>,
    event_id: uuid::Uuid,
) -> Result<bool, sqlx::Error> {
    let fresh = sqlx::query(
        "insert into terminations (case_no, home_county, petitioner_key, fingerprint,
            fingerprint_version, rereview_organ, outcome, decision_served_on, terminated_at,
            event_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) on conflict (case_no) do nothing",
    )
    .bind(&case.case_no)
    .bind(case.home_county.as_str())
    .bind(&case.petitioner_key)
    .bind(&case.fingerprint)
    .bind(case.fingerprint_version)
    .bind(&rereview.organ)
    .bind(&rereview.outcome)
    .bind(rereview.decision_served_on)
    .bind(at)
    .bind(event_id)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if fresh {
        sqlx::query("update cases set terminated_at = $2, updated_at = now() where case_no = $1")
            .bind(&case.case_no)
            .bind(at)
            .execute(&mut *conn)
            .await?;
    }
    Ok(fresh)
}

pub async fn terminations_of(
    conn: &mut PgConnection,
    petitioner_key: &str,
) -> Result<Vec<Termination>, sqlx::Error> {
    let rows = sqlx::query(
        "select * from terminations where petitioner_key = $1 order by terminated_at, case_no",
    )
    .bind(petitioner_key)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(termination_row).collect()
}

pub async fn termination(
    conn: &mut PgConnection,
    case_no: &str,
) -> Result<Option<Termination>, sqlx::Error> {
    let row = sqlx::query("select * from terminations where case_no = $1")
        .bind(case_no)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(termination_row).transpose()
}

/// The stored evaluation of a case, as JSON for the case view.
pub async fn evaluation(
    conn: &mut PgConnection,
    case_no: &str,
) -> Result<Option<serde_json::Value>, sqlx::Error> {
    let row = sqlx::query(
        "select bureau, unit, department, reason, evaluated_at from evaluations where case_no = $1",
    )
    .bind(case_no)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(serde_json::json!({
            "bureau": r.try_get::<String, _>("bureau")?,
            "unit": r.try_get::<String, _>("unit")?,
            "department": r.try_get::<String, _>("department")?,
            "reason": r.try_get::<Option<String>, _>("reason")?,
            "evaluated_at": r.try_get::<DateTime<Utc>, _>("evaluated_at")?,
        }))
    })
    .transpose()
}

pub async fn evaluated(conn: &mut PgConnection, case_no: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select exists(select 1 from evaluations where case_no = $1)")
        .bind(case_no)
        .fetch_one(&mut *conn)
        .await
}
