//! Signs in each role through the login form, as a browser would (cookies, the form's CSRF
//! token), and times its pages: one warm-up request, then `samples` requests one after
//! another. The time is the client's, from sending the request to the last byte of the page,
//! on loopback.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;

use anyhow::Context;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde::Serialize;

use super::Progress;
use super::seed::SeededCase;
use crate::state::AppState;
use crate::users::NewUser;

/// One page's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct PageTiming {
    pub role: String,
    pub page: String,
    /// The HTTP status of every timed request (the run fails on anything but 200).
    pub status: u16,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
    /// Size of the last answer.
    pub bytes: usize,
    /// The services' API calls behind one page load, most first.
    pub calls: Vec<ServiceCall>,
}

/// Calls of one service route per page load, and the service's mean time per call.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceCall {
    pub call: String,
    pub per_load: f64,
    pub mean_ms: f64,
}

impl PageTiming {
    /// Service calls per page load, all routes together.
    pub fn calls_per_load(&self) -> f64 {
        self.calls.iter().fold(0.0, |n, c| n + c.per_load)
    }
}

/// Where the pages that need a case or a department look.
pub struct Targets<'a> {
    pub city: &'a str,
    pub county: &'a str,
    pub department: &'a str,
    /// A case of the department (one registered through the API, so every service knows it).
    pub department_case: &'a str,
    /// Any case registered through the API.
    pub clerk_case: &'a str,
    /// Cases whose query code and ID number the petitioner types.
    pub petitioners: &'a [SeededCase],
}

/// A console user and the pages timed for it: (label, path).
struct User<'a> {
    role: &'a str,
    scope: &'a str,
    department: Option<&'a str>,
    pages: Vec<(&'a str, &'a str)>,
}

pub async fn measure(
    state: &AppState,
    console: SocketAddr,
    t: &Targets<'_>,
    samples: usize,
    progress: &impl Fn(Progress),
) -> anyhow::Result<Vec<PageTiming>> {
    let clerk_case = format!("/clerk/cases/{}", t.clerk_case);
    let dept_case = format!("/dept/cases/{}", t.department_case);
    let city = |role, pages| User {
        role,
        scope: t.city,
        department: None,
        pages,
    };
    // Case pages are labelled without their number.
    let users = [
        city(
            "clerk",
            vec![
                ("/clerk", "/clerk"),
                ("/clerk/triage", "/clerk/triage"),
                ("/clerk/cases/{no}", &clerk_case),
            ],
        ),
        User {
            role: "department",
            scope: t.county,
            department: Some(t.department),
            pages: vec![("/dept", "/dept"), ("/dept/cases/{no}", &dept_case)],
        },
        city(
            "supervisor",
            vec![
                ("/board", "/board"),
                ("/kpi", "/kpi"),
                ("/approvals", "/approvals"),
            ],
        ),
        city("leader", vec![("/board", "/board"), ("/kpi", "/kpi")]),
        city(
            "reviewer",
            vec![("/reviews", "/reviews"), ("/terminations", "/terminations")],
        ),
        city("operator", vec![("/board", "/board"), ("/dept", "/dept")]),
    ];
    let pages: usize = users.iter().map(|u| u.pages.len()).sum::<usize>() + 1;
    progress(Progress::Phase {
        message: format!("timing {pages} pages, {samples} requests each"),
        len: Some(pages as u64),
    });
    let mut out = Vec::new();
    for User {
        role,
        scope,
        department,
        pages,
    } in &users
    {
        let username = format!("bench-{role}");
        let password = format!("bench-{}", uuid::Uuid::new_v4().simple());
        let created = state
            .users
            .create(&NewUser {
                username: username.clone(),
                display_name: format!("压测{role}"),
                password: password.clone(),
                role: (*role).to_owned(),
                scope: (*scope).to_owned(),
                department: department.map(str::to_owned),
            })
            .await?;
        anyhow::ensure!(created == Ok(true), "console user {username}: {created:?}");
        let mut b = Browser::new(console)?;
        b.sign_in(&username, &password).await?;
        for (label, path) in pages {
            let (mut status, mut page) = (0, String::new());
            let before = service_calls();
            let times = timed(
                samples,
                async || {
                    (status, page) = b.get(path).await?;
                    Ok(status)
                },
                role,
                path,
            )
            .await?;
            let what = format!("{role} {label}");
            let calls = calls_between(&before, &service_calls(), samples + 1, &what)?;
            if let Some(gap) = fixture_gap(&page) {
                anyhow::bail!("{role} {label} shows \"{gap}\": the fixture lacks what it needs");
            }
            out.push(summary(role, label, status, page.len(), &times, calls));
            progress(Progress::Position(out.len() as u64));
        }
    }

    // The petitioner: the query form, then the status page for a code and an ID number
    // (a different case each time, as people would; the same code would soon meet intake's
    // per-code rate limit).
    let mut b = Browser::new(console)?;
    let (status, _) = b.get("/q").await?;
    anyhow::ensure!(status == 200, "GET /q answered {status}");
    let mut next = 0usize;
    let mut last = (0, 0);
    let before = service_calls();
    let times = timed(
        samples,
        async || {
            let c = &t.petitioners[next % t.petitioners.len()];
            next += 1;
            let (status, body) = b
                .post(
                    "/q",
                    &[
                        ("query_code", c.query_code.as_str()),
                        ("id_number", c.id_number.as_str()),
                    ],
                )
                .await?;
            anyhow::ensure!(
                status != 200 || body.contains(&c.case_no),
                "POST /q answered 200 without the status of {}: {}",
                c.case_no,
                excerpt(&body)
            );
            last = (status, body.len());
            Ok(status)
        },
        "petitioner",
        "/q",
    )
    .await?;
    let calls = calls_between(&before, &service_calls(), samples + 1, "POST /q")?;
    out.push(summary(
        "petitioner",
        "POST /q",
        last.0,
        last.1,
        &times,
        calls,
    ));
    progress(Progress::Position(out.len() as u64));
    Ok(out)
}

