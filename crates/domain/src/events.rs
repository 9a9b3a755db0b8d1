//! Event payloads (`Envelope::data`) exchanged between services, by event type. These are
//! the contract between services; add fields as `Option`/defaulted to stay compatible.
//! Personal data travels only sealed ([`SealedContact`]) and never on department subjects of
//! accusations (Art 30 para 3).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::county::CountyCode;
use crate::petition::{
    Art31Branch, CadreLevel, Channel, Diversion, OpinionOutcome, PetitionType, Rating,
};

/// Event type tokens (`type` in the envelope, last token of the subject).
pub mod kind {
    // xf.<county>.case.*
    pub const REGISTERED: &str = "registered";
    pub const RECLASSIFIED: &str = "reclassified";
    pub const ASSIGNED: &str = "assigned";
    pub const DIVERTED: &str = "diverted";
    pub const ACCEPTED: &str = "accepted";
    pub const NOT_ACCEPTED: &str = "not_accepted";
    pub const NOT_REACCEPTED: &str = "not_reaccepted";
    pub const OBJECTED: &str = "objected";
    pub const OBJECTION_DECIDED: &str = "objection_decided";
    /// A clerk's decision on a repeat link (Decisions 7, [`super::RepeatDecided`]): a proposed
    /// refusal confirmed or rejected, or the link removed.
    pub const REFUSAL_CONFIRMED: &str = "refusal_confirmed";
    pub const REFUSAL_REJECTED: &str = "refusal_rejected";
    pub const REPEAT_UNLINKED: &str = "repeat_unlinked";
    /// The bureau took the case back from its units to route it again (`case.rerouted`);
    /// each unit that lost it hears `dept.<d>.withdrawn`.
    pub const REROUTED: &str = "rerouted";
    pub const WITHDRAWN: &str = "withdrawn";
    /// A department asked the bureau to let it hand the matter to another department
    /// (Art 23 para 3: the bureau verifies and agrees); nothing moves until it decides.
    pub const TRANSFER_REQUESTED: &str = "transfer_requested";
    /// The bureau approved the transfer: the matter moved (`case.transferred`, [`super::Transferred`]).
    pub const TRANSFERRED: &str = "transferred";
    /// The bureau refused the transfer: the matter stays with the requesting department.
    pub const TRANSFER_REJECTED: &str = "transfer_rejected";
    /// Completion report (办结报告) on a 交办 matter, sent to the bureau for its check
    /// (Art 22 para 1(3)).
    pub const SUBMITTED_FOR_CHECK: &str = "submitted_for_check";
    /// The bureau's check failed: the department redoes the handling (退回重办).
    pub const RETURNED_FOR_REDO: &str = "returned_for_redo";
    /// The bureau's check passed: first-instance handling is complete (办结).
    pub const CLOSED: &str = "closed";
    pub const EXTENDED: &str = "extended";
    pub const MEDIATED: &str = "mediated";
    pub const REPLIED: &str = "replied";
    pub const EVALUATED: &str = "evaluated";
    pub const FINAL_WITHOUT_APPEAL: &str = "final_without_appeal";
    /// A 复查/复核 decision revoked or changed the opinion: the matter is back with the organ
    /// that handled it (`case.remanded`, [`super::Remanded`]); that department hears
    /// `dept.<d>.remanded` ([`super::DeptRemanded`]).
    pub const REMANDED: &str = "remanded";
    pub const TERMINATED: &str = "terminated";
    /// A matter became a listed matter (清单) after registration; supervision publishes it.
    pub const LISTED: &str = "listed";
    pub const SUPERVISED: &str = "supervised";
    /// A notice to the petitioner or a department could not be delivered (alert for the bureau).
    pub const NOTICE_FAILED: &str = "notice_failed";
    // xf.<county>.dept.<dept>.*
    pub const REMINDER: &str = "reminder";
    pub const WARNING: &str = "warning";
    pub const OVERDUE: &str = "overdue";
    pub const SUPERVISION: &str = "supervision";
    // xf.<county>.deadline.* (also warning, overdue)
    /// A clock started, moved, paused or resumed ([`super::DeadlineStatus`]); the review organ
    /// also hears the start of its decision deadline (D8, D10) on `dept.<d>.scheduled`.
    pub const DEADLINE_SCHEDULED: &str = "scheduled";
    /// A clock ended: met, met late or withdrawn ([`super::DeadlineStatus`]).
    pub const DEADLINE_CLOSED: &str = "closed";
    // xf.<county>.review.*
    pub const REVIEW_REQUESTED: &str = "requested";
    pub const REVIEW_ACCEPTED: &str = "accepted";
    pub const REVIEW_DECIDED: &str = "decided";
    pub const HEARING_STARTED: &str = "hearing_started";
    pub const HEARING_FINISHED: &str = "hearing_finished";
}

