//! The `[intake]` configuration section.

use serde::{Deserialize, Serialize};
use xinfang_domain::registration::MAX_TEXT_CHARS;
use xinfang_domain::repeat::Thresholds;
use xinfang_platform::rate_limit::RateLimitSettings;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntakeSettings {
    /// Text similarity (0..1, weighted word overlap) from which the same petitioner's petitions
    /// are the same matter.
    pub repeat_threshold: f32,
    /// The same, when both petitions are for the same department.
    pub repeat_threshold_same_department: f32,
    /// The same, when both are for the same department and the new one says it raised this
    /// before (上次反映过, 再次).
    pub repeat_threshold_follow_up: f32,
    /// Fingerprint similarity (0..1, estimated Jaccard of content words,
    /// `classify::similarity`) from which a petition is the same matter as one of the
    /// province's terminated-matters list (only fingerprints are exchanged, not texts).
    pub repeat_threshold_registry: f32,
    /// Longest petition text accepted, in characters.
    pub max_text_chars: usize,
    /// Largest page of `GET /v1/cases`.
    pub max_page_size: i64,
    /// Limits on `GET /v1/query/{query_code}` per client address and per query code
    /// (`[intake.rate_limit]`, see `xinfang_platform::rate_limit`).
    pub rate_limit: RateLimitSettings,
    /// How often to retrain the classifier's term models on clerks' corrections when there
    /// are new ones (0: only on command, `POST /v1/classifier/retrain`).
    pub retrain_interval_secs: u64,
}

impl Default for IntakeSettings {
    fn default() -> Self {
        Self {
            repeat_threshold: Thresholds::default().any,
            repeat_threshold_same_department: Thresholds::default().same_department,
            repeat_threshold_follow_up: Thresholds::default().follow_up,
            repeat_threshold_registry:
                xinfang_domain::classify::similarity::DEFAULT_REPEAT_THRESHOLD,
            max_text_chars: MAX_TEXT_CHARS,
            max_page_size: 200,
            rate_limit: RateLimitSettings::default(),
            retrain_interval_secs: 3600,
        }
    }
}

impl IntakeSettings {
    pub fn repeat_thresholds(&self) -> Thresholds {
        Thresholds {
            any: self.repeat_threshold,
            same_department: self.repeat_threshold_same_department,
            follow_up: self.repeat_threshold_follow_up,
        }
    }
}
