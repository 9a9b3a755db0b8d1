//! What every operation needs, built once at start.

use sqlx::PgPool;
use xinfang_domain::calendar::Calendar;
use xinfang_domain::county::CountyCode;
use xinfang_domain::directory::Directory;
use xinfang_domain::lifecycle::Policy;
use xinfang_platform::attempts::FailedAttempts;

use crate::clock::Clock;
use crate::identity::HashKey;
use crate::settings::ReviewSettings;

pub struct Ctx {
    pub pool: PgPool,
    pub directory: Directory,
    pub calendar: Calendar,
    pub settings: ReviewSettings,
    /// The counties this deployment serves (its cases and its organs).
    pub served: Vec<CountyCode>,
    pub key: HashKey,
    pub clock: Clock,
    /// Wrong ID numbers per query code (guessing defence).
    pub id_attempts: FailedAttempts,
}

impl Ctx {
    /// The calendar and day counting the lifecycle's window guards use.
    pub fn policy(&self) -> Policy<'_> {
        Policy {
            calendar: &self.calendar,
            rules: &self.settings.deadlines,
        }
    }

    pub fn serves(&self, county: &CountyCode) -> bool {
        self.served.contains(county)
    }
}
