//! Shared test harness: a county deployment (TestEnv serving only the test county `9NNN01`,
//! with the city stream `9NNN00` for escalation) and, on demand, a city deployment (its own
//! database, serving only the city) on the same NATS; a directory for the two codes; helpers
//! to publish upstream case events and to call the review API.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use xinfang_domain::county::CountyCode;
use xinfang_domain::deadline::{CST, cst_date};
use xinfang_domain::envelope::Envelope;
use xinfang_domain::events::{Accepted, AssignMode, Assigned, Registered, Replied, kind};
use xinfang_domain::petition::{Art31Branch, Channel, OpinionOutcome, PetitionType};
use xinfang_platform::config::{Loaded, Secret};
use xinfang_platform::host::Infra;
use xinfang_platform::testing::{TestEnv, repo_root};
use xinfang_review::clock::Clock;
use xinfang_review::identity::{HashKey, ID_LABEL};
use xinfang_review::service::{Review, start_with};

/// A valid ID number (GB 11643 checksum) and another one.
pub const ID: &str = "11010519491231002X";
pub const OTHER_ID: &str = "440304198001011239";

/// A directory for `city` and `county`: every shipped department plus `gov`; the county's
/// police (`gaj`) is reviewed by the city's police.
pub fn directory_toml(city: &CountyCode, county: &CountyCode) -> String {
    let tsv = std::fs::read_to_string(repo_root().join("config/departments.tsv")).unwrap();
    let mut codes: Vec<(String, String)> = vec![("gov".into(), "人民政府".into())];
    for line in tsv.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let mut cols = line.split('\t');
        let code = cols.next().unwrap().to_owned();
        if code != "gov" {
            codes.push((code, cols.next().unwrap().into()));
        }
    }
    let mut out = String::from("[directory]\nname = \"test\"\n");
    for (code, name, parent) in [(city, "测试市", None), (county, "测试县", Some(city))] {
        out += &format!("\n[[county]]\ncode = \"{code}\"\nname = \"{name}\"\n");
        if let Some(p) = parent {
            out += &format!("parent = \"{p}\"\n");
        }
        for (d, n) in &codes {
            out += &format!("[[county.department]]\ncode = \"{d}\"\nname = \"{n}\"\n");
            if parent.is_some() && d == "gaj" {
                out += &format!("review_parent = \"{city}:gaj\"\n");
            }
        }
    }
    out
}

/// A second deployment (the city) on the same NATS, with its own database.
pub struct CityDeployment {
    pub infra: Infra,
    pub review: Review,
    pub shutdown: CancellationToken,
    pub db_name: String,
}

pub struct Harness {
    pub env: TestEnv,
    pub review: Review,
    pub clock: Clock,
    pub city_dep: Option<CityDeployment>,
    pub dir_file: PathBuf,
    pub http: reqwest::Client,
    pub seq: std::sync::atomic::AtomicU32,
    /// Sent as the bearer token by the helpers, when the API requires tokens.
    pub bearer: Option<String>,
}

impl Harness {
    /// The county deployment only; `review_toml` is added to the `[review]` section.
    pub async fn start(review_toml: &str) -> Harness {
        Self::start_configured(review_toml, false).await
    }

    /// As [`Harness::start`], with bearer tokens required; the helpers act as an operator of
    /// the county.
    pub async fn start_authenticated(review_toml: &str) -> Harness {
        let mut h = Self::start_configured(review_toml, true).await;
        let store = h.review.started.host.auth.store().expect("auth on").clone();
        let county = h.county();
        h.bearer = Some(
            store
                .create(
                    xinfang_domain::access::Role::Operator,
                    &county,
                    None,
                    "harness",
                )
                .await
                .expect("token")
                .token,
        );
        h
    }

