//! Reads what a weekly report is computed from, out of supervision's own tables: the `cases`
//! projection, `deadlines`, `supervisions`, the listed matters and the advisers' counts.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;
use xinfang_domain::weekly_report::{
    AdviserFigures, CaseFacts, IsoWeek, ListedFacts, MilestoneFacts, OverdueFacts, ProgressFacts,
    SupervisionFacts, WeekData,
};

/// Which matters a report covers: one county's, or (the city's report) all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub county: String,
    pub whole_deployment: bool,
}

impl Scope {
    /// The county filter of the queries: `None` for the whole deployment.
    fn filter(&self) -> Option<&str> {
        (!self.whole_deployment).then_some(self.county.as_str())
    }
}

type CaseRow = (
    String,
    String,
    Option<DateTime<Utc>>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    bool,
    i32,
    Option<String>,
    bool,
    bool,
    Option<serde_json::Value>,
);

/// Matters registered in `[from, to)`.
pub async fn cases(
    pool: &PgPool,
    scope: &Scope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<Vec<CaseFacts>> {
    let rows: Vec<CaseRow> = sqlx::query_as(
        "select case_no, county, registered_at, channel, petition_type, department, town,
                source, listed, group_size, petitioner_key, is_repeat, leapfrog, matter_words
         from cases
         where registered_at >= $2 and registered_at < $3 and ($1::text is null or county = $1)
         order by registered_at, case_no",
    )
    .bind(scope.filter())
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| CaseFacts {
            case_no: r.0,
            county: r.1,
            registered_at: r.2.unwrap_or(from),
            channel: r.3,
            petition_type: r.4,
            department: r.5,
            town: r.6,
            source: r.7,
            listed: r.8,
            group_size: r.9,
            petitioner_key: r.10,
            is_repeat: r.11,
            leapfrog: r.12,
            matter_words: r
                .13
                .and_then(|v| serde_json::from_value::<HashMap<String, f32>>(v).ok()),
        })
        .collect())
}

/// Everything for one report of `week`, as of `now`.
pub async fn week_data(
    pool: &PgPool,
    scope: &Scope,
    week: IsoWeek,
    now: DateTime<Utc>,
) -> anyhow::Result<WeekData> {
    let previous = week.previous();
    let last_year = week.same_week_last_year();
    let this_week = cases(pool, scope, week.start(), week.end()).await?;
    let previous_week = cases(pool, scope, previous.start(), previous.end()).await?;
    let last_year = cases(pool, scope, last_year.start(), last_year.end()).await?;
    let county = scope.filter();

    type OverdueRow = (String, String, Option<String>, String, DateTime<Utc>);
    let overdue: Vec<OverdueRow> = sqlx::query_as(
        "select case_no, county, department, kind, due_at from deadlines
         where state = 'fired' and closed_at is null and ($1::text is null or county = $1)
         order by due_at, case_no",
    )
    .bind(county)
    .fetch_all(pool)
    .await?;
    let overdue = overdue
        .into_iter()
        .map(|r| OverdueFacts {
            case_no: r.0,
            county: r.1,
            department: r.2,
            kind: r.3,
            due_at: r.4,
        })
        .collect();

    type SupRow = (
        String,
        String,
        String,
        String,
        DateTime<Utc>,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
    );
    let sups: Vec<SupRow> = sqlx::query_as(
        "select case_no, county, department, form, created_at, respond_by, responded_at
         from supervisions
         where ($1::text is null or county = $1) and created_at < $3
           and (created_at >= $2 or responded_at is null or responded_at > $4)
         order by created_at, case_no",
    )
    .bind(county)
    .bind(week.start())
    .bind(week.end())
    .bind(now)
    .fetch_all(pool)
    .await?;
    let supervisions = sups
        .into_iter()
        .map(|r| SupervisionFacts {
            case_no: r.0,
            county: r.1,
            department: r.2,
            form: r.3,
            created_at: r.4,
            respond_by: r.5,
            responded_at: r.6,
        })
        .collect();

    let listed = listed(pool, county, week).await?;
    let a =
        crate::practices::counts::adviser_counts(pool, county, week.start(), week.end()).await?;
    Ok(WeekData {
        county: scope.county.clone(),
        whole_deployment: scope.whole_deployment,
        week,
        generated_at: now,
        this_week,
        previous_week,
        last_year,
        overdue,
        supervisions,
        listed,
        advisers: AdviserFigures {
            lawyers_participations: a.lawyers_participations,
            counsellors_participations: a.counsellors_participations,
            advice_entries: a.advice_entries,
            conferences_held: a.conferences_held,
        },
    })
}

/// Listed matters listed before the week ended and not closed before it began, with their
/// milestones and the week's progress entry.
async fn listed(
    pool: &PgPool,
    county: Option<&str>,
    week: IsoWeek,
) -> sqlx::Result<Vec<ListedFacts>> {
    type Row = (
        String,
        String,
        String,
        String,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "select case_no, county, source, title, listed_at, closed_at from listed_matters
         where ($1::text is null or county = $1) and listed_at < $3
           and (closed_at is null or closed_at >= $2)
         order by listed_at, case_no",
    )
    .bind(county)
    .bind(week.start())
    .bind(week.end())
    .fetch_all(pool)
    .await?;
    let case_nos: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    type MilestoneRow = (String, String, DateTime<Utc>, Option<DateTime<Utc>>);
    let milestones: Vec<MilestoneRow> = sqlx::query_as(
        "select case_no, name, due_at, done_at from listed_milestones
             where case_no = any($1) order by case_no, position, due_at",
    )
    .bind(&case_nos)
    .fetch_all(pool)
    .await?;
    let mut by_case: BTreeMap<String, Vec<MilestoneFacts>> = BTreeMap::new();
    for (case_no, name, due_at, done_at) in milestones {
        by_case.entry(case_no).or_default().push(MilestoneFacts {
            name,
            due_at,
            done_at,
        });
    }
    let progress: Vec<(String, String, String, String, Option<NaiveDate>)> = sqlx::query_as(
        "select case_no, who, done, next_step, due from listed_progress
         where week = $1 and case_no = any($2)",
    )
    .bind(week.to_string())
    .bind(&case_nos)
    .fetch_all(pool)
    .await?;
    let mut progress: BTreeMap<String, ProgressFacts> = progress
        .into_iter()
        .map(|(case_no, who, done, next_step, due)| {
            (
                case_no,
                ProgressFacts {
                    who,
                    done,
                    next_step,
                    due,
                },
            )
        })
        .collect();
    Ok(rows
        .into_iter()
        .map(|r| ListedFacts {
            milestones: by_case.remove(&r.0).unwrap_or_default(),
            progress: progress.remove(&r.0),
            case_no: r.0,
            county: r.1,
            source: r.2,
            title: r.3,
            listed_at: r.4,
            closed_at: r.5,
        })
        .collect())
}
