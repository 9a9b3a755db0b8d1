//! Console roles. Five are the services' own; a leader (领导) reads the boards and dashboards
//! of a supervisor's scope and signs nothing, so the services see a supervisor.

use serde::{Deserialize, Serialize};
use xinfang_domain::access::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsoleRole {
    Clerk,
    Department,
    Supervisor,
    Reviewer,
    Leader,
    Operator,
}

impl ConsoleRole {
    pub const ALL: [ConsoleRole; 6] = [
        ConsoleRole::Clerk,
        ConsoleRole::Department,
        ConsoleRole::Supervisor,
        ConsoleRole::Reviewer,
        ConsoleRole::Leader,
        ConsoleRole::Operator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ConsoleRole::Clerk => "clerk",
            ConsoleRole::Department => "department",
            ConsoleRole::Supervisor => "supervisor",
            ConsoleRole::Reviewer => "reviewer",
            ConsoleRole::Leader => "leader",
            ConsoleRole::Operator => "operator",
        }
    }

    pub fn parse(raw: &str) -> Option<ConsoleRole> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }

    /// What the page header calls the role.
    pub fn title(self) -> &'static str {
        match self {
            ConsoleRole::Clerk => "登记员",
            ConsoleRole::Department => "承办单位",
            ConsoleRole::Supervisor => "督查督办",
            ConsoleRole::Reviewer => "复查复核",
            ConsoleRole::Leader => "领导",
            ConsoleRole::Operator => "运维",
        }
    }

    /// The principal the services see for this role.
    pub fn api_role(self) -> Role {
        match self {
            ConsoleRole::Clerk => Role::Clerk,
            ConsoleRole::Department => Role::Department,
            ConsoleRole::Supervisor | ConsoleRole::Leader => Role::Supervisor,
            ConsoleRole::Reviewer => Role::Reviewer,
            ConsoleRole::Operator => Role::Operator,
        }
    }

    /// The page a user of this role lands on.
    pub fn home(self) -> &'static str {
        match self {
            ConsoleRole::Clerk => "/clerk",
            ConsoleRole::Department => "/dept",
            ConsoleRole::Supervisor | ConsoleRole::Leader => "/board",
            ConsoleRole::Reviewer => "/reviews",
            ConsoleRole::Operator => "/board",
        }
    }
}
