//! Departments as durable NATS tenants: every department of the directory has a durable pull
//! consumer `dept_<dept>` on its county's stream `XF_<county>`, filtered to
//! `xf.<county>.dept.<dept>.>` (assignments, withdrawals, warnings, overdue notices, 督办).
//! A department that was offline gets everything published for it meanwhile when it pulls
//! again, in order, and acknowledges each message as it handles it; an unacknowledged one is
//! delivered again after the ack wait.
//!
//! Routing creates them at start for the counties it serves, before anything it publishes
//! can reach a department ([`provision`]): idempotent (instances may race), an existing
//! consumer is kept and its ack wait, deliveries and pending limit brought up to date. A new
//! consumer starts with the messages published after its creation (`DeliverPolicy::New`):
//! a department added to the directory has none before, and an upgraded deployment does not
//! replay a year of history into every department. Consumers of departments that left the
//! directory are left alone: no service may delete a consumer (the operator may, `nats
//! consumer rm XF_<county> dept_<dept>`).
//!
//! One message is in flight per department at a time (`max_ack_pending` 1): a department's
//! feed is strictly ordered, a redelivered message included, so a withdrawal never overtakes
//! its assignment; the volume of one department is far below what that allows.
//!
//! The department side (the `xinfang dept` client, `docs/examples/dept_listen.py`) logs in
//! with its credential file and may only pull from, acknowledge on and read the info of its
//! own consumer ([`crate::nats_config::department_permissions`]).

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use xinfang_domain::county::CountyCode;
use xinfang_domain::directory::{Directory, OrganRef};
use xinfang_domain::subject;

use crate::nats_config::{Credentials, DepartmentAccess};
use crate::settings::RoutingSettings;

/// Seconds before a delivered, unacknowledged message is delivered again (a department's
/// client prints or forwards it first: a webhook may take a while).
pub const DEFAULT_ACK_WAIT_SECS: u64 = 60;

/// Deliveries of one message before the feed passes over it. Deliveries count only while a
/// client pulls and fails (offline, nothing is delivered); with the client's growing nak
/// delay ([`retry_delay`]) 200 deliveries are about two days of a failing webhook.
pub const DEFAULT_MAX_DELIVER: i64 = 200;

/// Messages delivered and not yet acknowledged, per department: one, for strict order.
pub const MAX_ACK_PENDING: i64 = 1;

/// How a department's feed redelivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedSettings {
    pub ack_wait: Duration,
    pub max_deliver: i64,
}

impl Default for FeedSettings {
    fn default() -> Self {
        Self {
            ack_wait: Duration::from_secs(DEFAULT_ACK_WAIT_SECS),
            max_deliver: DEFAULT_MAX_DELIVER,
        }
    }
}

impl FeedSettings {
    pub fn from_routing(s: &RoutingSettings) -> anyhow::Result<Self> {
        anyhow::ensure!(
            s.dept_feed_ack_wait_secs >= 1,
            "routing.dept_feed_ack_wait_secs: at least 1"
        );
        anyhow::ensure!(
            s.dept_feed_max_deliver >= 1,
            "routing.dept_feed_max_deliver: at least 1"
        );
        Ok(Self {
            ack_wait: Duration::from_secs(s.dept_feed_ack_wait_secs),
            max_deliver: s.dept_feed_max_deliver,
        })
    }
}

/// The consumer configuration of `organ`'s feed (nats-server 2.9: one filter subject).
pub fn consumer_config(organ: &OrganRef, s: &FeedSettings) -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(subject::department_consumer(&organ.dept)),
        description: Some(format!("feed of department {organ}")),
        filter_subject: subject::department_feed(&organ.county, &organ.dept),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait: s.ack_wait,
        max_deliver: s.max_deliver,
        max_ack_pending: MAX_ACK_PENDING,
        deliver_policy: consumer::DeliverPolicy::New,
        ..Default::default()
    }
}

/// What [`provision`] did, by consumer (`<county>:dept_<dept>`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Provisioned {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: usize,
}

/// Creates the feed of every department of the directory in each county of `streams` (the
/// counties this deployment serves), or brings an existing one's limits up to date.
pub async fn provision(
    streams: &BTreeMap<CountyCode, stream::Stream>,
    directory: &Directory,
    s: &FeedSettings,
) -> anyhow::Result<Provisioned> {
    let mut done = Provisioned::default();
    for (county, stream) in streams {
        let Some(c) = directory.county(county) else {
            continue;
        };
        for d in &c.departments {
            let organ = OrganRef::new(county.clone(), d.code.clone());
            let label = format!("{county}:{}", subject::department_consumer(&organ.dept));
            match ensure(stream, &organ, s).await? {
                Outcome::Created => done.created.push(label),
                Outcome::Updated => done.updated.push(label),
                Outcome::Unchanged => done.unchanged += 1,
            }
        }
    }
    Ok(done)
}

