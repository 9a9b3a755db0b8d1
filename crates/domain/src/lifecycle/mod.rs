//! The case lifecycle of domain.md §10 as a state machine.
//!
//! [`apply`] takes a [`Case`] and a [`Command`] and returns a [`Transition`] (the new case plus
//! the event name for `xf.<county>.case.<event>`) or a [`LifecycleError`] that names the rule and
//! its article. The function is pure: time comes in with the commands, and the deadline settings
//! that guard the appeal and objection windows come in through a [`Policy`].

mod case;
mod commands;
mod errors;
mod machine;
mod states;
#[cfg(test)]
mod tests;

pub use case::{Appeal, Case, Extension, Hearing, HearingStage, Opinion, Routing, RoutingMode};
pub use commands::{Command, NotAcceptGround};
pub use errors::LifecycleError;
pub use machine::{
    EVENTS, Policy, PolicySnapshot, Transition, allowed_commands, apply, apply_with,
};
pub use states::CaseState;