/// Contact details sealed with the deployment's data key (AES-256-GCM, base64 of
/// nonce ‖ ciphertext of a JSON [`Contact`]). Only services holding the key can open it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SealedContact(pub String);

/// What a sealed contact opens to.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Contact {
    pub name: String,
    pub mobile: Option<String>,
    pub email: Option<String>,
}

impl std::fmt::Debug for Contact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Contact(***)")
    }
}

/// How a new petition relates to an earlier case of the same petitioner and matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepeatDisposition {
    /// Same matter still open at the same level: merged, count kept.
    Merged,
    /// Same matter pending at a lower level within its time limit, raised higher
    /// (Art 19 para 3): 不予受理 — once a clerk confirms it (Decisions 7).
    NotAccepted,
    /// Same facts after 复核 (Art 36 para 3): 不再受理 — once a clerk confirms it.
    NotReaccepted,
    /// Same matter as an earlier one that is finished (replied, diverted, not accepted), or
    /// that the lower level let pass its time limit: the petition gets its own disposition
    /// within D1 (routed as usual), and the link is kept for staff (Decisions 7).
    Related,
}

impl RepeatDisposition {
    /// 不予受理 or 不再受理: proposed by similarity, applied only after a clerk confirms.
    pub fn is_refusal(self) -> bool {
        matches!(
            self,
            RepeatDisposition::NotAccepted | RepeatDisposition::NotReaccepted
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RepeatDisposition::Merged => "merged",
            RepeatDisposition::NotAccepted => "not_accepted",
            RepeatDisposition::NotReaccepted => "not_reaccepted",
            RepeatDisposition::Related => "related",
        }
    }

    pub fn parse(raw: &str) -> Option<RepeatDisposition> {
        [
            RepeatDisposition::Merged,
            RepeatDisposition::NotAccepted,
            RepeatDisposition::NotReaccepted,
            RepeatDisposition::Related,
        ]
        .into_iter()
        .find(|d| d.as_str() == raw)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatLink {
    /// Case number of the earlier case.
    pub of: String,
    pub disposition: RepeatDisposition,
    pub similarity: f32,
    /// How many petitions the earlier case has absorbed, this one included.
    pub count: u32,
    /// The refusal (`not_accepted` / `not_reaccepted`) is only proposed by the similarity: it
    /// waits for a clerk to confirm that the facts and reasons are the same, and nothing
    /// reaches the petitioner before (Decisions 7, Art 44(2)). Absent (false) on events of
    /// older releases, whose refusals applied at once.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub proposed: bool,
    /// Art 19 para 3: when the earlier matter's handling time limit ends, when the registry
    /// knows it; the 不予受理 applies only up to then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earlier_due: Option<DateTime<Utc>>,
}

/// A clerk's decision on a repeat link (Decisions 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RepeatDecision {
    /// The facts and reasons are the same: the proposed refusal applies (`case.refusal_confirmed`).
    Confirm,
    /// Not a ground for refusal: the petition is handled as a petition of its own, the link
    /// kept as `related` (`case.refusal_rejected`).
    Reject,
    /// Not the same matter at all: the link is removed and the petition handled as a fresh
    /// matter (`case.repeat_unlinked`).
    Unlink,
}

impl RepeatDecision {
    /// The event it publishes: `xf.<county>.case.<kind>`.
    pub fn event_kind(self) -> &'static str {
        match self {
            RepeatDecision::Confirm => kind::REFUSAL_CONFIRMED,
            RepeatDecision::Reject => kind::REFUSAL_REJECTED,
            RepeatDecision::Unlink => kind::REPEAT_UNLINKED,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RepeatDecision::Confirm => "confirm",
            RepeatDecision::Reject => "reject",
            RepeatDecision::Unlink => "unlink",
        }
    }
}

