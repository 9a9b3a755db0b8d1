//! Department commands over NATS request/reply: `xf.<county>.cmd.<dept>.<action>`, a core
//! NATS queue subscription (group `routing`) per served county, so instances share the load.
//! The subject names the sender (its county and department — the server's permissions
//! guarantee a department can only publish on its own); the body is the action's JSON with
//! `case_no` and `request_id`. Subjects of other services (`cmd.intake.*`) and unknown
//! actions are left alone, without a reply, for whoever else listens. A command whose reply
//! subject is not under the department's own inbox (`_INBOX.<county>_<dept>.`) is dropped
//! and logged: routing would otherwise publish wherever a department asked it to.

use std::sync::Arc;

use futures::StreamExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use xinfang_domain::county::CountyCode;
use xinfang_domain::subject;

use crate::actions::{ACTIONS, ActionRequest, execute};
use crate::context::Ctx;

pub const QUEUE_GROUP: &str = "routing";

pub async fn serve(
    nats: async_nats::Client,
    county: CountyCode,
    ctx: Arc<Ctx>,
    concurrency: usize,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let filter = format!("xf.{county}.cmd.*.*");
    let sub = nats.queue_subscribe(filter, QUEUE_GROUP.into()).await?;
    let stop = shutdown.clone();
    sub.take_until(async move { stop.cancelled().await })
        .for_each_concurrent(concurrency.max(1), |msg| {
            let ctx = ctx.clone();
            let nats = nats.clone();
            let county = county.clone();
            async move { handle(&nats, &county, &ctx, msg).await }
        })
        .await;
    Ok(())
}

async fn handle(
    nats: &async_nats::Client,
    county: &CountyCode,
    ctx: &Ctx,
    msg: async_nats::Message,
) {
    let parts: Vec<&str> = msg.subject.as_str().split('.').collect();
    let [_, _, _, dept, action] = parts.as_slice() else {
        return;
    };
    let is_department = ctx
        .directory
        .current()
        .county(county)
        .and_then(|c| c.department(dept))
        .is_some();
    if !is_department || !ACTIONS.contains(action) {
        return;
    }
    // The reply subject is the sender's choice: answer only into the department's own inbox,
    // and do nothing for a request that asks for an answer anywhere else.
    let inbox = subject::department_inbox(county, dept);
    if let Some(reply) = &msg.reply
        && !subject::is_reply_under(reply.as_str(), &inbox)
    {
        metrics::counter!("xf_command_reply_refused_total", "service" => "routing").increment(1);
        tracing::warn!(
            nats_user = %subject::department_user(county, dept),
            action = %action,
            expected_prefix = %inbox,
            reply = %reply.as_str().chars().take(120).collect::<String>(),
            "department command dropped: its reply subject is not the department's own inbox"
        );
        return;
    }
    let answer = match serde_json::from_slice::<serde_json::Value>(&msg.payload) {
        Err(_) => json!({"error": {"code": "invalid", "rule": "json", "field": "body",
            "message": "the request body is not valid JSON"}}),
        Ok(body) => {
            let req = ActionRequest {
                county: Some(county.clone()),
                department: (*dept).to_owned(),
                action: (*action).to_owned(),
                case_no: None,
                body,
            };
            execute(ctx, req, chrono::Utc::now()).await.body
        }
    };
    let Some(reply) = msg.reply else {
        tracing::debug!(subject = %msg.subject, "department command without a reply subject");
        return;
    };
    let bytes = serde_json::to_vec(&answer).unwrap_or_default();
    if let Err(e) = nats.publish(reply, bytes.into()).await {
        tracing::warn!(error = %e, "department command reply not sent");
    }
}