enum Outcome {
    Created,
    Updated,
    Unchanged,
}

async fn ensure(
    stream: &stream::Stream,
    organ: &OrganRef,
    s: &FeedSettings,
) -> anyhow::Result<Outcome> {
    let want = consumer_config(organ, s);
    let name = subject::department_consumer(&organ.dept);
    let create = |what: &'static str| {
        let want = want.clone();
        let name = name.clone();
        async move {
            match stream.create_consumer(want).await {
                Ok(_) => Ok(()),
                // Another instance created it meanwhile: fine if it is there now.
                Err(e) => match stream.consumer_info(&name).await {
                    Ok(_) if what == "create" => Ok(()),
                    _ => Err(anyhow::anyhow!(
                        "nats: {what} consumer {name} on {}: {e}",
                        stream.cached_info().config.name
                    )),
                },
            }
        }
    };
    match stream.consumer_info(&name).await {
        Ok(info) => {
            let have = &info.config;
            if have.ack_wait == want.ack_wait
                && have.max_deliver == want.max_deliver
                && have.max_ack_pending == want.max_ack_pending
            {
                return Ok(Outcome::Unchanged);
            }
            // nats-server 2.9 updates these on a create with the same name.
            create("update").await?;
            Ok(Outcome::Updated)
        }
        Err(e) if e.kind() == jetstream::context::ConsumerInfoErrorKind::NotFound => {
            create("create").await?;
            Ok(Outcome::Created)
        }
        Err(e) => Err(anyhow::anyhow!("nats: consumer {name}: {e}")),
    }
}

/// Connects as a department: its user, password and inbox prefix from its credential file
/// (the server lets it receive replies, pulled messages included, only there).
pub async fn connect(
    url: &str,
    creds: &Credentials,
    name: &str,
) -> anyhow::Result<async_nats::Client> {
    let inbox = creds
        .inbox_prefix
        .clone()
        .unwrap_or_else(|| subject::inbox_prefix(&creds.user));
    async_nats::ConnectOptions::with_user_and_password(creds.user.clone(), creds.password.clone())
        .name(name)
        .custom_inbox_prefix(inbox)
        .connection_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .map_err(|e| anyhow::anyhow!("nats: {url} as {}: {e}", creds.user))
}

/// The department's durable feed, looked up by name (a department may read its consumer's
/// info, not the stream's).
pub async fn open(
    client: &async_nats::Client,
    access: &DepartmentAccess,
) -> anyhow::Result<consumer::Consumer<consumer::pull::Config>> {
    let js = jetstream::new(client.clone());
    js.get_consumer_from_stream(&access.consumer, &access.stream)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "nats: feed {} on {} (is routing started with this directory?): {e}",
                access.consumer,
                access.stream
            )
        })
}

/// How long a department's client waits before a message it failed to hand on comes again:
/// 5 s after the first delivery, doubling, at most 15 minutes.
pub fn retry_delay(delivered: i64) -> Duration {
    let n = u32::try_from(delivered.clamp(1, 16) - 1).unwrap_or(0);
    Duration::from_secs((5u64 << n).min(15 * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_is_one_filter_explicitly_acknowledged_in_order() {
        let organ = OrganRef::parse("411282:rsj").unwrap();
        let c = consumer_config(&organ, &FeedSettings::default());
        assert_eq!(c.durable_name.as_deref(), Some("dept_rsj"));
        assert_eq!(c.filter_subject, "xf.411282.dept.rsj.>");
        assert_eq!(c.ack_policy, consumer::AckPolicy::Explicit);
        assert_eq!(c.max_ack_pending, 1);
        assert_eq!(c.ack_wait, Duration::from_secs(60));
        assert_eq!(c.max_deliver, 200);
    }

    #[test]
    fn retries_back_off_to_a_quarter_hour() {
        assert_eq!(retry_delay(1), Duration::from_secs(5));
        assert_eq!(retry_delay(2), Duration::from_secs(10));
        assert_eq!(retry_delay(0), Duration::from_secs(5));
        assert_eq!(retry_delay(9), Duration::from_secs(900));
        assert_eq!(retry_delay(1_000), Duration::from_secs(900));
        // 200 deliveries at these delays: about two days.
        let total: u64 = (1..=200).map(|n| retry_delay(n).as_secs()).sum();
        assert!((40 * 3600..60 * 3600).contains(&total), "{total}");
    }
}
