use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use super::CaseState;
use crate::deadline::Adjustments;
use crate::petition::{Art31Branch, Diversion, OpinionOutcome, PetitionType};

/// How a 信访部门 sent the matter on (Art 22 para 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingMode {
    /// 转送
    Forwarded,
    /// 交办
    Assigned,
}

/// The forwarding or assignment the handling organ received; D4 runs from `at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routing {
    pub mode: RoutingMode,
    pub at: DateTime<FixedOffset>,
    /// A completion report (办结报告) is due, so the result goes back for a check before closing.
    pub report_required: bool,
}

/// The one extension of the handling deadline (Art 34, Decisions 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    pub days: u32,
    /// The approving head of the organ (本机关、单位负责人).
    pub approver: String,
    /// The reason, which the petitioner is told.
    pub reason: String,
}

/// Which proceeding a hearing belongs to. Only 复核 hearings are left out of a deadline (D10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HearingStage {
    /// During Art 31(6) investigation: ends in a 信访处理意见书.
    FirstInstance,
    /// During 复核: ends in the 复核 opinion.
    Rereview,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hearing {
    pub stage: HearingStage,
    pub started_at: DateTime<FixedOffset>,
    pub finished_at: Option<DateTime<FixedOffset>>,
}

/// A 信访处理意见书 (Art 32). The appeal windows run from `served_at`, not from issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opinion {
    pub outcome: OpinionOutcome,
    pub served_at: DateTime<FixedOffset>,
}

/// A 复查 or 复核: when it was requested and when its decision was served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appeal {
    pub requested_at: DateTime<FixedOffset>,
    pub decision_served_at: Option<DateTime<FixedOffset>>,
}

/// A case's lifecycle state and the facts its guards need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub state: CaseState,
    pub petition_type: Option<PetitionType>,
    pub branch: Option<Art31Branch>,
    pub registered_at: Option<DateTime<FixedOffset>>,
    pub routing: Option<Routing>,
    /// 受理: the handling deadline (D5) runs from here.
    pub accepted_at: Option<DateTime<FixedOffset>>,
    pub diversion: Option<Diversion>,
    pub extension: Option<Extension>,
    /// The stage of the hearing under way, while `state` is `InHearing`.
    pub hearing: Option<HearingStage>,
    pub hearings: Vec<Hearing>,
    pub opinion: Option<Opinion>,
    pub review: Option<Appeal>,
    pub rereview: Option<Appeal>,
    /// The 复查 or 复核 window passed unused (Decisions 4): final, but not TERMINATED.
    pub final_without_appeal: bool,
    /// Whistle-blower material: never shown to the accused (Art 30 para 3).
    pub confidential: bool,
    /// Major or urgent (Art 25).
    pub urgent: bool,
    /// The earlier case this one repeats (Art 19 para 3, Art 36 para 3).
    pub repeat_of: Option<String>,
    /// When a 复查 or 复核 decision last sent the matter back for a new opinion; its handling
    /// period runs from here (`deadlines.remand_handling_days`) and is not extended.
    #[serde(default)]
    pub remanded_at: Option<DateTime<FixedOffset>>,
}

impl Default for Case {
    fn default() -> Self {
        Case::new()
    }
}

impl Case {
    /// A petition that has arrived and is not yet registered.
    pub fn new() -> Case {
        Case {
            state: CaseState::Received,
            petition_type: None,
            branch: None,
            registered_at: None,
            routing: None,
            accepted_at: None,
            diversion: None,
            extension: None,
            hearing: None,
            hearings: Vec::new(),
            opinion: None,
            review: None,
            rereview: None,
            final_without_appeal: false,
            confidential: false,
            urgent: false,
            repeat_of: None,
            remanded_at: None,
        }
    }

    /// True when the case carries an Art 31(6) 信访处理意见, the only decision 复查 reviews (Art 35).
    pub fn has_handling_opinion(&self) -> bool {
        self.opinion.is_some() && self.branch == Some(Art31Branch::Residual)
    }

    /// True when a completion report is owed before the case may close (Art 22(3)).
    pub fn report_required(&self) -> bool {
        self.routing.as_ref().is_some_and(|r| r.report_required)
    }

    /// The adjustments of the handling deadline (D5/D6): the extension, if any.
    pub fn handling_adjustments(&self) -> Adjustments {
        Adjustments {
            extension_days: self.extension.as_ref().map(|e| e.days),
            paused: Vec::new(),
        }
    }

    /// The adjustments of the 复核 deadline (D10): its hearings, an unfinished one up to `now`.
    pub fn rereview_adjustments(&self, now: DateTime<FixedOffset>) -> Adjustments {
        Adjustments {
            extension_days: None,
            paused: self
                .hearings
                .iter()
                .filter(|h| h.stage == HearingStage::Rereview)
                .map(|h| (h.started_at, h.finished_at.unwrap_or(now).max(h.started_at)))
                .collect(),
        }
    }

    /// Commands the current state admits (before guards).
    pub fn allowed_commands(&self) -> Vec<&'static str> {
        super::allowed_commands(self.state)
    }
}