/// `case.refusal_confirmed`, `case.refusal_rejected`, `case.repeat_unlinked`: a clerk decided on
/// a case's repeat link (who, when, why — Decisions 7). Routing applies a confirmed refusal
/// (`case.not_accepted` / `case.not_reaccepted`, which the petitioner is told) and routes a
/// rejected or unlinked one as a petition of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatDecided {
    pub case_no: String,
    /// The earlier case the link pointed to.
    pub repeat_of: String,
    pub decision: RepeatDecision,
    /// The link's disposition before the decision.
    pub was: RepeatDisposition,
    /// The disposition now: the confirmed refusal, `related` after a rejection, none once
    /// unlinked.
    pub disposition: Option<RepeatDisposition>,
    /// The clerk (token id of the authenticated caller).
    pub by: String,
    pub reason: String,
    /// Art 19 para 3: when the earlier matter's time limit ends, as the registry knew it at
    /// the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earlier_due: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
}

/// `case.registered`: a petition entered the system (Art 21–22).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registered {
    pub case_no: String,
    pub query_code: String,
    pub channel: Channel,
    pub received_at: DateTime<Utc>,
    pub registered_at: DateTime<Utc>,
    /// The county where the matter arose (may differ from the registering deployment).
    pub county: CountyCode,
    pub petition_type: PetitionType,
    pub branch: Option<Art31Branch>,
    pub diversion: Option<Diversion>,
    /// Suggested handling department code (directory slug).
    pub department: String,
    pub accuses_official: bool,
    /// Whistle-blower protection (Art 30 para 3): identity never leaves 纪委监委.
    pub confidential: bool,
    pub urgent: bool,
    pub needs_triage: bool,
    pub confidence: f32,
    pub group_size: u32,
    pub repeat: Option<RepeatLink>,
    /// Keyed hash of the petitioner (ID number or phone): links cases without identity.
    pub petitioner_key: String,
    pub contact: Option<SealedContact>,
    /// The petition text as received.
    pub text: String,
    /// The organ other than a 信访部门 to which the petitioner handed the petition directly
    /// (directory department code), when it registered it (Art 23 para 1): that organ owes the
    /// written notice D2 (Art 23 para 2) and the bureau's D1 does not run. Absent when the
    /// 信访部门 received it (older events never carry it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_by: Option<String>,
    /// The text with every identifier of the people it names masked
    /// ([`crate::confidential::redact_text`]): what a department that may not learn the
    /// informant's identity reads. Absent from events of older releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted_text: Option<String>,
    /// Where the matter came from ([`crate::case_source`]): `ordinary` or a configured source
    /// such as `central_inspection`. Absent from events of older releases (ordinary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The source is a listed one (清单): supervision lists the matter at once.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub listed: bool,
    /// The town, township or street office the text names first (weekly analysis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub town: Option<String>,
    /// The redacted text's content words and their weights
    /// ([`crate::classify::MatterWords::weights`]): lets supervision find clusters of similar
    /// petitions (rising topics) without holding texts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matter_words: Option<std::collections::BTreeMap<String, f32>>,
}

/// `case.reclassified`: a clerk overrode the classification (who and why recorded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reclassified {
    pub case_no: String,
    pub petition_type: PetitionType,
    pub branch: Option<Art31Branch>,
    pub diversion: Option<Diversion>,
    pub department: String,
    pub county: CountyCode,
    pub accuses_official: bool,
    pub by: String,
    pub reason: String,
    /// Further departments the matter touches (they assist the lead `department`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assisting: Vec<String>,
    /// The management level of the cadre an accusation names, when known: routing sends it to
    /// the 纪委监委 that manages that level (Art 22 para 2). Absent from older events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accused_level: Option<CadreLevel>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssignMode {
    /// 转送 (Art 22 para 1 (1)(2))
    Forward,
    /// 交办 with a deadline and a completion report (Art 22 para 1 (3))
    Assign,
}

