//! Review: 复查 and 复核 requests and decisions, hearings, termination registry (终结库), satisfaction evaluation.

pub mod service;
