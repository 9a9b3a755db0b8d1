//! 复查 (Art 35) and 复核 (Art 36): requests, decisions, hearings and requests to organs
//! outside the system, each checked by the rules of `xinfang_domain::appeal`, stored and
//! published in one transaction.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use xinfang_domain::access::{self, Principal};
use xinfang_domain::appeal::{
    AppealError, AppealRecord, EXTERNAL_PREFIX, MAX_NOTE_CHARS, Organ, ReviewOutcome,
    check_decision, check_hearing, check_request, decision_deadline, level_str, level_zh,
    next_organ, original_handler, parse_level, served_instant,
};
use xinfang_domain::deadline::{CST, cst_date};
use xinfang_domain::directory::OrganRef;
use xinfang_domain::events::{ReviewEvent, ReviewLevel, kind};
use xinfang_domain::validation::ValidationError;

use crate::context::Ctx;
use crate::emit::{self, EventRef, organ_county};
use crate::error::ReviewError;
use crate::identity::parse_id_number;
use crate::store::{self, AppealRow, CaseRow};

/// Who may file: a clerk naming the case, or the petitioner with the query code and the ID
/// number the case was registered with.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestInput {
    pub case_no: Option<String>,
    pub query_code: Option<String>,
    pub id_number: Option<String>,
    pub clerk_id: Option<String>,
    /// `review` (复查) or `rereview` (复核); by default the next one the case admits.
    pub level: Option<String>,
    /// The petitioner's grounds (请求和理由).
    pub grounds: Option<String>,
    /// A request sent by post: the postmark date (YYYY-MM-DD), keyed in by the clerk
    /// (`clerk_id`). The window (D7/D9) is checked against it: a request posted in time is in
    /// time (Decisions 1). Not after today, not before the opinion appealed against was served.
    pub posted_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequestReceipt {
    pub case_no: String,
    pub level: &'static str,
    pub organ: String,
    pub organ_name: String,
    pub requested_at: DateTime<Utc>,
    /// The postmark date the window was checked against, for a request sent by post.
    pub posted_on: Option<NaiveDate>,
    /// When the organ must decide (D8 or D10, hearings aside).
    pub decide_by: Option<DateTime<FixedOffset>>,
    /// `decide_by` depends on a year the holiday calendar does not cover yet.
    pub provisional: bool,
    pub events: Vec<EventRef>,
}

/// A refusal about a field (the postmark date) is invalid input (422, field named); the others
/// are refusals by the rules.
fn refusal(e: AppealError) -> ReviewError {
    match e.field() {
        Some(field) => ValidationError::new(field, e.code(), e.to_string()).into(),
        None => e.into(),
    }
}

/// The decision deadline and whether it is provisional.
fn deadline_of(
    ctx: &Ctx,
    level: ReviewLevel,
    record: &AppealRecord,
    now: DateTime<FixedOffset>,
) -> (Option<DateTime<FixedOffset>>, bool) {
    match decision_deadline(level, record, now, &ctx.policy().get()) {
        Ok(d) => (d.due, d.is_provisional()),
        Err(_) => (None, false),
    }
}

/// Staff identifiers (`clerk_id`, `decided_by`): 1-64 printable characters.
fn staff_id(field: &'static str, raw: Option<&str>) -> Result<String, ValidationError> {
    let v = raw.map(str::trim).unwrap_or_default();
    if v.is_empty() {
        return Err(ValidationError::new(field, "required", "must not be empty"));
    }
    if v.chars().count() > 64 || v.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "format",
            "must be at most 64 printable characters",
        ));
    }
    Ok(v.to_owned())
}

fn note(field: &'static str, raw: Option<&str>) -> Result<Option<String>, ValidationError> {
    let v = raw.map(str::trim).filter(|s| !s.is_empty());
    if let Some(v) = v
        && v.chars().count() > MAX_NOTE_CHARS
    {
        return Err(ValidationError::new(
            field,
            "too_long",
            format!("must be at most {MAX_NOTE_CHARS} characters"),
        ));
    }
    Ok(v.map(str::to_owned))
}