/// `case.assigned`: sent to the department that must handle it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assigned {
    pub case_no: String,
    pub department: String,
    /// The county of the organ meant, when it is not the case's own (a county's matter handled
    /// by a city department): `department` is then the city's. Absent on older events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organ_county: Option<String>,
    pub mode: AssignMode,
    pub report_required: bool,
    /// Assisting departments for multi-department matters.
    pub assisting: Vec<String>,
    pub petition_type: PetitionType,
    pub branch: Option<Art31Branch>,
    pub assigned_at: DateTime<Utc>,
    /// Art 23 para 4: 纪检监察机关 handling an accusation (检举控告) tell the petitioner under
    /// their own rules, so no acceptance notice (D3) is due from the lead. Absent (false) on
    /// older events.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notice_exempt: bool,
}

/// `dept.<dept>.assigned`: what the department needs. For accusations sent to any
/// department other than 纪委监委, `petitioner` is None (Art 30 para 3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeptAssignment {
    pub case_no: String,
    pub department: String,
    pub role: DeptRole,
    pub mode: AssignMode,
    pub report_required: bool,
    pub petition_type: PetitionType,
    pub text: String,
    pub petitioner: Option<Contact>,
    /// When the acceptance notice is due (D3); also in `deadlines.accept_by`.
    pub accept_by: Option<DateTime<Utc>>,
    /// The organ the message is for (county, department, county or city level). Absent on
    /// messages of older releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addressee: Option<DeptOrgan>,
    /// The deadlines that bind the organ on this matter, as far as they are known now.
    #[serde(default)]
    pub deadlines: DeptDeadlines,
    /// The department actions (`xf.<county>.cmd.<dept>.<action>`) the organ may take now, as
    /// the case's lifecycle admits them (before the guards of each action); empty when none.
    #[serde(default)]
    pub actions: Vec<String>,
}

/// Who a department message is addressed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeptOrgan {
    /// The organ's county code (the city's own code for a city department).
    #[schema(value_type = String, pattern = "^[0-9]{6}$")]
    pub county: CountyCode,
    /// Department code in the directory (`rsj`).
    pub department: String,
    /// Whether the organ is the county's or the city's.
    pub level: OrganLevel,
    /// Human name (`灵宝市人社局`).
    pub name: String,
}

/// The administrative level of an organ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrganLevel {
    County,
    City,
}

/// Deadlines binding a department on one matter; each is absent when it does not apply or is
/// not known yet (the handling due date runs from acceptance).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeptDeadlines {
    /// The acceptance notice is due (D3, Art 23 para 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_by: Option<DateTime<Utc>>,
    /// End of the objection window (D4, Art 23 para 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_by: Option<DateTime<Utc>>,
    /// The handling result is due (D5/D6, or the new opinion after a remand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle_by: Option<DateTime<Utc>>,
    /// A review organ's 复查/复核 opinion is due (D8/D10, Art 35–36). Supervision's messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decide_by: Option<DateTime<Utc>>,
    /// The earliest answer owed to a 督办 (Art 40). Supervision's messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub respond_by: Option<DateTime<Utc>>,
    /// Every clock supervision keeps that binds the organ on this matter and is still owed
    /// (running, paused, or passed and not yet met), soonest first. Supervision's messages;
    /// absent from routing's, which do not see supervision's table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clocks: Vec<DeptClock>,
}

/// One clock binding a department, as supervision keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeptClock {
    /// `D1`..`D10` or `supervision` (a 督办's response).
    pub deadline: String,
    /// The 督办's id of a `supervision` clock, `remand` for the handling period after a
    /// remand; absent otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reference: String,
    pub due: DateTime<Utc>,
    /// `pending`, `paused` (a 复核 hearing runs), or `fired` (passed, still owed).
    pub state: String,
    /// The due time depends on a year the holiday calendar does not cover yet.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub provisional: bool,
}

