//! What handling a batch of facts writes once, at the batch's end: new clocks, their status
//! events, the projection's due columns, remembered marks and the indexer's wake-up. These
//! were one or two statements per clock each, on the one connection every fact of every
//! county waits behind.
//!
//! A fact that reads a case's clocks or marks of some kind first has what the batch holds for
//! that case and kind written ([`Writes::before`]), so it reads what the facts before it did,
//! as it would handled on its own. A batch also learns up front which of its cases' kinds have
//! clocks or marks at all ([`Writes::learn_present`]): a start of a kind that has none (and
//! that no fact of the batch wrote) has nothing to read, and skips the reading.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use xinfang_platform::outbox::Batch;

use crate::marks::{EVERY_KIND, Mark};
use crate::projection::DueColumn;
use crate::store::{self, NewDeadline};

/// Kinds of clock or mark, by case; kind `*` for a closing of every kind.
#[derive(Default)]
struct Kinds(HashMap<String, HashSet<String>>);

impl Kinds {
    fn insert(&mut self, case_no: &str, kind: &str) {
        if let Some(kinds) = self.0.get_mut(case_no) {
            kinds.insert(kind.to_owned());
        } else {
            self.0
                .insert(case_no.to_owned(), HashSet::from([kind.to_owned()]));
        }
    }

    /// Whether the case has one of `kinds` (`None`: any), a closing of every kind counting.
    fn any(&self, case_no: &str, kinds: Option<&[&str]>) -> bool {
        self.0.get(case_no).is_some_and(|has| match kinds {
            None => !has.is_empty(),
            Some(kinds) => has.contains(EVERY_KIND) || kinds.iter().any(|k| has.contains(*k)),
        })
    }
}

/// The due columns of supervision's `cases` a clock feeds.
#[derive(Debug, Default, Clone, Copy)]
struct Dues {
    d1: Option<Option<DateTime<Utc>>>,
    d3: Option<Option<DateTime<Utc>>>,
    handling: Option<Option<DateTime<Utc>>>,
}

struct MarkRow {
    case_no: String,
    kind: String,
    mark: Mark,
    at: DateTime<Utc>,
    reason: String,
    days: Option<i32>,
}

/// Writes held until the batch ends (or until a fact reads what they touch).
#[derive(Default)]
pub struct Writes {
    deadlines: Vec<NewDeadline>,
    /// Each new clock's trace context: its own fact's, not the batch's.
    traces: Vec<serde_json::Value>,
    marks: Vec<MarkRow>,
    dues: BTreeMap<String, Dues>,
    /// Status events, in the order the facts produced them.
    pub outbox: Batch,
    /// Kinds with a clock or a mark not yet written.
    held: Kinds,
    /// Kinds with a clock or a mark when the batch began (its cases locked), or written by it
    /// since; `None` when not learnt (every read goes to the database).
    present: Option<Kinds>,
    /// Cases with a projection row when the batch began or made by it since; `None` when not
    /// learnt. A due set while a case has none changes nothing, as an update of no row would.
    rows: Option<HashSet<String>>,
    wake: bool,
}

impl Writes {
    /// Learns which kinds of `cases` have clocks or marks. Call with the cases locked (no other
    /// instance's fact can add any until the transaction ends).
    pub async fn learn_present(
        &mut self,
        conn: &mut PgConnection,
        cases: &[String],
    ) -> sqlx::Result<()> {
        // Kind '' (no clock's) stands for the projection's row.
        let rows: Vec<(String, String)> = sqlx::query_as(
            "select case_no, kind from deadlines where case_no = any($1)
             union
             select case_no, kind from clock_marks where case_no = any($1)
             union
             select case_no, '' from cases where case_no = any($1)",
        )
        .bind(cases)
        .fetch_all(&mut *conn)
        .await?;
        let mut with_row = HashSet::new();
        let mut present = Kinds::default();
        for (case_no, kind) in rows {
            if kind.is_empty() {
                with_row.insert(case_no);
            } else {
                present.insert(&case_no, &kind);
            }
        }
        self.rows = Some(with_row);
        self.present = Some(present);
        Ok(())
    }

    /// Whether the case certainly has no clock and no mark of any of `kinds` (nor a closing of
    /// every kind): learnt up front and not written since.
    pub fn none_of(&self, case_no: &str, kinds: &[&str]) -> bool {
        self.present
            .as_ref()
            .is_some_and(|present| !present.any(case_no, Some(kinds)))
    }

    /// The case has its projection row now.
    pub fn has_row(&mut self, case_no: &str) {
        if let Some(rows) = &mut self.rows {
            rows.insert(case_no.to_owned());
        }
    }

    /// A clock of the case now has `kind` (a new one, or one whose kind changed, D5 → D6).
    pub fn touch(&mut self, case_no: &str, kind: &str) {
        if let Some(present) = &mut self.present {
            present.insert(case_no, kind);
        }
    }

    /// A clock to create, started by the current span's fact.
    pub fn start(&mut self, row: NewDeadline) {
        self.touch(&row.case_no, &row.kind);
        self.held.insert(&row.case_no, &row.kind);
        self.traces.push(store::current_trace());
        self.deadlines.push(row);
    }

