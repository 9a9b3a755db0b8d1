//! Consumers of `case.>`, `dept.>` and `review.>`: inside the batch transaction they keep
//! the registration projection and write PENDING deliveries (idempotent on event, recipient
//! and channel). Nothing is sent here: the sender loop does that outside the transaction.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use sqlx::PgConnection;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::events::{self, SealedContact, kind};
use xinfang_domain::seal;
use xinfang_platform::consumer::{Handler, HandlerError, Incoming};

use crate::core::Core;
use crate::mask;
use crate::notice::{Audience, Channel, Notice, Var, Vars};
use crate::plan::{self, Family, Plan, PlanContext, Target};
use crate::store::{self, NewDelivery};

/// One handler for all three families (each runs as its own durable consumer).
#[derive(Clone)]
pub struct NotifyHandler {
    core: Arc<Core>,
}

impl NotifyHandler {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }
}

impl Handler for NotifyHandler {
    fn handle(
        &self,
        conn: &mut PgConnection,
        msg: &Incoming<'_>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let core = self.core.clone();
        let subject = msg.subject.to_owned();
        let env = msg.envelope.clone();
        async move { handle_event(&core, conn, &subject, &env).await }
    }
}

fn reject(e: impl std::fmt::Display) -> HandlerError {
    HandlerError::Reject(anyhow::anyhow!("{e}"))
}

/// Plans without holding any non-`Send` state across an await.
fn plans_for(core: &Core, subject: &str, env: &Envelope) -> Result<Vec<Plan>, plan::PlanError> {
    let dept_name = |county: &xinfang_domain::county::CountyCode, dept: &str| {
        core.contacts
            .department(county, dept)
            .map(|c| c.name)
            .unwrap_or_else(|| dept.to_owned())
    };
    let organ_name = |organ: &str| {
        core.contacts
            .organ_name(organ)
            .unwrap_or_else(|| organ.to_owned())
    };
    let ctx = PlanContext {
        offset: core.quiet.offset(),
        dept_name: &dept_name,
        organ_name: &organ_name,
    };
    plan::plan(subject, env, &ctx)
}

/// Handles one event: projection, then pending deliveries.
pub async fn handle_event(
    core: &Core,
    conn: &mut PgConnection,
    subject: &str,
    env: &Envelope,
) -> Result<(), HandlerError> {
    let fam = plan::family(subject);
    if fam == Family::Case && env.kind == kind::REGISTERED {
        let r: events::Registered = env.data_as().map_err(reject)?;
        store::upsert_case(conn, &r, env.id).await?;
    }
    if let Family::Dept(dept) = &fam
        && env.kind == kind::ASSIGNED
    {
        // Who handles the case decides who may read its delivery log.
        let a: events::DeptAssignment = env.data_as().map_err(reject)?;
        let dept = if a.department.is_empty() {
            dept
        } else {
            &a.department
        };
        store::record_department(conn, &a.case_no, &env.county, dept).await?;
    }
    let plans = plans_for(core, subject, env).map_err(reject)?;
    let mut added = 0usize;
    for p in plans {
        added += deliver_plan(core, conn, env, &fam, p).await?;
    }
    if added > 0 {
        store::wake(conn).await?;
    }
    Ok(())
}

/// Addresses of a plan's target, by channel, plus the target-dependent variables.
struct Resolved {
    addresses: Vec<(Channel, String)>,
    extra: Vars,
    department: Option<String>,
}

async fn resolve(
    core: &Core,
    conn: &mut PgConnection,
    fam: &Family,
    p: &Plan,
) -> Result<Option<Resolved>, HandlerError> {
    match &p.target {
        Target::Petitioner { case_no } => {
            let Some(case) = store::find_case(conn, case_no).await? else {
                if *fam == Family::Review {
                    // Review subjects of the city carry every county's cases; this
                    // deployment tells only petitioners it registered.
                    tracing::debug!(case_no, notice = %p.notice, "case not registered here; skipping");
                    return Ok(None);
                }
                return Err(HandlerError::Retry(anyhow::anyhow!(
                    "case {case_no} has no registration yet"
                )));
            };
            let Some(sealed) = case.contact_sealed else {
                tracing::debug!(case_no, notice = %p.notice, "petitioner left no contact");
                return Ok(None);
            };
            let contact = seal::open_contact(&core.data_key, &SealedContact(sealed))
                .map_err(|e| reject(format!("case {case_no}: contact: {e}")))?;
            let mut addresses = Vec::new();
            if let Some(m) = contact.mobile.filter(|m| !m.trim().is_empty()) {
                addresses.push((Channel::Sms, m.trim().to_owned()));
            }
            if let Some(e) = contact.email.filter(|e| !e.trim().is_empty()) {
                addresses.push((Channel::Email, e.trim().to_owned()));
            }
            let mut extra = Vars::new();
            extra.insert("query_code".into(), Var::text(case.query_code));
            extra.insert(
                "query_url".into(),
                Var::text(core.settings.query_url.clone()),
            );
            extra.insert(
                "eval_days".into(),
                Var::text(core.settings.eval_days.to_string()),
            );
            Ok(Some(Resolved {
                addresses,
                extra,
                department: None,
            }))
        }
        Target::Department { county, dept } => {
            let Some(c) = core.contacts.department(county, dept) else {
                tracing::warn!(%county, dept, notice = %p.notice, "department not in the directory; notice not sent");
                metrics::counter!("xf_notify_unknown_department_total").increment(1);
                return Ok(None);
            };
            let mut addresses: Vec<(Channel, String)> = Vec::new();
            addresses.extend(c.emails.iter().map(|e| (Channel::Email, e.clone())));
            addresses.extend(c.mobiles.iter().map(|m| (Channel::Sms, m.clone())));
            let mut extra = Vars::new();
            extra.insert("department_name".into(), Var::text(c.name));
            Ok(Some(Resolved {
                addresses,
                extra,
                department: Some(dept.clone()),
            }))
        }
    }
}