/// A case number: ASCII letters, digits and '-', 1-64 characters.
pub fn case_no(field: &'static str, raw: &str) -> Result<String, ValidationError> {
    let v = raw.trim();
    if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(ValidationError::new(
            field,
            "format",
            "must be a case number such as XF-411282-2026-000001",
        ));
    }
    Ok(v.to_owned())
}

/// A query code (查询码): 4-32 ASCII letters and digits. Never echoed.
pub fn query_code(raw: &str) -> Result<String, ValidationError> {
    let v = raw.trim();
    if !(4..=32).contains(&v.len()) || !v.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ValidationError::new(
            "query_code",
            "format",
            "must be the query code (查询码) from the registration receipt",
        ));
    }
    Ok(v.to_owned())
}

fn not_in_future(field: &'static str, date: NaiveDate, ctx: &Ctx) -> Result<(), ValidationError> {
    if date > cst_date(ctx.clock.now_cst()) {
        return Err(ValidationError::new(
            field,
            "in_future",
            "must not be after today (China time)",
        ));
    }
    Ok(())
}

/// The organ that reviews the decision below `level` for this case.
fn organ_for(
    ctx: &Ctx,
    case: &CaseRow,
    appeals: &[AppealRow],
    level: ReviewLevel,
) -> Result<(Organ, String), ReviewError> {
    let directory = ctx.directory.current();
    let below = match level {
        ReviewLevel::Review => {
            let dept = case.reply_department.as_deref().unwrap_or(&case.department);
            original_handler(&directory, &case.matter_county, dept)?
        }
        ReviewLevel::Rereview => {
            let review = store::current_appeal(Some(case), appeals, ReviewLevel::Review).ok_or(
                AppealError::NotRequested {
                    level: ReviewLevel::Review,
                },
            )?;
            if review.external {
                return Ok((Organ::External, review.organ.clone()));
            }
            OrganRef::parse(&review.organ).map_err(|_| AppealError::UnknownOrgan {
                organ: review.organ.clone(),
            })?
        }
    };
    let below_name = directory.organ_name(&below);
    Ok((next_organ(&directory, &below)?, below_name))
}

/// The display name of an organ code.
pub fn organ_name(ctx: &Ctx, organ: &str) -> String {
    if let Some(name) = organ.strip_prefix(EXTERNAL_PREFIX) {
        return name.to_owned();
    }
    OrganRef::parse(organ)
        .map(|o| ctx.directory.current().organ_name(&o))
        .unwrap_or_else(|_| organ.to_owned())
}

