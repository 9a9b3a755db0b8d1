//! Counts of the lawyers' and counsellors' work for reports (the weekly report calls
//! [`adviser_counts`]).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// What advisers did in a time range, in one county or (county `None`) the whole city.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AdviserCounts {
    /// Lawyers' participations: reception days held in the range they were on, cases they
    /// were assigned to in the range, conferences held in the range they took part in.
    pub lawyers_participations: i64,
    /// The same for psychological counsellors.
    pub counsellors_participations: i64,
    /// Written advice recorded on cases in the range.
    pub advice_entries: i64,
    /// Case conferences (会审) held in the range.
    pub conferences_held: i64,
}

/// Counts advisers' participations (reception days, cases, conferences) and advice entries
/// in `[from, to)`, for `county` (the county where the reception day, case or conference
/// took place) or, with `None`, for all counties.
pub async fn adviser_counts(
    pool: &PgPool,
    county: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> sqlx::Result<AdviserCounts> {
    let (lawyers, counsellors, advice, held): (i64, i64, i64, i64) = sqlx::query_as(
        "with part as (
             select a.kind from adviser_assignments x
               join advisers a on a.id = x.adviser
               join reception_days r on r.id = x.reception_day
              where r.at >= $2 and r.at < $3 and ($1::text is null or r.county = $1)
             union all
             select a.kind from adviser_assignments x
               join advisers a on a.id = x.adviser
              where x.case_no is not null and x.at >= $2 and x.at < $3
                and ($1::text is null or x.county = $1)
             union all
             select a.kind from conference_participants p
               join conferences c on c.id = p.conference
               join advisers a on a.id::text = p.ref
              where p.role in ('lawyer', 'counsellor') and c.held_at >= $2 and c.held_at < $3
                and ($1::text is null or c.county = $1)
         )
         select (select count(*) from part where kind = 'lawyer'),
                (select count(*) from part where kind = 'counsellor'),
                (select count(*) from advice
                  where at >= $2 and at < $3 and ($1::text is null or county = $1)),
                (select count(*) from conferences
                  where held_at >= $2 and held_at < $3 and ($1::text is null or county = $1))",
    )
    .bind(county)
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?;
    Ok(AdviserCounts {
        lawyers_participations: lawyers,
        counsellors_participations: counsellors,
        advice_entries: advice,
        conferences_held: held,
    })
}
