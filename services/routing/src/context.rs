//! What handlers, commands and HTTP share: the pool, the directory, the calendar and rules the
//! lifecycle guards use, the data key that opens petitioners' contacts, and the counties whose
//! streams this deployment serves.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, Utc};
use sqlx::PgPool;
use xinfang_domain::calendar::Calendar;
use xinfang_domain::county::CountyCode;
use xinfang_domain::deadline::{CST, DeadlineRules};
use xinfang_domain::directory::Directory;
use xinfang_domain::lifecycle::Policy;
use xinfang_domain::routing::RoutingPolicy;
use xinfang_domain::seal::DataKey;

pub struct Ctx {
    pub pool: PgPool,
    pub directory: Arc<Directory>,
    pub calendar: Calendar,
    pub rules: DeadlineRules,
    pub routing: RoutingPolicy,
    /// `None` when `security.data_key` is not configured: departments then get no contact.
    pub data_key: Option<DataKey>,
    /// Counties with a stream in this deployment: events can only be published there.
    pub served: BTreeSet<CountyCode>,
}

impl Ctx {
    pub fn policy(&self) -> Policy<'_> {
        Policy {
            calendar: &self.calendar,
            rules: &self.rules,
        }
    }
}

/// `now` in China Standard Time, as the lifecycle commands take it.
pub fn cst(at: DateTime<Utc>) -> DateTime<FixedOffset> {
    at.with_timezone(&CST)
}
