//! The time supervision fires timers by. Production uses the system clock; tests use a manual
//! clock that runs with the system clock plus an offset they move, so days-long deadlines fire
//! in milliseconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};

#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Milliseconds added to the system time; `None` for the plain system clock.
    offset_ms: Option<Arc<AtomicI64>>,
}

impl Clock {
    pub fn system() -> Self {
        Self { offset_ms: None }
    }

    /// A clock starting at the system time that tests can move with [`Clock::advance`].
    pub fn manual() -> Self {
        Self {
            offset_ms: Some(Arc::new(AtomicI64::new(0))),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        match &self.offset_ms {
            None => now,
            Some(o) => now + TimeDelta::milliseconds(o.load(Ordering::SeqCst)),
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.now().timestamp_millis()
    }

    /// Moves a manual clock forward (or back, with a negative delta). No effect on the system
    /// clock, which reports `false`.
    pub fn advance(&self, by: TimeDelta) -> bool {
        match &self.offset_ms {
            None => false,
            Some(o) => {
                o.fetch_add(by.num_milliseconds(), Ordering::SeqCst);
                true
            }
        }
    }

    /// The current offset from the system time.
    pub fn offset(&self) -> TimeDelta {
        self.offset_ms.as_ref().map_or(TimeDelta::zero(), |o| {
            TimeDelta::milliseconds(o.load(Ordering::SeqCst))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_and_the_system_clock_does_not() {
        let c = Clock::manual();
        let before = c.now();
        assert!(c.advance(TimeDelta::days(15)));
        let after = c.now();
        assert!(after - before >= TimeDelta::days(15));
        assert!(after - before < TimeDelta::days(15) + TimeDelta::seconds(5));
        assert_eq!(c.offset(), TimeDelta::days(15));
        // Clones share the offset.
        let d = c.clone();
        d.advance(TimeDelta::days(1));
        assert_eq!(c.offset(), TimeDelta::days(16));
        let s = Clock::system();
        assert!(!s.advance(TimeDelta::days(1)));
        assert_eq!(s.offset(), TimeDelta::zero());
    }
}
