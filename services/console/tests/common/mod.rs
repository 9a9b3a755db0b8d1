//! The whole system on the real NATS, Postgres and Redis, with bearer-token checks on, plus
//! the console; and a browser-less client that signs in and submits forms as a browser would
//! (cookies, the page's CSRF token).
#![allow(dead_code)]

use std::net::SocketAddr;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use xinfang_console::backend::ServiceUrls;
use xinfang_console::users::NewUser;
use xinfang_platform::testing::TestEnv;

pub const PASSWORD: &str = "test-password-1";

pub struct Stack {
    pub env: TestEnv,
    pub console: SocketAddr,
    pub urls: ServiceUrls,
    pub state: xinfang_console::state::AppState,
}

impl Stack {
    /// Everything up; `services_toml` adds sections (e.g. `[console]` limits).
    pub async fn start(services_toml: &str) -> Stack {
        let toml = format!(
            "[routing]\noperator = \"tester\"\nhold_for_triage = false\n[review]\nsweep_enabled = false\n[console]\nport = 0\n{services_toml}"
        );
        let env = TestEnv::start(|p| p.security.auth_required = true, &toml)
            .await
            .expect("local NATS, Postgres and Redis must be running");
        let intake = xinfang_intake::service::start(env.infra.clone())
            .await
            .unwrap();
        let routing = xinfang_routing::service::start(env.infra.clone())
            .await
            .unwrap();
        let supervision = xinfang_supervision::service::start(env.infra.clone())
            .await
            .unwrap();
        let review = xinfang_review::service::start(env.infra.clone())
            .await
            .unwrap();
        let notify = xinfang_notify::service::start(env.infra.clone())
            .await
            .unwrap();
        let urls = ServiceUrls {
            intake: format!("http://{}", intake.http),
            routing: format!("http://{}", routing.http),
            supervision: format!("http://{}", supervision.http),
            review: format!("http://{}", review.http),
            notify: format!("http://{}", notify.http),
        };
        let console = xinfang_console::service::start(env.infra.clone(), urls.clone())
            .await
            .unwrap();
        Stack {
            env,
            console: console.http,
            urls,
            state: console.state,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.console)
    }

    /// Creates an account with [`PASSWORD`]; `dept` for department users.
    pub async fn user(&self, username: &str, role: &str, scope: &str, dept: Option<&str>) {
        let created = self
            .state
            .users
            .create(&NewUser {
                username: username.into(),
                display_name: format!("测试{username}"),
                password: PASSWORD.into(),
                role: role.into(),
                scope: scope.into(),
                department: dept.map(str::to_owned),
            })
            .await
            .unwrap();
        assert_eq!(created, Ok(true), "user {username}");
    }

    /// A browser-less client signed in as `username`.
    pub async fn sign_in(&self, username: &str) -> Browser {
        let mut b = Browser::new(self.console);
        let (status, location) = b.sign_in(username, PASSWORD).await;
        assert_eq!(status, 303, "sign-in of {username}");
        assert_ne!(location, "/login", "sign-in of {username}");
        b
    }

    pub async fn stop(self) {
        self.env.stop().await;
    }
}

/// Cookies and the last page's CSRF token, as a browser holds them.
pub struct Browser {
    pub base: String,
    http: reqwest::Client,
    pub cookies: Vec<(String, String)>,
    pub csrf: String,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

impl Browser {
    pub fn new(addr: SocketAddr) -> Browser {
        Browser {
            base: format!("http://{addr}"),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
            csrf: String::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, resp: &reqwest::Response) {
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
    }

    async fn finish(&mut self, resp: reqwest::Response) -> Page {
        self.keep(&resp);
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        let body = resp.text().await.unwrap_or_default();
        if let Some(t) = csrf_in(&body) {
            self.csrf = t;
        }
        Page {
            status,
            location,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.finish(resp).await
    }

    /// Submits a form with the CSRF token of the last page seen.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
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
            .unwrap();
        self.finish(resp).await
    }

    /// Signs in through the form; the status and where it sends the browser.
    pub async fn sign_in(&mut self, username: &str, password: &str) -> (u16, String) {
        self.get("/login").await;
        let p = self
            .post("/login", &[("username", username), ("password", password)])
            .await;
        (p.status, p.location.unwrap_or_default())
    }
}

/// The value of the first `name="_csrf"` field of a page.
pub fn csrf_in(html: &str) -> Option<String> {
    let i = html.find("name=\"_csrf\" value=\"")?;
    let rest = &html[i + "name=\"_csrf\" value=\"".len()..];
    Some(rest[..rest.find('"')?].to_owned())
}
