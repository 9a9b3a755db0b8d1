//! Generating, storing and sending a weekly report, and the Monday scheduler.
//!
//! A report is one row of `weekly_reports` per (county, week). The scheduler writes last week's
//! report of every served county (the city's covering the whole deployment) once: its upsert
//! replaces only a partial report (one generated on demand before the week ended), so several
//! instances racing write it once, and only the writer of the first complete report puts the
//! `xf.<county>.report.weekly` event into the outbox (in the same transaction), which notify
//! e-mails to the configured leaders.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use xinfang_domain::county::CountyCode;
use xinfang_domain::envelope::{Envelope, MAX_ENVELOPE_BYTES};
use xinfang_domain::subject;
use xinfang_domain::weekly_report::{
    self, EVENT_KIND, Figures, IsoWeek, Labels, ReportEvent, ReportRules,
};
use xinfang_platform::outbox;

use super::html;
use super::load::{self, Scope};
use crate::clock::Clock;
use crate::handlers::Rules;

/// What generation needs.
#[derive(Clone)]
pub struct Context {
    pub pool: PgPool,
    pub clock: Clock,
    pub rules: Arc<Rules>,
}

/// How a report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The scheduler: write only when there is no complete report yet; send it once.
    Scheduled,
    /// On demand: (re)write it; send it when it is complete and was never sent, or when
    /// `resend` asks for it.
    OnDemand { resend: bool },
}

/// A stored report.
#[derive(Debug, Clone)]
pub struct Stored {
    pub county: String,
    pub week: IsoWeek,
    pub generated_at: DateTime<Utc>,
    pub complete: bool,
    pub figures: serde_json::Value,
    pub html: String,
    pub csv: String,
    pub sent_at: Option<DateTime<Utc>>,
}

/// The names a report uses: counties and departments from the directory, sources from the
/// configuration.
pub fn labels(rules: &Rules, county: &str) -> Labels {
    let dir = rules.directory.current();
    let mut l = Labels::default();
    for c in &dir.counties {
        l.counties.insert(c.code.to_string(), c.name.clone());
        for d in &c.departments {
            l.departments.insert(
                format!("{}:{}", c.code, d.code),
                format!("{}{}", c.name, d.name),
            );
            if c.code.as_str() == county {
                l.departments.insert(d.code.clone(), d.name.clone());
            }
        }
    }
    for s in rules.sources.all() {
        l.sources.insert(s.code.clone(), s.name.clone());
    }
    l
}

/// `三门峡市信访形势周研判（2026-W49，2026-11-30至2026-12-06）`.
pub fn title(labels: &Labels, f: &Figures) -> String {
    format!(
        "{}信访形势周研判（{}，{}至{}）",
        labels.county(&f.county),
        f.week,
        f.from,
        f.to
    )
}

/// The report's rules from `[supervision.weekly_report]`.
pub fn report_rules(rules: &Rules) -> ReportRules {
    rules.settings.weekly_report.rules()
}

/// Computes the figures and renders them.
pub async fn build(
    ctx: &Context,
    county: &CountyCode,
    week: IsoWeek,
) -> anyhow::Result<(Figures, Labels, String, String)> {
    let scope = Scope {
        county: county.to_string(),
        whole_deployment: county.is_city(),
    };
    let now = ctx.clock.now();
    let data = load::week_data(&ctx.pool, &scope, week, now).await?;
    let figures = weekly_report::compute(&data, &report_rules(&ctx.rules));
    let labels = labels(&ctx.rules, county.as_str());
    let title = title(&labels, &figures);
    let page = html::render(
        &figures,
        &labels,
        &title,
        ctx.rules.settings.weekly_report.max_rows,
    );
    let csv = weekly_report::csv(&figures, &labels);
    Ok((figures, labels, page, csv))
}

/// The event for a report, within the envelope limit: the page is rendered with shorter lists
/// (the CSV keeps everything) until it fits, and the CSV is left off only if it alone is too big.
pub fn event(
    figures: &Figures,
    labels: &Labels,
    full_html: &str,
    csv: &str,
    at: DateTime<Utc>,
) -> anyhow::Result<Envelope<ReportEvent>> {
    // Well under the broker's limit, leaving room for the envelope around it.
    let budget = MAX_ENVELOPE_BYTES - 16 * 1024;
    let county = CountyCode::parse(&figures.county)?;
    let title = title(labels, figures);
    let make = |page: String, csv: String| {
        Envelope::new(
            EVENT_KIND,
            None,
            county.clone(),
            at,
            ReportEvent {
                county: figures.county.clone(),
                week: figures.week,
                title: title.clone(),
                generated_at: figures.generated_at,
                complete: figures.complete,
                html: page,
                csv,
                csv_name: weekly_report::csv_name(&figures.county, figures.week),
            },
        )
    };
    let size =
        |e: &Envelope<ReportEvent>| serde_json::to_vec(e).map(|b| b.len()).unwrap_or(usize::MAX);
    let env = make(full_html.to_owned(), csv.to_owned())?;
    if size(&env) <= budget {
        return Ok(env);
    }
    for rows in [30, 10, 3] {
        let env = make(html::render(figures, labels, &title, rows), csv.to_owned())?;
        if size(&env) <= budget {
            return Ok(env);
        }
    }
    let note = "（CSV 过大，未附上；请在系统中下载。）";
    let page = html::render(figures, labels, &title, 3).replacen(
        "</h1>",
        &format!("</h1><p class=\"meta\">{note}</p>"),
        1,
    );
    let env = make(page, String::new())?;
    if size(&env) <= budget {
        return Ok(env);
    }
    anyhow::bail!(
        "weekly report {} {}: too large to send",
        figures.county,
        figures.week
    )
}

