//! Percentiles per hop and end to end, throughput against the baseline, what was lost or
//! duplicated, backlogs, sinks and memory: as text and as one JSON line.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};

use super::backlog::Backlog;
use super::baseline::Baseline;
use super::load::Texts;
use super::timeline::Timeline;
use super::{Args, Measured};
use xinfang_notify::sinks::{MailStats, SmsStats};

/// Milliseconds from `from` to `to`, negative when `to` came first.
fn ms(from: Instant, to: Instant) -> f64 {
    if to >= from {
        to.duration_since(from).as_secs_f64() * 1e3
    } else {
        -(from.duration_since(to).as_secs_f64() * 1e3)
    }
}

/// Nearest-rank percentiles of one hop over the petitions that have it.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Stats {
    pub n: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Stats {
    pub fn of(mut v: Vec<f64>) -> Stats {
        if v.is_empty() {
            return Stats::default();
        }
        v.sort_by(f64::total_cmp);
        let at = |p: f64| {
            let rank = (p * v.len() as f64).ceil() as usize;
            v[rank.clamp(1, v.len()) - 1]
        };
        Stats {
            n: v.len(),
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: v[v.len() - 1],
        }
    }
}

/// The hops: key, label, and how to read it off a timeline.
type Hop = (&'static str, &'static str, fn(&Timeline) -> Option<f64>);

const HOPS: [Hop; 7] = [
    ("accept", "POST → 201", |t| Some(ms(t.sent, t.answered))),
    ("registered", "201 → case.registered", |t| {
        t.registered.map(|r| ms(t.answered, r))
    }),
    (
        "d1_scheduled",
        "registered → deadline.scheduled D1",
        |t| Some(ms(t.registered?, t.d1?)),
    ),
    ("assigned", "registered → case.assigned", |t| {
        Some(ms(t.registered?, t.assigned?))
    }),
    ("scheduled", "assigned → deadline.scheduled D4", |t| {
        Some(ms(t.assigned?, t.d4?))
    }),
    ("receipt", "registered → receipt SMS at sink", |t| {
        Some(ms(t.registered?, t.receipt?))
    }),
    ("e2e", "end to end: POST → last hop", |t| {
        t.last().map(|l| ms(t.sent, l))
    }),
];

pub struct Report {
    n: usize,
    counties: usize,
    concurrency: usize,
    analyze_secs: Option<u64>,
    /// Petitions registered and drained before the measured run (all-in-one).
    warmup: usize,
    rate: Option<f64>,
    texts: usize,
    texts_examined: usize,
    accepted: usize,
    refused: Vec<(Option<u16>, String)>,
    /// Accepted per second: accepted over first send → last answer.
    per_second: f64,
    load_secs: f64,
    completed: usize,
    completed_per_second: f64,
    completed_secs: f64,
    waited_secs: f64,
    hops: Vec<(&'static str, &'static str, Stats)>,
    lost: usize,
    duplicated: usize,
    republished: usize,
    unanswered_registrations: usize,
    stray_receipts: usize,
    unreadable: u64,
    external: bool,
    /// What the local sinks counted (all-in-one runs only).
    sinks: Option<SinkCounts>,
    sms_receipt_cases: usize,
    load_end: Backlog,
    end: Backlog,
    rss: Rss,
    mean_envelope_bytes: usize,
    baseline: Option<Baseline>,
}

/// What the SMS and SMTP sinks received.
pub struct SinkCounts {
    pub sms: SmsStats,
    pub emails: MailStats,
}

/// The resident set of the process running the services (this one, or `--pid`): its peak,
/// and after idling once the run was over.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rss {
    pub peak_kib: Option<u64>,
    pub idle_kib: Option<u64>,
    pub idle_secs: u64,
    /// The external deployment's process; `None`: this process.
    pub pid: Option<u32>,
}

/// A resident-set figure of `/proc/<pid>/status` (`VmHWM:` the peak, `VmRSS:` now), in KiB;
/// `None` for this process.
pub fn rss_kib(pid: Option<u32>, field: &str) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(path).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

