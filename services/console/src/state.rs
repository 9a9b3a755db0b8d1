//! What every page handler shares.

use std::sync::Arc;

use redis::aio::ConnectionManager;
use xinfang_platform::attempts::FailedAttempts;
use xinfang_platform::auth::AuthStore;

use crate::backend::Backend;
use crate::live::LiveHub;
use crate::pages::Templates;
use crate::settings::ConsoleSettings;
use crate::users::UserStore;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<ConsoleSettings>,
    pub users: UserStore,
    /// Issues and revokes the per-session service tokens.
    pub auth: AuthStore,
    pub redis: ConnectionManager,
    pub key_prefix: String,
    pub backend: Backend,
    pub templates: Templates,
    /// The directory's names for county and organ codes.
    pub names: crate::names::Names,
    /// Failed sign-ins per user name.
    pub sign_in_attempts: FailedAttempts,
    pub live: LiveHub,
    /// The counties this deployment serves (the city among them), as their codes.
    pub served: Arc<Vec<String>>,
    /// Where matters come from (`[[case_sources]]`): the registration form offers them.
    pub sources: Arc<xinfang_domain::case_source::CaseSources>,
}
