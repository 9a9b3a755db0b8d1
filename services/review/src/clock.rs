//! The time the service judges windows by. Production uses the system clock; tests use a
//! manual clock they can move, so 30-day windows pass in a moment.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use xinfang_domain::deadline::CST;

#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Milliseconds added to the system time; `None` for the plain system clock.
    offset_ms: Option<Arc<AtomicI64>>,
}

impl Clock {
    pub fn system() -> Self {
        Self { offset_ms: None }
    }

    /// Starts at the system time; [`Clock::advance`] moves it (clones share the offset).
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

    /// [`Clock::now`] in China Standard Time.
    pub fn now_cst(&self) -> DateTime<FixedOffset> {
        self.now().with_timezone(&CST)
    }

    /// Moves a manual clock; returns false (and does nothing) for the system clock.
    pub fn advance(&self, by: TimeDelta) -> bool {
        match &self.offset_ms {
            None => false,
            Some(o) => {
                o.fetch_add(by.num_milliseconds(), Ordering::SeqCst);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_and_the_system_clock_does_not() {
        let c = Clock::manual();
        let before = c.now();
        assert!(c.clone().advance(TimeDelta::days(31)));
        assert!(c.now() - before >= TimeDelta::days(31));
        assert!(!Clock::system().advance(TimeDelta::days(1)));
    }
}
