//! Test harness: a TestEnv (own database, county, stream and Redis prefix) with supervision
//! started on a manual clock, plus event builders and readers.
#![allow(dead_code)]

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Serialize;
use xinfang_domain::county::CountyCode;
use xinfang_domain::deadline::CST;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::events::*;
use xinfang_domain::petition::{Art31Branch, Channel, PetitionType, Rating};
use xinfang_domain::subject;
use xinfang_platform::nats;
use xinfang_platform::testing::TestEnv;
use xinfang_supervision::clock::Clock;
use xinfang_supervision::service::{Supervision, start_with};
use xinfang_supervision::store::{self, DeadlineRow};

pub const TEST_TOML: &str = "[supervision]\npoll_interval_ms = 20\nindex_check_interval_secs = 1\nreconcile_interval_secs = 3600\n";

pub struct Harness {
    pub env: TestEnv,
    pub sup: Supervision,
}

impl Harness {
    pub async fn start(extra: &str) -> Harness {
        Self::start_configured(extra, |_| {}).await
    }

    /// [`Harness::start`] with changed platform settings (e.g. another calendar file).
    pub async fn start_configured(
        extra: &str,
        configure: impl FnOnce(&mut xinfang_platform::config::PlatformSettings),
    ) -> Harness {
        let toml = format!("{TEST_TOML}{extra}");
        let env = TestEnv::start(configure, &toml)
            .await
            .expect("local NATS, Postgres and Redis must be running");
        let sup = start_with(env.infra.clone(), Clock::manual())
            .await
            .expect("supervision starts");
        Harness { env, sup }
    }

    /// Another instance on the same database, Redis and streams (shares the clock).
    pub async fn second_instance(&self) -> Supervision {
        start_with(self.env.infra.clone(), self.sup.clock.clone())
            .await
            .expect("second instance starts")
    }

    pub fn county(&self) -> CountyCode {
        self.env.county.clone()
    }

    pub fn pool(&self) -> &sqlx::PgPool {
        &self.sup.started.host.pool
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.sup.clock.now()
    }

    /// Moves the clock so that it reads `to` (approximately: the system clock keeps running).
    pub fn advance_to(&self, to: DateTime<Utc>) {
        let by = to - self.sup.clock.now();
        if by > TimeDelta::zero() {
            self.sup.clock.advance(by);
        }
        self.sup.engine_wake.notify_one();
    }

    pub fn case_no(&self, n: u32) -> String {
        format!("XF-{}-2026-{n:06}", self.env.county)
    }

    pub async fn publish<T: Serialize>(
        &self,
        subject: subject::Subject,
        kind: &str,
        case_no: &str,
        data: T,
    ) {
        self.publish_at(subject, kind, case_no, data, Utc::now())
            .await;
    }

    /// Publishes with the envelope's time set to `at`; returns the envelope's id.
    pub async fn publish_at<T: Serialize>(
        &self,
        subject: subject::Subject,
        kind: &str,
        case_no: &str,
        data: T,
        at: DateTime<Utc>,
    ) -> uuid::Uuid {
        let env = Envelope::new(kind, Some(case_no.to_owned()), self.county(), at, data).unwrap();
        nats::publish(self.env.js(), &subject, &env)
            .await
            .unwrap()
            .await
            .unwrap();
        env.id
    }

    pub async fn case_event<T: Serialize>(&self, kind: &str, case_no: &str, data: T) {
        let s = subject::case_event(&self.county(), kind).unwrap();
        self.publish(s, kind, case_no, data).await;
    }

    /// A case event whose envelope says it happened at `at`; returns the envelope's id.
    pub async fn case_event_at<T: Serialize>(
        &self,
        kind: &str,
        case_no: &str,
        data: T,
        at: DateTime<Utc>,
    ) -> uuid::Uuid {
        let s = subject::case_event(&self.county(), kind).unwrap();
        self.publish_at(s, kind, case_no, data, at).await
    }