/// What the services answered while a page was timed, per method and route, from this
/// process's metrics (every service records `xf_http_requests_total` and the duration
/// histogram). A page stays 200 when some of its calls fail (it shows what it could get), so
/// the run checks the services too: a page built from failed calls is not the page measured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Tally {
    calls: f64,
    errors: f64,
    seconds: f64,
}

fn service_calls() -> BTreeMap<String, Tally> {
    parse_calls(&xinfang_platform::metrics::handle().render())
}

fn parse_calls(metrics: &str) -> BTreeMap<String, Tally> {
    let label = |labels: &str, name: &str| {
        let key = format!("{name}=\"");
        let i = labels.find(&key)? + key.len();
        Some(labels[i..].split('"').next()?.to_owned())
    };
    let mut out: BTreeMap<String, Tally> = BTreeMap::new();
    for line in metrics.lines() {
        let (count, rest) = if let Some(r) = line.strip_prefix("xf_http_requests_total{") {
            (true, r)
        } else if let Some(r) = line.strip_prefix("xf_http_request_duration_seconds_sum{") {
            (false, r)
        } else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let Ok(n) = value.trim().parse::<f64>() else {
            continue;
        };
        let method = label(labels, "method").unwrap_or_default();
        let route = label(labels, "route").unwrap_or_default();
        let t = out.entry(format!("{method} {route}")).or_default();
        if count {
            t.calls += n;
            if label(labels, "status").is_some_and(|s| s.starts_with('5')) {
                t.errors += n;
            }
        } else {
            t.seconds += n;
        }
    }
    out
}

/// The calls made between two readings, per page load; fails naming any that failed.
fn calls_between(
    before: &BTreeMap<String, Tally>,
    after: &BTreeMap<String, Tally>,
    loads: usize,
    what: &str,
) -> anyhow::Result<Vec<ServiceCall>> {
    let mut calls = Vec::new();
    let mut failed = Vec::new();
    for (k, a) in after {
        let b = before.get(k).copied().unwrap_or_default();
        let (n, e, secs) = (
            a.calls - b.calls,
            a.errors - b.errors,
            a.seconds - b.seconds,
        );
        if e > 0.0 {
            failed.push(format!("{k} ×{e}"));
        }
        if n > 0.0 {
            calls.push(ServiceCall {
                call: k.clone(),
                per_load: n / loads as f64,
                mean_ms: secs * 1000.0 / n,
            });
        }
    }
    anyhow::ensure!(
        failed.is_empty(),
        "while {what} was timed the services answered with errors: {}",
        failed.join(", ")
    );
    calls.sort_by(|a, b| b.per_load.total_cmp(&a.per_load));
    Ok(calls)
}

/// What a page says when a service had nothing on a listed case. The fixture gives every
/// copy its rows in routing and review, so these mean it failed to, and the page timed would
/// have been cheaper than a real one.
fn fixture_gap(page: &str) -> Option<&'static str> {
    ["暂时无法读取的案件", "正在自动分流"]
        .into_iter()
        .find(|m| page.contains(m))
}

/// One warm-up request, then `samples` timed ones; any status but 200 stops the run.
async fn timed(
    samples: usize,
    mut request: impl AsyncFnMut() -> anyhow::Result<u16>,
    role: &str,
    path: &str,
) -> anyhow::Result<Vec<f64>> {
    let mut times = Vec::with_capacity(samples);
    for i in 0..=samples {
        let started = Instant::now();
        let status = request().await?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(
            status == 200,
            "{role} {path} answered {status} (request {i}); every page must answer 200"
        );
        if i > 0 {
            times.push(ms);
        }
    }
    Ok(times)
}

