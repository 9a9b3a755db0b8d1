//! Per petition: when each hop happened, joined from the load generator's answers (the case
//! number of the 201), the probe (events by `case_id`) and the SMS sink (the receipt notice by
//! its `case_no` parameter, else by the petitioner's mobile).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use super::load::Outcome;
use super::probe::{ProbeLog, Seen};
use xinfang_notify::sinks::SmsRecord;

/// The notice a petitioner gets on registration.
const RECEIPT: &str = "receipt";

/// One accepted petition's hops.
#[derive(Debug, Clone)]
pub struct Timeline {
    pub sent: Instant,
    pub answered: Instant,
    pub registered: Option<Instant>,
    pub d1: Option<Instant>,
    pub assigned: Option<Instant>,
    pub d4: Option<Instant>,
    pub receipt: Option<Instant>,
}

impl Timeline {
    pub fn complete(&self) -> bool {
        self.registered.is_some()
            && self.d1.is_some()
            && self.assigned.is_some()
            && self.d4.is_some()
            && self.receipt.is_some()
    }

    /// The last hop, once every hop happened.
    pub fn last(&self) -> Option<Instant> {
        if !self.complete() {
            return None;
        }
        [
            Some(self.answered),
            self.registered,
            self.d1,
            self.assigned,
            self.d4,
            self.receipt,
        ]
        .into_iter()
        .flatten()
        .max()
    }
}

/// Everything joined.
#[derive(Debug, Clone, Default)]
pub struct Joined {
    /// Accepted petitions (201 with a case number), in posting order.
    pub timelines: Vec<Timeline>,
    /// Answers other than 201, by status (`None`: no answer at all), with a first message.
    pub refused: Vec<(Option<u16>, String)>,
    /// Hops or notices seen twice for one case: another event (another envelope id) of the
    /// same kind, or a second receipt SMS.
    pub duplicated: usize,
    /// The same envelope published again (the relay's retry; JetStream's duplicate window
    /// keeps it from consumers).
    pub republished: usize,
    /// Cases the probe saw registered that no 201 named (a request that timed out here).
    pub unanswered_registrations: usize,
    /// Receipt SMS for no accepted petition.
    pub stray_receipts: usize,
    /// Probe messages that were no envelope or named no case.
    pub unreadable: u64,
}

impl Joined {
    pub fn accepted(&self) -> usize {
        self.timelines.len()
    }

    pub fn lost(&self) -> usize {
        self.timelines.iter().filter(|t| !t.complete()).count()
    }
}

fn first(seen: Option<&Vec<Seen>>) -> Option<Instant> {
    seen?.iter().map(|s| s.at).min()
}

/// (another event of the kind, the same envelope again)
fn extra(seen: &[Seen]) -> (usize, usize) {
    let distinct: HashSet<uuid::Uuid> = seen.iter().map(|s| s.id).collect();
    (
        distinct.len().saturating_sub(1),
        seen.len() - distinct.len(),
    )
}

/// The receipt SMS per case number: by its `case_no` parameter, else by the mobile.
fn receipts<'a>(
    outcomes: &'a [Outcome],
    sms: &'a [SmsRecord],
) -> (HashMap<&'a str, Vec<Instant>>, usize) {
    let by_mobile: HashMap<&str, &str> = outcomes
        .iter()
        .filter_map(|o| Some((o.mobile.as_str(), o.case_no.as_deref()?)))
        .collect();
    let mut out: HashMap<&str, Vec<Instant>> = HashMap::new();
    let mut stray = 0;
    for r in sms.iter().filter(|r| r.notice == RECEIPT) {
        match r
            .case_no
            .as_deref()
            .or_else(|| by_mobile.get(r.to.as_str()).copied())
        {
            Some(case_no) => out.entry(case_no).or_default().push(r.at),
            None => stray += 1,
        }
    }
    (out, stray)
}

/// How many accepted petitions have passed every hop (for the progress bar).
pub fn completed(outcomes: &[Outcome], probe: &ProbeLog, sms: &[SmsRecord]) -> usize {
    let (receipts, _) = receipts(outcomes, sms);
    outcomes
        .iter()
        .filter_map(|o| o.case_no.as_deref())
        .filter(|c| {
            receipts.contains_key(c)
                && probe.cases.get(*c).is_some_and(|e| {
                    !e.registered.is_empty()
                        && !e.d1.is_empty()
                        && !e.assigned.is_empty()
                        && !e.d4.is_empty()
                })
        })
        .count()
}