/// Files a 复查 or 复核 request (Art 35, 36).
pub async fn request(ctx: &Ctx, input: &RequestInput) -> Result<RequestReceipt, ReviewError> {
    let now = ctx.clock.now();
    let level = input.level.as_deref().map(parse_level).transpose()?;
    let grounds = note("grounds", input.grounds.as_deref())?;
    let clerk = input
        .clerk_id
        .as_deref()
        .filter(|c| !c.trim().is_empty())
        .map(|c| staff_id("clerk_id", Some(c)))
        .transpose()?;
    if input.posted_on.is_some() && clerk.is_none() {
        return Err(ValidationError::new(
            "posted_on",
            "clerk_only",
            "the postmark date of a request sent by post is recorded by the clerk who keys it in (give clerk_id and case_no)",
        )
        .into());
    }
    let mut tx = ctx.pool.begin().await?;
    let (case, requested_by) = match &clerk {
        Some(clerk) => {
            let no = case_no(
                "case_no",
                input.case_no.as_deref().ok_or_else(|| {
                    ValidationError::new(
                        "case_no",
                        "required",
                        "a clerk's request names the case number",
                    )
                })?,
            )?;
            let case = store::case_by_no(&mut tx, &no, true)
                .await?
                .ok_or(ReviewError::NotFound("case"))?;
            (case, clerk.clone())
        }
        None => {
            let code = query_code(input.query_code.as_deref().ok_or_else(|| {
                ValidationError::new(
                    "query_code",
                    "required",
                    "a petitioner's request gives the query code (查询码) and the ID number, or a clerk files it with clerk_id and case_no",
                )
            })?)?;
            let id = parse_id_number(
                input.id_number.as_deref().ok_or_else(|| {
                    ValidationError::new(
                        "id_number",
                        "required",
                        "a request by query code needs the petitioner's ID number",
                    )
                })?,
                cst_date(now.with_timezone(&CST)),
            )?;
            let case = store::case_by_query_code(&mut tx, &code)
                .await?
                .ok_or(ReviewError::NotFound("case"))?;
            if input
                .case_no
                .as_deref()
                .is_some_and(|n| n.trim() != case.case_no)
            {
                return Err(ReviewError::NotFound("case"));
            }
            // Locked codes are refused before the ID number is looked at, so guessing on
            // learns nothing.
            if let Err(l) = ctx.id_attempts.check(&code).await? {
                return Err(ReviewError::Locked {
                    retry_after_secs: l.retry_after_secs,
                });
            }
            if !ctx.key.id_matches(&id, &case.petitioner_key) {
                ctx.id_attempts.record_failure(&code).await?;
                return Err(ReviewError::IdentityMismatch);
            }
            (case, "petitioner".to_owned())
        }
    };
    let appeals = store::appeals(&mut tx, &case.case_no, true).await?;
    let hearings = store::hearings(&mut tx, &case.case_no).await?;
    let facts = store::appeal_facts(Some(&case), &appeals, &hearings);
    let level = check_request(
        &facts,
        level,
        now.with_timezone(&CST),
        input.posted_on,
        &ctx.settings.open_to_review,
        &ctx.policy().get(),
    )
    .map_err(refusal)?;
    let organ = match organ_for(ctx, &case, &appeals, level)? {
        (Organ::Internal(o), _) => o,
        (Organ::External, below) => {
            return Err(ReviewError::conflict(
                "review_organ_outside_system",
                format!(
                    "the next-higher organ above {below} is outside this system (e.g. the provincial government); the bureau records the {} request and decision by hand (POST /v1/reviews/external) (Art {})",
                    level_zh(level),
                    if level == ReviewLevel::Review {
                        "35"
                    } else {
                        "36"
                    }
                ),
            ));
        }
    };
    let organ_code = organ.to_string();
    if !store::insert_appeal(
        &mut tx,
        &case.case_no,
        case.round,
        level,
        &case.home_county,
        &organ_code,
        now,
        &requested_by,
        grounds.as_deref(),
    )
    .await?
    {
        return Err(AppealError::AlreadyRequested { level }.into());
    }
    if let Some(posted_on) = input.posted_on {
        store::set_posted_on(&mut tx, &case.case_no, case.round, level, posted_on).await?;
    }
    let event = ReviewEvent {
        case_no: case.case_no.clone(),
        case_county: case.home_county.clone(),
        level,
        organ: organ_code.clone(),
        decision: None,
        served_on: None,
        at: now,
        round: round_of(case.round)?,
    };
    let events = emit::review_event(&mut tx, kind::REVIEW_REQUESTED, &event).await?;
    tx.commit().await?;
    metrics::counter!("xf_review_requests_total", "level" => level_str(level)).increment(1);
    tracing::info!(case_no = %case.case_no, level = level_str(level), organ = %organ_code, by = if clerk.is_some() { "clerk" } else { "petitioner" }, posted_on = ?input.posted_on, "appeal requested");
    let record = AppealRecord {
        requested_at: now.with_timezone(&CST),
        decision_served_on: None,
        outcome: None,
        hearings: Vec::new(),
    };
    let (decide_by, provisional) = deadline_of(ctx, level, &record, now.with_timezone(&CST));
    Ok(RequestReceipt {
        case_no: case.case_no,
        level: level_str(level),
        organ_name: ctx.directory.current().organ_name(&organ),
        organ: organ_code,
        requested_at: now,
        posted_on: input.posted_on,
        decide_by,
        provisional,
        events,
    })
}

/// A request made to an organ above the directory (e.g. the province), recorded by the bureau.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalRequestInput {
    pub case_no: String,
    pub level: Option<String>,
    /// The organ's name, e.g. 河南省人民政府.
    pub organ_name: String,
    /// The day the petitioner made the request there.
    pub requested_on: NaiveDate,
    pub clerk_id: String,
    pub grounds: Option<String>,
}