fn summary(
    role: &str,
    page: &str,
    status: u16,
    bytes: usize,
    times: &[f64],
    calls: Vec<ServiceCall>,
) -> PageTiming {
    let mut t = times.to_vec();
    t.sort_by(f64::total_cmp);
    PageTiming {
        role: role.to_owned(),
        page: page.to_owned(),
        status,
        p50_ms: percentile(&t, 50.0),
        p95_ms: percentile(&t, 95.0),
        max_ms: t.last().copied().unwrap_or(0.0),
        bytes,
        calls,
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn excerpt(body: &str) -> String {
    body.chars().take(300).collect()
}

/// Cookies and the last page's CSRF token, as a browser holds them.
struct Browser {
    base: String,
    http: reqwest::Client,
    cookies: Vec<(String, String)>,
    csrf: String,
}

impl Browser {
    fn new(addr: SocketAddr) -> anyhow::Result<Browser> {
        Ok(Browser {
            base: format!("http://{addr}"),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            cookies: Vec::new(),
            csrf: String::new(),
        })
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Status and body (for a redirect, where it leads); keeps cookies and the page's CSRF
    /// token.
    async fn finish(&mut self, resp: reqwest::Response) -> anyhow::Result<(u16, String)> {
        for v in resp.headers().get_all(SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let Some((k, rest)) = v.split_once('=') else {
                continue;
            };
            let value = rest.split(';').next().unwrap_or("").to_owned();
            self.cookies.retain(|(n, _)| n != k);
            if !v.contains("Max-Age=0") {
                self.cookies.push((k.to_owned(), value));
            }
        }
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        let body = resp.text().await.context("reading a page")?;
        if let Some(t) = csrf_in(&body) {
            self.csrf = t;
        }
        Ok((status, location.unwrap_or(body)))
    }

    async fn get(&mut self, path: &str) -> anyhow::Result<(u16, String)> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        self.finish(resp).await
    }

    /// Submits a form with the CSRF token of the last page seen.
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> anyhow::Result<(u16, String)> {
        let mut all: Vec<(&str, &str)> = vec![("_csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(all)
            .finish();
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        self.finish(resp).await
    }

    /// The login form, then the sign-in: a 303 away from /login.
    async fn sign_in(&mut self, username: &str, password: &str) -> anyhow::Result<()> {
        let (status, _) = self.get("/login").await?;
        anyhow::ensure!(status == 200, "GET /login answered {status}");
        let (status, location) = self
            .post("/login", &[("username", username), ("password", password)])
            .await?;
        anyhow::ensure!(
            status == 303 && location != "/login",
            "sign-in of {username} answered {status} → {}",
            excerpt(&location)
        );
        Ok(())
    }
}

/// The value of the first `name="_csrf"` field of a page.
fn csrf_in(html: &str) -> Option<String> {
    let key = "name=\"_csrf\" value=\"";
    let i = html.find(key)?;
    let rest = &html[i + key.len()..];
    Some(rest[..rest.find('"')?].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 10.0);
        assert_eq!(percentile(&v, 95.0), 19.0);
        assert_eq!(percentile(&v, 100.0), 20.0);
        assert_eq!(percentile(&[7.0], 95.0), 7.0);
        assert_eq!(
            csrf_in(r#"<input type="hidden" name="_csrf" value="abc">"#).as_deref(),
            Some("abc")
        );
        assert_eq!(
            fixture_gap("<h2>暂时无法读取的案件</h2>"),
            Some("暂时无法读取的案件")
        );
        assert_eq!(fixture_gap("<h1>复查复核</h1>"), None);
    }

    #[test]
    fn service_calls_are_counted_and_failures_stop_the_run() {
        let m = r#"# TYPE xf_http_requests_total counter
xf_http_requests_total{route="/v1/reviews/{case_no}",method="GET",status="500"} 3
xf_http_requests_total{route="/v1/reviews/{case_no}",method="GET",status="200"} 40
xf_http_request_duration_seconds_sum{route="/v1/reviews/{case_no}",method="GET",status="200"} 0.086
xf_http_requests_total{route="/v1/cases",method="GET",status="200"} 1
"#;
        let after = parse_calls(m);
        let t = after["GET /v1/reviews/{case_no}"];
        assert_eq!((t.calls, t.errors, t.seconds), (43.0, 3.0, 0.086));
        let err = calls_between(&BTreeMap::new(), &after, 1, "x").unwrap_err();
        assert!(
            err.to_string().contains("GET /v1/reviews/{case_no} ×3"),
            "{err}"
        );
        let mut before = after.clone();
        if let Some(t) = before.get_mut("GET /v1/reviews/{case_no}") {
            t.calls = 3.0;
            t.errors = 3.0;
            t.seconds = 0.0;
        }
        let calls = calls_between(&before, &after, 2, "x").unwrap();
        assert_eq!(calls[0].call, "GET /v1/reviews/{case_no}");
        assert_eq!(calls[0].per_load, 20.0);
        assert!((calls[0].mean_ms - 86.0 / 40.0).abs() < 1e-9);
    }
}