pub fn join(outcomes: &[Outcome], probe: &ProbeLog, sms: &[SmsRecord]) -> Joined {
    let (receipts, stray) = receipts(outcomes, sms);
    let mut j = Joined {
        unreadable: probe.unreadable,
        ..Joined::default()
    };
    let mut accepted: HashSet<&str> = HashSet::new();
    for o in outcomes {
        let Some(case_no) = o.case_no.as_deref() else {
            j.refused
                .push((o.status, o.error.clone().unwrap_or_default()));
            continue;
        };
        accepted.insert(case_no);
        let e = probe.cases.get(case_no);
        let r = receipts.get(case_no);
        if let Some(e) = e {
            for seen in [&e.registered, &e.d1, &e.assigned, &e.d4] {
                let (another, again) = extra(seen);
                j.duplicated += another;
                j.republished += again;
            }
        }
        j.duplicated += r.map_or(0, |r| r.len().saturating_sub(1));
        j.timelines.push(Timeline {
            sent: o.sent,
            answered: o.answered,
            registered: first(e.map(|e| &e.registered)),
            d1: first(e.map(|e| &e.d1)),
            assigned: first(e.map(|e| &e.assigned)),
            d4: first(e.map(|e| &e.d4)),
            receipt: r.and_then(|r| r.iter().min().copied()),
        });
    }
    j.unanswered_registrations = probe
        .cases
        .iter()
        .filter(|(c, e)| !e.registered.is_empty() && !accepted.contains(c.as_str()))
        .count();
    j.stray_receipts = stray + receipts.keys().filter(|c| !accepted.contains(*c)).count();
    j
}

#[cfg(test)]
mod tests {
    use super::super::probe::CaseEvents;
    use super::*;
    use std::time::Duration;

    fn seen(id: u128, at: Instant) -> Seen {
        Seen {
            id: uuid::Uuid::from_u128(id),
            at,
        }
    }

    #[test]
    fn joins_hops_and_counts_duplicates_and_republishes() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let outcome = |i: usize, case: Option<&str>| Outcome {
            index: i,
            mobile: format!("1390000000{i}"),
            sent: t0,
            answered: ms(10),
            status: Some(if case.is_some() { 201 } else { 422 }),
            case_no: case.map(str::to_owned),
            error: None,
        };
        let outcomes = vec![
            outcome(0, Some("A")),
            outcome(1, Some("B")),
            outcome(2, None),
        ];
        let mut probe = ProbeLog::default();
        probe.cases.insert(
            "A".into(),
            CaseEvents {
                // Published twice by the relay (same id): republished, not duplicated.
                registered: vec![seen(1, ms(5)), seen(1, ms(7))],
                d1: vec![seen(2, ms(6))],
                assigned: vec![seen(3, ms(20))],
                // Two different D4 clocks: duplicated.
                d4: vec![seen(4, ms(30)), seen(5, ms(31))],
            },
        );
        probe.cases.insert(
            "B".into(),
            CaseEvents {
                registered: vec![seen(6, ms(5))],
                ..CaseEvents::default()
            },
        );
        let sms = |to: &str, case: Option<&str>, at| SmsRecord {
            at,
            id: uuid::Uuid::new_v4().to_string(),
            notice: RECEIPT.into(),
            to: to.into(),
            case_no: case.map(str::to_owned),
            params: Default::default(),
        };
        // A's receipt by its parameter, B's by the mobile only.
        let recs = vec![
            sms("x", Some("A"), ms(40)),
            sms("13900000001", None, ms(50)),
        ];
        let j = join(&outcomes, &probe, &recs);
        assert_eq!(j.accepted(), 2);
        assert_eq!(j.refused.len(), 1);
        assert_eq!(j.duplicated, 1);
        assert_eq!(j.republished, 1);
        assert_eq!(j.lost(), 1, "B was never assigned");
        let a = &j.timelines[0];
        assert_eq!(a.registered, Some(ms(5)));
        assert_eq!(a.last(), Some(ms(40)));
        assert_eq!(j.timelines[1].receipt, Some(ms(50)));
        assert_eq!(completed(&outcomes, &probe, &recs), 1);
    }
}