    /// Waits until supervision has handled the event `id` (its inbox has it).
    pub async fn wait_handled(&self, id: uuid::Uuid) {
        self.env
            .wait_for(&format!("event {id} handled"), 15, async || {
                sqlx::query_scalar::<_, bool>(
                    "select exists(select 1 from inbox where event_id = $1)",
                )
                .bind(id)
                .fetch_one(self.pool())
                .await
                .unwrap()
            })
            .await;
    }

    /// Publishes a review event; returns the envelope's id.
    pub async fn review_event(&self, kind: &str, data: ReviewEvent) -> uuid::Uuid {
        let s = subject::review_event(&self.county(), kind).unwrap();
        let case_no = data.case_no.clone();
        self.publish_at(s, kind, &case_no, data, Utc::now()).await
    }

    pub async fn deadlines(&self, case_no: &str) -> Vec<DeadlineRow> {
        store::for_case(self.pool(), case_no).await.unwrap()
    }

    /// Waits for the latest clock of `kind` on the case to be in `state`, and returns it.
    pub async fn wait_state(&self, case_no: &str, kind: &str, state: &str) -> DeadlineRow {
        let mut found = None;
        self.env
            .wait_for(&format!("{case_no} {kind} {state}"), 15, async || {
                let rows = self.deadlines(case_no).await;
                found = rows
                    .into_iter()
                    .rev()
                    .find(|r| r.kind == kind && r.state == state);
                found.is_some()
            })
            .await;
        found.unwrap()
    }

    /// Envelopes stored under `filter` in the test county's stream.
    pub async fn messages(&self, filter: &str) -> Vec<(String, Envelope)> {
        self.env
            .read(&self.county(), filter)
            .await
            .into_iter()
            .map(|m| {
                (
                    m.subject.to_string(),
                    Envelope::from_bytes(&m.payload).unwrap(),
                )
            })
            .collect()
    }

    /// Deadline events (`warning`/`overdue`) for one case and deadline kind, as (subject, payload).
    pub async fn fired(&self, case_no: &str, deadline: &str, phase: &str) -> Vec<String> {
        let c = self.county();
        let mut out = Vec::new();
        for (s, env) in self.messages(&format!("xf.{c}.>")).await {
            if env.kind != phase || !(s.contains(".deadline.") || s.contains(".dept.")) {
                continue;
            }
            let d: DeadlineFired = env.data_as().unwrap();
            if d.case_no == case_no && d.deadline == deadline {
                out.push(s);
            }
        }
        out.sort();
        out
    }

    pub async fn wait_fired(
        &self,
        case_no: &str,
        deadline: &str,
        phase: &str,
        copies: usize,
    ) -> Vec<String> {
        let mut got = Vec::new();
        self.env
            .wait_for(
                &format!("{case_no} {deadline} {phase} x{copies}"),
                15,
                async || {
                    got = self.fired(case_no, deadline, phase).await;
                    got.len() >= copies
                },
            )
            .await;
        got
    }

    pub async fn stop(self) {
        self.env.stop().await;
    }
}

/// End of day, China time, `days` calendar days after `at`'s date, or of the next working day
/// when that day is a rest day (Decisions 1, 民法典 Art 203), by the repository's calendar.
pub fn end_of_day_after(at: DateTime<Utc>, days: u64) -> DateTime<Utc> {
    let cal = xinfang_domain::calendar::Calendar::embedded();
    let mut d = at.with_timezone(&CST).date_naive() + chrono::Days::new(days);
    while !cal.is_working_day(d).working {
        d = d.succ_opt().unwrap();
    }
    xinfang_domain::deadline::end_of_day(d)
        .unwrap()
        .with_timezone(&Utc)
}

pub fn cst_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&CST).date_naive()
}