    async fn start_configured(review_toml: &str, auth: bool) -> Harness {
        let file =
            std::env::temp_dir().join(format!("xf-review-dir-{}.toml", uuid::Uuid::now_v7()));
        let file2 = file.clone();
        let toml = format!("[review]\nsweep_enabled = false\n{review_toml}");
        let env = TestEnv::start(
            move |p| {
                let city = CountyCode::parse(&p.deployment.city).unwrap();
                let county = CountyCode::parse(&p.deployment.counties[1]).unwrap();
                std::fs::write(&file2, directory_toml(&city, &county)).unwrap();
                p.paths.directory = file2.clone();
                // The county deployment serves its county; the city stream exists for
                // escalation (Infra adds it).
                p.deployment.counties = vec![county.to_string()];
                p.security.auth_required = auth;
            },
            &toml,
        )
        .await
        .expect("local NATS, Postgres and Redis must be running");
        let clock = Clock::manual();
        let review = start_with(env.infra.clone(), clock.clone())
            .await
            .expect("review starts");
        Harness {
            env,
            review,
            clock,
            city_dep: None,
            dir_file: file,
            http: reqwest::Client::new(),
            seq: std::sync::atomic::AtomicU32::new(0),
            bearer: None,
        }
    }

    /// `r` with the harness's bearer token, if it has one.
    pub fn authed(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.bearer {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// Adds the city deployment: the same settings, serving only the city, its own database.
    pub async fn with_city(mut self) -> Harness {
        let mut p = self.env.infra.settings.platform.clone();
        p.deployment.counties = vec![self.city().to_string()];
        let db_name = format!("xf_test_{}", uuid::Uuid::now_v7().simple());
        p.database.url = Secret::new(format!("postgres://postgres@127.0.0.1:5432/{db_name}"));
        let loaded =
            Loaded::from_parts(p, "[review]\nsweep_enabled = false\n").expect("city settings");
        let shutdown = CancellationToken::new();
        let infra = Infra::connect(loaded, "test-city", shutdown.clone())
            .await
            .expect("city infra");
        let review = start_with(infra.clone(), self.clock.clone())
            .await
            .expect("city review starts");
        self.city_dep = Some(CityDeployment {
            infra,
            review,
            shutdown,
            db_name,
        });
        self
    }

    pub async fn stop(self) {
        if let Some(c) = self.city_dep {
            c.shutdown.cancel();
            c.infra.drain(Duration::from_secs(15)).await;
            if let Ok(admin) =
                sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres").await
            {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "drop database if exists \"{}\" with (force)",
                    c.db_name
                )))
                .execute(&admin)
                .await;
                admin.close().await;
            }
        }
        let _ = std::fs::remove_file(&self.dir_file);
        self.env.stop().await;
    }

    pub fn county(&self) -> CountyCode {
        self.env.county.clone()
    }

    pub fn city(&self) -> CountyCode {
        self.env.city.clone()
    }

    /// Base URL of the county deployment's API.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.review.started.http)
    }

    /// Base URL of the city deployment's API.
    pub fn city_url(&self, path: &str) -> String {
        let c = self.city_dep.as_ref().expect("city deployment started");
        format!("http://{}{path}", c.review.started.http)
    }

    pub fn key(&self) -> HashKey {
        HashKey::from_settings(&self.env.infra.settings.platform.security).unwrap()
    }

    pub fn petitioner_key(&self) -> String {
        self.key().hash(ID_LABEL, ID)
    }

    pub fn today(&self) -> NaiveDate {
        cst_date(self.clock.now().with_timezone(&CST))
    }

    pub fn days_ago(&self, n: u64) -> NaiveDate {
        self.today().checked_sub_days(chrono::Days::new(n)).unwrap()
    }

    pub fn case_no(&self) -> String {
        let n = self.seq.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        format!("XF-{}-2026-{n:06}", self.county())
    }

    /// A 31(6) grievance of `department` arisen in `matter_county`.
    pub fn registered(&self, department: &str, matter_county: &CountyCode) -> Registered {
        let case_no = self.case_no();
        Registered {
            query_code: format!("Q{}", &case_no[case_no.len() - 6..]) + "AB",
            case_no,
            channel: Channel::Letter,
            received_at: Utc::now(),
            registered_at: Utc::now(),
            county: matter_county.clone(),
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
            petitioner_key: self.petitioner_key(),
            contact: None,
            text: "我父亲的养老保险待遇被停发，多次到社保中心反映未果，请求恢复发放并补发。".into(),
            redacted_text: None,
            source: None,
            listed: false,
            town: None,
            matter_words: None,
            received_by: None,
        }
    }

    pub async fn publish<T: serde::Serialize>(&self, kind: &str, case_no: &str, data: &T) {
        self.env
            .publish_case(&self.county(), kind, case_no, data)
            .await;
    }

    /// registered → assigned → accepted → replied (served on `served_on`), as the upstream
    /// services would publish them; waits until the projection has the reply.
    pub async fn case_through_reply(
        &self,
        r: &Registered,
        is_handling_opinion: bool,
        served_on: NaiveDate,
    ) {
        let dept = r.department.clone();
        self.publish(kind::REGISTERED, &r.case_no, r).await;
        self.publish(
            kind::ASSIGNED,
            &r.case_no,
            &Assigned {
                organ_county: None,
                case_no: r.case_no.clone(),
                department: dept.clone(),
                mode: AssignMode::Forward,
                report_required: false,
                assisting: vec![],
                petition_type: r.petition_type,
                branch: r.branch,
                assigned_at: Utc::now(),
                notice_exempt: false,
            },
        )
        .await;
        self.publish(
            kind::ACCEPTED,
            &r.case_no,
            &Accepted {
                organ_county: None,
                case_no: r.case_no.clone(),
                department: dept.clone(),
                accepted_on: served_on,
                at: Utc::now(),
            },
        )
        .await;
        self.publish(
            kind::REPLIED,
            &r.case_no,
            &Replied {
                case_no: r.case_no.clone(),
                department: dept,
                outcome: Some(OpinionOutcome::NotSupported),
                is_handling_opinion,
                text: "经调查，不予支持。".into(),
                served_on,
                at: Utc::now(),
            },
        )
        .await;
        let url = self.url(&format!("/v1/reviews/{}", r.case_no));
        let want = served_on.to_string();
        self.env
            .wait_for(
                "the review projection to hold the reply",
                20,
                async || match self.authed(self.http.get(&url)).send().await {
                    Ok(resp) if resp.status().is_success() => {
                        let v: Value = resp.json().await.unwrap_or_default();
                        v["served_on"].as_str() == Some(want.as_str())
                    }
                    _ => false,
                },
            )
            .await;
    }

    pub async fn post(&self, url: &str, body: Value) -> (u16, Value) {
        let r = self
            .authed(self.http.post(url))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, url: &str) -> (u16, Value) {
        let r = self.authed(self.http.get(url)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The petitioner's own request by query code and ID number.
    pub async fn petitioner_requests(&self, r: &Registered) -> (u16, Value) {
        self.post(
            &self.url("/v1/reviews"),
            json!({"query_code": r.query_code, "id_number": ID, "grounds": "处理意见认定事实不清"}),
        )
        .await
    }

    /// Envelopes stored under `filter` in `county`'s stream.
    pub async fn events(&self, county: &CountyCode, filter: &str) -> Vec<Envelope> {
        self.env
            .read(county, filter)
            .await
            .iter()
            .map(|m| Envelope::from_bytes(&m.payload).unwrap())
            .collect()
    }

    /// Waits until `filter` in `county`'s stream holds at least `n` events of `case_no`.
    pub async fn wait_events(
        &self,
        county: &CountyCode,
        filter: &str,
        case_no: &str,
        n: usize,
    ) -> Vec<Envelope> {
        let what = format!("{n} event(s) on {filter} for {case_no}");
        self.env
            .wait_for(&what, 20, async || {
                self.events(county, filter)
                    .await
                    .iter()
                    .filter(|e| e.case_id.as_deref() == Some(case_no))
                    .count()
                    >= n
            })
            .await;
        self.events(county, filter)
            .await
            .into_iter()
            .filter(|e| e.case_id.as_deref() == Some(case_no))
            .collect()
    }
}
