//! Live updates: case and department events from NATS, pushed to open pages as server-sent
//! events. A page learns only that a case in its view changed (case number and event type,
//! never contents) and reloads its list through the API, which applies the user's rights.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use xinfang_domain::access;
use xinfang_domain::county::CountyCode;
use xinfang_domain::envelope::Envelope;

use crate::role::ConsoleRole;
use crate::session::{Session, Staff};

/// One change, as the subject and envelope name it.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    pub county: CountyCode,
    pub case_no: Option<String>,
    pub kind: String,
    /// For `dept.<d>.*` subjects: the department addressed.
    pub department: Option<String>,
}

#[derive(Clone)]
pub struct LiveHub {
    tx: broadcast::Sender<LiveEvent>,
}

impl Default for LiveHub {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveHub {
    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(1024).0,
        }
    }

    pub fn publish(&self, e: LiveEvent) {
        // No open page: nothing to do.
        let _ = self.tx.send(e);
    }

    /// Follows `xf.<county>.case.>`, `.dept.>` and `.review.>` for every served county until
    /// shutdown (core subscriptions: a page that misses one reloads on the next or by hand).
    pub async fn follow(
        self,
        nats: async_nats::Client,
        counties: Vec<CountyCode>,
        shutdown: CancellationToken,
    ) {
        let mut subs = Vec::new();
        for c in &counties {
            for family in ["case", "dept", "review"] {
                match nats.subscribe(format!("xf.{c}.{family}.>")).await {
                    Ok(s) => subs.push(s),
                    Err(e) => {
                        tracing::warn!(county = %c, error = %e, "console: live updates unavailable")
                    }
                }
            }
        }
        let mut all = futures::stream::select_all(subs);
        loop {
            tokio::select! {
                m = all.next() => match m {
                    Some(m) => {
                        if let Some(e) = parse(m.subject.as_str(), &m.payload) {
                            self.publish(e);
                        }
                    }
                    None => return,
                },
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// The SSE stream for one signed-in user: events in their scope (a department's own
    /// events only), as `event: case` with the case number as data.
    pub fn stream_for(&self, s: Session) -> impl Stream<Item = Result<Event, Infallible>> + use<> {
        let rx = self.tx.subscribe();
        futures::stream::unfold((rx, s), |(mut rx, s)| async move {
            loop {
                match rx.recv().await {
                    Ok(e) if visible(&s, &e) => {
                        let ev = Event::default()
                            .event("case")
                            .data(e.case_no.clone().unwrap_or_default());
                        return Some((Ok(ev), (rx, s)));
                    }
                    Ok(_) => continue,
                    // Too slow: say so once; the page reloads.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        return Some((Ok(Event::default().event("case").data("")), (rx, s)));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }
}

fn parse(subject: &str, payload: &[u8]) -> Option<LiveEvent> {
    let t: Vec<&str> = subject.split('.').collect();
    let county = CountyCode::parse(t.get(1)?).ok()?;
    let (kind, department) = match t.get(2).copied()? {
        "case" | "review" => (t.get(3)?.to_string(), None),
        "dept" => (t.get(4)?.to_string(), Some(t.get(3)?.to_string())),
        _ => return None,
    };
    let case_no = Envelope::<serde_json::Value>::from_bytes(payload)
        .ok()
        .and_then(|e| e.case_id);
    Some(LiveEvent {
        county,
        case_no,
        kind,
        department,
    })
}

/// Who may hear of an event: a department only of its own messages, others of any event
/// in their scope.
pub fn visible(s: &Session, e: &LiveEvent) -> bool {
    if !access::covers(&s.scope, &e.county) {
        return false;
    }
    match s.role {
        ConsoleRole::Department => {
            e.department.is_some() && e.department.as_deref() == s.department.as_deref()
        }
        _ => e.department.is_none(),
    }
}

pub async fn events(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    Staff(s): Staff,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    Sse::new(state.live.stream_for(s))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(role: ConsoleRole, scope: &str, dept: Option<&str>) -> Session {
        Session {
            username: "u".into(),
            display_name: "u".into(),
            role,
            scope: CountyCode::parse(scope).unwrap(),
            department: dept.map(str::to_owned),
            token: String::new(),
            token_id: String::new(),
            csrf: String::new(),
        }
    }

    #[test]
    fn departments_hear_only_their_own_messages_and_scopes_hold() {
        let e = parse("xf.411282.dept.rsj.assigned", b"{}").unwrap();
        assert_eq!(e.department.as_deref(), Some("rsj"));
        assert_eq!(e.kind, "assigned");
        assert!(visible(
            &session(ConsoleRole::Department, "411282", Some("rsj")),
            &e
        ));
        assert!(!visible(
            &session(ConsoleRole::Department, "411282", Some("gaj")),
            &e
        ));
        assert!(!visible(
            &session(ConsoleRole::Department, "411202", Some("rsj")),
            &e
        ));
        let c = parse("xf.411282.case.accepted", b"{}").unwrap();
        assert!(visible(
            &session(ConsoleRole::Supervisor, "411200", None),
            &c
        ));
        assert!(!visible(
            &session(ConsoleRole::Supervisor, "411202", None),
            &c
        ));
        assert!(!visible(
            &session(ConsoleRole::Department, "411282", Some("rsj")),
            &c
        ));
        assert!(parse("xf.nonsense", b"").is_none());
    }
}