/// Generates, stores and (as `mode` says) sends one report. `None` when the scheduler found a
/// complete report already stored (nothing written).
pub async fn generate(
    ctx: &Context,
    county: &CountyCode,
    week: IsoWeek,
    mode: Mode,
) -> anyhow::Result<Option<Stored>> {
    let (figures, labels, page, csv) = build(ctx, county, week).await?;
    let figures_json = serde_json::to_value(&figures)?;
    let mut tx = ctx.pool.begin().await?;
    let only_partial = matches!(mode, Mode::Scheduled);
    let row: Option<(Option<DateTime<Utc>>,)> = sqlx::query_as(
        "insert into weekly_reports (county, week, generated_at, complete, figures, html, csv)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (county, week) do update set
            generated_at = excluded.generated_at, complete = excluded.complete,
            figures = excluded.figures, html = excluded.html, csv = excluded.csv
         where not $8 or not weekly_reports.complete
         returning sent_at",
    )
    .bind(county.as_str())
    .bind(week.to_string())
    .bind(figures.generated_at)
    .bind(figures.complete)
    .bind(&figures_json)
    .bind(&page)
    .bind(&csv)
    .bind(only_partial)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((mut sent_at,)) = row else {
        tx.rollback().await?;
        return Ok(None);
    };
    let send = match mode {
        Mode::Scheduled => figures.complete && sent_at.is_none(),
        Mode::OnDemand { resend } => resend || (figures.complete && sent_at.is_none()),
    };
    if send {
        let now = ctx.clock.now();
        let env = event(&figures, &labels, &page, &csv, now)?;
        outbox::enqueue(&mut tx, &subject::report_event(county, EVENT_KIND)?, &env).await?;
        sqlx::query("update weekly_reports set sent_at = $3 where county = $1 and week = $2")
            .bind(county.as_str())
            .bind(week.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sent_at = Some(now);
        metrics::counter!("xf_weekly_reports_sent_total").increment(1);
    }
    tx.commit().await?;
    tracing::info!(%county, %week, complete = figures.complete, sent = send, "weekly report generated");
    Ok(Some(Stored {
        county: county.to_string(),
        week,
        generated_at: figures.generated_at,
        complete: figures.complete,
        figures: figures_json,
        html: page,
        csv,
        sent_at,
    }))
}

/// A stored report.
pub async fn find(pool: &PgPool, county: &str, week: IsoWeek) -> sqlx::Result<Option<Stored>> {
    type Row = (
        DateTime<Utc>,
        bool,
        serde_json::Value,
        String,
        String,
        Option<DateTime<Utc>>,
    );
    let row: Option<Row> = sqlx::query_as(
        "select generated_at, complete, figures, html, csv, sent_at from weekly_reports
         where county = $1 and week = $2",
    )
    .bind(county)
    .bind(week.to_string())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| Stored {
        county: county.to_owned(),
        week,
        generated_at: r.0,
        complete: r.1,
        figures: r.2,
        html: r.3,
        csv: r.4,
        sent_at: r.5,
    }))
}

/// When last week's reports are due: Monday at `hour` China time of the current week.
pub fn due_at(now: DateTime<Utc>, hour: u32) -> DateTime<Utc> {
    IsoWeek::containing(now).start() + TimeDelta::hours(i64::from(hour.min(23)))
}

/// One pass: last week's report of each county that has no complete one yet, once due.
/// Returns the counties written.
pub async fn run_once(ctx: &Context, counties: &[CountyCode]) -> anyhow::Result<Vec<String>> {
    let now = ctx.clock.now();
    let s = &ctx.rules.settings.weekly_report;
    if now < due_at(now, s.hour) {
        return Ok(Vec::new());
    }
    let week = IsoWeek::last_complete(now);
    let mut written = Vec::new();
    for county in counties {
        let done: Option<bool> = sqlx::query_scalar(
            "select complete from weekly_reports where county = $1 and week = $2",
        )
        .bind(county.as_str())
        .bind(week.to_string())
        .fetch_optional(&ctx.pool)
        .await?;
        if done == Some(true) {
            continue;
        }
        if generate(ctx, county, week, Mode::Scheduled)
            .await?
            .is_some()
        {
            written.push(county.to_string());
        }
    }
    Ok(written)
}

/// The scheduler: checks every `check_interval_secs` until `shutdown`.
pub async fn run(ctx: Context, counties: Vec<CountyCode>, shutdown: CancellationToken) {
    let every = Duration::from_secs(ctx.rules.settings.weekly_report.check_interval_secs.max(1));
    loop {
        if let Err(e) = run_once(&ctx, &counties).await {
            tracing::warn!(error = %format!("{e:#}"), "weekly reports not generated; will retry");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {},
            _ = shutdown.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_due_on_monday_at_the_hour_china_time() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let now = at("2026-03-11T10:00:00+08:00");
        assert_eq!(due_at(now, 8), at("2026-03-09T08:00:00+08:00"));
        let monday_early = at("2026-03-09T07:59:00+08:00");
        assert!(monday_early < due_at(monday_early, 8));
    }
}