    /// Remembers that the fact at `at` did `mark` to the case's clocks of each of `kinds`
    /// (`clock_marks`; see [`crate::marks`]).
    pub fn remember(
        &mut self,
        case_no: &str,
        kinds: &[&str],
        mark: Mark,
        at: DateTime<Utc>,
        reason: &str,
        days: Option<i32>,
    ) {
        for k in kinds {
            self.touch(case_no, k);
            self.held.insert(case_no, k);
            self.marks.push(MarkRow {
                case_no: case_no.to_owned(),
                kind: (*k).to_owned(),
                mark,
                at,
                reason: reason.to_owned(),
                days,
            });
        }
    }

    /// [`crate::projection::set_due`], held; the last value set for a case wins.
    pub fn set_due(&mut self, case_no: &str, code: &str, due: Option<DateTime<Utc>>) {
        if self
            .rows
            .as_ref()
            .is_some_and(|rows| !rows.contains(case_no))
        {
            return;
        }
        let Some(column) = DueColumn::of(code) else {
            return;
        };
        let dues = self.dues.entry(case_no.to_owned()).or_default();
        match column {
            DueColumn::D1 => dues.d1 = Some(due),
            DueColumn::D3 => dues.d3 = Some(due),
            DueColumn::Handling => dues.handling = Some(due),
        }
    }

    /// The indexer is woken once the transaction commits.
    pub fn wake(&mut self) {
        self.wake = true;
    }

    /// Before reading the case's clocks or marks of `kinds` (`None`: of every kind): writes
    /// what is held, if any of it is theirs.
    pub async fn before(
        &mut self,
        conn: &mut PgConnection,
        case_no: &str,
        kinds: Option<&[&str]>,
    ) -> sqlx::Result<()> {
        if self.held.any(case_no, kinds) {
            self.write_held(conn).await?;
        }
        Ok(())
    }

    /// Writes the clocks and marks held (what later reads of the batch may need).
    async fn write_held(&mut self, conn: &mut PgConnection) -> sqlx::Result<()> {
        let deadlines = std::mem::take(&mut self.deadlines);
        let traces = std::mem::take(&mut self.traces);
        store::insert_traced(conn, &deadlines, &traces, false).await?;
        let marks = std::mem::take(&mut self.marks);
        write_marks(conn, &marks).await?;
        self.held = Kinds::default();
        Ok(())
    }

    /// Writes everything held, in the caller's transaction.
    pub async fn write(mut self, conn: &mut PgConnection) -> anyhow::Result<()> {
        self.write_held(conn).await?;
        write_dues(conn, &self.dues).await?;
        std::mem::take(&mut self.outbox).write(conn).await?;
        if self.wake {
            store::wake_indexer(conn).await?;
        }
        Ok(())
    }
}

async fn write_marks(conn: &mut PgConnection, marks: &[MarkRow]) -> sqlx::Result<()> {
    if marks.is_empty() {
        return Ok(());
    }
    let case_no: Vec<&str> = marks.iter().map(|m| m.case_no.as_str()).collect();
    let kind: Vec<&str> = marks.iter().map(|m| m.kind.as_str()).collect();
    let mark: Vec<&str> = marks.iter().map(|m| m.mark.as_str()).collect();
    let at: Vec<DateTime<Utc>> = marks.iter().map(|m| m.at).collect();
    let reason: Vec<&str> = marks.iter().map(|m| m.reason.as_str()).collect();
    let days: Vec<Option<i32>> = marks.iter().map(|m| m.days).collect();
    sqlx::query(
        "insert into clock_marks (case_no, kind, mark, at, reason, days)
         select * from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[],
                              $5::text[], $6::int[])
         on conflict do nothing",
    )
    .bind(&case_no)
    .bind(&kind)
    .bind(&mark)
    .bind(&at)
    .bind(&reason)
    .bind(&days)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One update for every case's due columns, in case order (the batch's cases are locked in
/// that order too).
async fn write_dues(conn: &mut PgConnection, dues: &BTreeMap<String, Dues>) -> sqlx::Result<()> {
    if dues.is_empty() {
        return Ok(());
    }
    let n = dues.len();
    let mut case_no = Vec::with_capacity(n);
    let (mut set_d1, mut d1) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut set_d3, mut d3) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut set_h, mut h) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for (case, d) in dues {
        case_no.push(case.as_str());
        set_d1.push(d.d1.is_some());
        d1.push(d.d1.flatten());
        set_d3.push(d.d3.is_some());
        d3.push(d.d3.flatten());
        set_h.push(d.handling.is_some());
        h.push(d.handling.flatten());
    }
    sqlx::query(
        "update cases c set
            d1_due = case when u.set_d1 then u.d1 else c.d1_due end,
            d3_due = case when u.set_d3 then u.d3 else c.d3_due end,
            handling_due = case when u.set_h then u.h else c.handling_due end
         from unnest($1::text[], $2::bool[], $3::timestamptz[], $4::bool[], $5::timestamptz[],
                     $6::bool[], $7::timestamptz[]) as u(case_no, set_d1, d1, set_d3, d3, set_h, h)
         where c.case_no = u.case_no",
    )
    .bind(&case_no)
    .bind(&set_d1)
    .bind(&d1)
    .bind(&set_d3)
    .bind(&d3)
    .bind(&set_h)
    .bind(&h)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
