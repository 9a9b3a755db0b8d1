//! Real petitions through intake's API: distinct petitioners (names, valid ID numbers and
//! mobiles made up here), the dev set's texts, registered by a clerk in the city and the
//! county; then a wait until routing has sent each on and supervision has its clocks.

use std::time::Duration;

use anyhow::Context;
use chrono::{NaiveDate, Utc};
use futures::StreamExt;
use serde_json::{Value, json};
use xinfang_domain::access::Role;
use xinfang_domain::validation::IdNumber;
use xinfang_platform::testing::TestEnv;

use super::{Pools, Progress};
use crate::backend::ServiceUrls;
use crate::state::AppState;

/// The dev set: realistic petition texts (one JSON object a line, `text` among its fields).
const DEV_SET: &str = include_str!("../../../../tests/data/petitions-dev.jsonl");

/// Registrations in flight at once.
const PARALLEL: usize = 4;

/// A petition registered through the API.
#[derive(Debug, Clone)]
pub struct SeededCase {
    pub case_no: String,
    pub query_code: String,
    pub id_number: String,
}

pub struct Seeded {
    pub cases: Vec<SeededCase>,
}

impl Seeded {
    pub fn case_nos(&self) -> Vec<String> {
        self.cases.iter().map(|c| c.case_no.clone()).collect()
    }
}

