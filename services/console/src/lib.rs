//! The console: the bureau's clerks, the departments, supervisors, leaders, reviewers and
//! petitioners work in a browser. Server-rendered pages over the services' HTTP APIs only.

pub mod backend;
pub mod bench;
pub mod chart;
pub mod gateway;
pub mod live;
pub mod names;
pub mod pages;
pub mod role;
pub mod service;
pub mod session;
pub mod settings;
pub mod state;
pub mod users;
pub mod words;
