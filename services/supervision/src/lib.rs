//! Supervision: statutory deadline timers (Postgres record, Redis index), warnings, overdue escalation (督办), KPIs.

pub mod service;