impl Report {
    pub fn new(
        a: &Args,
        texts: &Texts,
        m: Measured,
        sinks: Option<SinkCounts>,
        baseline: Option<Baseline>,
        rss: Rss,
    ) -> Report {
        let j = &m.joined;
        let t = &j.timelines;
        let hops = HOPS
            .iter()
            .map(|(key, label, f)| (*key, *label, Stats::of(t.iter().filter_map(f).collect())))
            .collect();
        let secs_to =
            |end: Option<Instant>| end.map_or(0.0, |e| e.duration_since(m.started).as_secs_f64());
        let load_secs = secs_to(t.iter().map(|t| t.answered).max());
        let completed: Vec<Instant> = t.iter().filter_map(Timeline::last).collect();
        let completed_secs = secs_to(completed.iter().max().copied());
        let rate = |n: usize, secs: f64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        Report {
            n: a.n,
            counties: a.counties,
            concurrency: a.concurrency,
            analyze_secs: (!a.external && a.analyze_secs > 0).then_some(a.analyze_secs),
            warmup: if a.external { 0 } else { a.warmup },
            rate: a.rate,
            texts: texts.texts.len(),
            texts_examined: texts.examined,
            accepted: j.accepted(),
            refused: j.refused.clone(),
            per_second: rate(j.accepted(), load_secs),
            load_secs,
            completed: completed.len(),
            completed_per_second: rate(completed.len(), completed_secs),
            completed_secs,
            waited_secs: m.waited_secs,
            hops,
            lost: j.lost(),
            duplicated: j.duplicated,
            republished: j.republished,
            unanswered_registrations: j.unanswered_registrations,
            stray_receipts: j.stray_receipts,
            unreadable: j.unreadable,
            sms_receipt_cases: t.iter().filter(|t| t.receipt.is_some()).count(),
            external: a.external,
            sinks,
            load_end: m.load_end,
            end: m.end,
            rss,
            mean_envelope_bytes: m.mean_envelope_bytes,
            baseline,
        }
    }

    /// Every petition accepted, none lost, nothing duplicated.
    pub fn passed(&self) -> bool {
        self.accepted == self.n && self.lost == 0 && self.duplicated == 0
    }

    fn e2e(&self) -> Stats {
        self.hops
            .iter()
            .find(|(k, _, _)| *k == "e2e")
            .map(|(_, _, s)| *s)
            .unwrap_or_default()
    }

    fn ratio(&self) -> Option<f64> {
        self.baseline
            .as_ref()
            .filter(|b| b.per_second > 0.0)
            .map(|b| self.per_second / b.per_second)
    }

