//! The fixture's SQL: reading the seeded cases, writing the copies, counting the result.

use std::collections::HashMap;

use anyhow::Context;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value};
use sqlx::Row;

use super::{Clock, Copy, Kpi, Line, Template};
use crate::bench::Pools;
use crate::bench::seed::Seeded;

/// The seeded cases with their clocks, KPI facts and timelines.
pub(super) async fn templates(pools: &Pools, seeded: &Seeded) -> anyhow::Result<Vec<Template>> {
    let nos = seeded.case_nos();
    let rows = sqlx::query(
        "select case_no, county, status, current_department, registered_at, milestones
         from cases where case_no = any($1) order by case_no",
    )
    .bind(&nos)
    .fetch_all(&pools.intake)
    .await?;
    let mut kpis: HashMap<String, Kpi> = HashMap::new();
    for r in sqlx::query(
        "select case_no, department, petition_type, branch, d1_due, disposed_at, assigned_at, d3_due
         from cases where case_no = any($1)",
    )
    .bind(&nos)
    .fetch_all(&pools.supervision)
    .await?
    {
        kpis.insert(
            r.try_get("case_no")?,
            Kpi {
                department: r.try_get("department")?,
                petition_type: r.try_get("petition_type")?,
                branch: r.try_get("branch")?,
                d1_due: r.try_get("d1_due")?,
                disposed_at: r.try_get("disposed_at")?,
                assigned_at: r.try_get("assigned_at")?,
                d3_due: r.try_get("d3_due")?,
            },
        );
    }
    let mut clocks: HashMap<String, Vec<Clock>> = HashMap::new();
    for r in sqlx::query(
        "select case_no, kind, ref, department, trigger_at, due_at, state, fired_at, closed_at,
                close_reason, provisional
         from deadlines where case_no = any($1) order by created_at, id",
    )
    .bind(&nos)
    .fetch_all(&pools.supervision)
    .await?
    {
        clocks
            .entry(r.try_get("case_no")?)
            .or_default()
            .push(Clock {
                kind: r.try_get("kind")?,
                reference: r.try_get("ref")?,
                department: r.try_get("department")?,
                trigger_at: r.try_get("trigger_at")?,
                due_at: r.try_get("due_at")?,
                state: r.try_get("state")?,
                fired_at: r.try_get("fired_at")?,
                closed_at: r.try_get("closed_at")?,
                close_reason: r.try_get("close_reason")?,
                provisional: r.try_get("provisional")?,
            });
    }
    let mut timelines: HashMap<String, Vec<Line>> = HashMap::new();
    for r in sqlx::query(
        "select case_no, at, event, summary, public from timeline where case_no = any($1)
         order by at, id",
    )
    .bind(&nos)
    .fetch_all(&pools.intake)
    .await?
    {
        timelines.entry(r.try_get("case_no")?).or_default().push((
            r.try_get("at")?,
            r.try_get("event")?,
            r.try_get("summary")?,
            r.try_get("public")?,
        ));
    }
    let mut out = Vec::new();
    for r in rows {
        let case_no: String = r.try_get("case_no")?;
        let milestones = match r.try_get::<Value, _>("milestones")? {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        out.push(Template {
            county: r.try_get("county")?,
            status: r.try_get("status")?,
            current_department: r.try_get("current_department")?,
            registered_at: r.try_get("registered_at")?,
            milestones,
            kpi: kpis.remove(&case_no).unwrap_or_default(),
            clocks: clocks.remove(&case_no).unwrap_or_default(),
            timeline: timelines.remove(&case_no).unwrap_or_default(),
            case_no,
        });
    }
    anyhow::ensure!(!out.is_empty(), "no seeded case to copy");
    Ok(out)
}

pub(super) async fn insert(pools: &Pools, batch: &[Copy]) -> anyhow::Result<()> {
    let col = |f: &dyn Fn(&Copy) -> String| batch.iter().map(f).collect::<Vec<String>>();
    let mut tx = pools.intake.begin().await?;
    sqlx::query(
        "insert into cases (case_no, query_code, county, matter_county, channel, received_at,
                registered_at, clerk_id, petitioner_sealed, id_number_hash, mobile_hash,
                petitioner_key, group_size, representatives_sealed, text, petition_type, branch,
                diversion, department, accuses_official, confidential, urgent, confidence,
                needs_triage, reasons, status, current_department, terminated_at, overdue,
                deadlines, milestones, updated_at, id_number_sealed, text_redacted, accused_level)
         select p.case_no, p.query_code, t.county, t.matter_county, t.channel,
                p.registered_at - (t.registered_at - t.received_at), p.registered_at, t.clerk_id,
                t.petitioner_sealed, md5(t.id_number_hash || p.case_no), md5(t.mobile_hash || p.case_no),
                md5(t.petitioner_key || p.case_no), t.group_size, t.representatives_sealed, t.text,
                t.petition_type, t.branch, t.diversion, t.department, t.accuses_official,
                t.confidential, t.urgent, t.confidence, t.needs_triage, t.reasons, p.status,
                p.current_department, p.terminated_at, p.overdue, p.deadlines::jsonb,
                p.milestones::jsonb, p.registered_at, t.id_number_sealed, t.text_redacted,
                t.accused_level
         from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[],
                     $6::text[], $7::timestamptz[], $8::bool[], $9::text[], $10::text[])
              as p(case_no, template, query_code, registered_at, status, current_department,
                   terminated_at, overdue, deadlines, milestones)
         join cases t on t.case_no = p.template",
    )
    .bind(col(&|c| c.case_no.clone()))
    .bind(col(&|c| c.template.clone()))
    .bind(col(&|c| c.query_code.clone()))
    .bind(batch.iter().map(|c| c.registered_at).collect::<Vec<_>>())
    .bind(col(&|c| c.status.clone()))
    .bind(
        batch
            .iter()
            .map(|c| c.current_department.clone())
            .collect::<Vec<_>>(),
    )
    .bind(batch.iter().map(|c| c.terminated_at).collect::<Vec<_>>())
    .bind(batch.iter().map(|c| c.overdue).collect::<Vec<_>>())
    .bind(col(&|c| c.deadlines.to_string()))
    .bind(col(&|c| c.milestones.to_string()))
    .execute(&mut *tx)
    .await
    .context("copying intake's cases")?;
    let lines: Vec<(&str, &DateTime<Utc>, &str, &str, bool)> = batch
        .iter()
        .flat_map(|c| {
            c.timeline
                .iter()
                .map(|(at, e, s, p)| (c.case_no.as_str(), at, e.as_str(), s.as_str(), *p))
        })
        .collect();
    sqlx::query(
        "insert into timeline (case_no, at, event, event_id, summary, public)
         select case_no, at, event, gen_random_uuid(), summary, public
         from unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::bool[])
              as p(case_no, at, event, summary, public)",
    )
    .bind(lines.iter().map(|l| l.0).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| *l.1).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.2).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.3).collect::<Vec<_>>())
    .bind(lines.iter().map(|l| l.4).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await
    .context("copying intake's timeline")?;
    tx.commit().await?;

    let mut tx = pools.supervision.begin().await?;
    let opt = |f: &dyn Fn(&Copy) -> Option<DateTime<Utc>>| {
        batch.iter().map(f).collect::<Vec<Option<DateTime<Utc>>>>()
    };
    let handling_due = |c: &Copy| {
        c.clocks
            .iter()
            .rev()
            .find(|k| k.kind == "D6" || k.kind == "D5")
            .map(|k| k.due_at)
    };
    let rating = |c: &Copy, unit: bool| {
        c.life
            .evaluated
            .map(|(_, b, u)| if unit { u } else { b }.to_owned())
    };
    sqlx::query(
        "insert into cases (case_no, county, department, petition_type, branch, received_at,
                registered_at, is_repeat, d1_due, disposed_at, assigned_at, d3_due,
                unit_answered_at, accepted_at, accepted_on, handling_due, replied_at, served_on,
                evaluated_at, bureau_rating, unit_rating)
         select case_no, county, department, petition_type, branch, registered_at,
                registered_at, false, d1_due, disposed_at, assigned_at, d3_due, accepted_at,
                accepted_at, (accepted_at at time zone 'Asia/Shanghai')::date, handling_due,
                replied_at, (replied_at at time zone 'Asia/Shanghai')::date, evaluated_at,
                bureau_rating, unit_rating
         from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                     $6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::timestamptz[],
                     $10::timestamptz[], $11::timestamptz[], $12::timestamptz[],
                     $13::timestamptz[], $14::timestamptz[], $15::text[], $16::text[])
              as p(case_no, county, department, petition_type, branch, registered_at, d1_due,
                   disposed_at, assigned_at, d3_due, accepted_at, handling_due, replied_at,
                   evaluated_at, bureau_rating, unit_rating)",
    )
    .bind(col(&|c| c.case_no.clone()))
    .bind(col(&|c| c.county.clone()))
    .bind(
        batch
            .iter()
            .map(|c| c.kpi.department.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        batch
            .iter()
            .map(|c| c.kpi.petition_type.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        batch
            .iter()
            .map(|c| c.kpi.branch.clone())
            .collect::<Vec<_>>(),
    )
    .bind(batch.iter().map(|c| c.registered_at).collect::<Vec<_>>())
    .bind(opt(&|c| c.kpi.d1_due))
    .bind(opt(&|c| c.kpi.disposed_at))
    .bind(opt(&|c| c.kpi.assigned_at))
    .bind(opt(&|c| c.kpi.d3_due))
    .bind(opt(&|c| c.life.accepted))
    .bind(opt(&handling_due))
    .bind(opt(&|c| c.life.replied))
    .bind(opt(&|c| c.life.evaluated.map(|e| e.0)))
    .bind(batch.iter().map(|c| rating(c, false)).collect::<Vec<_>>())
    .bind(batch.iter().map(|c| rating(c, true)).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await
    .context("copying supervision's cases")?;
    let clocks: Vec<(&Copy, &Clock)> = batch
        .iter()
        .flat_map(|c| c.clocks.iter().map(move |k| (c, k)))
        .collect();
    let warn = |k: &Clock| {
        let dutiful = !matches!(k.kind.as_str(), "D7" | "D9" | "eval");
        dutiful.then(|| k.due_at - TimeDelta::hours(72))
    };
    sqlx::query(
        "insert into deadlines (id, case_no, county, department, kind, ref, trigger_at, due_at,
                warn_at, state, warned_at, fired_at, closed_at, close_reason, indexed,
                provisional, created_at, updated_at)
         select gen_random_uuid(), case_no, county, department, kind, ref, trigger_at, due_at,
                warn_at, state,
                case when warn_at < least(coalesce(closed_at, now()), now()) then warn_at end,
                fired_at, closed_at, close_reason, true, provisional, trigger_at,
                coalesce(closed_at, fired_at, trigger_at)
         from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                     $6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::text[],
                     $10::timestamptz[], $11::timestamptz[], $12::text[], $13::bool[])
              as p(case_no, county, department, kind, ref, trigger_at, due_at, warn_at, state,
                   fired_at, closed_at, close_reason, provisional)",
    )
    .bind(
        clocks
            .iter()
            .map(|(c, _)| c.case_no.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        clocks
            .iter()
            .map(|(c, _)| c.county.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        clocks
            .iter()
            .map(|(_, k)| k.department.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        clocks
            .iter()
            .map(|(_, k)| k.kind.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        clocks
            .iter()
            .map(|(_, k)| k.reference.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(clocks.iter().map(|(_, k)| k.trigger_at).collect::<Vec<_>>())
    .bind(clocks.iter().map(|(_, k)| k.due_at).collect::<Vec<_>>())
    .bind(clocks.iter().map(|(_, k)| warn(k)).collect::<Vec<_>>())
    .bind(
        clocks
            .iter()
            .map(|(_, k)| k.state.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(clocks.iter().map(|(_, k)| k.fired_at).collect::<Vec<_>>())
    .bind(clocks.iter().map(|(_, k)| k.closed_at).collect::<Vec<_>>())
    .bind(
        clocks
            .iter()
            .map(|(_, k)| k.close_reason.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        clocks
            .iter()
            .map(|(_, k)| k.provisional)
            .collect::<Vec<_>>(),
    )
    .execute(&mut *tx)
    .await
    .context("copying supervision's deadlines")?;
    tx.commit().await?;
    Ok(())
}

/// The department a department user works for: the county's unit with the most cases.
pub struct Department {
    pub county: String,
    pub code: String,
    pub cases: i64,
    /// One of its cases registered through the API.
    pub case_no: String,
}

impl Department {
    pub fn label(&self) -> String {
        format!("{}:{}", self.county, self.code)
    }
}

/// What the grown registry holds.
pub struct Facts {
    pub cases: i64,
    pub statuses: Vec<(String, i64)>,
    pub deadlines: i64,
    pub open_deadlines: i64,
    pub department: Department,
}

pub async fn facts(pools: &Pools, seeded: &Seeded, county: &str) -> anyhow::Result<Facts> {
    let statuses: Vec<(String, i64)> = sqlx::query_as(
        "select status, count(*) from cases group by status order by count(*) desc, status",
    )
    .fetch_all(&pools.intake)
    .await?;
    let cases = statuses.iter().map(|s| s.1).sum();
    let (dept, n): (String, i64) = sqlx::query_as(
        "select current_department, count(*) from cases
         where county = $1 and current_department is not null
         group by current_department order by count(*) desc, current_department limit 1",
    )
    .bind(county)
    .fetch_optional(&pools.intake)
    .await?
    .context("no case of the county has a department")?;
    let case_no: String = sqlx::query_scalar(
        "select case_no from cases where case_no = any($1) and county = $2
           and current_department = $3 order by case_no limit 1",
    )
    .bind(seeded.case_nos())
    .bind(county)
    .bind(&dept)
    .fetch_optional(&pools.intake)
    .await?
    .context("no seeded case of the busiest department")?;
    let (deadlines, open_deadlines): (i64, i64) = sqlx::query_as(
        "select count(*), count(*) filter (where closed_at is null and state <> 'cancelled')
         from deadlines",
    )
    .fetch_one(&pools.supervision)
    .await?;
    Ok(Facts {
        cases,
        statuses,
        deadlines,
        open_deadlines,
        department: Department {
            county: county.to_owned(),
            code: dept,
            cases: n,
            case_no,
        },
    })
}