/// How an action in `actions` that is no department command (`xf.<county>.cmd.<dept>.<action>`)
/// is taken: an HTTP request to the service named (`respond` answers a 督办 on supervision,
/// `task_done` reports a conference task done on supervision, `decide` gives a review organ's
/// opinion on review).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeptActionRoute {
    /// The action, as named in `actions`.
    pub action: String,
    /// `supervision` or `review`.
    pub service: String,
    /// `POST`.
    pub method: String,
    /// e.g. `/v1/supervisions/0196…/response`.
    pub path: String,
}

/// `dept.<d>.warning` / `dept.<d>.overdue` (supervision): a clock binding the organ is about to
/// pass or has passed. The [`DeadlineFired`] fields, and who it is for, what binds it and what
/// it may do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeptDeadlineFired {
    #[serde(flatten)]
    pub fired: DeadlineFired,
    /// The organ the message is for (county, department, county or city level).
    pub addressee: DeptOrgan,
    /// The deadlines that bind the organ on this matter, as supervision keeps them now.
    pub deadlines: DeptDeadlines,
    /// What the organ may do about it: the department commands that discharge the duty
    /// (`accept`, `object`, `transfer` for D3/D4; `reply`, `mediate`, `divert`, `extend` for
    /// D5/D6), `respond` for a 督办, `task_done` for a conference task, `decide` for a review
    /// organ's D8/D10; then those of its other open clocks on the matter.
    pub actions: Vec<String>,
    /// Where the actions that are no department command are sent (`respond`, `task_done`,
    /// `decide`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub action_routes: Vec<DeptActionRoute>,
}

/// `dept.<d>.supervision` (supervision): a 督办 addressed to the organ. The [`Supervised`]
/// fields, the 督办's id, and who it is for, what binds it and what it may do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeptSupervised {
    #[serde(flatten)]
    pub supervised: Supervised,
    /// The 督办's id: answer at `POST /v1/supervisions/{id}/response` (supervision).
    pub supervision_id: uuid::Uuid,
    /// The organ the message is for (county, department, county or city level).
    pub addressee: DeptOrgan,
    /// The deadlines that bind the organ on this matter, the 督办's response among them.
    pub deadlines: DeptDeadlines,
    /// `respond`, then the department commands that discharge the organ's other open duties
    /// on the matter (for an overdue escalation, the duty that passed).
    pub actions: Vec<String>,
    /// Where the actions that are no department command are sent (`respond`, `task_done`,
    /// `decide`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub action_routes: Vec<DeptActionRoute>,
}

/// `dept.<d>.scheduled` (supervision): a clock started that binds the organ and that no other
/// message tells it of — a review organ's decision deadline (D8/D10) on a request addressed to
/// it. The [`DeadlineStatus`] fields, and who it is for, what binds it and what it may do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeptDeadlineStatus {
    #[serde(flatten)]
    pub status: DeadlineStatus,
    /// The organ the message is for (county, department, county or city level).
    pub addressee: DeptOrgan,
    /// The deadlines that bind the organ on this matter, as supervision keeps them now.
    pub deadlines: DeptDeadlines,
    /// What the organ may do: `decide` for D8/D10, and what its other open clocks ask.
    pub actions: Vec<String>,
    /// Where the actions that are no department command are sent (`respond`, `task_done`,
    /// `decide`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub action_routes: Vec<DeptActionRoute>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeptRole {
    Lead,
    Assisting,
}

/// `case.diverted`: Art 31(1)–(4) or political-legal/discipline routing; the petitioner is
/// told the legal channel and the organ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diverted {
    pub case_no: String,
    pub diversion: Option<Diversion>,
    pub organ: String,
    pub guidance: String,
    pub at: DateTime<Utc>,
    /// The handling department diverted the matter after accepting it (Art 31(2)–(4) found
    /// during handling), not the bureau at intake: KPIs count the two apart, and the handling
    /// deadline (D5/D6) ends. Absent (false) on intake diversions and older events.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after_acceptance: bool,
    /// The department that diverted it (after acceptance only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// The day the written guidance was served on the petitioner (after acceptance only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_on: Option<NaiveDate>,
}

