//! Time as the service sees it: injectable so tests can move it (quiet hours, backoff).

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

/// Source of the current time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until told to move (tests).
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(at)))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        if let Ok(mut t) = self.0.lock() {
            *t = at;
        }
    }

    pub fn advance(&self, by: Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += by;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        match self.0.lock() {
            Ok(t) => *t,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}

/// Real time shifted by an adjustable offset: time flows, but tests choose the time of day
/// (quiet hours) and can jump ahead.
#[derive(Debug, Clone, Default)]
pub struct ShiftedClock(Arc<Mutex<Duration>>);

impl ShiftedClock {
    /// A clock that reads `at` now and runs on from there.
    pub fn starting_at(at: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(at - Utc::now())))
    }

    /// Moves the clock so that it reads `at` now.
    pub fn set(&self, at: DateTime<Utc>) {
        if let Ok(mut o) = self.0.lock() {
            *o = at - Utc::now();
        }
    }

    pub fn advance(&self, by: Duration) {
        if let Ok(mut o) = self.0.lock() {
            *o += by;
        }
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> DateTime<Utc> {
        let offset = match self.0.lock() {
            Ok(o) => *o,
            Err(poisoned) => *poisoned.into_inner(),
        };
        Utc::now() + offset
    }
}

/// Shared handle to whichever clock the service runs on.
pub type SharedClock = Arc<dyn Clock>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_and_shifted_clocks_move_when_told() {
        let t0 = DateTime::parse_from_rfc3339("2026-03-02T23:00:00+08:00")
            .unwrap()
            .with_timezone(&Utc);
        let m = ManualClock::new(t0);
        assert_eq!(m.now(), t0);
        m.advance(Duration::hours(9));
        assert_eq!(m.now(), t0 + Duration::hours(9));
        let s = ShiftedClock::starting_at(t0);
        let d = s.now() - t0;
        assert!(d >= Duration::zero() && d < Duration::seconds(5));
        s.advance(Duration::hours(9));
        assert!(s.now() - t0 >= Duration::hours(9));
        s.set(t0);
        assert!(s.now() - t0 < Duration::seconds(5));
    }
}
