//! What every operation needs, built once at start.

use std::sync::Arc;

use sqlx::PgPool;
use xinfang_domain::county::CountyCode;
use xinfang_domain::deadline::DeadlineRules;
use xinfang_domain::lifecycle::PolicySnapshot;
use xinfang_platform::attempts::FailedAttempts;
use xinfang_platform::calendar::CalendarHandle;
use xinfang_platform::directory::DirectoryHandle;
use xinfang_platform::rate_limit::RateLimiter;

use crate::clock::Clock;
use crate::identity::HashKey;
use crate::settings::ReviewSettings;

pub struct Ctx {
    pub pool: PgPool,
    /// The process's directory (reloadable: take a snapshot per operation). An appeal keeps
    /// the organ it was made to: it is stored with the appeal, not looked up again.
    pub directory: Arc<DirectoryHandle>,
    /// The process's holiday calendar (reloadable; take a snapshot per operation).
    pub calendar: Arc<CalendarHandle>,
    /// The deployment's one `[deadlines]` section.
    pub deadlines: DeadlineRules,
    pub settings: ReviewSettings,
    /// The counties this deployment serves (its cases and its organs).
    pub served: Vec<CountyCode>,
    pub key: HashKey,
    pub clock: Clock,
    /// Wrong ID numbers per query code (guessing defence).
    pub id_attempts: FailedAttempts,
    /// Limits on the petitioner routes per client address and per query code.
    pub rate_limit: RateLimiter,
}

impl Ctx {
    /// The calendar as it stands now and the day counting the lifecycle's window guards use:
    /// `check_request(.., &ctx.policy().get())`.
    pub fn policy(&self) -> PolicySnapshot<'_> {
        PolicySnapshot {
            calendar: self.calendar.current(),
            rules: &self.deadlines,
        }
    }

    pub fn serves(&self, county: &CountyCode) -> bool {
        self.served.contains(county)
    }
}