pub fn registered(
    case_no: &str,
    county: &CountyCode,
    at: DateTime<Utc>,
    dept: &str,
    repeat: bool,
) -> Registered {
    Registered {
        case_no: case_no.to_owned(),
        query_code: "Q0000001".into(),
        channel: Channel::Letter,
        received_at: at,
        registered_at: at,
        county: county.clone(),
        petition_type: PetitionType::Grievance,
        branch: Some(Art31Branch::Residual),
        diversion: None,
        department: dept.to_owned(),
        accuses_official: false,
        confidential: false,
        urgent: false,
        needs_triage: false,
        confidence: 0.9,
        group_size: 1,
        // A repeat of a finished matter, handled as a petition of its own (Decisions 7); a
        // merged one would start no clock and never be assigned.
        repeat: repeat.then(|| RepeatLink {
            of: "XF-411282-2025-000009".into(),
            disposition: RepeatDisposition::Related,
            similarity: 0.93,
            count: 2,
            proposed: false,
            earlier_due: None,
        }),
        petitioner_key: "k".into(),
        contact: None,
        text: "测试".into(),
        redacted_text: None,
        source: None,
        listed: false,
        town: None,
        matter_words: None,
        received_by: None,
    }
}

pub fn assigned(case_no: &str, dept: &str, at: DateTime<Utc>) -> Assigned {
    Assigned {
        organ_county: None,
        case_no: case_no.to_owned(),
        department: dept.to_owned(),
        mode: AssignMode::Assign,
        report_required: true,
        assisting: vec![],
        petition_type: PetitionType::Grievance,
        branch: Some(Art31Branch::Residual),
        assigned_at: at,
        notice_exempt: false,
    }
}

/// The bureau's approved transfer of a river matter from 生态环境局 to 水利局 at `at`.
pub fn transferred(case_no: &str, county: &CountyCode, at: DateTime<Utc>) -> Transferred {
    Transferred {
        case_no: case_no.to_owned(),
        from: "sthjj".into(),
        to: "slj".into(),
        reason: "涉及河道".into(),
        at,
        approved_by: Some(format!("{county}:xfj")),
        approval_reason: Some("核实属水利局职责".into()),
        to_county: None,
        notice_exempt: false,
    }
}

/// A clerk's reclassification of a grievance into `branch`.
pub fn reclassified(
    case_no: &str,
    county: &CountyCode,
    dept: &str,
    branch: Art31Branch,
) -> Reclassified {
    Reclassified {
        case_no: case_no.to_owned(),
        petition_type: PetitionType::Grievance,
        branch: Some(branch),
        diversion: None,
        department: dept.to_owned(),
        county: county.clone(),
        accuses_official: false,
        by: "clerk-1".into(),
        reason: "重新分类".into(),
        assisting: vec![],
        accused_level: None,
    }
}

pub fn accepted(case_no: &str, dept: &str, at: DateTime<Utc>) -> Accepted {
    Accepted {
        organ_county: None,
        case_no: case_no.to_owned(),
        department: dept.to_owned(),
        accepted_on: cst_date(at),
        at,
    }
}

pub fn extended(case_no: &str, dept: &str, days: u32, at: DateTime<Utc>) -> Extended {
    Extended {
        case_no: case_no.to_owned(),
        department: dept.to_owned(),
        days,
        approver: "局长".into(),
        reason: "情况复杂".into(),
        at,
    }
}

pub fn replied(case_no: &str, dept: &str, at: DateTime<Utc>, opinion: bool) -> Replied {
    Replied {
        case_no: case_no.to_owned(),
        department: dept.to_owned(),
        outcome: None,
        is_handling_opinion: opinion,
        text: "答复".into(),
        served_on: cst_date(at),
        at,
    }
}

pub fn evaluated(
    case_no: &str,
    dept: &str,
    bureau: Rating,
    unit: Rating,
    at: DateTime<Utc>,
) -> Evaluated {
    Evaluated {
        case_no: case_no.to_owned(),
        bureau,
        unit,
        department: dept.to_owned(),
        reason: None,
        at,
    }
}

pub fn review(
    case_no: &str,
    county: &CountyCode,
    level: ReviewLevel,
    at: DateTime<Utc>,
    served: Option<NaiveDate>,
) -> ReviewEvent {
    ReviewEvent {
        case_no: case_no.to_owned(),
        case_county: county.clone(),
        level,
        organ: "shfj".into(),
        decision: None,
        served_on: served,
        at,
        round: 1,
    }
}

pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(400)).await;
}
