//! Quiet hours: non-urgent SMS to petitioners goes out only inside the allowed window
//! (default 08:00–21:00 China Standard Time); outside it, sending is deferred to the next
//! window start.

use chrono::{DateTime, Duration, FixedOffset, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// `[notify.quiet_hours]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct QuietHoursSettings {
    pub enabled: bool,
    /// Start of the sending window, `HH:MM` local time.
    pub start: String,
    /// End of the sending window (exclusive), `HH:MM` local time.
    pub end: String,
    /// `Asia/Shanghai` (also `Asia/Chongqing`, `PRC`) or a fixed offset such as `+08:00`.
    /// China has no daylight saving time, so a fixed offset is exact.
    pub timezone: String,
}

impl Default for QuietHoursSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            start: "08:00".into(),
            end: "21:00".into(),
            timezone: "Asia/Shanghai".into(),
        }
    }
}

/// The parsed window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    enabled: bool,
    start: NaiveTime,
    end: NaiveTime,
    offset: FixedOffset,
}

impl QuietHours {
    /// Validates the settings; errors name the key.
    pub fn from_settings(s: &QuietHoursSettings) -> Result<Self, String> {
        let time = |key: &str, raw: &str| {
            NaiveTime::parse_from_str(raw.trim(), "%H:%M").map_err(|_| {
                format!("notify.quiet_hours.{key}: must be HH:MM (24-hour), e.g. 08:00")
            })
        };
        let start = time("start", &s.start)?;
        let end = time("end", &s.end)?;
        if start == end {
            return Err("notify.quiet_hours: start and end must differ".into());
        }
        Ok(Self {
            enabled: s.enabled,
            start,
            end,
            offset: parse_timezone(&s.timezone)?,
        })
    }

    /// The local time zone (also used for dates in notices).
    pub fn offset(&self) -> FixedOffset {
        self.offset
    }

    /// Whether `at` lies inside the sending window.
    pub fn allows(&self, at: DateTime<Utc>) -> bool {
        if !self.enabled {
            return true;
        }
        let t = at.with_timezone(&self.offset).time();
        if self.start < self.end {
            t >= self.start && t < self.end
        } else {
            // A window across midnight, e.g. 20:00–02:00.
            t >= self.start || t < self.end
        }
    }

    /// `at` itself if allowed, otherwise the next window start.
    pub fn next_allowed(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        if self.allows(at) {
            return at;
        }
        let local = at.with_timezone(&self.offset);
        let mut day = local.date_naive();
        if local.time() >= self.start {
            day += Duration::days(1);
        }
        match self.offset.from_local_datetime(&day.and_time(self.start)) {
            chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
            // Fixed offsets are never ambiguous; keep the input rather than panic.
            _ => at,
        }
    }
}

fn parse_timezone(raw: &str) -> Result<FixedOffset, String> {
    let raw = raw.trim();
    match raw {
        "Asia/Shanghai" | "Asia/Chongqing" | "Asia/Harbin" | "PRC" | "CST" | "Asia/Hong_Kong"
        | "Asia/Macau" | "Asia/Taipei" => {
            return FixedOffset::east_opt(8 * 3600).ok_or_else(|| "offset".to_owned());
        }
        "UTC" | "Etc/UTC" => return FixedOffset::east_opt(0).ok_or_else(|| "offset".to_owned()),
        _ => {}
    }
    let bad = || {
        format!(
            "notify.quiet_hours.timezone: {raw:?} is not supported; use Asia/Shanghai or an offset like +08:00"
        )
    };
    let (sign, rest) = match raw.as_bytes().first() {
        Some(b'+') => (1, &raw[1..]),
        Some(b'-') => (-1, &raw[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').ok_or_else(bad)?;
    let h: i32 = h.parse().map_err(|_| bad())?;
    let m: i32 = m.parse().map_err(|_| bad())?;
    if h > 14 || m > 59 {
        return Err(bad());
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cst(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn default() -> QuietHours {
        QuietHours::from_settings(&QuietHoursSettings::default()).unwrap()
    }

    #[test]
    fn default_window_is_8_to_21_in_china() {
        let q = default();
        assert!(!q.allows(cst("2026-03-02T07:59:59+08:00")));
        assert!(q.allows(cst("2026-03-02T08:00:00+08:00")));
        assert!(q.allows(cst("2026-03-02T20:59:59+08:00")));
        assert!(!q.allows(cst("2026-03-02T21:00:00+08:00")));
        // 13:30 UTC is 21:30 in Shanghai.
        assert!(!q.allows(cst("2026-03-02T13:30:00Z")));
    }

    #[test]
    fn deferral_goes_to_the_next_window_start() {
        let q = default();
        assert_eq!(
            q.next_allowed(cst("2026-03-02T23:10:00+08:00")),
            cst("2026-03-03T08:00:00+08:00")
        );
        assert_eq!(
            q.next_allowed(cst("2026-03-03T02:00:00+08:00")),
            cst("2026-03-03T08:00:00+08:00")
        );
        let noon = cst("2026-03-03T12:00:00+08:00");
        assert_eq!(q.next_allowed(noon), noon);
        // Month and year ends roll over.
        assert_eq!(
            q.next_allowed(cst("2026-12-31T22:00:00+08:00")),
            cst("2027-01-01T08:00:00+08:00")
        );
    }

    #[test]
    fn windows_across_midnight_offsets_and_disabling() {
        let q = QuietHours::from_settings(&QuietHoursSettings {
            enabled: true,
            start: "20:00".into(),
            end: "02:00".into(),
            timezone: "+00:00".into(),
        })
        .unwrap();
        assert!(q.allows(cst("2026-03-02T23:00:00Z")));
        assert!(q.allows(cst("2026-03-03T01:00:00Z")));
        assert!(!q.allows(cst("2026-03-03T12:00:00Z")));
        assert_eq!(
            q.next_allowed(cst("2026-03-03T12:00:00Z")),
            cst("2026-03-03T20:00:00Z")
        );
        let off = QuietHours::from_settings(&QuietHoursSettings {
            enabled: false,
            ..Default::default()
        })
        .unwrap();
        assert!(off.allows(cst("2026-03-03T03:00:00+08:00")));
    }

    #[test]
    fn bad_settings_name_the_key() {
        let bad = |f: fn(&mut QuietHoursSettings)| {
            let mut s = QuietHoursSettings::default();
            f(&mut s);
            QuietHours::from_settings(&s).unwrap_err()
        };
        assert!(bad(|s| s.start = "8am".into()).contains("quiet_hours.start"));
        assert!(bad(|s| s.end = "25:00".into()).contains("quiet_hours.end"));
        assert!(bad(|s| s.timezone = "Europe/Paris".into()).contains("timezone"));
        assert!(bad(|s| s.end = "08:00".into()).contains("differ"));
        assert!(
            QuietHours::from_settings(&QuietHoursSettings {
                timezone: "-03:30".into(),
                ..Default::default()
            })
            .is_ok()
        );
    }
}
