//! Core NATS subscriptions on `xf.<county>.case.registered`, `xf.<county>.case.assigned` and
//! `xf.<county>.deadline.scheduled` of every scratch county (not `xf.*.…`: other deployments
//! on the same server publish there too). A core subscription sees each publish as the outbox
//! relay makes it, republished ones included; the time a message arrives here is the hop's
//! time. Messages are keyed by the envelope's `case_id`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use futures::StreamExt;
use tokio::task::JoinHandle;
use xinfang_domain::county::CountyCode;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::events::kind;
use xinfang_domain::subject;

/// One message seen: its envelope id and when it arrived.
#[derive(Debug, Clone)]
pub struct Seen {
    pub id: uuid::Uuid,
    pub at: Instant,
}

/// What the probe saw of one case.
#[derive(Debug, Clone, Default)]
pub struct CaseEvents {
    pub registered: Vec<Seen>,
    /// `deadline.scheduled` of D1 (the bureau's clock, started by the registration).
    pub d1: Vec<Seen>,
    pub assigned: Vec<Seen>,
    /// `deadline.scheduled` of D4 (the department's clock, started by the assignment).
    pub d4: Vec<Seen>,
}

#[derive(Debug, Default)]
pub struct ProbeLog {
    pub cases: HashMap<String, CaseEvents>,
    /// Messages that are no envelope, or name no case.
    pub unreadable: u64,
    envelopes: u64,
    envelope_bytes: u64,
    /// The first envelope of each kind seen (candidates for the baseline's message).
    samples: [Option<Vec<u8>>; 4],
}

impl ProbeLog {
    /// A message of the mean size of the envelopes seen, made of a real one (cut or
    /// repeated), and that size.
    pub fn sample(&self) -> (Vec<u8>, usize) {
        let mean = self
            .envelope_bytes
            .checked_div(self.envelopes)
            .unwrap_or(1024)
            .max(1) as usize;
        let model: &[u8] = self
            .samples
            .iter()
            .flatten()
            .min_by_key(|s| s.len().abs_diff(mean))
            .map_or(b"x", |s| s.as_slice());
        (model.iter().copied().cycle().take(mean).collect(), mean)
    }

    fn record(&mut self, subject: &str, payload: &[u8], at: Instant) {
        let Ok(env) = Envelope::<serde_json::Value>::from_bytes(payload) else {
            self.unreadable += 1;
            return;
        };
        let Some(case_no) = env.case_id.clone() else {
            self.unreadable += 1;
            return;
        };
        self.envelopes += 1;
        self.envelope_bytes += payload.len() as u64;
        let family = subject.split('.').nth(2).unwrap_or_default();
        let e = self.cases.entry(case_no).or_default();
        let seen = Seen { id: env.id, at };
        let (list, sample_slot) = match (family, env.kind.as_str()) {
            ("case", kind::REGISTERED) => (&mut e.registered, 0),
            ("case", kind::ASSIGNED) => (&mut e.assigned, 1),
            ("deadline", kind::DEADLINE_SCHEDULED) => {
                match env.data.get("deadline").and_then(|d| d.as_str()) {
                    Some("D1") => (&mut e.d1, 2),
                    Some("D4") => (&mut e.d4, 3),
                    _ => return,
                }
            }
            _ => return,
        };
        list.push(seen);
        let slot = &mut self.samples[sample_slot];
        if slot.is_none() {
            *slot = Some(payload.to_vec());
        }
    }
}

pub struct Probe {
    log: Arc<Mutex<ProbeLog>>,
    task: JoinHandle<()>,
}

impl Probe {
    /// Subscribes on `client` (its own connection, not the services') and waits until the
    /// server has the subscriptions.
    pub async fn start(
        client: &async_nats::Client,
        counties: &[CountyCode],
    ) -> anyhow::Result<Probe> {
        let mut subs = Vec::new();
        for c in counties {
            for s in [
                subject::case_event(c, kind::REGISTERED)?,
                subject::case_event(c, kind::ASSIGNED)?,
                subject::deadline_event(c, kind::DEADLINE_SCHEDULED)?,
            ] {
                subs.push(client.subscribe(s.to_string()).await?);
            }
        }
        client.flush().await?;
        let log = Arc::new(Mutex::new(ProbeLog::default()));
        let l = log.clone();
        let task = tokio::spawn(async move {
            let mut all = futures::stream::select_all(subs);
            while let Some(msg) = all.next().await {
                let at = Instant::now();
                l.lock().unwrap_or_else(PoisonError::into_inner).record(
                    msg.subject.as_str(),
                    &msg.payload,
                    at,
                );
            }
        });
        Ok(Probe { log, task })
    }

    /// Runs `f` on what has been seen so far.
    pub fn with<R>(&self, f: impl FnOnce(&ProbeLog) -> R) -> R {
        f(&self.log.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn stop(self) {
        self.task.abort();
    }
}
