//! The petition (信访) domain under 《信访工作条例》 (2022). Plain types and functions, no I/O.

pub mod access;
pub mod appeal;
pub mod calendar;
pub mod case_no;
pub mod classify;
pub mod confidential;
pub mod county;
pub mod deadline;
pub mod deadline_plan;
pub mod deadline_state;
pub mod dept_notice;
pub mod directory;
pub mod envelope;
pub mod events;
pub mod handling;
pub mod lifecycle;
pub mod petition;
pub mod registration;
pub mod repeat;
pub mod routing;
pub mod seal;
pub mod subject;
pub mod termination_registry;
pub mod validation;
