//! The `[intake]` configuration section.

use serde::{Deserialize, Serialize};
use xinfang_domain::classify::DEFAULT_REPEAT_THRESHOLD;
use xinfang_domain::registration::MAX_TEXT_CHARS;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntakeSettings {
    /// Text similarity (0..1) above which the same petitioner's petitions are the same matter.
    pub repeat_threshold: f32,
    /// Longest petition text accepted, in characters.
    pub max_text_chars: usize,
    /// Largest page of `GET /v1/cases`.
    pub max_page_size: i64,
}

impl Default for IntakeSettings {
    fn default() -> Self {
        Self {
            repeat_threshold: DEFAULT_REPEAT_THRESHOLD,
            max_text_chars: MAX_TEXT_CHARS,
            max_page_size: 200,
        }
    }
}