/// Full variables of a plan: own + common + target-dependent, limited to the declared set.
fn full_vars(core: &Core, p: &Plan, extra: &Vars) -> Vars {
    let mut all = Vars::new();
    all.insert("bureau".into(), Var::text(core.bureau.clone()));
    all.insert("case_no".into(), Var::text(p.case_no.clone()));
    for (k, v) in extra.iter().chain(p.vars.iter()) {
        all.insert(k.clone(), v.clone());
    }
    let declared = p.notice.declared();
    all.retain(|k, _| declared.contains(&k.as_str()));
    all
}

/// Template parameters for template-based SMS providers: the text variables.
fn params(vars: &Vars) -> BTreeMap<String, String> {
    vars.iter()
        .filter_map(|(k, v)| match v {
            Var::Text(s) => Some((k.clone(), s.clone())),
            Var::Bool(_) => None,
        })
        .collect()
}

async fn deliver_plan(
    core: &Core,
    conn: &mut PgConnection,
    env: &Envelope,
    fam: &Family,
    p: Plan,
) -> Result<usize, HandlerError> {
    let Some(resolved) = resolve(core, conn, fam, &p).await? else {
        return Ok(0);
    };
    let vars = full_vars(core, &p, &resolved.extra);
    let now = core.clock.now();
    let audience = p.notice.audience();
    let mut added = 0;
    for (channel, address) in &resolved.addresses {
        let rendered = core
            .templates
            .render(p.notice, *channel, &vars)
            .map_err(reject)?;
        if rendered.truncated {
            tracing::warn!(notice = %p.notice, segments = rendered.segments, "SMS cut to the segment limit");
        }
        let quiet_exempt = *channel == Channel::Email
            || audience == Audience::Department
            || core.settings.is_urgent(p.notice);
        let next = if quiet_exempt {
            now
        } else {
            core.quiet.next_allowed(now)
        };
        let recipient = core.recipient_key(*channel, address);
        let sealed = core.seal_address(address).map_err(reject)?;
        let masked = mask::address(address);
        let params = serde_json::to_value(params(&vars)).map_err(reject)?;
        let inserted = store::insert_delivery(
            conn,
            &NewDelivery {
                event_id: env.id,
                recipient: &recipient,
                channel: channel.as_str(),
                notice: p.notice.name(),
                audience: audience.as_str(),
                department: resolved.department.as_deref(),
                case_no: &p.case_no,
                county: env.county.as_str(),
                address_sealed: &sealed,
                address_masked: &masked,
                subject: rendered.subject.as_deref(),
                body: &rendered.body,
                params,
                quiet_exempt,
                next_attempt_at: next,
                deferred: next > now,
            },
        )
        .await?;
        if inserted {
            added += 1;
            tracing::info!(
                notice = %p.notice,
                channel = %channel,
                to = %mask::Masked(address),
                deferred = next > now,
                "delivery pending"
            );
        }
    }
    Ok(added)
}

/// Which notice kinds a family may produce (documentation and tests).
pub fn notices_of(fam: &Family) -> Vec<Notice> {
    match fam {
        Family::Case => vec![
            Notice::Receipt,
            Notice::Accepted,
            Notice::NotAccepted,
            Notice::NotReaccepted,
            Notice::Diverted,
            Notice::Extended,
            Notice::Replied,
            Notice::Evaluation,
            Notice::Terminated,
        ],
        Family::Dept(_) => vec![
            Notice::Assigned,
            Notice::Warning,
            Notice::Overdue,
            Notice::Supervision,
            Notice::ReviewRequested,
            Notice::Remanded,
        ],
        Family::Review => vec![Notice::ReviewDecided, Notice::RereviewDecided],
        Family::Other => Vec::new(),
    }
}