pub async fn request_external(
    ctx: &Ctx,
    input: &ExternalRequestInput,
) -> Result<RequestReceipt, ReviewError> {
    let no = case_no("case_no", &input.case_no)?;
    let level = input.level.as_deref().map(parse_level).transpose()?;
    let clerk = staff_id("clerk_id", Some(&input.clerk_id))?;
    let grounds = note("grounds", input.grounds.as_deref())?;
    let name = input.organ_name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "organ_name",
            "format",
            "must be the organ's name, 1-100 printable characters",
        )
        .into());
    }
    not_in_future("requested_on", input.requested_on, ctx)?;
    let at = served_instant(input.requested_on);
    let mut tx = ctx.pool.begin().await?;
    let case = store::case_by_no(&mut tx, &no, true)
        .await?
        .ok_or(ReviewError::NotFound("case"))?;
    let appeals = store::appeals(&mut tx, &case.case_no, true).await?;
    let hearings = store::hearings(&mut tx, &case.case_no).await?;
    let facts = store::appeal_facts(Some(&case), &appeals, &hearings);
    let level = check_request(
        &facts,
        level,
        at,
        None,
        &ctx.settings.open_to_review,
        &ctx.policy().get(),
    )
    .map_err(refusal)?;
    if let (Organ::Internal(o), _) = organ_for(ctx, &case, &appeals, level)? {
        return Err(ReviewError::conflict(
            "organ_in_system",
            format!(
                "the {} organ is {} ({o}), which this system serves; file the request with POST /v1/reviews",
                level_zh(level),
                ctx.directory.current().organ_name(&o)
            ),
        ));
    }
    let organ_code = format!("{EXTERNAL_PREFIX}{name}");
    let at_utc = at.with_timezone(&Utc);
    if !store::insert_appeal(
        &mut tx,
        &case.case_no,
        case.round,
        level,
        &case.home_county,
        &organ_code,
        at_utc,
        &clerk,
        grounds.as_deref(),
    )
    .await?
    {
        return Err(AppealError::AlreadyRequested { level }.into());
    }
    let event = ReviewEvent {
        case_no: case.case_no.clone(),
        case_county: case.home_county.clone(),
        level,
        organ: organ_code.clone(),
        decision: None,
        served_on: None,
        at: at_utc,
        round: round_of(case.round)?,
    };
    let events = emit::review_event(&mut tx, kind::REVIEW_REQUESTED, &event).await?;
    tx.commit().await?;
    tracing::info!(case_no = %case.case_no, level = level_str(level), "external appeal recorded");
    let record = AppealRecord {
        requested_at: at,
        decision_served_on: None,
        outcome: None,
        hearings: Vec::new(),
    };
    let (decide_by, provisional) = deadline_of(ctx, level, &record, ctx.clock.now_cst());
    Ok(RequestReceipt {
        case_no: case.case_no,
        level: level_str(level),
        organ: organ_code,
        organ_name: name.to_owned(),
        requested_at: at_utc,
        posted_on: None,
        decide_by,
        provisional,
        events,
    })
}

/// The review organ's opinion (Art 35, 36): uphold, change or revoke the opinion below.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    pub level: String,
    pub outcome: String,
    pub text: String,
    /// The day the written opinion was served on the petitioner.
    pub served_on: NaiveDate,
    /// Ignored: who decided is the caller (its token's role and id), never a claim in the body
    /// (issue #20). Accepted so that older clients keep working.
    #[serde(default)]
    pub decided_by: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DecisionReceipt {
    pub case_no: String,
    pub level: &'static str,
    pub organ: String,
    pub outcome: ReviewOutcome,
    /// Who decided, as recorded: `<role>:<token id>` of the caller.
    pub decided_by: String,
    /// Revoked or changed: the matter goes back to the organ that handled it for a new opinion
    /// (`case.remanded`, once the case's home deployment records the decision).
    pub sends_back: bool,
    pub served_on: NaiveDate,
    /// D8 / D10 (hearing days left out).
    pub due: Option<DateTime<FixedOffset>>,
    /// `due` depends on a year the holiday calendar does not cover yet.
    pub provisional: bool,
    /// Recorded after the deadline (supervision has reported it overdue).
    pub late: bool,
    pub events: Vec<EventRef>,
}

