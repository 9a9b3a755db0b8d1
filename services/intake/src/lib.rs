//! Intake: the bureau's front door (首接负责). Registers petitions from every channel,
//! validates and classifies them, links repeats, issues case numbers and query codes, and
//! keeps the case registry (the read side) that staff and petitioners query.

pub mod api;
pub mod bench;
pub mod case_number;
pub mod commands;
pub mod crypto;
pub mod learning;
pub mod register;
pub mod registry;
pub mod repeats;
pub mod service;
pub mod settings;
