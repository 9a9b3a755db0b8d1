//! Shared test harness: a TestEnv (fresh DB, unique city `9NNN00` + county `9NNN01`), a
//! directory for those two codes with every department of `config/departments.tsv` plus
//! `gov`, the routing service started on it, and helpers to publish `registered`, send
//! department commands and read what routing published.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use xinfang_domain::county::CountyCode;
use xinfang_domain::envelope::Envelope;
use xinfang_domain::events::{self, Contact, Registered, RepeatLink};
use xinfang_domain::petition::{Art31Branch, Channel, Diversion, PetitionType};
use xinfang_domain::seal::{self, DataKey};
use xinfang_domain::subject;
use xinfang_platform::host::Started;
use xinfang_platform::testing::TestEnv;

pub const NAME: &str = "王小明";
pub const MOBILE: &str = "13812345678";

pub struct Harness {
    pub env: TestEnv,
    pub started: Started,
    pub dir_file: PathBuf,
    pub seq: std::sync::atomic::AtomicU32,
}

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with("").await
    }

    /// A harness whose HTTP API requires bearer tokens.
    pub async fn start_authenticated() -> Harness {
        Self::start_configured("", true).await
    }

    pub async fn start_with(routing_toml: &str) -> Harness {
        Self::start_configured(routing_toml, false).await
    }

    async fn start_configured(routing_toml: &str, auth: bool) -> Harness {
        let toml = format!("[routing]\noperator = \"tester\"\n{routing_toml}");
        let env = TestEnv::start(
            // TestEnv writes a directory of its city and county with every department.
            move |p| p.security.auth_required = auth,
            &toml,
        )
        .await
        .expect("local NATS, Postgres and Redis must be running");
        let file = env.infra.settings.platform.paths.directory.clone();
        let started = xinfang_routing::service::start(env.infra.clone())
            .await
            .expect("routing starts");
        Harness {
            env,
            started,
            dir_file: file,
            seq: std::sync::atomic::AtomicU32::new(0),
        }
    }

    pub async fn stop(self) {
        let _ = std::fs::remove_file(&self.dir_file);
        self.env.stop().await;
    }

    pub fn county(&self) -> CountyCode {
        self.env.county.clone()
    }

    pub fn city(&self) -> CountyCode {
        self.env.city.clone()
    }

    pub fn pool(&self) -> &sqlx::PgPool {
        &self.started.host.pool
    }

    pub fn key(&self) -> DataKey {
        DataKey::from_base64(self.env.infra.settings.platform.security.data_key.expose()).unwrap()
    }

    pub fn case_no(&self) -> String {
        let n = self.seq.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        format!("XF-{}-2026-{n:06}", self.county())
    }

    /// An ordinary 31(6) grievance for `department` of the test county.
    pub fn registered(&self, department: &str) -> Registered {
        let contact = Contact {
            name: NAME.into(),
            mobile: Some(MOBILE.into()),
            email: None,
        };
        let sealed = seal::seal_contact(&self.key(), rand::random(), &contact).unwrap();
        Registered {
            case_no: self.case_no(),
            query_code: "Q1234567".into(),
            channel: Channel::Online,
            received_at: Utc::now(),
            registered_at: Utc::now(),
            county: self.county(),
            petition_type: PetitionType::Grievance,
            branch: Some(Art31Branch::Residual),
            diversion: None,
            department: department.into(),
            accuses_official: false,
            confidential: false,
            urgent: false,
            needs_triage: false,
            confidence: 0.9,
            group_size: 1,
            repeat: None,
            petitioner_key: "k".repeat(16),
            contact: Some(sealed),
            text: "小区楼道漏水，物业不处理。".into(),
            redacted_text: None,
            source: None,
            listed: false,
            town: None,
            matter_words: None,
            received_by: None,
        }
    }

    pub fn accusation(&self, department: &str, accuses_official: bool) -> Registered {
        let mut r = self.registered(department);
        r.petition_type = PetitionType::Accusation;
        r.branch = None;
        r.accuses_official = accuses_official;
        r.confidential = true;
        r.text = "举报某单位负责人收受好处。".into();
        r
    }

    pub fn diverted(
        &self,
        branch: Art31Branch,
        diversion: Option<Diversion>,
        department: &str,
    ) -> Registered {
        let mut r = self.registered(department);
        r.branch = Some(branch);
        r.diversion = diversion;
        r
    }

    pub fn repeat(&self, disposition: events::RepeatDisposition) -> Registered {
        let mut r = self.registered("zjj");
        r.repeat = Some(RepeatLink {
            of: format!("XF-{}-2025-000001", self.county()),
            disposition,
            similarity: 0.95,
            count: 2,
            // As intake registers it: a refusal is only proposed (Decisions 7).
            proposed: disposition.is_refusal(),
            earlier_due: None,
        });
        r
    }

    /// Publishes a clerk's decision on the repeat link of `r` (as intake does).
    pub async fn decide_repeat(
        &self,
        r: &Registered,
        decision: events::RepeatDecision,
        earlier_due: Option<chrono::DateTime<Utc>>,
    ) {
        let link = r.repeat.as_ref().expect("a repeat");
        let disposition = match decision {
            events::RepeatDecision::Confirm => Some(link.disposition),
            events::RepeatDecision::Reject => Some(events::RepeatDisposition::Related),
            events::RepeatDecision::Unlink => None,
        };
        let d = events::RepeatDecided {
            case_no: r.case_no.clone(),
            repeat_of: link.of.clone(),
            decision,
            was: link.disposition,
            disposition,
            by: "token-clerk-1".into(),
            reason: "核实为同一事实和理由".into(),
            earlier_due,
            at: Utc::now(),
        };
        self.publish(decision.event_kind(), &r.case_no, &d).await;
    }

    /// Why routing holds the case, once it holds it.
    pub async fn wait_held(&self, case_no: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let s: Option<Option<String>> =
                sqlx::query_scalar("select held_reason from cases where case_no = $1")
                    .bind(case_no)
                    .fetch_optional(self.pool())
                    .await
                    .unwrap();
            if let Some(Some(reason)) = s {
                return reason;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("timed out waiting for {case_no} to be held");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn publish<T: serde::Serialize>(&self, kind: &str, case_no: &str, data: &T) {
        self.env
            .publish_case(&self.county(), kind, case_no, data)
            .await;
    }

    pub async fn register(&self, r: &Registered) {
        self.publish(events::kind::REGISTERED, &r.case_no, r).await;
    }

    /// Envelopes stored under `filter` of `county` for `case_no`, oldest first.
    pub async fn events(
        &self,
        county: &CountyCode,
        filter: &str,
        case_no: &str,
    ) -> Vec<(String, Envelope)> {
        self.env
            .read(county, filter)
            .await
            .into_iter()
            .filter_map(|m| {
                let env: Envelope = Envelope::from_bytes(&m.payload).ok()?;
                (env.case_id.as_deref() == Some(case_no)).then(|| (m.subject.to_string(), env))
            })
            .collect()
    }

    /// Waits for at least `n` events under `filter` for the case and returns them.
    pub async fn wait_events(
        &self,
        county: &CountyCode,
        filter: &str,
        case_no: &str,
        n: usize,
    ) -> Vec<(String, Envelope)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.events(county, filter, case_no).await;
            if got.len() >= n {
                return got;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("timed out waiting for {n} event(s) on {filter} for {case_no}; got {got:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for routing to have the case in `state`.
    pub async fn wait_state(&self, case_no: &str, state: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let s: Option<String> =
                sqlx::query_scalar("select state from cases where case_no = $1")
                    .bind(case_no)
                    .fetch_optional(self.pool())
                    .await
                    .unwrap();
            if s.as_deref() == Some(state) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("timed out waiting for {case_no} to be {state}; it is {s:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends a department command over NATS and returns routing's answer.
    pub async fn command(
        &self,
        county: &CountyCode,
        dept: &str,
        action: &str,
        body: Value,
    ) -> Value {
        let subj = subject::command(county, dept, action).unwrap();
        xinfang_routing::client::request(
            &self.env.infra.nats,
            subj.as_str(),
            &body,
            Duration::from_secs(10),
        )
        .await
        .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.started.http, path)
    }

    pub async fn assignment(&self, case_no: &str, dept: &str) -> Option<(String, String)> {
        sqlx::query_as(
            "select role, status from assignments where case_no = $1 and department = $2",
        )
        .bind(case_no)
        .bind(dept)
        .fetch_optional(self.pool())
        .await
        .unwrap()
    }
}

pub fn rid() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn today() -> String {
    xinfang_domain::deadline::cst_date(Utc::now().with_timezone(&xinfang_domain::deadline::CST))
        .format("%Y-%m-%d")
        .to_string()
}

pub fn body(case_no: &str, extra: Value) -> Value {
    let mut b = json!({"case_no": case_no, "request_id": rid()});
    if let (Some(b), Some(e)) = (b.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    b
}