    pub fn human(&self) -> String {
        let build = if cfg!(debug_assertions) {
            "debug build"
        } else {
            "release build"
        };
        let mode = match self.rate {
            Some(r) => format!(
                "at {r}/s (open loop, at most {} in flight)",
                self.concurrency
            ),
            None => format!("as fast as {} requests in flight allow", self.concurrency),
        };
        let mut analyzed = String::new();
        if self.warmup > 0 {
            analyzed += &format!(
                "; after a warm-up of {} petitions, drained, then ANALYZE",
                self.warmup
            );
        }
        if let Some(secs) = self.analyze_secs {
            analyzed += &format!("; the scratch database analyzed after {secs} s");
        }
        let mut s = format!(
            "pipeline:   {} petitions over {} counties, {mode}; {} distinct texts ({build}){analyzed}\n",
            self.n, self.counties, self.texts
        );
        s += &format!(
            "accepted:   {} of {} (201) in {:.1} s: {:.1} per second\n",
            self.accepted, self.n, self.load_secs, self.per_second
        );
        if let Some((status, msg)) = self.refused.first() {
            s += &format!(
                "refused:    {} (first: {} {})\n",
                self.refused.len(),
                status.map_or("no answer".to_owned(), |c| c.to_string()),
                msg
            );
        }
        s += &format!(
            "completed:  {} passed every hop by {:.1} s: {:.1} per second (waited {:.1} s after the last answer)\n",
            self.completed, self.completed_secs, self.completed_per_second, self.waited_secs
        );
        s += &format!(
            "  {:<38} {:>6} {:>9} {:>9} {:>9} {:>9}\n",
            "hop (ms)", "n", "p50", "p90", "p99", "max"
        );
        for (_, label, st) in &self.hops {
            s += &format!(
                "  {:<38} {:>6} {:>9.1} {:>9.1} {:>9.1} {:>9.1}\n",
                label, st.n, st.p50_ms, st.p90_ms, st.p99_ms, st.max_ms
            );
        }
        s += &format!(
            "lost:       {}   duplicated: {}   (republished by a relay: {}, registered without a 201: {}, stray receipts: {}, unreadable: {})\n",
            self.lost,
            self.duplicated,
            self.republished,
            self.unanswered_registrations,
            self.stray_receipts,
            self.unreadable
        );
        match &self.sinks {
            Some(k) => {
                let notices: Vec<String> = k
                    .sms
                    .by_notice
                    .iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect();
                s += &format!(
                    "sinks:      SMS {} ({}; receipts for {} petitions), refused {}; e-mail {} messages to {} recipients\n",
                    k.sms.total,
                    notices.join(", "),
                    self.sms_receipt_cases,
                    k.sms.bad_signatures + k.sms.bad_requests,
                    k.emails.messages,
                    k.emails.recipients
                );
            }
            None => {
                s += &format!(
                    "receipts:   {} petitions' receipt SMS marked sent in notify's delivery log (the deployment's own provider)\n",
                    self.sms_receipt_cases
                );
            }
        }
        s += &format!(
            "backlog at the last answer: {}\n",
            backlog_line(&self.load_end)
        );
        s += &format!("backlog at the end:         {}\n", backlog_line(&self.end));
        if let Some(kib) = self.rss.peak_kib {
            let whose = match self.rss.pid {
                Some(pid) => format!("the deployment's process {pid}"),
                None => "services, load generator, probe and sinks in one process".to_owned(),
            };
            s += &format!(
                "peak RSS:   {:.0} MiB (VmHWM: {whose})\n",
                kib as f64 / 1024.0
            );
        } else if self.external {
            s += "RSS:        not read (give --pid of the deployment's process)\n";
        }
        if let Some(kib) = self.rss.idle_kib {
            s += &format!(
                "idle RSS:   {:.0} MiB after {} s at rest (VmRSS; target < 100 MB: {})\n",
                kib as f64 / 1024.0,
                self.rss.idle_secs,
                if kib * 1024 < 100_000_000 {
                    "met"
                } else {
                    "NOT MET"
                }
            );
        }
        match &self.baseline {
            Some(b) => {
                s += &format!(
                    "baseline:   JetStream publish-ack + durable pull-consume of {} × {} B (the mean envelope): {:.0} per second (publishing alone {:.0} per second)\n",
                    b.n, b.message_bytes, b.per_second, b.publish_per_second
                );
                s += &format!(
                    "ratio:      {:.4} (petitions accepted per second ÷ baseline messages per second)",
                    self.ratio().unwrap_or(0.0)
                );
            }
            None => s += "baseline:   failed (see the warning above)",
        }
        s
    }

