//! Supervision's own projection of case facts (`cases`), from which the KPIs are computed.
//! Written in the consumer's transaction with the deadline changes of the same event.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use xinfang_domain::case_source::ORDINARY;
use xinfang_domain::deadline_plan::{Family, organ_code};
use xinfang_domain::envelope::Envelope;
use xinfang_domain::events::{
    Accepted, Assigned, Diverted, Evaluated, Reclassified, Registered, Replied, kind,
};
use xinfang_domain::petition::{Art31Branch, PetitionType};

/// Makes sure the case has a row (facts may arrive before `registered` was seen).
async fn ensure(conn: &mut PgConnection, case_no: &str, county: &str) -> sqlx::Result<()> {
    sqlx::query("insert into cases (case_no, county) values ($1, $2) on conflict do nothing")
        .bind(case_no)
        .bind(county)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Runs the update on the case's row, creating the row first when the fact came before the
/// registration (no row yet): one statement when it is there, as it nearly always is.
async fn update_or_create<'q>(
    conn: &mut PgConnection,
    case_no: &str,
    county: &str,
    update: impl Fn() -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
) -> sqlx::Result<()> {
    if update().execute(&mut *conn).await?.rows_affected() == 0 {
        ensure(conn, case_no, county).await?;
        update().execute(&mut *conn).await?;
    }
    Ok(())
}

fn data<T: serde::de::DeserializeOwned>(env: &Envelope) -> Option<T> {
    // The planner has already rejected payloads that break the contract.
    env.data_as::<T>().ok()
}

