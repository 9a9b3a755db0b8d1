//! The `[supervision]` configuration section. Deadline rules are the deployment's one
//! `[deadlines]` section (`PlatformSettings::deadlines`); the holiday calendar is the
//! process's (`Infra::calendar`).

use std::collections::BTreeMap;

use chrono::TimeDelta;
use serde::Deserialize;
use xinfang_domain::deadline_plan::Tracked;

/// ```toml
/// [supervision]
/// warning_lead_hours = 72            # warn 3 days before every deadline
/// [supervision.warning_lead_hours_by_kind]
/// D4 = 24                            # ...but only 1 day before the 5-working-day D4
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupervisionSettings {
    /// Lead time of warnings before a deadline; 0 disables warnings.
    pub warning_lead_hours: u32,
    /// Per-kind overrides (`D1`..`D10`, `eval`, `supervision`).
    pub warning_lead_hours_by_kind: BTreeMap<String, u32>,
    /// Moved to the one `[deadlines]` section; still named here so an old configuration fails
    /// start-up saying where the rules went instead of "unknown field".
    pub deadlines: Option<serde::de::IgnoredAny>,
    /// Department code of the 信访部门 itself: D1 is its duty.
    pub bureau_department: String,
    /// Issuer recorded on automatic 督办 (overdue escalation).
    pub escalation_issuer: String,
    /// Days the department has to answer an escalation 督办.
    pub escalation_response_days: u32,
    /// Run the timer loop in this instance (several instances may; they share the work).
    pub timers_enabled: bool,
    /// How often the timer loop looks for due timers when idle.
    pub poll_interval_ms: u64,
    /// Timers claimed (and fired in one transaction) at a time.
    pub claim_batch: usize,
    /// How long a claimed timer stays leased before another instance may take it back.
    pub lease_secs: u64,
    /// Full rebuild of the Redis index from Postgres, in seconds (also done at start).
    pub reconcile_interval_secs: u64,
    /// How often to check that the Redis index still exists (a lost index is rebuilt at once).
    pub index_check_interval_secs: u64,
    /// Count 基本满意 as satisfied in 满意率.
    pub basically_satisfied_counts: bool,
    /// Listed matters (清单): their earlier 督办 and default milestones.
    pub listed: ListedSettings,
    /// The weekly analysis (周研判): when it is generated and its thresholds.
    pub weekly_report: crate::weekly::WeeklyReportSettings,
}

/// ```toml
/// [supervision.listed]
/// escalate_days_before_due = 5   # 督办 a listed matter's duty clocks 5 days before they are due
/// sweep_interval_secs = 60
/// [[supervision.listed.milestones]]
/// name = "签收交办"
/// days = 3                       # calendar days after listing
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListedSettings {
    /// A listed matter's duty deadlines (D1, D3, D5/D6, …) are escalated by a 督办 this many days
    /// before they fall due, instead of when they are missed; 0 turns the earlier 督办 off.
    pub escalate_days_before_due: u32,
    /// How often to look for listed matters' clocks that have come within that reach.
    pub sweep_interval_secs: u64,
    /// The milestones a matter gets when it is listed without any of its own.
    pub milestones: Vec<MilestoneTemplate>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MilestoneTemplate {
    pub name: String,
    /// Due this many calendar days after the matter is listed.
    pub days: u32,
}

impl Default for ListedSettings {
    fn default() -> Self {
        let m = |name: &str, days| MilestoneTemplate {
            name: name.into(),
            days,
        };
        Self {
            escalate_days_before_due: 5,
            sweep_interval_secs: 60,
            milestones: vec![m("签收交办", 3), m("调查核实", 30), m("办结反馈", 60)],
        }
    }
}

impl Default for SupervisionSettings {
    fn default() -> Self {
        Self {
            warning_lead_hours: 72,
            warning_lead_hours_by_kind: BTreeMap::new(),
            deadlines: None,
            bureau_department: "xfj".into(),
            escalation_issuer: "system".into(),
            escalation_response_days: 5,
            timers_enabled: true,
            poll_interval_ms: 100,
            claim_batch: 1000,
            lease_secs: 30,
            reconcile_interval_secs: 300,
            index_check_interval_secs: 5,
            basically_satisfied_counts: true,
            listed: ListedSettings::default(),
            weekly_report: Default::default(),
        }
    }
}

impl SupervisionSettings {
    /// Checks what serde cannot; errors name the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.deadlines.is_some() {
            anyhow::bail!(
                "supervision.deadlines: deadline rules moved to the [deadlines] section, which every service reads; move the keys there"
            );
        }
        for key in self.warning_lead_hours_by_kind.keys() {
            key.parse::<Tracked>().map_err(|e| {
                anyhow::anyhow!("supervision.warning_lead_hours_by_kind.{key}: {e}")
            })?;
        }
        xinfang_domain::subject::token("supervision.bureau_department", &self.bureau_department)?;
        if !(1..=10_000).contains(&self.claim_batch) {
            anyhow::bail!("supervision.claim_batch: must be between 1 and 10000");
        }
        if self.lease_secs == 0 || self.poll_interval_ms == 0 {
            anyhow::bail!("supervision.lease_secs and poll_interval_ms must be positive");
        }
        if self.listed.escalate_days_before_due > 60 {
            anyhow::bail!("supervision.listed.escalate_days_before_due: must be 0 to 60");
        }
        if self.listed.sweep_interval_secs == 0 {
            anyhow::bail!("supervision.listed.sweep_interval_secs: must be positive");
        }
        for (i, m) in self.listed.milestones.iter().enumerate() {
            let n = m.name.trim().chars().count();
            if n == 0 || n > 100 || m.days > 366 {
                anyhow::bail!(
                    "supervision.listed.milestones[{i}]: a name of 1 to 100 characters and days 0 to 366"
                );
            }
        }
        if !(1..=366).contains(&self.escalation_response_days) {
            anyhow::bail!("supervision.escalation_response_days: must be 1 to 366");
        }
        self.weekly_report.validate()?;
        Ok(())
    }

    /// The warning lead for a kind; `None` when warnings are off for it.
    pub fn warning_lead(&self, tracked: Tracked) -> Option<TimeDelta> {
        let hours = self
            .warning_lead_hours_by_kind
            .get(tracked.code())
            .copied()
            .unwrap_or(self.warning_lead_hours);
        (hours > 0).then(|| TimeDelta::hours(i64::from(hours)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_leads_fall_back() {
        let mut s = SupervisionSettings::default();
        s.validate().unwrap();
        assert_eq!(
            s.warning_lead(Tracked::Evaluation),
            Some(TimeDelta::hours(72))
        );
        s.warning_lead_hours_by_kind.insert("D4".into(), 0);
        assert_eq!(
            s.warning_lead(Tracked::Statutory(
                xinfang_domain::deadline::DeadlineKind::D4
            )),
            None
        );
        s.warning_lead_hours_by_kind.insert("D99".into(), 1);
        assert!(s.validate().unwrap_err().to_string().contains("D99"));
    }

    #[test]
    fn the_old_deadlines_subsection_fails_naming_the_new_one() {
        let s: SupervisionSettings =
            serde_json::from_str(r#"{"deadlines": {"kinds": {"D7": {"roll_over": false}}}}"#)
                .unwrap();
        let err = s.validate().unwrap_err().to_string();
        assert!(
            err.contains("supervision.deadlines") && err.contains("[deadlines]"),
            "{err}"
        );
    }
}
