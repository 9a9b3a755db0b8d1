//! Shared plumbing for xinfang services. Knows nothing about petitions.

pub mod api_doc;
pub mod attempts;
pub mod auth;
pub mod calendar;
pub mod config;
pub mod consumer;
pub mod db;
pub mod db_watch;
pub mod directory;
pub mod dlq;
pub mod host;
pub mod http;
pub mod http_error;
pub mod http_json;
pub mod main_runner;
pub mod metrics;
pub mod nats;
pub mod outbox;
mod outbox_batch;
pub mod rate_limit;
pub mod redis;
pub mod route_probe;
pub mod route_table;
pub mod shutdown;
pub mod telemetry;
pub mod testing;
pub mod trace_context;
