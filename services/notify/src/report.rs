//! Reports e-mailed to the bureau's leaders: the weekly analysis (周研判) supervision publishes
//! as `xf.<county>.report.weekly` becomes one pending e-mail per recipient of
//! `[notify.weekly_report]` (HTML body, the CSV attached), written in the consumer's
//! transaction into the delivery log. Its unique key (event, notice, recipient, channel) makes a
//! redelivered event add nothing; the sender loop sends each row once.

use std::future::Future;
use std::sync::Arc;

use sqlx::PgConnection;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::weekly_report::{EVENT_KIND, ReportEvent};
use xinfang_platform::consumer::{Handler, HandlerError, Incoming};

use crate::core::Core;
use crate::mask;
use crate::notice::Channel;
use crate::store::{self, NewReportDelivery};

/// The notice name of the weekly analysis in the delivery log.
pub const WEEKLY_REPORT: &str = "weekly_report";

/// The consumer of `xf.<county>.report.>`.
#[derive(Clone)]
pub struct ReportHandler {
    core: Arc<Core>,
}

impl ReportHandler {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }
}

impl Handler for ReportHandler {
    fn handle(
        &self,
        conn: &mut PgConnection,
        msg: &Incoming<'_>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let core = self.core.clone();
        let env = msg.envelope.clone();
        async move { handle_report(&core, conn, &env).await.map(|_| ()) }
    }
}

fn reject(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Reject(anyhow::anyhow!("{e}"))
}

/// Writes the pending e-mails of one report event; returns how many were new.
pub async fn handle_report(
    core: &Core,
    conn: &mut PgConnection,
    env: &Envelope,
) -> Result<usize, HandlerError> {
    if env.kind != EVENT_KIND {
        return Ok(0);
    }
    let r: ReportEvent = env.data_as().map_err(reject)?;
    let recipients = core.settings.weekly_report.recipients_for(&r.county);
    if recipients.is_empty() {
        tracing::info!(county = %r.county, week = %r.week, "weekly report: no recipients configured");
        return Ok(0);
    }
    let now = core.clock.now();
    let attachment = (!r.csv.is_empty()).then_some((r.csv_name.as_str(), r.csv.as_str()));
    let mut added = 0;
    for address in &recipients {
        let recipient = core.recipient_key(Channel::Email, address);
        let sealed = core.seal_address(address).map_err(reject)?;
        let masked = mask::address(address);
        let inserted = store::insert_report_delivery(
            conn,
            &NewReportDelivery {
                event_id: env.id,
                recipient: &recipient,
                notice: WEEKLY_REPORT,
                county: env.county.as_str(),
                address_sealed: &sealed,
                address_masked: &masked,
                subject: &r.title,
                html: &r.html,
                attachment,
                next_attempt_at: now,
            },
        )
        .await?;
        if inserted {
            added += 1;
            tracing::info!(county = %r.county, week = %r.week, to = %mask::Masked(address), "weekly report e-mail pending");
        }
    }
    if added > 0 {
        store::wake(conn).await?;
    }
    Ok(added)
}
