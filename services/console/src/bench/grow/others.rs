//! The copies in routing's and review's schemas, so the pages that ask those services about
//! each listed case (the clerk's triage queue and the approvals ask routing, the review desk
//! asks review) find what they would find in a real registry instead of a quick 404.
//!
//! Routing: the template's case row and assignments, with the copy's state (the lifecycle
//! document stays the template's: no page reads it for a copy). The newest copies, still
//! `registered`, are held for a clerk's confirmation of a proposed refusal, the one hold left
//! when `hold_for_triage` is off. Review: the case facts for every copy, and per its life the
//! 复查/复核 appeals, the 终结库 entry and the evaluation.

use chrono::{DateTime, TimeDelta, Utc};

use super::Copy;
use crate::bench::Pools;

/// The appeal window a petitioner has after a decision is served (D7, D9).
const WINDOW_DAYS: i64 = 30;

pub(super) async fn insert(
    pools: &Pools,
    batch: &[Copy],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    routing(pools, batch).await?;
    review(pools, batch, now).await
}

fn secs(d: TimeDelta) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

async fn routing(pools: &Pools, batch: &[Copy]) -> anyhow::Result<()> {
    let held: Vec<Option<String>> = batch
        .iter()
        .map(|c| {
            c.waiting.then(|| {
                format!(
                    "awaiting a clerk's confirmation of the proposed refusal (不予受理, Art 19 para 3): repeat of {}",
                    c.template
                )
            })
        })
        .collect();
    // What routing calls the assignment's status once the unit has moved on.
    let assignment: Vec<Option<&str>> = batch
        .iter()
        .map(
            |c| match (&c.life.replied, &c.life.extended, &c.life.accepted) {
                (Some(_), _, _) => Some("replied"),
                (None, Some(_), _) => Some("extended"),
                (None, None, Some(_)) => Some("accepted"),
                _ => None,
            },
        )
        .collect();
    let mut tx = pools.routing.begin().await?;
    sqlx::query(
        "insert into cases (case_no, home_county, facts, lifecycle, state, petition_type,
                confidential, lead_county, lead_department, mode, text, contact, decision,
                held_reason, created_at, updated_at)
         select p.case_no, t.home_county, t.facts, t.lifecycle,
                case when p.waiting then 'registered'
                     when p.assignment is not null then p.status else t.state end,
                t.petition_type, t.confidential,
                case when p.waiting then null else t.lead_county end,
                case when p.waiting then null else t.lead_department end,
                case when p.waiting then null else t.mode end,
                t.text, t.contact, case when p.waiting then null else t.decision end,
                p.held, p.registered_at, p.registered_at
         from unnest($1::text[], $2::text[], $3::bool[], $4::text[], $5::text[], $6::text[],
                     $7::timestamptz[])
              as p(case_no, template, waiting, status, assignment, held, registered_at)
         join cases t on t.case_no = p.template",
    )
    .bind(batch.iter().map(|c| c.case_no.as_str()).collect::<Vec<_>>())
    .bind(
        batch
            .iter()
            .map(|c| c.template.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(batch.iter().map(|c| c.waiting).collect::<Vec<_>>())
    .bind(batch.iter().map(|c| c.status.as_str()).collect::<Vec<_>>())
    .bind(&assignment)
    .bind(&held)
    .bind(batch.iter().map(|c| c.registered_at).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into assignments (case_no, county, department, role, status, mode, assigned_at,
                updated_at)
         select p.case_no, a.county, a.department, a.role, coalesce(p.assignment, a.status),
                a.mode, a.assigned_at + make_interval(secs => p.shift),
                a.updated_at + make_interval(secs => p.shift)
         from unnest($1::text[], $2::text[], $3::bool[], $4::text[], $5::float8[])
              as p(case_no, template, waiting, assignment, shift)
         join assignments a on a.case_no = p.template
         where not p.waiting",
    )
    .bind(batch.iter().map(|c| c.case_no.as_str()).collect::<Vec<_>>())
    .bind(
        batch
            .iter()
            .map(|c| c.template.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(batch.iter().map(|c| c.waiting).collect::<Vec<_>>())
    .bind(&assignment)
    .bind(batch.iter().map(|c| secs(c.shift)).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The window after `served` closed unused by `now` (the decision became final).
fn final_after(
    served: Option<DateTime<Utc>>,
    used: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let end = served? + TimeDelta::days(WINDOW_DAYS);
    (used.is_none() && end < now).then_some(end)
}

async fn review(pools: &Pools, batch: &[Copy], now: DateTime<Utc>) -> anyhow::Result<()> {
    let finals: Vec<(Option<&str>, Option<DateTime<Utc>>)> = batch
        .iter()
        .map(|c| {
            let l = &c.life;
            if let Some(at) = final_after(l.review_decided, l.rereview_requested, now) {
                (Some("D9"), Some(at))
            } else if let Some(at) = final_after(l.replied, l.review_requested, now) {
                (Some("D7"), Some(at))
            } else {
                (None, None)
            }
        })
        .collect();
    let mut tx = pools.review.begin().await?;
    sqlx::query(
        "insert into cases (case_no, home_county, matter_county, petitioner_key, query_code,
                petition_type, branch, department, fingerprint, fingerprint_version,
                registered_at, reply_department, reply_outcome, is_handling_opinion, served_on,
                replied_at, final_without_appeal, final_at, terminated_at, created_at, updated_at)
         select p.case_no, t.home_county, t.matter_county, md5(t.petitioner_key || p.case_no),
                p.query_code, t.petition_type, t.branch, t.department, t.fingerprint,
                t.fingerprint_version, p.registered_at,
                case when p.replied_at is not null then coalesce(p.unit, t.department) end,
                case when p.replied_at is not null then 'explained' end,
                p.replied_at is not null, (p.replied_at at time zone 'Asia/Shanghai')::date,
                p.replied_at, p.final, p.final_at, p.terminated_at, p.registered_at,
                coalesce(p.replied_at, p.registered_at)
         from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[],
                     $6::timestamptz[], $7::text[], $8::timestamptz[], $9::timestamptz[])
              as p(case_no, template, query_code, registered_at, unit, replied_at, final,
                   final_at, terminated_at)
         join cases t on t.case_no = p.template",
    )
    .bind(batch.iter().map(|c| c.case_no.as_str()).collect::<Vec<_>>())
    .bind(
        batch
            .iter()
            .map(|c| c.template.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        batch
            .iter()
            .map(|c| c.query_code.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(batch.iter().map(|c| c.registered_at).collect::<Vec<_>>())
    .bind(
        batch
            .iter()
            .map(|c| c.unit.as_deref().map(|u| u.rsplit(':').next().unwrap_or(u)))
            .collect::<Vec<_>>(),
    )
    .bind(batch.iter().map(|c| c.life.replied).collect::<Vec<_>>())
    .bind(finals.iter().map(|f| f.0).collect::<Vec<_>>())
    .bind(finals.iter().map(|f| f.1).collect::<Vec<_>>())
    .bind(batch.iter().map(|c| c.life.terminated).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;

    // 复查 to the county's government, 复核 to the city's (the next organ up).
    struct Appeal<'a> {
        case_no: &'a str,
        level: &'static str,
        county: &'a str,
        organ: String,
        requested: DateTime<Utc>,
        decided: Option<DateTime<Utc>>,
    }
    let city = |county: &str| format!("{}00", &county[..county.len().min(4)]);
    let mut appeals = Vec::new();
    for c in batch {
        let l = &c.life;
        if let Some(requested) = l.review_requested {
            appeals.push(Appeal {
                case_no: &c.case_no,
                level: "review",
                county: &c.county,
                organ: format!("{}:gov", c.county),
                requested,
                decided: l.review_decided,
            });
        }
        if let Some(requested) = l.rereview_requested {
            appeals.push(Appeal {
                case_no: &c.case_no,
                level: "rereview",
                county: &c.county,
                organ: format!("{}:gov", city(&c.county)),
                requested,
                decided: l.rereview_decided,
            });
        }
    }
    sqlx::query(
        "insert into appeals (case_no, level, case_county, organ, requested_at, requested_by,
                outcome, decision_text, decision_served_on, decided_by, decided_at, round,
                created_at, updated_at)
         select case_no, level, county, organ, requested_at, 'petitioner',
                case when decided_at is not null then 'uphold' end,
                case when decided_at is not null then '维持原处理意见。' end,
                (decided_at at time zone 'Asia/Shanghai')::date,
                case when decided_at is not null then 'reviewer:bench' end,
                decided_at, 1, requested_at, coalesce(decided_at, requested_at)
         from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
                     $6::timestamptz[])
              as p(case_no, level, county, organ, requested_at, decided_at)",
    )
    .bind(appeals.iter().map(|a| a.case_no).collect::<Vec<_>>())
    .bind(appeals.iter().map(|a| a.level).collect::<Vec<_>>())
    .bind(appeals.iter().map(|a| a.county).collect::<Vec<_>>())
    .bind(appeals.iter().map(|a| a.organ.as_str()).collect::<Vec<_>>())
    .bind(appeals.iter().map(|a| a.requested).collect::<Vec<_>>())
    .bind(appeals.iter().map(|a| a.decided).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;

    let terminated: Vec<&Copy> = batch
        .iter()
        .filter(|c| c.life.terminated.is_some())
        .collect();
    sqlx::query(
        "insert into terminations (case_no, home_county, petitioner_key, fingerprint,
                fingerprint_version, rereview_organ, outcome, decision_served_on, terminated_at,
                event_id)
         select c.case_no, c.home_county, c.petitioner_key, c.fingerprint, c.fingerprint_version,
                p.organ, 'uphold', (p.decided_at at time zone 'Asia/Shanghai')::date,
                p.terminated_at, gen_random_uuid()
         from unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[])
              as p(case_no, organ, decided_at, terminated_at)
         join cases c on c.case_no = p.case_no",
    )
    .bind(
        terminated
            .iter()
            .map(|c| c.case_no.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        terminated
            .iter()
            .map(|c| format!("{}:gov", city(&c.county)))
            .collect::<Vec<_>>(),
    )
    .bind(
        terminated
            .iter()
            .map(|c| c.life.rereview_decided)
            .collect::<Vec<_>>(),
    )
    .bind(
        terminated
            .iter()
            .map(|c| c.life.terminated)
            .collect::<Vec<_>>(),
    )
    .execute(&mut *tx)
    .await?;

    let rated: Vec<(&Copy, DateTime<Utc>, &str, &str)> = batch
        .iter()
        .filter_map(|c| c.life.evaluated.map(|(at, b, u)| (c, at, b, u)))
        .collect();
    sqlx::query(
        "insert into evaluations (case_no, bureau, unit, department, evaluated_at, event_id)
         select case_no, bureau, unit, department, evaluated_at, gen_random_uuid()
         from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
              as p(case_no, bureau, unit, department, evaluated_at)",
    )
    .bind(
        rated
            .iter()
            .map(|r| r.0.case_no.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rated.iter().map(|r| r.2).collect::<Vec<_>>())
    .bind(rated.iter().map(|r| r.3).collect::<Vec<_>>())
    .bind(
        rated
            .iter()
            .map(|r| {
                let unit = r.0.unit.as_deref().unwrap_or("gov");
                unit.rsplit(':').next().unwrap_or(unit).to_owned()
            })
            .collect::<Vec<_>>(),
    )
    .bind(rated.iter().map(|r| r.1).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
