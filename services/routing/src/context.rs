//! What handlers, commands and HTTP share: the pool, the directory, the calendar and rules the
//! lifecycle guards use, the data key that opens petitioners' contacts, and the counties whose
//! streams this deployment serves.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, Utc};
use sqlx::PgPool;
use xinfang_domain::county::CountyCode;
use xinfang_domain::deadline::{CST, DeadlineRules};
use xinfang_domain::lifecycle::PolicySnapshot;
use xinfang_domain::routing::RoutingPolicy;
use xinfang_domain::seal::DataKey;
use xinfang_platform::calendar::CalendarHandle;
use xinfang_platform::directory::DirectoryHandle;

pub struct Ctx {
    pub pool: PgPool,
    /// The process's directory (reloadable: take a snapshot per operation,
    /// `ctx.directory.current()`); a reload runs [`crate::directory::RoutingReload`] first.
    pub directory: Arc<DirectoryHandle>,
    /// The process's holiday calendar (reloadable; take a snapshot per operation).
    pub calendar: Arc<CalendarHandle>,
    /// The deployment's one `[deadlines]` section.
    pub rules: DeadlineRules,
    pub routing: RoutingPolicy,
    /// `None` when `security.data_key` is not configured: departments then get no contact.
    pub data_key: Option<DataKey>,
    /// Counties with a stream in this deployment: events can only be published there.
    pub served: BTreeSet<CountyCode>,
}

impl Ctx {
    /// The calendar as it stands now and the deadline rules, for the lifecycle guards:
    /// `apply_with(case, cmd, &ctx.policy().get())`.
    pub fn policy(&self) -> PolicySnapshot<'_> {
        PolicySnapshot {
            calendar: self.calendar.current(),
            rules: &self.rules,
        }
    }
}

/// `now` in China Standard Time, as the lifecycle commands take it.
pub fn cst(at: DateTime<Utc>) -> DateTime<FixedOffset> {
    at.with_timezone(&CST)
}