/// Records what the KPIs need from one fact. Facts of no interest change nothing. Returns
/// whether the case has its row now (false: it may or may not).
pub async fn record(
    conn: &mut PgConnection,
    family: Family,
    env: &Envelope,
    case_no: &str,
) -> sqlx::Result<bool> {
    if family != Family::Case {
        return Ok(false);
    }
    let county = env.county.as_str();
    match env.kind.as_str() {
        kind::REGISTERED => {
            let Some(r) = data::<Registered>(env) else {
                return Ok(false);
            };
            // 越级: the city registered a matter of a county below it.
            let leapfrog =
                env.county.is_city() && r.county != env.county && r.county.city() == env.county;
            let words = r
                .matter_words
                .as_ref()
                .and_then(|w| serde_json::to_value(w).ok());
            sqlx::query(
                "insert into cases (case_no, county, department, petition_type, branch,
                                    received_at, registered_at, is_repeat, channel, source, listed,
                                    town, group_size, petitioner_key, registered_by, leapfrog,
                                    matter_words)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $2, $15, $16)
                 on conflict (case_no) do update set
                    department = coalesce(cases.department, excluded.department),
                    petition_type = coalesce(cases.petition_type, excluded.petition_type),
                    branch = coalesce(cases.branch, excluded.branch),
                    received_at = excluded.received_at, registered_at = excluded.registered_at,
                    is_repeat = excluded.is_repeat, channel = excluded.channel,
                    source = case when cases.listed then cases.source else excluded.source end,
                    listed = cases.listed or excluded.listed, town = excluded.town,
                    group_size = excluded.group_size, petitioner_key = excluded.petitioner_key,
                    registered_by = excluded.registered_by, leapfrog = excluded.leapfrog,
                    matter_words = excluded.matter_words, updated_at = now()",
            )
            .bind(case_no)
            .bind(county)
            .bind(&r.department)
            .bind(r.petition_type.as_str())
            .bind(r.branch.map(Art31Branch::as_str))
            .bind(r.received_at)
            .bind(r.registered_at)
            .bind(r.repeat.is_some())
            .bind(r.channel.as_str())
            .bind(r.source.as_deref().unwrap_or(ORDINARY))
            .bind(r.listed)
            .bind(&r.town)
            .bind(i32::try_from(r.group_size).unwrap_or(i32::MAX))
            .bind(&r.petitioner_key)
            .bind(leapfrog)
            .bind(words)
            .execute(&mut *conn)
            .await?;
        }
        kind::RECLASSIFIED => {
            let Some(r) = data::<Reclassified>(env) else {
                return Ok(false);
            };
            // Each of type and unit keeps the newest fact's value: two reclassifications, or a
            // reclassification and an assignment, may arrive in either order.
            update_or_create(conn, case_no, county, || {
                sqlx::query(
                    "update cases set
                        petition_type = case when classified_at > $5 then petition_type else $2 end,
                        branch = case when classified_at > $5 then branch else $3 end,
                        classified_at = greatest(classified_at, $5),
                        department = case when department_at > $5 then department else $4 end,
                        department_at = greatest(department_at, $5), updated_at = now()
                     where case_no = $1",
                )
                .bind(case_no)
                .bind(r.petition_type.as_str())
                .bind(r.branch.map(Art31Branch::as_str))
                .bind(&r.department)
                .bind(event_at(env))
            })
            .await?;
        }
        kind::ASSIGNED => {
            let Some(a) = data::<Assigned>(env) else {
                return Ok(false);
            };
            // A new assignment (or a transfer) restarts the unit's acceptance clock; an older
            // one delivered late changes neither the unit, the type nor the unit's answer.
            update_or_create(conn, case_no, county, || {
                sqlx::query(
                    "update cases set
                        department = case when department_at > $5 then department else $2 end,
                        department_at = greatest(department_at, $5),
                        petition_type = case when classified_at > $5 then petition_type else $3 end,
                        branch = case when classified_at > $5 then branch else coalesce($4, branch) end,
                        classified_at = greatest(classified_at, $5),
                        assigned_at = greatest(assigned_at, $5),
                        unit_answered_at = case when unit_answered_at < $5 then null else unit_answered_at end,
                        disposed_at = least(disposed_at, $5), updated_at = now()
                     where case_no = $1",
                )
                .bind(case_no)
                .bind(organ_code(&a.department, a.organ_county.as_deref()))
                .bind(a.petition_type.as_str())
                .bind(a.branch.map(Art31Branch::as_str))
                .bind(a.assigned_at)
            })
            .await?;
        }
        kind::DIVERTED => {
            ensure(conn, case_no, county).await?;
            let d = data::<Diverted>(env);
            let after = d.as_ref().is_some_and(|d| d.after_acceptance);
            disposed(conn, case_no, event_at(env)).await?;
            sqlx::query(
                "update cases set diverted_at = $2, diversion = $3,
                        diverted_after_acceptance = $4, updated_at = now()
                 where case_no = $1",
            )
            .bind(case_no)
            .bind(event_at(env))
            .bind(d.as_ref().and_then(|d| d.diversion).map(|v| v.as_str()))
            .bind(after)
            .execute(&mut *conn)
            .await?;
        }
        kind::NOT_ACCEPTED | kind::NOT_REACCEPTED => {
            ensure(conn, case_no, county).await?;
            disposed(conn, case_no, event_at(env)).await?;
        }
        kind::ACCEPTED => {
            let Some(a) = data::<Accepted>(env) else {
                return Ok(false);
            };
            update_or_create(conn, case_no, county, || {
                sqlx::query(
                    "update cases set
                        department = case when department_at > $3 then department else $2 end,
                        department_at = greatest(department_at, $3),
                        accepted_on = case when accepted_at > $3 then accepted_on else $4 end,
                        accepted_at = greatest(accepted_at, $3),
                        unit_answered_at = least(unit_answered_at, $3),
                        disposed_at = least(disposed_at, $3), updated_at = now()
                     where case_no = $1",
                )
                .bind(case_no)
                .bind(organ_code(&a.department, a.organ_county.as_deref()))
                .bind(a.at)
                .bind(a.accepted_on)
            })
            .await?;
        }
        kind::OBJECTED => {
            update_or_create(conn, case_no, county, || {
                sqlx::query(
                    "update cases set unit_answered_at = least(unit_answered_at, $2), updated_at = now()
                     where case_no = $1",
                )
                .bind(case_no)
                .bind(event_at(env))
            })
            .await?;
        }
        kind::REPLIED => {
            let Some(r) = data::<Replied>(env) else {
                return Ok(false);
            };
            update_or_create(conn, case_no, county, || {
                sqlx::query(
                    "update cases set replied_at = $2, served_on = $3, updated_at = now() where case_no = $1",
                )
                .bind(case_no)
                .bind(r.at)
                .bind(r.served_on)
            })
            .await?;
        }
        kind::EVALUATED => {
            let Some(e) = data::<Evaluated>(env) else {
                return Ok(false);
            };
            update_or_create(conn, case_no, county, || {
                sqlx::query(
                    "update cases set evaluated_at = $2, bureau_rating = $3, unit_rating = $4,
                            updated_at = now() where case_no = $1",
                )
                .bind(case_no)
                .bind(e.at)
                .bind(e.bureau.as_str())
                .bind(e.unit.as_str())
            })
            .await?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The event's own time: the payload's `at` when it has one, else the envelope's.
fn event_at(env: &Envelope) -> DateTime<Utc> {
    env.data
        .get("at")
        .and_then(|v| serde_json::from_value::<DateTime<Utc>>(v.clone()).ok())
        .unwrap_or(env.at)
}

async fn disposed(conn: &mut PgConnection, case_no: &str, at: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query(
        "update cases set disposed_at = least(disposed_at, $2), updated_at = now() where case_no = $1",
    )
    .bind(case_no)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The due columns of `cases` the KPIs read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueColumn {
    D1,
    D3,
    /// D5, or D6 once extended.
    Handling,
}

impl DueColumn {
    /// The column a clock of kind `code` feeds, if any.
    pub fn of(code: &str) -> Option<DueColumn> {
        match code {
            "D1" => Some(DueColumn::D1),
            "D3" => Some(DueColumn::D3),
            "D5" | "D6" => Some(DueColumn::Handling),
            _ => None,
        }
    }
}

/// Sets the due column the clock `code` feeds, at once (see also [`crate::writes::Writes`]).
pub async fn set_due(
    conn: &mut PgConnection,
    case_no: &str,
    code: &str,
    due: Option<DateTime<Utc>>,
) -> sqlx::Result<()> {
    let q = match DueColumn::of(code) {
        Some(DueColumn::D1) => "update cases set d1_due = $2 where case_no = $1",
        Some(DueColumn::D3) => "update cases set d3_due = $2 where case_no = $1",
        Some(DueColumn::Handling) => "update cases set handling_due = $2 where case_no = $1",
        None => return Ok(()),
    };
    sqlx::query(q)
        .bind(case_no)
        .bind(due)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The acceptance date and the accepting unit, once the case is accepted and not yet replied.
pub async fn acceptance(
    conn: &mut PgConnection,
    case_no: &str,
) -> sqlx::Result<Option<(chrono::NaiveDate, String)>> {
    let row: Option<(Option<chrono::NaiveDate>, Option<String>)> = sqlx::query_as(
        "select accepted_on, department from cases
         where case_no = $1 and replied_at is null and accepted_on is not null",
    )
    .bind(case_no)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.and_then(|(on, dept)| Some((on?, dept?))))
}

/// The case's type and Art 31 branch as last seen (for the handling deadline, Decisions 2).
pub async fn type_and_branch(
    conn: &mut PgConnection,
    case_no: &str,
) -> sqlx::Result<(Option<PetitionType>, Option<Art31Branch>)> {
    let row: Option<(Option<String>, Option<String>)> =
        sqlx::query_as("select petition_type, branch from cases where case_no = $1")
            .bind(case_no)
            .fetch_optional(&mut *conn)
            .await?;
    let (t, b) = row.unwrap_or_default();
    Ok((
        t.and_then(|t| PetitionType::parse(&t).ok()),
        b.and_then(|b| Art31Branch::parse(&b).ok()),
    ))
}
