//! A case's later events wait behind its failed one.
//!
//! JetStream redelivers a nak'ed message after its delay while the consumer goes on with the
//! messages behind it. A case's next event often follows within milliseconds (routing's
//! `case.assigned` right after `case.registered`), so without this it would be applied first,
//! and what takes a case's events in order would end wrong: a D1 clock started by the late
//! registration after the assignment that should have closed it, a unit's department set back.
//! While an event of a case waits for its retry, later events of the case on the same stream
//! are nak'ed to come after it. Earlier ones are not held: the failed event may be waiting for
//! exactly them.
//!
//! The holds live in the consume loop of one process; another instance of the service does not
//! see them. A message is held only while it has deliveries to spare (it is handled at the
//! latest on its last one), so holding never dead-letters it or lets the server give up on it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// After the failed event's retry is due, how much later its followers come back.
pub const BEHIND: Duration = Duration::from_millis(100);

/// Holds kept before expired ones are swept.
const SWEEP_AT: usize = 1024;

/// Where a message sits: which of the loop's streams (counties) and its sequence there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub stream: usize,
    pub sequence: u64,
}

impl Position {
    /// True when `self` comes after `other` on the same stream (positions on different
    /// streams have no order).
    pub fn after(self, other: Position) -> bool {
        self.stream == other.stream && self.sequence > other.sequence
    }
}

#[derive(Debug, Clone, Copy)]
struct Hold {
    failed: Position,
    /// When the failed event's retry is due.
    due: Instant,
    /// When to stop holding even if the failed event never came back here (another instance
    /// took it).
    expires: Instant,
}

/// The cases with an event waiting for its retry, per consume loop.
#[derive(Debug)]
pub struct CaseOrder {
    held: HashMap<String, Hold>,
    /// How long past its due time a failed event may take to come back before its case is
    /// released (the consumer's ack wait).
    grace: Duration,
}

impl CaseOrder {
    pub fn new(grace: Duration) -> CaseOrder {
        CaseOrder {
            held: HashMap::new(),
            grace,
        }
    }

    /// How long the message at `at` of `case` must wait, if it must: when an earlier event of
    /// the case on the same stream is waiting for its retry, and the message has deliveries to
    /// spare (`delivered` < `max_deliveries`).
    pub fn wait(
        &mut self,
        now: Instant,
        case: Option<&str>,
        at: Position,
        delivered: i64,
        max_deliveries: i64,
    ) -> Option<Duration> {
        let case = case?;
        let hold = *self.held.get(case)?;
        if now >= hold.expires {
            self.held.remove(case);
            return None;
        }
        (at.after(hold.failed) && delivered < max_deliveries)
            .then(|| hold.due.saturating_duration_since(now) + BEHIND)
    }

    /// The message at `at` of `case` failed and comes back after `delay`: the case's later
    /// events wait for it. A case already held behind an earlier event stays held behind that.
    pub fn failed(&mut self, now: Instant, case: Option<&str>, at: Position, delay: Duration) {
        let Some(case) = case else { return };
        // A hold whose event went to another instance is dropped when its case comes up again;
        // one whose case never does would stay: sweep those before the map grows.
        if self.held.len() >= SWEEP_AT {
            self.held.retain(|_, h| now < h.expires);
        }
        let due = now + delay;
        let hold = Hold {
            failed: at,
            due,
            expires: due + self.grace,
        };
        match self.held.get_mut(case) {
            Some(h) if h.failed == at => *h = hold,
            Some(h) if h.failed.after(at) || now >= h.expires => *h = hold,
            Some(_) => {}
            None => {
                self.held.insert(case.to_owned(), hold);
            }
        }
    }

    /// The message at `at` of `case` is done with (applied, or dead-lettered): the case's
    /// later events go on.
    pub fn done(&mut self, case: Option<&str>, at: Position) {
        if let Some(case) = case
            && self.held.get(case).is_some_and(|h| h.failed == at)
        {
            self.held.remove(case);
        }
    }

    /// Cases held now (for tests and metrics).
    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(30);

    fn at(sequence: u64) -> Position {
        Position {
            stream: 0,
            sequence,
        }
    }

    #[test]
    fn later_events_of_a_failed_case_wait_until_it_is_done() {
        let mut o = CaseOrder::new(GRACE);
        let now = Instant::now();
        o.failed(now, Some("A"), at(10), Duration::from_millis(500));
        let wait = o.wait(now, Some("A"), at(11), 1, 5).expect("held");
        assert_eq!(wait, Duration::from_millis(500) + BEHIND);
        // Another case, an earlier event of the case, the failed event itself: not held.
        assert_eq!(o.wait(now, Some("B"), at(12), 1, 5), None);
        assert_eq!(o.wait(now, Some("A"), at(9), 1, 5), None);
        assert_eq!(o.wait(now, Some("A"), at(10), 2, 5), None);
        assert_eq!(o.wait(now, None, at(13), 1, 5), None);
        // On another stream positions have no order.
        let elsewhere = Position {
            stream: 1,
            sequence: 99,
        };
        assert_eq!(o.wait(now, Some("A"), elsewhere, 1, 5), None);
        // A later event's own failure does not move the hold off the earlier one.
        o.failed(now, Some("A"), at(11), Duration::from_millis(50));
        assert!(o.wait(now, Some("A"), at(12), 1, 5).is_some());
        o.done(Some("A"), at(11));
        assert!(o.wait(now, Some("A"), at(12), 1, 5).is_some());
        o.done(Some("A"), at(10));
        assert_eq!(o.wait(now, Some("A"), at(11), 1, 5), None);
        assert!(o.is_empty());
    }

    #[test]
    fn holds_never_claimed_are_swept() {
        let mut o = CaseOrder::new(GRACE);
        let then = Instant::now();
        for n in 0..SWEEP_AT {
            o.failed(then, Some(&format!("C{n}")), at(1), Duration::ZERO);
        }
        assert_eq!(o.len(), SWEEP_AT);
        o.failed(then + GRACE, Some("new"), at(2), Duration::ZERO);
        assert_eq!(o.len(), 1, "only the new hold is left");
    }

    #[test]
    fn a_message_out_of_deliveries_is_not_held_and_a_lost_hold_expires() {
        let mut o = CaseOrder::new(GRACE);
        let now = Instant::now();
        o.failed(now, Some("A"), at(10), Duration::from_millis(500));
        assert_eq!(o.wait(now, Some("A"), at(11), 5, 5), None, "last delivery");
        assert!(o.wait(now, Some("A"), at(11), 4, 5).is_some());
        // Due and past its grace without coming back here.
        let later = now + Duration::from_millis(500) + GRACE;
        assert_eq!(o.wait(later, Some("A"), at(11), 1, 5), None);
        assert!(o.is_empty());
        // A retry again moves the due time; the wait is counted from it.
        o.failed(now, Some("A"), at(10), Duration::from_millis(100));
        o.failed(now, Some("A"), at(10), Duration::from_secs(2));
        assert_eq!(
            o.wait(now, Some("A"), at(11), 1, 5),
            Some(Duration::from_secs(2) + BEHIND)
        );
        // An earlier event failing takes over the hold.
        o.failed(now, Some("A"), at(7), Duration::from_millis(300));
        assert_eq!(
            o.wait(now, Some("A"), at(8), 1, 5),
            Some(Duration::from_millis(300) + BEHIND)
        );
    }
}