/// `case.accepted` (受理告知, Art 23 para 3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accepted {
    pub case_no: String,
    pub department: String,
    /// The county of the organ meant, when it is not the case's own (a county's matter handled
    /// by a city department): `department` is then the city's. Absent on older events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organ_county: Option<String>,
    pub accepted_on: NaiveDate,
    pub at: DateTime<Utc>,
}

/// `case.not_accepted` / `case.not_reaccepted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refused {
    pub case_no: String,
    pub rule: String,
    pub reason: String,
    pub where_to_go: Option<String>,
    pub at: DateTime<Utc>,
}

/// `case.objected` (异议 within 5 working days, Art 23 para 3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Objected {
    pub case_no: String,
    pub department: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// `case.extended` (Art 34): once, ≤30 days, approver and reason recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extended {
    pub case_no: String,
    pub department: String,
    pub days: u32,
    pub approver: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// `case.replied`: the handling result served on the petitioner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Replied {
    pub case_no: String,
    pub department: String,
    pub outcome: Option<OpinionOutcome>,
    /// True for an Art 31(6) 信访处理意见书 (opens 复查).
    pub is_handling_opinion: bool,
    pub text: String,
    pub served_on: NaiveDate,
    pub at: DateTime<Utc>,
}

/// `case.transferred`: the bureau approved a department's request to hand the matter, not yet
/// accepted, to another department (Art 23 para 3); the new department's acceptance clocks
/// (D3, D4) start at `at`, the approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transferred {
    pub case_no: String,
    pub from: String,
    pub to: String,
    /// The requesting department's reason.
    pub reason: String,
    pub at: DateTime<Utc>,
    /// Who approved it for the bureau. Absent on transfers of older releases (made without
    /// approval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// The bureau's reason for approving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_reason: Option<String>,
    /// The receiving department's county, when it is not the sender's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_county: Option<CountyCode>,
    /// Art 23 para 4: the receiving 纪委监委 handles an accusation; no acceptance notice (D3).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notice_exempt: bool,
}

/// `case.transfer_requested`: a department asks the bureau to let it hand the matter to
/// another department (Art 23 para 3). The case stays with the requester, its clocks running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferRequested {
    pub case_no: String,
    pub from: String,
    pub to: String,
    /// `county:department` of the requested receiver.
    pub to_organ: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// `case.transfer_rejected`: the bureau refused a transfer; the requester keeps the matter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferRejected {
    pub case_no: String,
    pub from: String,
    pub to: String,
    pub by: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// `case.submitted_for_check`: the handling department's completion report (办结报告) on a
/// matter sent with one due (Art 22 para 1(3)); the bureau checks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmittedForCheck {
    pub case_no: String,
    pub department: String,
    pub report: String,
    pub at: DateTime<Utc>,
}

/// `case.returned_for_redo` (退回重办): the bureau's check of the completion report failed; the
/// department handles the matter again. The handling deadline does not restart: it runs again
/// from the acceptance date (`accepted_on`, with the one extension if it was used).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReturnedForRedo {
    pub case_no: String,
    pub department: String,
    pub by: String,
    pub reason: String,
    pub accepted_on: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension_days: Option<u32>,
    pub at: DateTime<Utc>,
}

/// `case.closed` (办结): the bureau's check of the completion report passed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Closed {
    pub case_no: String,
    pub department: String,
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub at: DateTime<Utc>,
}

/// `case.objection_decided`: the forwarding bureau's decision on an objection (Art 23 para 3).
/// Upheld: the matter goes back to be re-routed (to `reroute_to` when given). Rejected: the
/// objecting department must handle it (it counts as accepted at `at`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectionDecided {
    pub case_no: String,
    /// The department that objected.
    pub department: String,
    pub upheld: bool,
    pub by: String,
    pub reason: String,
    pub reroute_to: Option<String>,
    pub at: DateTime<Utc>,
}

/// `case.rerouted`: a reclassification (into 检举控告) took the case from the units that had
/// it; they lose access, and what each had seen is on record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rerouted {
    pub case_no: String,
    pub withdrawn: Vec<WithdrawnAccess>,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// One unit's access ended by a re-route, and what it had been given while it had the case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WithdrawnAccess {
    pub county: CountyCode,
    pub department: String,
    pub since: DateTime<Utc>,
    /// It had received the petitioner's identity.
    pub had_identity: bool,
    /// It had received the text unmasked.
    pub had_full_text: bool,
}

