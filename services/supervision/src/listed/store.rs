//! Listed matters in Postgres: listing (at registration from a listed source, or later by
//! hand), milestones, weekly progress entries, and what the list pages and KPIs read.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;
use xinfang_domain::deadline::CST;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::events::{Registered, kind};
use xinfang_domain::subject;
use xinfang_platform::outbox::Batch;

use crate::handlers::Rules;
use crate::ids::{deterministic_v7, firing_event_id};

/// The ISO week (China time) an instant falls in: `2026-W49`.
pub fn iso_week(at: DateTime<Utc>) -> String {
    let w = at.with_timezone(&CST).iso_week();
    format!("{}-W{:02}", w.year(), w.week())
}

/// A short title from the redacted text (never the names it masks): its first sentence, cut.
pub fn title_from(text: &str) -> String {
    let first = text
        .split(['。', '！', '？', '\n', '!', '?'])
        .map(str::trim)
        .find(|s| !s.is_empty())
        .unwrap_or("");
    let mut t: String = first.chars().take(40).collect();
    if first.chars().count() > 40 {
        t.push('…');
    }
    t
}

/// A milestone to create.
#[derive(Debug, Clone)]
pub struct NewMilestone {
    pub name: String,
    pub due_at: DateTime<Utc>,
}

/// A matter to list.
#[derive(Debug, Clone)]
pub struct NewListing {
    pub case_no: String,
    pub county: String,
    pub source: String,
    pub title: String,
    pub at: DateTime<Utc>,
    pub by: String,
    pub milestones: Vec<NewMilestone>,
}

/// The configured default milestones from `at`: each due at the end of its day, China time.
pub fn default_milestones(rules: &Rules, at: DateTime<Utc>) -> Vec<NewMilestone> {
    let listed_on = at.with_timezone(&CST).date_naive();
    rules
        .settings
        .listed
        .milestones
        .iter()
        .map(|m| NewMilestone {
            name: m.name.clone(),
            due_at: end_of_day(listed_on + TimeDelta::days(i64::from(m.days))),
        })
        .collect()
}

/// 23:59:59 of `day` in China time.
fn end_of_day(day: NaiveDate) -> DateTime<Utc> {
    use chrono::TimeZone;
    day.and_hms_opt(23, 59, 59)
        .and_then(|t| CST.from_local_datetime(&t).single())
        .map_or_else(
            || day.and_time(chrono::NaiveTime::MIN).and_utc(),
            |t| t.with_timezone(&Utc),
        )
}

/// Lists a matter. Returns false when it was listed already (nothing changes then). Marks the
/// projection, writes the milestones and, unless `quiet`, publishes `case.listed`.
pub async fn list(
    conn: &mut PgConnection,
    l: &NewListing,
    events: Option<&mut Batch>,
) -> anyhow::Result<bool> {
    let inserted = sqlx::query(
        "insert into listed_matters (case_no, county, source, title, listed_at, listed_by)
         values ($1, $2, $3, $4, $5, $6) on conflict (case_no) do nothing",
    )
    .bind(&l.case_no)
    .bind(&l.county)
    .bind(&l.source)
    .bind(&l.title)
    .bind(l.at)
    .bind(&l.by)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if !inserted {
        return Ok(false);
    }
    sqlx::query(
        "insert into cases (case_no, county, source, listed) values ($1, $2, $3, true)
         on conflict (case_no) do update set source = $3, listed = true, updated_at = now()",
    )
    .bind(&l.case_no)
    .bind(&l.county)
    .bind(&l.source)
    .execute(&mut *conn)
    .await?;
    for (i, m) in l.milestones.iter().enumerate() {
        add_milestone(conn, &l.case_no, i as i32, m, l.at).await?;
    }
    if let Some(events) = events {
        let county = xinfang_domain::county::CountyCode::parse(&l.county)?;
        let id = deterministic_v7(l.at.timestamp_millis(), &[l.case_no.as_bytes(), b"listed"]);
        let env = Envelope::with_id(
            firing_event_id(id, kind::LISTED, l.at.timestamp_millis(), "case"),
            kind::LISTED,
            Some(l.case_no.clone()),
            county.clone(),
            l.at,
            serde_json::json!({
                "case_no": l.case_no,
                "source": l.source,
                "title": l.title,
                "by": l.by,
                "at": l.at,
            }),
        )?;
        events.push(&subject::case_event(&county, kind::LISTED)?, &env)?;
    }
    Ok(true)
}

