//! Notify: SMS and email to petitioners and departments: templates, providers, retries, delivery log.
//!
//! Consumers (`handlers`) turn events into pending rows of the delivery log (`store`) inside
//! the consumer transaction; the `sender` loop sends them outside it, concurrently, with
//! retries, quiet hours (`quiet`) and a dead state that alerts the bureau.

pub mod api;
pub mod clock;
pub mod contacts;
pub mod core;
pub mod handlers;
pub mod mask;
pub mod notice;
pub mod plan;
pub mod providers;
pub mod quiet;
pub mod report;
pub mod sender;
pub mod service;
pub mod settings;
pub mod sinks;
pub mod store;
pub mod templates;