/// Locks the current round's appeal of `level` and checks this deployment serves its organ;
/// with the case, when this deployment holds it.
async fn served_appeal(
    ctx: &Ctx,
    tx: &mut sqlx::PgConnection,
    case_no: &str,
    level: ReviewLevel,
) -> Result<(Option<CaseRow>, Vec<AppealRow>, AppealRow), ReviewError> {
    let appeals = store::appeals(tx, case_no, true).await?;
    let case = store::case_by_no(tx, case_no, false).await?;
    let Some(mine) = store::current_appeal(case.as_ref(), &appeals, level).cloned() else {
        if appeals.is_empty() && case.is_none() {
            return Err(ReviewError::NotFound("appeal"));
        }
        return Err(AppealError::NotRequested { level }.into());
    };
    let county = organ_county(&mine.organ, &mine.case_county);
    if !ctx.serves(&county) {
        return Err(ReviewError::conflict(
            "organ_not_served",
            format!(
                "the {} of this matter is handled by {} ({}), which another deployment serves; record it there",
                level_zh(level),
                organ_name(ctx, &mine.organ),
                mine.organ
            ),
        ));
    }
    Ok((case, appeals, mine))
}

/// Only a principal of the organ an appeal is addressed to acts on it (issue #20; the rule is
/// `xinfang_domain::access::act_for_review_organ`). An organ outside the directory's decision
/// is recorded by a reviewer of the case's county.
fn act_for(who: &Principal, appeal: &AppealRow) -> Result<(), ReviewError> {
    let allowed = if appeal.external {
        access::record_external_decision(who, &appeal.case_county)
    } else {
        OrganRef::parse(&appeal.organ)
            .map_err(|_| access::Denied("the appeal's organ is not an organ of the directory"))
            .and_then(|organ| access::act_for_review_organ(who, &organ))
    };
    allowed.map_err(|d| ReviewError::Forbidden(d.to_string()))
}

/// A round as the events carry it.
fn round_of(round: i32) -> Result<u32, ReviewError> {
    u32::try_from(round)
        .map_err(|_| ReviewError::Internal(anyhow::anyhow!("round {round} out of range")))
}

/// Records the decision of the organ the appeal is addressed to, made by `who`: only a
/// principal of that organ, recorded as who decided (`decided_by` in the body is ignored).
pub async fn decide(
    ctx: &Ctx,
    who: &Principal,
    case_no_raw: &str,
    input: &DecisionInput,
) -> Result<DecisionReceipt, ReviewError> {
    let no = case_no("case_no", case_no_raw)?;
    let level = parse_level(&input.level)?;
    let outcome = ReviewOutcome::parse(&input.outcome)?;
    let text = note("text", Some(&input.text))?.ok_or_else(|| {
        ValidationError::new(
            "text",
            "required",
            "the opinion's text is required (Art 35, 36)",
        )
    })?;
    let decided_by = access::recorded_as(who);
    not_in_future("served_on", input.served_on, ctx)?;
    let now = ctx.clock.now();
    let mut tx = ctx.pool.begin().await?;
    let (case, appeals, mine) = served_appeal(ctx, &mut tx, &no, level).await?;
    act_for(who, &mine)?;
    let hearings = store::hearings(&mut tx, &no).await?;
    let facts = store::appeal_facts(case.as_ref(), &appeals, &hearings);
    check_decision(&facts, level, input.served_on, &ctx.policy().get())?;
    let record = match level {
        ReviewLevel::Review => facts.review.clone(),
        ReviewLevel::Rereview => facts.rereview.clone(),
    };
    let (due, provisional) = record.as_ref().map_or((None, false), |r| {
        deadline_of(ctx, level, r, now.with_timezone(&CST))
    });
    // A decision during a hearing ends it (the lifecycle's decide_rereview from IN_HEARING).
    store::finish_hearing(
        &mut tx,
        &no,
        mine.round,
        level,
        served_instant(input.served_on).with_timezone(&Utc),
        Some(&decided_by),
    )
    .await?;
    if !store::record_decision(
        &mut tx,
        &no,
        mine.round,
        level,
        Some(outcome.as_str()),
        Some(&text),
        Some(input.served_on),
        Some(&decided_by),
        now,
    )
    .await?
    {
        return Err(AppealError::AlreadyDecided { level }.into());
    }
    let event = ReviewEvent {
        case_no: no.clone(),
        case_county: mine.case_county.clone(),
        level,
        organ: mine.organ.clone(),
        decision: Some(outcome.as_str().to_owned()),
        served_on: Some(input.served_on),
        at: now,
        round: round_of(mine.round)?,
    };
    let events = emit::review_event(&mut tx, kind::REVIEW_DECIDED, &event).await?;
    tx.commit().await?;
    metrics::counter!("xf_review_decisions_total", "level" => level_str(level), "outcome" => outcome.as_str()).increment(1);
    tracing::info!(case_no = %no, level = level_str(level), outcome = outcome.as_str(), by = %decided_by, "appeal decided");
    Ok(DecisionReceipt {
        case_no: no,
        level: level_str(level),
        organ: mine.organ,
        outcome,
        decided_by,
        sends_back: outcome.sends_back(),
        served_on: input.served_on,
        late: due.is_some_and(|d| now.with_timezone(&CST) > d),
        due,
        provisional,
        events,
    })
}

