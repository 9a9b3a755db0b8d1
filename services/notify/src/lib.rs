//! Notify: SMS and email to petitioners and departments: templates, providers, retries, delivery log.

pub mod clock;
pub mod mask;
pub mod notice;
pub mod providers;
pub mod quiet;
pub mod service;
pub mod settings;
pub mod templates;
