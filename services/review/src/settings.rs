//! The `[review]` configuration section.
//!
//! ```toml
//! [review]
//! sweep_interval_secs = 3600         # how often lapsed appeal windows are looked for
//! id_number_attempts = 5             # wrong ID numbers per query code before a lockout (0: none)
//! id_number_lockout_secs = 3600      # how long the lockout lasts
//! [review.rate_limit]                # POST /v1/reviews and /v1/evaluations by query code
//! window_secs = 60                   # xinfang_platform::rate_limit::RateLimitSettings
//! per_address = 30                   # failed requests (403/404/429) per client address
//! per_code = 20                      # requests per query code, all addresses together
//! [review.open_to_review]            # opened to 复查 besides Art 31(6) handling opinions
//! types = []                         # e.g. ["suggestion"]
//! branches = []                      # e.g. ["31_5"]
//! ```
//!
//! The appeal windows, decision deadlines and the evaluation window are counted by the one
//! `[deadlines]` section every service reads (`PlatformSettings::deadlines`), with the
//! process's holiday calendar (`Infra::calendar`).

use serde::Deserialize;
use xinfang_domain::appeal::ReviewScope;
use xinfang_platform::rate_limit::RateLimitSettings;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReviewSettings {
    /// Moved to `[deadlines] evaluation_window_days`; named here so an old configuration fails
    /// start-up saying where it went.
    pub evaluation_window_days: Option<serde::de::IgnoredAny>,
    /// Types and Art 31 branches whose replies may be reviewed besides 信访处理意见.
    pub open_to_review: ReviewScope,
    /// Moved to the one `[deadlines]` section (see above).
    pub deadlines: Option<serde::de::IgnoredAny>,
    /// Run the lapsed-window sweep in this instance (several instances share the work).
    pub sweep_enabled: bool,
    pub sweep_interval_secs: u64,
    /// Cases examined per sweep transaction.
    pub sweep_batch: i64,
    /// Wrong ID numbers for one query code before requests by that code are refused for
    /// `id_number_lockout_secs` (0: never).
    pub id_number_attempts: u32,
    pub id_number_lockout_secs: u64,
    /// Limits on the petitioner's requests and evaluations per client address and per query
    /// code (guessing codes, hammering one code).
    pub rate_limit: RateLimitSettings,
}

impl Default for ReviewSettings {
    fn default() -> Self {
        Self {
            evaluation_window_days: None,
            open_to_review: ReviewScope::default(),
            deadlines: None,
            sweep_enabled: true,
            sweep_interval_secs: 3600,
            sweep_batch: 500,
            id_number_attempts: 5,
            id_number_lockout_secs: 3600,
            rate_limit: RateLimitSettings::default(),
        }
    }
}

impl ReviewSettings {
    /// Checks what serde cannot.
    pub fn validated(self) -> anyhow::Result<Self> {
        if self.evaluation_window_days.is_some() {
            anyhow::bail!(
                "review.evaluation_window_days: moved to the [deadlines] section (evaluation_window_days), which every service reads"
            );
        }
        if self.deadlines.is_some() {
            anyhow::bail!(
                "review.deadlines: deadline rules moved to the [deadlines] section, which every service reads; move the keys there"
            );
        }
        if self.sweep_interval_secs == 0 {
            anyhow::bail!("review.sweep_interval_secs: must be at least 1");
        }
        if self.id_number_lockout_secs == 0 {
            anyhow::bail!("review.id_number_lockout_secs: must be at least 1");
        }
        self.rate_limit.validate("review.rate_limit")?;
        if !(1..=10_000).contains(&self.sweep_batch) {
            anyhow::bail!("review.sweep_batch: must be between 1 and 10000");
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_keys_here_fail_naming_the_deadlines_section() {
        let s: ReviewSettings = toml::from_str(
            "evaluation_window_days = 15\n[open_to_review]\nbranches = [\"31_5\"]\n",
        )
        .unwrap();
        assert_eq!(s.open_to_review.branches.len(), 1);
        let err = s.validated().unwrap_err().to_string();
        assert!(
            err.contains("review.evaluation_window_days") && err.contains("[deadlines]"),
            "{err}"
        );
        let s: ReviewSettings =
            toml::from_str("[deadlines.kinds.D7]\nroll_over = false\n").unwrap();
        assert!(
            s.validated()
                .unwrap_err()
                .to_string()
                .contains("review.deadlines")
        );
        ReviewSettings::default().validated().unwrap();
        assert!(toml::from_str::<ReviewSettings>("bogus = 1").is_err());
    }
}
