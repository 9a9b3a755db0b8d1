//! The load generator: petitions with the texts of `examples.jsonl` and made-up petitioners
//! (distinct names, ID numbers with GB 11643 check characters, mobiles, so each gets a receipt
//! SMS), spread over the counties, posted to intake's `POST /v1/petitions` either closed-loop
//! (as fast as a number of requests in flight allow) or open-loop at a fixed rate.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{NaiveDate, TimeDelta, Utc};
use futures::StreamExt;
use serde_json::{Value, json};
use xinfang_domain::classify::Classification;
use xinfang_domain::county::CountyCode;
use xinfang_domain::petition::Art31Branch;

/// Distinct texts used at most (each petition has its own petitioner, so a text used again is
/// no repeat).
pub const MAX_TEXTS: usize = 200;

/// The texts chosen, and how many of the file's were looked at to find them.
pub struct Texts {
    pub texts: Vec<String>,
    pub examined: usize,
}

/// Would routing send this petition to a department (`case.assigned`)? Not when it is guided
/// into another legal channel (Art 31(1)–(4): `case.diverted`, no assignment).
fn routed_to_a_department(c: &Classification) -> bool {
    if c.accuses_official {
        return true;
    }
    c.diversion.is_none()
        && !matches!(
            c.branch,
            Some(
                Art31Branch::LegalProcedure
                    | Art31Branch::Arbitration
                    | Art31Branch::PartyAppeal
                    | Art31Branch::AdministrativeProcedure
            )
        )
}

/// Up to `want` texts of `<dir>/examples.jsonl`, in file order, that the classifier intake
/// loads from `dir` routes to a department, so every petition has every hop.
pub fn routable_texts(dir: &Path, want: usize) -> anyhow::Result<Texts> {
    let path = dir.join("examples.jsonl");
    let raw =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let classifier = xinfang_intake::service::load_classifier(dir)?;
    let mut texts = Vec::new();
    let mut examined = 0;
    for (i, line) in raw.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .with_context(|| format!("{}: line {}", path.display(), i + 1))?;
        let Some(text) = v.get("text").and_then(Value::as_str) else {
            continue;
        };
        examined += 1;
        if routed_to_a_department(&classifier.classify(text)) {
            texts.push(text.to_owned());
            if texts.len() >= want {
                break;
            }
        }
    }
    anyhow::ensure!(
        !texts.is_empty(),
        "{}: no text the classifier routes to a department",
        path.display()
    );
    Ok(Texts { texts, examined })
}

/// One petition to post.
pub struct Petition {
    pub index: usize,
    pub mobile: String,
    pub body: Value,
}

const CHANNELS: [&str; 4] = ["letter", "visit", "online", "phone"];

/// Made-up petitioners with distinct ID numbers and mobiles (see [`id_number`]).
pub const PETITIONER_SPACE: usize = 18_000_000;

/// `n` petitions, petition `i` registered in `counties[i % K]` with text `texts[i % T]`, by
/// petitioner `first + i` (wrapping within [`PETITIONER_SPACE`]).
pub fn petitions(
    n: usize,
    counties: &[CountyCode],
    texts: &[String],
    first: usize,
) -> Vec<Petition> {
    let received_at = Utc::now() - TimeDelta::minutes(1);
    (0..n)
        .map(|i| {
            let who = (first + i) % PETITIONER_SPACE;
            let mobile = mobile(who);
            let county = counties
                .get(i % counties.len().max(1))
                .map(|c| c.to_string())
                .unwrap_or_else(|| "unknown".into());
            let text = texts
                .get(i % texts.len().max(1))
                .cloned()
                .unwrap_or_default();
            let body = json!({
                "channel": CHANNELS[i % CHANNELS.len()],
                "petitioner": {
                    "name": name(who),
                    "id_number": id_number(who),
                    "mobile": mobile,
                },
                "text": text,
                "county": county,
                "received_at": received_at,
                "clerk_id": format!("bench-clerk-{}", i % 7),
            });
            Petition {
                index: i,
                mobile,
                body,
            }
        })
        .collect()
}

const SURNAMES: [&str; 20] = [
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
    "何", "郭", "马", "罗",
];
const GIVEN: [&str; 24] = [
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀兰", "霞", "建国", "桂英", "志强", "玉兰",
];

/// A name per index (480 combinations, then a second given name).
fn name(i: usize) -> String {
    let s = SURNAMES[i % SURNAMES.len()];
    let g = GIVEN[(i / SURNAMES.len()) % GIVEN.len()];
    match i / (SURNAMES.len() * GIVEN.len()) {
        0 => format!("{s}{g}"),
        extra => format!("{s}{g}{}", GIVEN[extra % GIVEN.len()]),
    }
}

/// Division codes of the Sanmenxia area, where the texts' petitioners live.
const DIVISIONS: [&str; 6] = ["411202", "411203", "411221", "411224", "411281", "411282"];

/// A valid ID number, distinct for every index below 18 million: a division, a birth date
/// between 1950 and 1999 (one per thousand indexes), a sequence, the check character.
pub fn id_number(i: usize) -> String {
    let birth = NaiveDate::from_ymd_opt(1950, 1, 1).unwrap_or_default()
        + TimeDelta::days((((i / 1000) * 37) % 18_000) as i64);
    let body = format!(
        "{}{}{:03}",
        DIVISIONS[i % DIVISIONS.len()],
        birth.format("%Y%m%d"),
        i % 1000
    );
    let check = check_character(&body);
    format!("{body}{check}")
}

/// GB 11643 (ISO 7064 MOD 11-2) check character of the first 17 digits.
fn check_character(body: &str) -> char {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b.wrapping_sub(b'0')) * w)
        .sum();
    char::from(b"10X98765432"[(sum % 11) as usize])
}

