//! A clerk's decision on a repeat link (Decisions 7): the similarity only proposes a refusal
//! (不予受理, Art 19 para 3; 不再受理, Art 36 para 3); a clerk confirms that the facts and reasons
//! are the same, rejects the proposal, or removes the link — who (the authenticated caller),
//! when and why recorded, on the timeline, and published as `case.refusal_confirmed`,
//! `case.refusal_rejected` or `case.repeat_unlinked` through the outbox. Routing applies it:
//! only a confirmed refusal reaches the petitioner.
//!
//! Over HTTP (`POST /v1/cases/{case_no}/repeat`) and over NATS request/reply
//! (`xf.<county>.cmd.intake.repeat`, the clerk's bearer token in the `Authorization` header:
//! the clerk is who the token says, never a name the request claims).

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::{PgPool, Row};
use tokio_util::sync::CancellationToken;
use xinfang_domain::access::{self, Denied, Principal};
use xinfang_domain::county::CountyCode;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::events::{RepeatDecided, RepeatDecision, RepeatDisposition, RepeatLink};
use xinfang_domain::repeat::{self, DeadlineHeard, DecisionRefused, LinkOnRecord, TimeLimit};
use xinfang_domain::subject;
use xinfang_domain::validation::ValidationError;
use xinfang_platform::auth::Auth;
use xinfang_platform::http_json::parse_json;
use xinfang_platform::outbox;

use crate::register::is_finished;

/// The earlier matter's time limit from the registry's `deadlines` column
/// (`{"D5": {"due": …, "state": "pending" | "warning" | "overdue" | "met" | "met_late" | …}, …}`):
/// a clock that passed counts as passed even when the act came late (`met_late`).
pub fn earlier_time_limit(deadlines: &Value, now: DateTime<Utc>) -> TimeLimit {
    let heard: Vec<DeadlineHeard<'_>> = deadlines
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(code, d)| {
            let due = d.get("due")?.as_str()?.parse::<DateTime<Utc>>().ok()?;
            Some(DeadlineHeard {
                code,
                due,
                overdue: matches!(
                    d.get("state").and_then(Value::as_str),
                    Some("overdue" | "met_late")
                ),
            })
        })
        .collect();
    repeat::time_limit(&heard, now)
}

/// The staff timeline line of a repeat link made at registration.
pub fn link_summary(l: &RepeatLink) -> String {
    let what = match l.disposition {
        RepeatDisposition::Merged => "并入办理中的原案",
        RepeatDisposition::Related => "与原案相关，按新的信访事项办理",
        RepeatDisposition::NotAccepted => "拟不予受理（第十九条第三款），待登记人员确认",
        RepeatDisposition::NotReaccepted => "拟不再受理（第三十六条第三款），待登记人员确认",
    };
    format!(
        "重复信访，原案{}（相似度{:.2}）：{what}",
        l.of, l.similarity
    )
}

/// The staff timeline line of a link to a matter of the provincial terminated-matters list
/// (terminated elsewhere in the province; its similarity is the fingerprints').
pub fn registry_link_summary(l: &RepeatLink) -> String {
    format!(
        "重复信访，原案{}已在省内其他地方终结（省级终结库，相似度{:.2}）：拟不再受理（第三十六条第三款），待登记人员确认",
        l.of, l.similarity
    )
}

/// The timeline line of a clerk's decision (written by the decision and, for the event coming
/// back, by the registry: the event id keeps it single).
pub fn decision_summary(d: &RepeatDecided) -> String {
    let what = match (d.decision, d.was) {
        (RepeatDecision::Confirm, RepeatDisposition::NotReaccepted) => {
            "不再受理（第三十六条第三款）经登记人员确认"
        }
        (RepeatDecision::Confirm, _) => "不予受理（第十九条第三款）经登记人员确认",
        (RepeatDecision::Reject, _) => "拟议的拒绝受理未予确认，按新的信访事项办理",
        (RepeatDecision::Unlink, _) => "重复件关联已解除，按新的信访事项办理",
    };
    format!(
        "{what}（原案{}，登记人员{}）：{}",
        d.repeat_of, d.by, d.reason
    )
}

/// A clerk's decision: `{"decision": "confirm" | "reject" | "unlink", "reason": "…"}`.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    pub decision: RepeatDecision,
    /// Why: that the facts and reasons are the same, or are not (recorded; Art 44(2)).
    pub reason: String,
}

