//! Event payloads (`Envelope::data`) exchanged between services, by event type. These are
//! the contract between services; add fields as `Option`/defaulted to stay compatible.
//! Personal data travels only sealed ([`SealedContact`]) and never on department subjects of
//! accusations (Art 30 para 3).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::county::CountyCode;
use crate::petition::{Art31Branch, Channel, Diversion, OpinionOutcome, PetitionType, Rating};

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
    pub const TRANSFERRED: &str = "transferred";
    pub const EXTENDED: &str = "extended";
    pub const MEDIATED: &str = "mediated";
    pub const REPLIED: &str = "replied";
    pub const EVALUATED: &str = "evaluated";
    pub const FINAL_WITHOUT_APPEAL: &str = "final_without_appeal";
    pub const TERMINATED: &str = "terminated";
    pub const SUPERVISED: &str = "supervised";
    /// A notice to the petitioner or a department could not be delivered (alert for the bureau).
    pub const NOTICE_FAILED: &str = "notice_failed";
    // xf.<county>.dept.<dept>.*
    pub const REMINDER: &str = "reminder";
    pub const WARNING: &str = "warning";
    pub const OVERDUE: &str = "overdue";
    pub const SUPERVISION: &str = "supervision";
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
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Same matter pending at a lower level, raised higher (Art 19 para 3): 不予受理.
    NotAccepted,
    /// Same facts after 复核 (Art 36 para 3): 不再受理.
    NotReaccepted,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatLink {
    /// Case number of the earlier case.
    pub of: String,
    pub disposition: RepeatDisposition,
    pub similarity: f32,
    /// How many petitions the earlier case has absorbed, this one included.
    pub count: u32,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    pub mode: AssignMode,
    pub report_required: bool,
    /// Assisting departments for multi-department matters.
    pub assisting: Vec<String>,
    pub petition_type: PetitionType,
    pub branch: Option<Art31Branch>,
    pub assigned_at: DateTime<Utc>,
}

/// `dept.<dept>.assigned`: what the department needs. For accusations sent to any
/// department other than 纪委监委, `petitioner` is None (Art 30 para 3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeptAssignment {
    pub case_no: String,
    pub department: String,
    pub role: DeptRole,
    pub mode: AssignMode,
    pub report_required: bool,
    pub petition_type: PetitionType,
    pub text: String,
    pub petitioner: Option<Contact>,
    pub accept_by: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// `case.accepted` (受理告知, Art 23 para 3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accepted {
    pub case_no: String,
    pub department: String,
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

/// `case.transferred`: the handling department handed the matter to another department
/// before accepting it; the new department's acceptance clocks start at `at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transferred {
    pub case_no: String,
    pub from: String,
    pub to: String,
    pub reason: String,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadlineFired {
    pub case_no: String,
    /// D1..D11 or `eval`/`supervision`.
    pub deadline: String,
    pub department: Option<String>,
    pub due: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

/// 督办 record (Art 40): by hand or on overdue escalation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
            kind::FINAL_WITHOUT_APPEAL,
            kind::HEARING_FINISHED,
        ] {
            crate::subject::token("type", k).unwrap();
        }
    }
}
