//! Routing: department directory, routing rules, legal-channel diversion, assignment to departments, department actions.

pub mod actions;
pub mod api;
pub mod apply;
pub mod client;
pub mod commands;
pub mod context;
pub mod dept_feed;
pub mod dept_message;
pub mod directory;
pub mod emit;
pub mod handlers;
pub mod nats_config;
pub mod openapi;
pub mod remand;
pub mod service;
pub mod settings;
pub mod store;
