//! `clock_marks`: what a fact did to a case's clocks of one kind, kept even when it found no
//! clock to act on. A clock started later by an older fact (events out of their order) is then
//! settled as the newer fact settled it, instead of running as if that fact never came.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// Every kind: a `CloseAll` (termination) ends whatever runs.
pub const EVERY_KIND: &str = "*";

/// What a fact did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Closed,
    Paused,
    Resumed,
    Extended,
}

impl Mark {
    pub fn as_str(self) -> &'static str {
        match self {
            Mark::Closed => "closed",
            Mark::Paused => "paused",
            Mark::Resumed => "resumed",
            Mark::Extended => "extended",
        }
    }
}

/// A remembered fact.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Remembered {
    pub at: DateTime<Utc>,
    pub reason: String,
    pub days: Option<i32>,
}

/// The earliest fact at or after `at` that did `mark` to a clock of one of `kinds` (or, for a
/// closing, to every kind).
pub async fn first_since(
    conn: &mut PgConnection,
    case_no: &str,
    kinds: &[&str],
    mark: Mark,
    at: DateTime<Utc>,
) -> sqlx::Result<Option<Remembered>> {
    sqlx::query_as(
        "select at, reason, days from clock_marks
         where case_no = $1 and (kind = any($2) or ($3 = 'closed' and kind = '*'))
           and mark = $3 and at >= $4
         order by at limit 1",
    )
    .bind(case_no)
    .bind(kinds)
    .bind(mark.as_str())
    .bind(at)
    .fetch_optional(&mut *conn)
    .await
}

/// What the case's clocks of one kind already know from facts at or after a start's fact.
#[derive(Debug, Default)]
pub struct Since {
    /// A clock of the kind was started by a newer fact, or by this one and has ended.
    pub superseded: bool,
    /// A clock of the kind runs (pending or paused): the start replaces it.
    pub open: bool,
    /// The first closing since (a closing of every kind counts).
    pub closed: Option<Remembered>,
    /// The first hearing started since (D10).
    pub paused: Option<Remembered>,
    /// The first extension since (D5).
    pub extended: Option<Remembered>,
}

/// [`Since`] for a start of `kinds` from the fact at `at`, in one statement (every start asks).
/// Only facts strictly after it count: routing stamps a reroute and the new unit's assignment
/// with one instant, and that closing is the old unit's.
pub async fn since(
    conn: &mut PgConnection,
    case_no: &str,
    kinds: &[&str],
    at: DateTime<Utc>,
) -> sqlx::Result<Since> {
    #[derive(sqlx::FromRow)]
    struct Row {
        superseded: bool,
        open: bool,
        mark: Option<String>,
        at: Option<DateTime<Utc>>,
        reason: Option<String>,
        days: Option<i32>,
    }
    let rows: Vec<Row> = sqlx::query_as(
            "select exists(select 1 from deadlines
                           where case_no = $1 and kind = any($2)
                             and (fact_at > $3 or (fact_at = $3 and state not in ('pending', 'paused'))))
                        as superseded,
                    exists(select 1 from deadlines
                           where case_no = $1 and kind = any($2) and ref = ''
                             and state in ('pending', 'paused')) as open,
                    m.mark, m.at, m.reason, m.days
             from (select 1) as one
             left join lateral (
                 select distinct on (mark) mark, at, reason, days from clock_marks
                 where case_no = $1 and (kind = any($2) or (kind = '*' and mark = 'closed'))
                   and mark in ('closed', 'paused', 'extended') and at > $3
                 order by mark, at
             ) as m on true",
        )
        .bind(case_no)
        .bind(kinds)
        .bind(at)
        .fetch_all(&mut *conn)
        .await?;
    let mut out = Since::default();
    for row in rows {
        out.superseded = row.superseded;
        out.open = row.open;
        let (Some(mark), Some(at)) = (row.mark, row.at) else {
            continue;
        };
        let seen = Some(Remembered {
            at,
            reason: row.reason.unwrap_or_default(),
            days: row.days,
        });
        match mark.as_str() {
            "closed" => out.closed = seen,
            "paused" => out.paused = seen,
            "extended" => out.extended = seen,
            _ => {}
        }
    }
    Ok(out)
}