/// `dept.<d>.withdrawn`: the case is no longer this unit's (it should drop its copy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeptWithdrawn {
    pub case_no: String,
    pub reason: String,
    pub at: DateTime<Utc>,
    /// The organ the message is for (county, department, county or city level). Absent on
    /// messages of older releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addressee: Option<DeptOrgan>,
    /// The deadlines that bind the organ on this matter, as far as they are known now.
    #[serde(default)]
    pub deadlines: DeptDeadlines,
    /// The department actions (`xf.<county>.cmd.<dept>.<action>`) the organ may take now, as
    /// the case's lifecycle admits them (before the guards of each action); empty when none.
    #[serde(default)]
    pub actions: Vec<String>,
}

/// `case.mediated` (Art 33): a mediation (调解) or settlement (和解) agreement was signed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mediated {
    pub case_no: String,
    pub department: String,
    /// `mediation` (调解协议书) or `settlement` (和解协议书).
    pub agreement: String,
    pub signed_on: NaiveDate,
    pub summary: String,
    pub at: DateTime<Utc>,
}

/// `case.evaluated`: the petitioner's ratings of the bureau and the handling unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluated {
    pub case_no: String,
    pub bureau: Rating,
    pub unit: Rating,
    pub department: String,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// Review stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewLevel {
    /// 复查 (Art 35)
    Review,
    /// 复核 (Art 36)
    Rereview,
}

/// `review.requested` / `review.decided` and hearings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewEvent {
    pub case_no: String,
    /// County of the original case.
    pub case_county: CountyCode,
    pub level: ReviewLevel,
    /// Organ that reviews (directory code, e.g. `411200:gov`).
    pub organ: String,
    pub decision: Option<String>,
    pub served_on: Option<NaiveDate>,
    pub at: DateTime<Utc>,
    /// Which opinion of the case the appeal is against: 1 for the first; one more each time a
    /// 复查/复核 decision sent the matter back for a new opinion (`case.remanded`).
    #[serde(default = "first_round")]
    pub round: u32,
}

fn first_round() -> u32 {
    1
}

/// `case.remanded`: a 复查 or 复核 decision revoked (撤销) or changed (变更) the opinion, so
/// the matter is back with the organ that handled it for a new opinion within the remand
/// period (`deadlines.remand_handling_days`, from `at`). The revoked opinion's appeal windows
/// are closed; the new opinion opens a new 复查 window (`round` is the new opinion's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remanded {
    pub case_no: String,
    /// The decision that sent it back.
    pub level: ReviewLevel,
    /// The deciding organ (`411282:gov`, or `external:<name>`).
    pub organ: String,
    /// `revoke` or `change`.
    pub outcome: String,
    pub decision_served_on: Option<NaiveDate>,
    /// The handling department (directory code) that gives the new opinion.
    pub department: String,
    /// The round of the new opinion (2 after the first remand).
    pub round: u32,
    pub at: DateTime<Utc>,
}

/// `dept.<d>.remanded`: the department's own copy — which organ sent the matter back, and
/// by when its new opinion is due. Never the petitioner or the text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeptRemanded {
    pub case_no: String,
    pub department: String,
    pub level: ReviewLevel,
    /// The deciding organ (`411282:gov`, or `external:<name>`).
    pub organ: String,
    pub outcome: String,
    /// End of the new handling period; `None` when it cannot be computed. Also in
    /// `deadlines.handle_by`.
    pub reply_by: Option<DateTime<Utc>>,
    pub at: DateTime<Utc>,
    /// The organ the message is for (`organ` names the deciding organ). Absent on messages
    /// of older releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addressee: Option<DeptOrgan>,
    /// The deadlines that bind the organ on this matter, as far as they are known now.
    #[serde(default)]
    pub deadlines: DeptDeadlines,
    /// The department actions the organ may take now, as the case's lifecycle admits them.
    #[serde(default)]
    pub actions: Vec<String>,
}