/// A hearing (听证) of the 复核 starts or finishes; its days are not counted in D10.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HearingInput {
    /// `start` or `finish`.
    pub action: String,
    /// When; now by default.
    pub at: Option<DateTime<Utc>>,
    /// Ignored: who acted is the caller (its token), recorded with the hearing (issue #20).
    #[serde(default)]
    pub clerk_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HearingReceipt {
    pub case_no: String,
    pub action: &'static str,
    pub at: DateTime<Utc>,
    /// D10 as it stands now (an unfinished hearing counted up to now).
    pub decide_by: Option<DateTime<FixedOffset>>,
    /// `decide_by` depends on a year the holiday calendar does not cover yet.
    pub provisional: bool,
    pub events: Vec<EventRef>,
}

/// Records a hearing of the 复核 organ, by `who`: only a principal of that organ.
pub async fn hearing(
    ctx: &Ctx,
    who: &Principal,
    case_no_raw: &str,
    input: &HearingInput,
) -> Result<HearingReceipt, ReviewError> {
    let no = case_no("case_no", case_no_raw)?;
    let start = match input.action.as_str() {
        "start" => true,
        "finish" => false,
        _ => {
            return Err(ValidationError::new(
                "action",
                "unknown_value",
                "must be one of: start, finish",
            )
            .into());
        }
    };
    let by = access::recorded_as(who);
    let now = ctx.clock.now();
    let at = input.at.unwrap_or(now);
    if at > now + chrono::TimeDelta::minutes(5) {
        return Err(ValidationError::new("at", "in_future", "must not be in the future").into());
    }
    let level = ReviewLevel::Rereview;
    let mut tx = ctx.pool.begin().await?;
    let (case, appeals, mine) = served_appeal(ctx, &mut tx, &no, level).await?;
    act_for(who, &mine)?;
    let hearings = store::hearings(&mut tx, &no).await?;
    let facts = store::appeal_facts(case.as_ref(), &appeals, &hearings);
    check_hearing(
        &facts,
        level,
        start,
        at.with_timezone(&CST),
        &ctx.policy().get(),
    )?;
    let (kind, action) = if start {
        store::start_hearing(&mut tx, &no, mine.round, level, at, Some(&by)).await?;
        (kind::HEARING_STARTED, "start")
    } else {
        store::finish_hearing(&mut tx, &no, mine.round, level, at, Some(&by)).await?;
        (kind::HEARING_FINISHED, "finish")
    };
    let event = ReviewEvent {
        case_no: no.clone(),
        case_county: mine.case_county.clone(),
        level,
        organ: mine.organ.clone(),
        decision: None,
        served_on: None,
        at,
        round: round_of(mine.round)?,
    };
    let events = emit::review_event(&mut tx, kind, &event).await?;
    let hearings = store::hearings(&mut tx, &no).await?;
    tx.commit().await?;
    tracing::info!(case_no = %no, action, by = %by, "hearing recorded");
    let facts = store::appeal_facts(case.as_ref(), &appeals, &hearings);
    let (decide_by, provisional) = facts.rereview.as_ref().map_or((None, false), |r| {
        deadline_of(ctx, level, r, now.with_timezone(&CST))
    });
    Ok(HearingReceipt {
        case_no: no,
        action,
        at,
        decide_by,
        provisional,
        events,
    })
}

