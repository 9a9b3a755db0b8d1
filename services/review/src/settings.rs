//! The `[review]` configuration section.
//!
//! ```toml
//! [review]
//! evaluation_window_days = 30        # Decisions 5: days after service to rate the handling
//! sweep_interval_secs = 3600         # how often lapsed appeal windows are looked for
//! id_number_attempts = 5             # wrong ID numbers per query code before a lockout (0: none)
//! id_number_lockout_secs = 3600      # how long the lockout lasts
//! [review.open_to_review]            # opened to 复查 besides Art 31(6) handling opinions
//! types = []                         # e.g. ["suggestion"]
//! branches = []                      # e.g. ["31_5"]
//! [review.deadlines]                 # xinfang_domain::deadline::DeadlineRules (D7-D10 counting)
//! ```

use std::path::Path;

use serde::Deserialize;
use xinfang_domain::appeal::ReviewScope;
use xinfang_domain::calendar::Calendar;
use xinfang_domain::deadline::DeadlineRules;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReviewSettings {
    /// Days after the reply is served during which the petitioner may evaluate (Decisions 5).
    pub evaluation_window_days: u32,
    /// Types and Art 31 branches whose replies may be reviewed besides 信访处理意见.
    pub open_to_review: ReviewScope,
    /// Day counting of the appeal windows and decision deadlines (D7-D10).
    pub deadlines: DeadlineRules,
    /// Run the lapsed-window sweep in this instance (several instances share the work).
    pub sweep_enabled: bool,
    pub sweep_interval_secs: u64,
    /// Cases examined per sweep transaction.
    pub sweep_batch: i64,
    /// Wrong ID numbers for one query code before requests by that code are refused for
    /// `id_number_lockout_secs` (0: never).
    pub id_number_attempts: u32,
    pub id_number_lockout_secs: u64,
}

impl Default for ReviewSettings {
    fn default() -> Self {
        Self {
            evaluation_window_days: 30,
            open_to_review: ReviewScope::default(),
            deadlines: DeadlineRules::default(),
            sweep_enabled: true,
            sweep_interval_secs: 3600,
            sweep_batch: 500,
            id_number_attempts: 5,
            id_number_lockout_secs: 3600,
        }
    }
}

impl ReviewSettings {
    /// Checks what serde cannot and folds `evaluation_window_days` into the deadline rules.
    pub fn validated(mut self) -> anyhow::Result<Self> {
        self.deadlines = self
            .deadlines
            .with_evaluation_window_days(self.evaluation_window_days)
            .map_err(|e| anyhow::anyhow!("review.evaluation_window_days: {e}"))?;
        if self.sweep_interval_secs == 0 {
            anyhow::bail!("review.sweep_interval_secs: must be at least 1");
        }
        if self.id_number_lockout_secs == 0 {
            anyhow::bail!("review.id_number_lockout_secs: must be at least 1");
        }
        if !(1..=10_000).contains(&self.sweep_batch) {
            anyhow::bail!("review.sweep_batch: must be between 1 and 10000");
        }
        Ok(self)
    }
}

/// The deployment's calendar, or the embedded one when the file is missing or invalid.
pub fn load_calendar(path: &Path) -> Calendar {
    match std::fs::read_to_string(path) {
        Ok(raw) => Calendar::from_toml_str(&raw).unwrap_or_else(|e| {
            tracing::warn!(path = %path.display(), error = %e, "calendar invalid; using the embedded calendar");
            Calendar::embedded()
        }),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "calendar unreadable; using the embedded calendar");
            Calendar::embedded()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_evaluation_window_reaches_the_rules() {
        let s: ReviewSettings = toml::from_str(
            "evaluation_window_days = 15\n[open_to_review]\nbranches = [\"31_5\"]\n",
        )
        .unwrap();
        let s = s.validated().unwrap();
        assert_eq!(s.deadlines.evaluation_window_days(), 15);
        assert_eq!(s.open_to_review.branches.len(), 1);
        let bad = ReviewSettings {
            evaluation_window_days: 0,
            ..Default::default()
        };
        assert!(
            bad.validated()
                .unwrap_err()
                .to_string()
                .contains("evaluation_window_days")
        );
        assert!(toml::from_str::<ReviewSettings>("bogus = 1").is_err());
    }
}