/// `case.terminated`: entered the termination registry (终结库).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Terminated {
    pub case_no: String,
    pub petitioner_key: String,
    pub at: DateTime<Utc>,
}

/// `case.final_without_appeal` (Decisions 4): the 复查 (`D7`) or 复核 (`D9`) window passed
/// unused; the case stays closed and final but is not TERMINATED.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalWithoutAppeal {
    pub case_no: String,
    /// `D7` or `D9`.
    pub window: String,
    pub window_ended: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

/// Deadline events (`deadline.warning`, `deadline.overdue`, and the department copies).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeadlineFired {
    pub case_no: String,
    /// D1..D11 or `eval`/`supervision`.
    pub deadline: String,
    pub department: Option<String>,
    pub due: DateTime<Utc>,
    pub at: DateTime<Utc>,
    /// The due time depends on a year the holiday calendar does not cover yet (Monday–Friday
    /// assumed); it is recomputed when the calendar grows.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub provisional: bool,
    /// Tells apart several clocks of one kind on a case: the 督办's id of a `supervision`
    /// response deadline; empty otherwise (and on events of older releases).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reference: String,
}

/// `deadline.scheduled` and `deadline.closed`: supervision's record of one clock as it
/// changes, so other services (the registry) show every deadline with its due time and state
/// without reading supervision's tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeadlineStatus {
    pub case_no: String,
    /// D1..D11, `eval` or `supervision`.
    pub deadline: String,
    /// The 督办's id of a `supervision` response deadline; empty otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reference: String,
    /// Who the clock binds: a department code, a review organ (`411200:gov`), the bureau's
    /// code for D1, or the department concerned by a petitioner's window.
    pub department: Option<String>,
    pub trigger: DateTime<Utc>,
    pub due: DateTime<Utc>,
    /// [`crate::deadline_state::state`]: `pending` or `paused` while it runs; `met`,
    /// `met_late`, `withdrawn`, or `fired` (passed, then made moot) when closed.
    pub state: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub provisional: bool,
    /// Scheduled: `started`, `extended`, `rescheduled`, `paused` or `resumed`. Closed: the
    /// fact that closed it (`accepted`, `replied`, `withdrawn`, …).
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// 督办 record (Art 40): by hand or on overdue escalation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Supervised {
    pub case_no: String,
    pub department: String,
    /// written_notice | summons | on_site | joint | escalation
    pub form: String,
    pub issuer: String,
    pub note: String,
    pub respond_by: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

/// `case.notice_failed`: notify gave up on one recipient and channel (permanent failure or
/// retries exhausted); the bureau must reach that person another way. Carries no address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoticeFailed {
    pub case_no: String,
    /// Notice name, e.g. `receipt`, `assigned`.
    pub notice: String,
    /// `sms` or `email`.
    pub channel: String,
    /// `petitioner` or `department`.
    pub audience: String,
    pub department: Option<String>,
    /// The recipient's address, masked (e.g. `138****8000`).
    pub recipient_masked: String,
    pub attempts: u32,
    /// Provider's reason, with any phone number or e-mail address masked.
    pub error: String,
    /// The event that caused the notice.
    pub cause_event: uuid::Uuid,
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_debug_hides_personal_data() {
        let c = Contact {
            name: "张三".into(),
            mobile: Some("13800138000".into()),
            email: None,
        };
        let s = format!("{c:?}");
        assert!(!s.contains("张三") && !s.contains("138"));
    }

    #[test]
    fn kinds_are_subject_tokens() {
        for k in [
            kind::REGISTERED,
            kind::NOT_REACCEPTED,
            kind::REFUSAL_CONFIRMED,
            kind::REFUSAL_REJECTED,
            kind::REPEAT_UNLINKED,
            kind::FINAL_WITHOUT_APPEAL,
            kind::HEARING_FINISHED,
            kind::TRANSFER_REQUESTED,
            kind::TRANSFER_REJECTED,
            kind::SUBMITTED_FOR_CHECK,
            kind::RETURNED_FOR_REDO,
            kind::CLOSED,
            kind::REMANDED,
        ] {
            crate::subject::token("type", k).unwrap();
        }
    }
}
