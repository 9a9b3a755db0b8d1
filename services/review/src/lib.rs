//! Review: 复查 and 复核 requests and decisions, hearings, termination registry (终结库), satisfaction evaluation.

pub mod api;
pub mod appeals;
pub mod clock;
pub mod context;
pub mod emit;
pub mod error;
pub mod evaluations;
pub mod handlers;
pub mod identity;
pub mod registry;
pub mod service;
pub mod settings;
pub mod store;
pub mod sweep;