    pub fn json_line(&self) -> String {
        let e2e = self.e2e();
        let hops: BTreeMap<&str, Stats> = self.hops.iter().map(|(k, _, st)| (*k, *st)).collect();
        let backlog = |b: &Backlog| {
            json!({
                "outbox_unsent": b.outbox,
                "outbox_unsent_total": b.outbox_total(),
                "consumer_pending_total": b.consumer_total(),
                "consumer_pending_max": b.worst_consumer().map(|(k, n)| json!({"consumer": k, "pending": n})),
                "department_feeds_pending": b.department_feeds,
                "notify_deliveries": b.deliveries,
            })
        };
        let mut v = json!({
            "n": self.n,
            "counties": self.counties,
            "concurrency": self.concurrency,
            "analyze_secs": self.analyze_secs,
            "warmup": self.warmup,
            "rate": self.rate,
            "build": if cfg!(debug_assertions) { "debug" } else { "release" },
            "texts": self.texts,
            "texts_examined": self.texts_examined,
            "accepted": self.accepted,
            "refused": self.refused.len(),
            "per_second": self.per_second,
            "load_secs": self.load_secs,
            "completed": self.completed,
            "completed_per_second": self.completed_per_second,
            "e2e_p50_ms": e2e.p50_ms,
            "e2e_p90_ms": e2e.p90_ms,
            "e2e_p99_ms": e2e.p99_ms,
            "e2e_max_ms": e2e.max_ms,
            "hops": hops,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "republished": self.republished,
            "unanswered_registrations": self.unanswered_registrations,
            "stray_receipts": self.stray_receipts,
            "backlog_at_last_answer": backlog(&self.load_end),
            "backlog_at_end": backlog(&self.end),
            "peak_rss_kib": self.rss.peak_kib,
            "idle_rss_kib": self.rss.idle_kib,
            "rss_pid": self.rss.pid,
            "mean_envelope_bytes": self.mean_envelope_bytes,
            "baseline_per_second": self.baseline.as_ref().map(|b| b.per_second),
            "baseline_publish_per_second": self.baseline.as_ref().map(|b| b.publish_per_second),
            "baseline_message_bytes": self.baseline.as_ref().map(|b| b.message_bytes),
            "ratio": self.ratio(),
        });
        // The sinks' counts (null in an external run), apart: one `json!` this size overflows
        // the macro's recursion limit.
        let sink = self.sinks.as_ref();
        let sinks = json!({
            "mode": if self.external { "external" } else { "all-in-one" },
            "sms_total": sink.map(|k| k.sms.total),
            "sms_by_notice": sink.map(|k| &k.sms.by_notice),
            "sms_receipts": sink.map(|k| k.sms.by_notice.get("receipt").copied().unwrap_or(0)),
            "sms_receipt_cases": self.sms_receipt_cases,
            "sms_bad_signatures": sink.map(|k| k.sms.bad_signatures),
            "sms_bad_requests": sink.map(|k| k.sms.bad_requests),
            "emails": sink.map(|k| k.emails.messages),
            "email_recipients": sink.map(|k| k.emails.recipients),
        });
        if let (Some(all), Value::Object(extra)) = (v.as_object_mut(), sinks) {
            all.extend(extra);
        }
        serde_json::to_string(&v).unwrap_or_else(|e| Value::String(e.to_string()).to_string())
    }
}

fn backlog_line(b: &Backlog) -> String {
    let outbox: Vec<String> = b
        .outbox
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let deliveries: Vec<String> = b
        .deliveries
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    format!(
        "outbox unsent {}{}; service consumers pending {}{}; notify deliveries {}; department feeds unread {}",
        b.outbox_total(),
        if outbox.is_empty() {
            String::new()
        } else {
            format!(" ({})", outbox.join(", "))
        },
        b.consumer_total(),
        b.worst_consumer()
            .map(|(k, n)| format!(" (most: {k} {n})"))
            .unwrap_or_default(),
        if deliveries.is_empty() {
            "none".to_owned()
        } else {
            deliveries.join(", ")
        },
        b.department_feeds
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_resident_set() {
        let rss = rss_kib(None, "VmRSS:").expect("Linux has /proc/self/status");
        assert!(rss > 0);
        assert_eq!(rss_kib(Some(u32::MAX), "VmRSS:"), None, "no such process");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let s = Stats::of((1..=100).map(f64::from).collect());
        assert_eq!(
            (s.n, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms),
            (100, 50.0, 90.0, 99.0, 100.0)
        );
        let one = Stats::of(vec![-3.0]);
        assert_eq!((one.p50_ms, one.max_ms), (-3.0, -3.0));
        assert_eq!(Stats::of(Vec::new()).n, 0);
    }
}
