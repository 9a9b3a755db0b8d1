//! Input validation errors. Messages name the field and the rule and never echo the value
//! (it may be a phone or ID number).
//!
//! Personal inputs are parsed into newtypes ([`IdNumber`], [`Mobile`], [`PersonName`]) so a value
//! that exists has been checked; their `Debug` output is redacted so they cannot leak into logs.

mod id_number;
mod mobile;
mod text;

pub use id_number::IdNumber;
pub use mobile::Mobile;
pub use text::{PersonName, text, text_from_bytes};

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// Dotted path of the offending field, e.g. `petitioner.id_number`.
    pub field: String,
    /// Machine-readable rule name, e.g. `checksum`.
    pub rule: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, rule: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule,
            message: message.into(),
        }
    }
}

impl ValidationError {
    /// The same error under a parent path: `id_number` under `petitioner` is `petitioner.id_number`.
    pub fn under(mut self, parent: &str) -> Self {
        self.field = format!("{parent}.{}", self.field);
        self
    }
}