pub async fn seed(
    env: &TestEnv,
    state: &AppState,
    urls: &ServiceUrls,
    pools: &Pools,
    n: usize,
    progress: &impl Fn(Progress),
) -> anyhow::Result<Seeded> {
    let texts = texts()?;
    let clerk = state
        .auth
        .create(Role::Clerk, &env.city, None, "bench console: seeding clerk")
        .await?
        .token;
    let http = reqwest::Client::new();
    let today = Utc::now().date_naive();
    let petitions: Vec<Value> = (0..n)
        .map(|i| {
            // Most petitions reach the county's bureau, some the city's.
            let county = if i % 5 == 4 { &env.city } else { &env.county };
            let channel = ["letter", "visit", "online", "phone"][i % 4];
            json!({
                "channel": channel,
                "petitioner": {
                    "name": name(i),
                    "id_number": id_number(i, today),
                    "mobile": mobile(i),
                },
                "text": texts[i % texts.len()],
                "county": county.to_string(),
                "received_at": Utc::now() - chrono::TimeDelta::minutes(30),
                "clerk_id": format!("bench-clerk-{}", i % 7),
            })
        })
        .collect();
    progress(Progress::Phase {
        message: format!("registering {n} petitions through intake's API"),
        len: Some(n as u64),
    });
    let url = format!("{}/v1/petitions", urls.intake);
    let mut done = 0u64;
    let mut cases = Vec::with_capacity(n);
    let mut answers = futures::stream::iter(petitions)
        .map(|p| {
            let (http, url, clerk) = (&http, &url, &clerk);
            async move {
                let r = http
                    .post(url)
                    .bearer_auth(clerk)
                    .json(&p)
                    .send()
                    .await
                    .context("POST /v1/petitions")?;
                let status = r.status();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                anyhow::ensure!(
                    status.as_u16() == 201,
                    "intake refused a petition ({status}): {body}"
                );
                let field = |k: &str| body[k].as_str().map(str::to_owned);
                Ok(SeededCase {
                    case_no: field("case_no").context("receipt without case_no")?,
                    query_code: field("query_code").context("receipt without query_code")?,
                    id_number: p["petitioner"]["id_number"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                })
            }
        })
        .buffer_unordered(PARALLEL);
    while let Some(c) = answers.next().await {
        cases.push(c?);
        done += 1;
        progress(Progress::Position(done));
    }
    drop(answers);
    let seeded = Seeded { cases };
    settle(pools, &seeded, progress).await?;
    Ok(seeded)
}

/// Waits until routing has decided on every seeded case, supervision has its clocks and
/// facts, and every service's outbox is empty (so nothing is still changing the rows the
/// registry is grown from).
async fn settle(
    pools: &Pools,
    seeded: &Seeded,
    progress: &impl Fn(Progress),
) -> anyhow::Result<()> {
    let n = seeded.cases.len() as i64;
    progress(Progress::Phase {
        message: "waiting for routing and supervision".into(),
        len: Some(n as u64),
    });
    let nos = seeded.case_nos();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    let mut quiet = 0;
    loop {
        let routed: i64 = sqlx::query_scalar(
            "select count(*) from cases where case_no = any($1) and status <> 'registered'",
        )
        .bind(&nos)
        .fetch_one(&pools.intake)
        .await?;
        let clocked: i64 = sqlx::query_scalar(
            "select count(*) from cases where case_no = any($1) and disposed_at is not null",
        )
        .bind(&nos)
        .fetch_one(&pools.supervision)
        .await?;
        let mut unpublished = 0i64;
        for pool in [&pools.intake, &pools.supervision] {
            unpublished += sqlx::query_scalar::<_, i64>(
                "select count(*) from outbox where published_at is null",
            )
            .fetch_one(pool)
            .await?;
        }
        progress(Progress::Position(routed.min(clocked) as u64));
        if routed == n && clocked == n && unpublished == 0 {
            // Events already published may still be in flight to a consumer: two quiet looks.
            quiet += 1;
            if quiet >= 3 {
                return Ok(());
            }
        } else {
            quiet = 0;
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!(
                "after 300 s: {routed} of {n} seeded cases routed, {clocked} disposed in supervision, {unpublished} events unpublished"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn texts() -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for line in DEV_SET.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).context("tests/data/petitions-dev.jsonl")?;
        if let Some(t) = v["text"].as_str() {
            out.push(t.to_owned());
        }
    }
    anyhow::ensure!(!out.is_empty(), "the dev set has no texts");
    Ok(out)
}

const SURNAMES: [&str; 20] = [
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
    "何", "郭", "马", "罗",
];
const GIVEN: [&str; 24] = [
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀兰", "霞", "建国", "桂英", "志强", "玉兰",
];

/// A name per index (480 combinations, then a second given-name character).
fn name(i: usize) -> String {
    let s = SURNAMES[i % SURNAMES.len()];
    let g = GIVEN[(i / SURNAMES.len()) % GIVEN.len()];
    let extra = i / (SURNAMES.len() * GIVEN.len());
    if extra == 0 {
        format!("{s}{g}")
    } else {
        format!("{s}{g}{}", GIVEN[extra % GIVEN.len()])
    }
}

/// Division codes of the Sanmenxia area (the dev set's petitioners live there).
const DIVISIONS: [&str; 6] = ["411202", "411203", "411221", "411224", "411281", "411282"];

/// A valid ID number, distinct per index: division, a birth date between 1950 and 1999, a
/// sequence, and the check character the domain's rule accepts (GB 11643, MOD 11-2).
fn id_number(i: usize, today: NaiveDate) -> String {
    let birth = NaiveDate::from_ymd_opt(1950, 1, 1).unwrap_or(NaiveDate::MIN)
        + chrono::TimeDelta::days(((i * 7_919) % 18_000) as i64);
    let body = format!(
        "{}{}{:03}",
        DIVISIONS[i % DIVISIONS.len()],
        birth.format("%Y%m%d"),
        i % 1000
    );
    "0123456789X"
        .chars()
        .map(|c| format!("{body}{c}"))
        .find(|candidate| IdNumber::parse(candidate, today).is_ok())
        .unwrap_or(body)
}

/// A mobile number `139xxxxxxxx`, distinct per index.
fn mobile(i: usize) -> String {
    format!("139{:08}", (i * 7_919 + 1_234) % 100_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_petitioners_are_valid_and_distinct() {
        let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let ids: std::collections::BTreeSet<String> =
            (0..2000).map(|i| id_number(i, today)).collect();
        assert_eq!(ids.len(), 2000);
        assert!(ids.iter().all(|id| IdNumber::parse(id, today).is_ok()));
        let names: std::collections::BTreeSet<String> = (0..2000).map(name).collect();
        assert_eq!(names.len(), 2000);
        assert!(xinfang_domain::validation::Mobile::parse(&mobile(3)).is_ok());
        assert!(texts().unwrap().len() >= 40);
    }
}