/// A milestone row; its id is derived from the case, position and name, so a redelivered
/// registration writes nothing twice.
pub async fn add_milestone(
    conn: &mut PgConnection,
    case_no: &str,
    position: i32,
    m: &NewMilestone,
    at: DateTime<Utc>,
) -> sqlx::Result<Uuid> {
    let id = deterministic_v7(
        at.timestamp_millis(),
        &[
            case_no.as_bytes(),
            b"milestone",
            &position.to_be_bytes(),
            m.name.as_bytes(),
        ],
    );
    sqlx::query(
        "insert into listed_milestones (id, case_no, position, name, due_at)
         values ($1, $2, $3, $4, $5) on conflict (id) do nothing",
    )
    .bind(id)
    .bind(case_no)
    .bind(position)
    .bind(&m.name)
    .bind(m.due_at)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// `case.registered` of a listed source: the matter is listed at once with the default
/// milestones (no `case.listed` event: the registration says it).
pub async fn on_registered(
    conn: &mut PgConnection,
    env: &Envelope,
    rules: &Rules,
) -> anyhow::Result<()> {
    let Ok(r) = env.data_as::<Registered>() else {
        return Ok(());
    };
    let Some(source) = r.source.as_deref() else {
        return Ok(());
    };
    // The configured list decides; the event's flag covers a source since removed.
    let listed = rules.sources.get(source).map_or(r.listed, |s| s.listed);
    if !listed {
        return Ok(());
    }
    let text = r.redacted_text.as_deref().unwrap_or("");
    let listing = NewListing {
        case_no: r.case_no.clone(),
        county: env.county.to_string(),
        source: source.to_owned(),
        title: title_from(text),
        at: r.registered_at,
        by: "registration".into(),
        milestones: default_milestones(rules, r.registered_at),
    };
    list(conn, &listing, None).await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct MilestoneRow {
    pub id: Uuid,
    pub position: i32,
    pub name: String,
    pub due_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
    pub done_by: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ProgressRow {
    pub id: Uuid,
    pub week: String,
    pub who: String,
    pub done: String,
    pub next_step: String,
    pub due: Option<NaiveDate>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ListedRow {
    pub case_no: String,
    pub county: String,
    pub source: String,
    pub title: String,
    pub listed_at: DateTime<Utc>,
    pub listed_by: String,
    pub closed_at: Option<DateTime<Utc>>,
    /// The lead unit, from the projection.
    pub department: Option<String>,
    pub leader: Option<String>,
}

/// One listed matter as the list shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ListedItem {
    #[serde(flatten)]
    pub matter: ListedRow,
    pub source_name: String,
    pub milestones: Vec<MilestoneRow>,
    /// Milestones past their due time and not done.
    pub overdue_milestones: usize,
    /// The latest progress entry.
    pub latest_progress: Option<ProgressRow>,
    /// A progress entry exists for the current week.
    pub progress_this_week: bool,
    /// Open statutory and 督办 clocks of the case (kind, due, state).
    pub open_deadlines: Vec<OpenClock>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OpenClock {
    pub kind: String,
    pub department: Option<String>,
    pub due_at: DateTime<Utc>,
    pub state: String,
}

/// Which listed matters to read.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Counties to include (the caller's scope).
    pub counties: Vec<String>,
    pub source: Option<String>,
    /// Only matters whose lead unit is this department.
    pub department: Option<String>,
    pub include_closed: bool,
    pub case_no: Option<String>,
}

pub async fn read(
    pool: &PgPool,
    rules: &Rules,
    f: &Filter,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<ListedItem>> {
    let rows: Vec<ListedRow> = sqlx::query_as(
        "select l.case_no, l.county, l.source, l.title, l.listed_at, l.listed_by, l.closed_at,
                c.department, c.leader
         from listed_matters l left join cases c using (case_no)
         where l.county = any($1)
           and ($2::text is null or l.source = $2)
           and ($3::text is null or c.department = $3)
           and ($4 or l.closed_at is null)
           and ($5::text is null or l.case_no = $5)
         order by l.listed_at, l.case_no
         limit 1000",
    )
    .bind(&f.counties)
    .bind(&f.source)
    .bind(&f.department)
    .bind(f.include_closed)
    .bind(&f.case_no)
    .fetch_all(pool)
    .await?;
    let cases: Vec<String> = rows.iter().map(|r| r.case_no.clone()).collect();
    let milestones: Vec<(String, MilestoneRow)> = sqlx::query_as::<_, MilestoneWithCase>(
        "select case_no, id, position, name, due_at, done_at, done_by, note
         from listed_milestones where case_no = any($1) order by case_no, position, due_at",
    )
    .bind(&cases)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|m| (m.case_no.clone(), m.into()))
    .collect();
    let progress: Vec<(String, ProgressRow)> = sqlx::query_as::<_, ProgressWithCase>(
        "select distinct on (case_no) case_no, id, week, who, done, next_step, due, at
         from listed_progress where case_no = any($1) order by case_no, at desc",
    )
    .bind(&cases)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|p| (p.case_no.clone(), p.into()))
    .collect();
    let clocks: Vec<(String, OpenClock)> = sqlx::query_as::<_, ClockWithCase>(
        "select case_no, kind, department, due_at, state from deadlines
         where case_no = any($1) and (state in ('pending', 'paused')
               or (state = 'fired' and closed_at is null))
         order by due_at",
    )
    .bind(&cases)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|c| {
        (
            c.case_no,
            OpenClock {
                kind: c.kind,
                department: c.department,
                due_at: c.due_at,
                state: c.state,
            },
        )
    })
    .collect();
    let week = iso_week(now);
    Ok(rows
        .into_iter()
        .map(|matter| {
            let ms: Vec<MilestoneRow> = milestones
                .iter()
                .filter(|(c, _)| *c == matter.case_no)
                .map(|(_, m)| m.clone())
                .collect();
            let latest = progress
                .iter()
                .find(|(c, _)| *c == matter.case_no)
                .map(|(_, p)| p.clone());
            ListedItem {
                source_name: rules
                    .sources
                    .get(&matter.source)
                    .map_or_else(|| matter.source.clone(), |s| s.name.clone()),
                overdue_milestones: ms
                    .iter()
                    .filter(|m| m.done_at.is_none() && m.due_at < now)
                    .count(),
                progress_this_week: latest.as_ref().is_some_and(|p| p.week == week),
                latest_progress: latest,
                open_deadlines: clocks
                    .iter()
                    .filter(|(c, _)| *c == matter.case_no)
                    .map(|(_, k)| k.clone())
                    .collect(),
                milestones: ms,
                matter,
            }
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct MilestoneWithCase {
    case_no: String,
    id: Uuid,
    position: i32,
    name: String,
    due_at: DateTime<Utc>,
    done_at: Option<DateTime<Utc>>,
    done_by: Option<String>,
    note: Option<String>,
}

impl From<MilestoneWithCase> for MilestoneRow {
    fn from(m: MilestoneWithCase) -> Self {
        Self {
            id: m.id,
            position: m.position,
            name: m.name,
            due_at: m.due_at,
            done_at: m.done_at,
            done_by: m.done_by,
            note: m.note,
        }
    }
}

#[derive(sqlx::FromRow)]
struct ProgressWithCase {
    case_no: String,
    id: Uuid,
    week: String,
    who: String,
    done: String,
    next_step: String,
    due: Option<NaiveDate>,
    at: DateTime<Utc>,
}

impl From<ProgressWithCase> for ProgressRow {
    fn from(p: ProgressWithCase) -> Self {
        Self {
            id: p.id,
            week: p.week,
            who: p.who,
            done: p.done,
            next_step: p.next_step,
            due: p.due,
            at: p.at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct ClockWithCase {
    case_no: String,
    kind: String,
    department: Option<String>,
    due_at: DateTime<Utc>,
    state: String,
}

/// All progress entries of one matter, newest first.
pub async fn progress_of(pool: &PgPool, case_no: &str) -> sqlx::Result<Vec<ProgressRow>> {
    sqlx::query_as(
        "select id, week, who, done, next_step, due, at from listed_progress
         where case_no = $1 order by at desc",
    )
    .bind(case_no)
    .fetch_all(pool)
    .await
}

/// The listed matters' own KPIs per source.
#[derive(Debug, Clone, Default, Serialize, sqlx::FromRow)]
pub struct SourceKpis {
    pub source: String,
    pub matters: i64,
    pub open: i64,
    pub closed: i64,
    pub milestones: i64,
    pub milestones_done: i64,
    pub milestones_done_on_time: i64,
    pub milestones_overdue: i64,
    /// Open matters with a progress entry this week.
    pub progressed_this_week: i64,
    /// Open matters whose case has a missed clock not yet met.
    pub with_overdue_deadline: i64,
    /// 督办 records on these matters (by hand, on a missed clock, and the earlier 督办).
    pub supervisions: i64,
}

pub async fn kpis(
    pool: &PgPool,
    counties: &[String],
    source: Option<&str>,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<SourceKpis>> {
    sqlx::query_as(
        "select l.source,
                count(*) as matters,
                count(*) filter (where l.closed_at is null) as open,
                count(*) filter (where l.closed_at is not null) as closed,
                coalesce(sum(m.total), 0)::int8 as milestones,
                coalesce(sum(m.done), 0)::int8 as milestones_done,
                coalesce(sum(m.on_time), 0)::int8 as milestones_done_on_time,
                coalesce(sum(m.overdue), 0)::int8 as milestones_overdue,
                count(*) filter (where l.closed_at is null and exists (
                    select 1 from listed_progress p where p.case_no = l.case_no and p.week = $4))
                    as progressed_this_week,
                count(*) filter (where l.closed_at is null and exists (
                    select 1 from deadlines d where d.case_no = l.case_no
                      and d.state = 'fired' and d.closed_at is null)) as with_overdue_deadline,
                coalesce(sum((select count(*) from supervisions s where s.case_no = l.case_no)), 0)::int8
                    as supervisions
         from listed_matters l
         left join lateral (
             select count(*) as total,
                    count(*) filter (where done_at is not null) as done,
                    count(*) filter (where done_at <= due_at) as on_time,
                    count(*) filter (where done_at is null and due_at < $3) as overdue
             from listed_milestones where case_no = l.case_no) m on true
         where l.county = any($1) and ($2::text is null or l.source = $2)
         group by l.source order by l.source",
    )
    .bind(counties)
    .bind(source)
    .bind(now)
    .bind(iso_week(now))
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn weeks_are_iso_weeks_in_china_time() {
        // Sunday 2026-12-06 20:00 UTC is Monday 04:00 in China: week 50.
        let at = Utc.with_ymd_and_hms(2026, 12, 6, 20, 0, 0).unwrap();
        assert_eq!(iso_week(at), "2026-W50");
        let at = Utc.with_ymd_and_hms(2026, 12, 6, 15, 0, 0).unwrap();
        assert_eq!(iso_week(at), "2026-W49");
        // 2027-01-01 is a Friday: ISO week 53 of 2026.
        let at = Utc.with_ymd_and_hms(2027, 1, 1, 4, 0, 0).unwrap();
        assert_eq!(iso_week(at), "2026-W53");
    }

    #[test]
    fn titles_are_the_first_sentence_cut() {
        assert_eq!(
            title_from("村里修路占地没有补偿。请求处理"),
            "村里修路占地没有补偿"
        );
        let long = "长".repeat(50);
        assert_eq!(title_from(&long).chars().count(), 41);
        assert_eq!(title_from(""), "");
    }
}
