//! Routing: department directory, routing rules, legal-channel diversion, assignment to departments, department actions.

pub mod service;