/// A mobile `139xxxxxxxx`, distinct per index below 10^8 (departments' are `137…`).
pub fn mobile(i: usize) -> String {
    format!("139{:08}", i % 100_000_000)
}

/// Where to post.
#[derive(Clone)]
pub struct Target {
    pub url: String,
    pub token: String,
}

/// What one request got.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub index: usize,
    pub mobile: String,
    /// When it was sent (open loop: when it was due, so a late send counts).
    pub sent: Instant,
    /// When the answer was read in full (or the request failed).
    pub answered: Instant,
    pub status: Option<u16>,
    /// The receipt's case number, on 201.
    pub case_no: Option<String>,
    pub error: Option<String>,
}

/// Posts every petition; `rate` petitions per second on a fixed schedule, or closed-loop.
/// At most `concurrency` requests are in flight either way. `progress` gets the answers so far.
pub async fn run(
    target: &Target,
    petitions: Vec<Petition>,
    concurrency: usize,
    rate: Option<f64>,
    progress: impl Fn(usize),
) -> anyhow::Result<Vec<Outcome>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(concurrency)
        .build()
        .context("an HTTP client")?;
    let target = Arc::new(Target {
        url: target.url.clone(),
        token: target.token.clone(),
    });
    let mut out = Vec::with_capacity(petitions.len());
    match rate {
        None => {
            let mut answers = futures::stream::iter(petitions)
                .map(|p| post(client.clone(), target.clone(), p, None))
                .buffer_unordered(concurrency);
            while let Some(o) = answers.next().await {
                out.push(o);
                progress(out.len());
            }
        }
        Some(rate) => {
            let permits = Arc::new(tokio::sync::Semaphore::new(concurrency));
            let mut set = tokio::task::JoinSet::new();
            let start = tokio::time::Instant::now();
            for (k, p) in petitions.into_iter().enumerate() {
                let due = start + Duration::from_secs_f64(k as f64 / rate);
                tokio::time::sleep_until(due).await;
                let permit = permits.clone().acquire_owned().await?;
                let (client, target) = (client.clone(), target.clone());
                set.spawn(async move {
                    let o = post(client, target, p, Some(due.into_std())).await;
                    drop(permit);
                    o
                });
                while let Some(r) = set.try_join_next() {
                    out.push(r.context("a request task")?);
                    progress(out.len());
                }
            }
            while let Some(r) = set.join_next().await {
                out.push(r.context("a request task")?);
                progress(out.len());
            }
        }
    }
    out.sort_by_key(|o| o.index);
    Ok(out)
}

async fn post(
    client: reqwest::Client,
    target: Arc<Target>,
    p: Petition,
    due: Option<Instant>,
) -> Outcome {
    let sent = due.unwrap_or_else(Instant::now);
    let r = client
        .post(&target.url)
        .bearer_auth(&target.token)
        .json(&p.body)
        .send()
        .await;
    let (status, case_no, error) = match r {
        Ok(resp) => {
            let status = resp.status().as_u16();
            match resp.text().await {
                Ok(body) if status == 201 => {
                    let case_no = serde_json::from_str::<Value>(&body)
                        .ok()
                        .and_then(|v| v.get("case_no")?.as_str().map(str::to_owned));
                    let error = case_no
                        .is_none()
                        .then(|| "a 201 without a case_no".to_owned());
                    (Some(status), case_no, error)
                }
                Ok(body) => (
                    Some(status),
                    None,
                    Some(body.chars().take(300).collect::<String>()),
                ),
                Err(e) => (Some(status), None, Some(format!("reading the answer: {e}"))),
            }
        }
        Err(e) => (None, None, Some(e.to_string())),
    };
    Outcome {
        index: p.index,
        mobile: p.mobile,
        sent,
        answered: Instant::now(),
        status,
        case_no,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xinfang_domain::validation::{IdNumber, Mobile};

    #[test]
    fn made_up_petitioners_are_valid_and_distinct() {
        let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let n = 20_000;
        let ids: std::collections::BTreeSet<String> = (0..n).map(id_number).collect();
        assert_eq!(ids.len(), n);
        for id in &ids {
            assert!(IdNumber::parse(id, today).is_ok(), "{id}");
        }
        let mobiles: std::collections::BTreeSet<String> = (0..n).map(mobile).collect();
        assert_eq!(mobiles.len(), n);
        assert!(mobiles.iter().all(|m| Mobile::parse(m).is_ok()));
        // The documented example's number: 41128219880315001 → 0.
        assert_eq!(check_character("41128219880315001"), '0');
    }

    #[test]
    fn petitions_spread_over_the_counties() {
        let counties: Vec<_> = ["912301", "912302", "912303"]
            .iter()
            .map(|c| CountyCode::parse(c).unwrap())
            .collect();
        let ps = petitions(7, &counties, &["甲".into(), "乙".into()], 0);
        let of = |i: usize| ps[i].body["county"].as_str().unwrap().to_owned();
        assert_eq!(of(0), "912301");
        assert_eq!(of(4), "912302");
        assert_eq!(ps[3].body["text"], "乙");
        assert_eq!(ps[3].body["petitioner"]["mobile"], mobile(3));
        // Another run's petitioners start elsewhere and wrap inside the space.
        let later = petitions(3, &counties, &["甲".into()], PETITIONER_SPACE - 1);
        assert_eq!(
            later[0].body["petitioner"]["id_number"],
            id_number(PETITIONER_SPACE - 1)
        );
        assert_eq!(later[1].body["petitioner"]["id_number"], id_number(0));
        assert_ne!(
            later[2].body["petitioner"]["mobile"],
            ps[2].body["petitioner"]["mobile"]
        );
    }
}
