//! What handlers, commands and HTTP share: the pool, the directory, the calendar and rules the
//! lifecycle guards use, the data key that opens petitioners' contacts, and the counties whose
//! streams this deployment serves.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};

use chrono::{DateTime, FixedOffset, Utc};
use sqlx::PgPool;
use xinfang_domain::county::CountyCode;
use xinfang_domain::deadline::{CST, DeadlineRules};
use xinfang_domain::directory::Directory;
use xinfang_domain::lifecycle::PolicySnapshot;
use xinfang_domain::routing::RoutingPolicy;
use xinfang_domain::seal::DataKey;
use xinfang_platform::calendar::CalendarHandle;

pub struct Ctx {
    pub pool: PgPool,
    /// The directory as last loaded (reloadable: take a snapshot per operation).
    pub directory: DirectoryHandle,
    /// Where the directory comes from and what a reload must bring up to date; `None` when it
    /// was not loaded from a file (it cannot be reloaded then).
    pub directory_source: Option<DirectorySource>,
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

/// The running directory. A reload replaces it as a whole; readers take a snapshot
/// ([`DirectoryHandle::get`]) where they use it.
pub struct DirectoryHandle(RwLock<Arc<Directory>>);

impl DirectoryHandle {
    pub fn new(directory: Directory) -> Self {
        Self(RwLock::new(Arc::new(directory)))
    }

    pub fn get(&self) -> Arc<Directory> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn set(&self, directory: Directory) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(directory);
    }
}

/// What a directory reload needs: the file, the served counties' streams (for the new
/// departments' feeds) and the feeds' settings. One reload runs at a time.
pub struct DirectorySource {
    pub path: PathBuf,
    pub streams: Arc<BTreeMap<CountyCode, async_nats::jetstream::stream::Stream>>,
    pub feeds: crate::dept_feed::FeedSettings,
    pub host: String,
    pub reloading: tokio::sync::Mutex<()>,
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
