//! Lapsed appeal windows (Decisions 4). A periodic sweep over this deployment's cases marks a
//! case final-without-appeal when its 复查 window (D7, from service of the handling opinion)
//! or its 复核 window (D9, from service of the 复查 opinion) has passed unused, and emits
//! `case.final_without_appeal`. The case is not TERMINATED: only a 复核 decision does that.
//!
//! Why a sweep rather than supervision's D7/D9 `deadline.overdue` events: the review service
//! holds the facts that decide the matter (a request may have been made at another level,
//! recorded by hand, or arrive just before the window ends), the lifecycle guard is applied to
//! those facts at the moment of marking, and it works the same whether or not supervision runs
//! in the deployment. Several instances may sweep at once (rows are claimed with SKIP LOCKED).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Days, Utc};
use tokio_util::sync::CancellationToken;
use xinfang_domain::appeal::{check_lapse, served_instant};
use xinfang_domain::deadline::{Adjustments, CST, DeadlineKind, compute, cst_date};
use xinfang_domain::events::{FinalWithoutAppeal, kind};

use crate::context::Ctx;
use crate::emit;
use crate::store;

fn cutoff(ctx: &Ctx, kind: DeadlineKind, now: DateTime<Utc>) -> chrono::NaiveDate {
    let days = ctx.deadlines.rule(kind).map_or(30, |r| r.days);
    let today = cst_date(now.with_timezone(&CST));
    today
        .checked_sub_days(Days::new(u64::from(days)))
        .unwrap_or(today)
}

/// One pass at `now`: marks every case whose window has lapsed. Returns how many were marked.
pub async fn sweep_once(ctx: &Ctx, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let scope = &ctx.settings.open_to_review;
    let types: Vec<String> = scope.types.iter().map(|t| t.as_str().to_owned()).collect();
    let branches: Vec<String> = scope
        .branches
        .iter()
        .map(|b| b.as_str().to_owned())
        .collect();
    let d7 = cutoff(ctx, DeadlineKind::D7, now);
    let d9 = cutoff(ctx, DeadlineKind::D9, now);
    let now_cst = now.with_timezone(&CST);
    let mut total = 0;
    loop {
        let mut tx = ctx.pool.begin().await?;
        let batch =
            store::lapse_candidates(&mut tx, d7, d9, &types, &branches, ctx.settings.sweep_batch)
                .await?;
        let full = batch.len() as i64 == ctx.settings.sweep_batch;
        let mut marked = 0;
        for case in &batch {
            let appeals = store::appeals(&mut tx, &case.case_no, false).await?;
            let hearings = store::hearings(&mut tx, &case.case_no).await?;
            let facts = store::appeal_facts(Some(case), &appeals, &hearings);
            let Ok(window) = check_lapse(&facts, now_cst, scope, &ctx.policy().get()) else {
                // Still open (a roll-over moved its end), or nothing to lapse.
                continue;
            };
            let served = match window {
                DeadlineKind::D7 => case.served_on,
                _ => facts.review.as_ref().and_then(|r| r.decision_served_on),
            };
            let Some(served) = served else { continue };
            let window_ended = compute(
                window,
                served_instant(served),
                &ctx.calendar.current(),
                &ctx.deadlines,
                &Adjustments::default(),
            )?
            .due
            .map_or(now, |d| d.with_timezone(&Utc));
            sqlx::query(
                "update cases set final_without_appeal = $2, final_at = $3, updated_at = now()
                 where case_no = $1",
            )
            .bind(&case.case_no)
            .bind(window.code())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let data = FinalWithoutAppeal {
                case_no: case.case_no.clone(),
                window: window.code().to_owned(),
                window_ended,
                at: now,
            };
            emit::case_event(
                &mut tx,
                &case.home_county,
                kind::FINAL_WITHOUT_APPEAL,
                &case.case_no,
                now,
                &data,
            )
            .await?;
            tracing::info!(case_no = %case.case_no, window = window.code(), "final without appeal");
            marked += 1;
        }
        tx.commit().await?;
        total += marked;
        if !full || marked == 0 {
            break;
        }
    }
    if total > 0 {
        metrics::counter!("xf_final_without_appeal_total").increment(total as u64);
    }
    Ok(total)
}

/// Sweeps every `sweep_interval_secs` until shutdown (the first pass right away).
pub async fn run(ctx: Arc<Ctx>, shutdown: CancellationToken) {
    let every = Duration::from_secs(ctx.settings.sweep_interval_secs.max(1));
    loop {
        if let Err(e) = sweep_once(&ctx, ctx.clock.now()).await {
            tracing::warn!(error = %format!("{e:#}"), "lapsed-window sweep failed; will retry");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => break,
        }
    }
}