/// What the clerk gets back.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecisionReceipt {
    pub case_no: String,
    pub decision: RepeatDecision,
    /// The earlier case the link pointed to.
    pub repeat_of: String,
    /// The link's disposition before the decision.
    pub was: String,
    /// The disposition now (`not_accepted`, `not_reaccepted`, `related`), none once unlinked.
    pub disposition: Option<String>,
    /// The clerk: the id of the token the decision was made with.
    pub by: String,
    pub at: DateTime<Utc>,
    /// The event published, e.g. `case.refusal_confirmed`.
    pub event: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("case not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(Denied),
    #[error(transparent)]
    Conflict(#[from] DecisionRefused),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for DecideError {
    fn from(e: sqlx::Error) -> Self {
        DecideError::Internal(e.into())
    }
}

impl DecideError {
    /// `{"code", "message", "field"?}` of the API's error shape; internal details are logged,
    /// never returned.
    pub fn body(&self) -> Value {
        match self {
            DecideError::Invalid(v) => {
                json!({"code": v.rule, "message": v.message, "field": v.field})
            }
            DecideError::NotFound => json!({"code": "not_found", "message": "case not found"}),
            DecideError::Forbidden(d) => json!({"code": "forbidden", "message": d.to_string()}),
            DecideError::Conflict(c) => json!({"code": "state", "message": c.to_string()}),
            DecideError::Internal(e) => {
                tracing::error!(error = %format!("{e:#}"), "repeat decision failed");
                json!({"code": "internal", "message": "internal error; it has been logged"})
            }
        }
    }
}

/// Checks the case number's shape before it reaches a query.
pub fn check_case_no(raw: &str) -> Result<(), ValidationError> {
    if xinfang_domain::case_no::is_case_no(raw) {
        Ok(())
    } else {
        Err(ValidationError::new(
            "case_no",
            "format",
            "must look like XF-411282-2026-000001",
        ))
    }
}

/// Takes `who`'s decision on the repeat link of `case_no`, all in one transaction: the case's
/// link updated, the decision recorded, its timeline line written and its event enqueued.
pub async fn decide(
    pool: &PgPool,
    who: &Principal,
    case_no: &str,
    req: &DecisionRequest,
    now: DateTime<Utc>,
) -> Result<DecisionReceipt, DecideError> {
    check_case_no(case_no)?;
    let reason = repeat::check_reason(&req.reason)?;
    let mut tx = pool.begin().await?;
    let r = sqlx::query(
        "select county, repeat_of, repeat_disposition, repeat_proposed, repeat_confirmed_at
         from cases where case_no = $1 for update",
    )
    .bind(case_no)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(DecideError::NotFound)?;
    let county = CountyCode::parse(&r.try_get::<String, _>("county")?)
        .map_err(|e| anyhow::anyhow!("stored county: {e}"))?;
    // Access first: another county learns nothing of the case's state. Registering clerks
    // decide, as they registered it (the same rule as registration and reclassification).
    access::register(who, &county).map_err(DecideError::Forbidden)?;
    let repeat_of: Option<String> = r.try_get("repeat_of")?;
    let disposition = r
        .try_get::<Option<String>, _>("repeat_disposition")?
        .as_deref()
        .and_then(RepeatDisposition::parse);
    let (link, limit) = match (&repeat_of, disposition) {
        (Some(of), Some(disposition)) => {
            // The earlier matter as the registry knows it now (Art 19 para 3).
            let earlier = sqlx::query("select status, deadlines from cases where case_no = $1")
                .bind(of)
                .fetch_optional(&mut *tx)
                .await?;
            let (pending, limit) = match &earlier {
                Some(e) => (
                    !is_finished(&e.try_get::<String, _>("status")?),
                    earlier_time_limit(&e.try_get("deadlines")?, now),
                ),
                None => (false, TimeLimit::default()),
            };
            let link = LinkOnRecord {
                of: of.clone(),
                disposition,
                proposed: r.try_get("repeat_proposed")?,
                confirmed: r
                    .try_get::<Option<DateTime<Utc>>, _>("repeat_confirmed_at")?
                    .is_some(),
                earlier_pending: pending,
                earlier_out_of_time: limit.passed,
            };
            (Some(link), limit)
        }
        _ => (None, TimeLimit::default()),
    };
    let after = repeat::review(link.as_ref(), req.decision)?;
    // `review` refuses a decision without a link.
    let link = link.ok_or(DecideError::Conflict(DecisionRefused::NotLinked))?;
    let earlier_due = (req.decision == RepeatDecision::Confirm
        && link.disposition == RepeatDisposition::NotAccepted)
        .then_some(limit.due)
        .flatten();
    match req.decision {
        RepeatDecision::Confirm => {
            sqlx::query(
                "update cases set repeat_proposed = false, repeat_confirmed_at = $2,
                    repeat_earlier_due = coalesce($3, repeat_earlier_due), updated_at = now()
                 where case_no = $1",
            )
            .bind(case_no)
            .bind(now)
            .bind(earlier_due)
            .execute(&mut *tx)
            .await?;
        }
        RepeatDecision::Reject => {
            sqlx::query(
                "update cases set repeat_proposed = false, repeat_disposition = 'related',
                    repeat_earlier_due = null, updated_at = now()
                 where case_no = $1",
            )
            .bind(case_no)
            .execute(&mut *tx)
            .await?;
        }
        RepeatDecision::Unlink => {
            sqlx::query(
                "update cases set repeat_of = null, repeat_disposition = null,
                    repeat_proposed = false, repeat_similarity = null, repeat_earlier_due = null,
                    updated_at = now()
                 where case_no = $1",
            )
            .bind(case_no)
            .execute(&mut *tx)
            .await?;
            if link.disposition == RepeatDisposition::Merged {
                // It no longer counts among the petitions the earlier case absorbed.
                sqlx::query(
                    "update cases set repeat_count = greatest(1, repeat_count - 1),
                        updated_at = now() where case_no = $1",
                )
                .bind(&link.of)
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    let data = RepeatDecided {
        case_no: case_no.to_owned(),
        repeat_of: link.of.clone(),
        decision: req.decision,
        was: link.disposition,
        disposition: after,
        by: who.id.clone(),
        reason: reason.to_owned(),
        earlier_due,
        at: now,
    };
    let kind = req.decision.event_kind();
    let env = Envelope::new(kind, Some(case_no.to_owned()), county.clone(), now, &data)
        .map_err(anyhow::Error::from)?;
    sqlx::query(
        "insert into repeat_decisions (case_no, decision, repeat_of, was, disposition, by_clerk,
            reason, earlier_due, event_id, at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(case_no)
    .bind(req.decision.as_str())
    .bind(&link.of)
    .bind(link.disposition.as_str())
    .bind(after.map(RepeatDisposition::as_str))
    .bind(&who.id)
    .bind(reason)
    .bind(earlier_due)
    .bind(env.id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    // Staff only: the petitioner hears of a refusal from the notice routing's
    // `case.not_accepted` / `case.not_reaccepted` causes, and sees that line.
    sqlx::query(
        "insert into timeline (case_no, at, event, event_id, summary, public)
         values ($1, $2, $3, $4, $5, false) on conflict (event_id) do nothing",
    )
    .bind(case_no)
    .bind(now)
    .bind(kind)
    .bind(env.id)
    .bind(decision_summary(&data))
    .execute(&mut *tx)
    .await?;
    let subj = subject::case_event(&county, kind).map_err(anyhow::Error::from)?;
    outbox::enqueue(&mut tx, &subj, &env).await?;
    tx.commit().await?;
    metrics::counter!("xf_repeat_decisions_total", "decision" => req.decision.as_str())
        .increment(1);
    tracing::info!(case_no = %case_no, decision = req.decision.as_str(), was = link.disposition.as_str(), "repeat link decided");
    Ok(DecisionReceipt {
        case_no: case_no.to_owned(),
        decision: req.decision,
        repeat_of: link.of,
        was: data.was.as_str().to_owned(),
        disposition: after.map(|d| d.as_str().to_owned()),
        by: data.by,
        at: now,
        event: format!("case.{kind}"),
    })
}

/// A decision over NATS: the HTTP body plus the case number.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandBody {
    case_no: String,
    decision: RepeatDecision,
    reason: String,
}

/// Subscribes to `xf.<county>.cmd.intake.repeat` (queue group `intake`) before returning.
pub async fn subscribe(
    nats: &async_nats::Client,
    county: &CountyCode,
) -> anyhow::Result<async_nats::Subscriber> {
    let subj = subject::command(county, "intake", "repeat")?;
    Ok(nats
        .queue_subscribe(subj.to_string(), "intake".into())
        .await?)
}

/// The caller a NATS request authenticates as: the bearer token in its `Authorization`
/// header, checked exactly as over HTTP.
async fn caller(auth: &Auth, msg: &async_nats::Message) -> Result<Principal, Value> {
    let mut headers = axum::http::HeaderMap::new();
    let token = msg
        .headers
        .as_ref()
        .and_then(|h| h.get("Authorization").or_else(|| h.get("authorization")));
    if let Some(v) = token.and_then(|v| axum::http::HeaderValue::from_str(v.as_str()).ok()) {
        headers.insert(axum::http::header::AUTHORIZATION, v);
    }
    match auth.caller(&headers).await {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(json!({"code": "unauthorized",
            "message": "an Authorization: Bearer <token> header is required"})),
        Err(_) => Err(json!({"code": "unauthorized",
            "message": "unknown or revoked token, or not `Bearer <token>`"})),
    }
}

/// Answers repeat decisions until `shutdown`, only into an `_INBOX.` reply subject.
pub async fn serve(
    nats: async_nats::Client,
    mut sub: async_nats::Subscriber,
    county: CountyCode,
    pool: PgPool,
    auth: Auth,
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
        // The reply subject is the sender's choice: answer only into an inbox, and decide
        // nothing for a request that asks for an answer anywhere else.
        if !subject::is_inbox(reply.as_str()) {
            metrics::counter!("xf_command_reply_refused_total", "service" => "intake").increment(1);
            tracing::warn!(
                reply = %reply.as_str().chars().take(120).collect::<String>(),
                "repeat decision dropped: its reply subject is not an inbox"
            );
            continue;
        }
        let body = match caller(&auth, &msg).await {
            Err(error) => json!({ "error": error }),
            Ok(who) => match parse_json::<CommandBody>(&msg.payload) {
                Err(e) => {
                    let mut error = json!({"code": e.code, "message": e.message});
                    if let Some(f) = e.field {
                        error["field"] = json!(f);
                    }
                    json!({ "error": error })
                }
                Ok(b) if !b.case_no.starts_with(&format!("XF-{county}-")) => {
                    json!({"error": {"code": "county_mismatch", "field": "case_no",
                        "message": "must be a case of the command subject's county"}})
                }
                Ok(b) => {
                    let req = DecisionRequest {
                        decision: b.decision,
                        reason: b.reason,
                    };
                    match decide(&pool, &who, &b.case_no, &req, Utc::now()).await {
                        Ok(receipt) => json!(receipt),
                        Err(e) => json!({ "error": e.body() }),
                    }
                }
            },
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        if let Err(e) = nats.publish(reply, bytes.into()).await {
            tracing::warn!(error = %e, "repeat decision reply not sent");
        }
    }
    sub.unsubscribe().await.ok();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_limit_is_read_from_the_registry_deadlines() {
        let now = "2026-02-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let t = earlier_time_limit(
            &json!({"D5": {"due": "2026-02-10T15:59:59Z", "state": "warning"}}),
            now,
        );
        assert_eq!(
            t.due,
            Some("2026-02-10T15:59:59Z".parse::<DateTime<Utc>>().unwrap())
        );
        assert!(!t.passed);
        let t = earlier_time_limit(
            &json!({"D3": {"due": "2026-01-10T15:59:59Z", "state": "overdue"}}),
            now,
        );
        assert!(t.passed && t.due.is_none());
        assert_eq!(earlier_time_limit(&json!({}), now), TimeLimit::default());
        assert_eq!(
            earlier_time_limit(&json!({"D5": {"due": "garbage"}}), now),
            TimeLimit::default()
        );
    }

    #[test]
    fn the_registry_writes_a_decision_on_the_staff_timeline_only() {
        let d = RepeatDecided {
            case_no: "XF-411200-2026-000002".into(),
            repeat_of: "XF-411282-2026-000001".into(),
            decision: RepeatDecision::Confirm,
            was: RepeatDisposition::NotAccepted,
            disposition: Some(RepeatDisposition::NotAccepted),
            by: "t-clerk".into(),
            reason: "同一事实和理由".into(),
            earlier_due: None,
            at: Utc::now(),
        };
        let county = CountyCode::parse("411200").unwrap();
        for decision in [
            RepeatDecision::Confirm,
            RepeatDecision::Reject,
            RepeatDecision::Unlink,
        ] {
            let kind = decision.event_kind();
            let d = RepeatDecided {
                decision,
                ..d.clone()
            };
            let data = serde_json::to_value(&d).unwrap();
            let env =
                Envelope::new(kind, Some(d.case_no.clone()), county.clone(), d.at, data).unwrap();
            let u = crate::registry::interpret(&format!("xf.411200.case.{kind}"), &env).unwrap();
            assert_eq!(u.status, None, "{kind}: the status waits for routing");
            assert!(!u.public, "{kind}: staff only");
            assert_eq!(u.summary, decision_summary(&d));
            assert!(u.summary.contains("t-clerk") && u.summary.contains("同一事实和理由"));
        }
    }

    #[test]
    fn case_numbers_are_checked_before_a_query() {
        assert!(check_case_no("XF-411282-2026-000001").is_ok());
        for bad in ["", "XF-", "XF-4112'--", "YF-411282-2026-000001"] {
            assert!(check_case_no(bad).is_err(), "{bad}");
        }
    }
}
