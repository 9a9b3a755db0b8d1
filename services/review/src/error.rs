//! Why an operation was refused, independent of HTTP (the API maps these to status codes).

use xinfang_domain::appeal::{AppealError, EvaluationError};
use xinfang_domain::validation::ValidationError;

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// Nothing by that number or code here.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// An input breaks a rule (field named).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The ID number does not match the petitioner of the case the query code names.
    #[error(
        "the ID number does not match the petitioner of this matter; a request by query code needs the petitioner's own ID number"
    )]
    IdentityMismatch,
    /// Too many wrong ID numbers for this query code: refused, right or wrong, for a while.
    #[error(
        "too many wrong ID numbers for this query code; try again later or ask at the reception desk"
    )]
    Locked { retry_after_secs: u64 },
    /// Refused by a rule of Art 35-36 (or the lifecycle).
    #[error(transparent)]
    Refused(#[from] AppealError),
    /// Refused by an evaluation rule (Decisions 5).
    #[error(transparent)]
    Evaluation(#[from] EvaluationError),
    /// The caller may not act for the organ concerned (the message names the rule).
    #[error("{0}")]
    Forbidden(String),
    /// A state conflict that is neither a rule of the regulation nor bad input.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for ReviewError {
    fn from(e: sqlx::Error) -> Self {
        ReviewError::Internal(e.into())
    }
}

impl ReviewError {
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ReviewError::Conflict {
            code,
            message: message.into(),
        }
    }
}