/// What this deployment knows of a case's appeals, for staff.
pub async fn show(ctx: &Ctx, case_no_raw: &str) -> Result<serde_json::Value, ReviewError> {
    let no = case_no("case_no", case_no_raw)?;
    let mut conn = ctx.pool.acquire().await?;
    let case = store::case_by_no(&mut conn, &no, false).await?;
    let appeals = store::appeals(&mut conn, &no, false).await?;
    if case.is_none() && appeals.is_empty() {
        return Err(ReviewError::NotFound("case"));
    }
    let hearings = store::hearings(&mut conn, &no).await?;
    let facts = store::appeal_facts(case.as_ref(), &appeals, &hearings);
    let round = store::current_round(case.as_ref(), &appeals);
    let now = ctx.clock.now_cst();
    let appeals_json: Vec<serde_json::Value> = appeals
        .iter()
        .map(|a| {
            // Deadlines only for the current round; earlier rounds are the history.
            let record = match a.level {
                _ if a.round != round => None,
                ReviewLevel::Review => facts.review.as_ref(),
                ReviewLevel::Rereview => facts.rereview.as_ref(),
            };
            let (decide_by, provisional) =
                record.map_or((None, false), |r| deadline_of(ctx, a.level, r, now));
            serde_json::json!({
                // Which opinion it is against: 1 the first, one more per remand.
                "round": a.round,
                "level": level_str(a.level),
                "organ": a.organ,
                "organ_name": organ_name(ctx, &a.organ),
                "external": a.external,
                "handled_here": ctx.serves(&organ_county(&a.organ, &a.case_county)),
                "requested_at": a.requested_at,
                // A request sent by post: the postmark date its window was checked against.
                "posted_on": a.posted_on,
                "requested_by": if a.requested_by == "petitioner" || a.requested_by == "event" { a.requested_by.as_str() } else { "clerk" },
                "grounds": a.grounds,
                "outcome": a.outcome,
                "decision_text": a.decision_text,
                "decision_served_on": a.decision_served_on,
                "decided_at": a.decided_at,
                // `<role>:<token id>` of who decided (absent when learnt from an event).
                "decided_by": a.decided_by,
                "decide_by": decide_by,
                // `decide_by` depends on a year the holiday calendar does not cover yet
                // (recomputed with each view once the calendar has it).
                "provisional": provisional,
                "hearings": hearings.iter().filter(|h| h.round == a.round && h.level == a.level).map(|h| serde_json::json!({
                    "started_at": h.started_at, "finished_at": h.finished_at
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let termination = store::termination(&mut conn, &no).await?;
    let evaluation = store::evaluation(&mut conn, &no).await?;
    Ok(serde_json::json!({
        "case_no": no,
        "held_here": case.is_some(),
        "county": case.as_ref().map(|c| c.home_county.to_string()),
        "department": case.as_ref().map(|c| c.reply_department.clone().unwrap_or_else(|| c.department.clone())),
        "is_handling_opinion": case.as_ref().map(|c| c.is_handling_opinion),
        "served_on": case.as_ref().and_then(|c| c.served_on),
        "final_without_appeal": case.as_ref().and_then(|c| c.final_without_appeal.clone()),
        "terminated_at": case.as_ref().and_then(|c| c.terminated_at),
        // The current opinion's round, and the last remand (a 复查/复核 decision that revoked
        // or changed the opinion and sent the matter back for a new one).
        "round": round,
        "remanded": case.as_ref().and_then(|c| c.remanded_at.map(|at| serde_json::json!({
            "at": at,
            "level": c.remanded_level,
            "outcome": c.remanded_outcome,
            "awaiting_new_opinion": c.served_on.is_none(),
        }))),
        "appeals": appeals_json,
        "termination": termination,
        "evaluation": evaluation,
    }))
}
