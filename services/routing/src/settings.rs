//! The `[routing]` configuration section.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingSettings {
    /// Who is recorded as having loaded the directory (`directory_audit.operator`); empty =
    /// `$XF_OPERATOR`, then `$USER`, then `xf-routing`.
    pub operator: String,
    /// Hold cases the classifier flagged for triage until a clerk reclassifies them.
    pub hold_for_triage: bool,
    /// Department commands handled at once per county.
    pub command_concurrency: usize,
    /// Departments' durable feeds (`dept_<dept>`, [`crate::dept_feed`]): seconds before a
    /// delivered but unacknowledged message is delivered again.
    pub dept_feed_ack_wait_secs: u64,
    /// Deliveries of one message before a department's feed passes over it.
    pub dept_feed_max_deliver: i64,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        Self {
            operator: String::new(),
            hold_for_triage: true,
            command_concurrency: 32,
            dept_feed_ack_wait_secs: crate::dept_feed::DEFAULT_ACK_WAIT_SECS,
            dept_feed_max_deliver: crate::dept_feed::DEFAULT_MAX_DELIVER,
        }
    }
}

impl RoutingSettings {
    pub fn operator(&self) -> String {
        if !self.operator.trim().is_empty() {
            return self.operator.trim().to_owned();
        }
        ["XF_OPERATOR", "USER"]
            .iter()
            .filter_map(|k| std::env::var(k).ok())
            .find(|v| !v.trim().is_empty())
            .unwrap_or_else(|| "xf-routing".to_owned())
    }
}

/// This machine's name for the audit: `$HOSTNAME`, `/etc/hostname`, or `unknown`.
pub fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}
