//! `xf.<county>.cmd.intake.register`: registration over NATS request/reply, for channels
//! that submit programmatically (the online portal, the 12345 bridge). Instances share the
//! queue group `intake`.

use futures::StreamExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use xinfang_domain::county::CountyCode;
use xinfang_domain::registration::RegistrationInput;
use xinfang_domain::subject;
use xinfang_platform::http_json::parse_json;

use crate::register::{RegisterError, Registrar};

/// Subscribes (before returning, so the service answers as soon as start-up completes).
pub async fn subscribe(
    nats: &async_nats::Client,
    county: &CountyCode,
) -> anyhow::Result<async_nats::Subscriber> {
    let subj = subject::command(county, "intake", "register")?;
    Ok(nats
        .queue_subscribe(subj.to_string(), "intake".into())
        .await?)
}

/// Answers register requests until `shutdown`.
pub async fn serve(
    nats: async_nats::Client,
    mut sub: async_nats::Subscriber,
    county: CountyCode,
    registrar: Registrar,
    shutdown: CancellationToken,
) {
    loop {
        let msg = tokio::select! {
            m = sub.next() => match m { Some(m) => m, None => break },
            _ = shutdown.cancelled() => break,
        };
        let Some(reply) = msg.reply.clone() else {
            continue;
        };
        // The reply subject is the sender's choice: answer only into an inbox, never onto an
        // event subject or a JetStream API call, and register nothing for such a request.
        if !subject::is_inbox(reply.as_str()) {
            metrics::counter!("xf_command_reply_refused_total", "service" => "intake").increment(1);
            tracing::warn!(
                reply = %reply.as_str().chars().take(120).collect::<String>(),
                "register request dropped: its reply subject is not an inbox"
            );
            continue;
        }
        // As over HTTP: the field named, its value never echoed (it may be a phone number).
        let body = match parse_json::<RegistrationInput>(&msg.payload) {
            Err(e) => {
                let mut error = json!({"code": e.code, "message": e.message});
                if let Some(f) = e.field {
                    error["field"] = json!(f);
                }
                json!({ "error": error })
            }
            Ok(input) if input.county != county.as_str() && input.county != "unknown" => {
                json!({"error": {
                "code": "county_mismatch", "field": "county",
                "message": "must be the county of the command subject or \"unknown\""}})
            }
            Ok(input) => match registrar.register(&input, chrono::Utc::now()).await {
                Ok(receipt) => json!(receipt),
                Err(RegisterError::Invalid(v)) => {
                    json!({"error": {"code": v.rule, "field": v.field, "message": v.message}})
                }
                Err(RegisterError::Internal(e)) => {
                    tracing::error!(error = %format!("{e:#}"), "registration failed");
                    json!({"error": {"code": "internal", "message": "internal error; it has been logged"}})
                }
            },
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        if let Err(e) = nats.publish(reply, bytes.into()).await {
            tracing::warn!(error = %e, "register reply not sent");
        }
    }
    sub.unsubscribe().await.ok();
}
