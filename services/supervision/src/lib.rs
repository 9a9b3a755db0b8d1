//! Supervision: statutory deadline timers (Postgres record, Redis index), warnings, overdue
//! escalation (督办), KPIs.

pub mod api;
pub mod bench;
pub mod bench_stats;
pub mod cli;
pub mod clock;
pub mod comparison;
pub mod error;
pub mod fire;
pub mod handlers;
pub mod ids;
pub mod indexer;
pub mod listed;
pub mod marks;
pub mod practices;
pub mod projection;
pub mod recalendar;
pub mod service;
pub mod settings;
pub mod stats;
pub mod store;
pub mod supervise;
pub mod timers;
pub mod weekly;
pub mod writes;
