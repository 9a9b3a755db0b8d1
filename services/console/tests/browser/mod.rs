//! Debian's Chromium, headless, driven over WebDriver (Debian's chromedriver, installed by
//! infra/test-tools.sh). Each test starts its own chromedriver on a free port and its own
//! empty profile; nothing is downloaded.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

pub struct Driver {
    child: Child,
    pub port: u16,
    profiles: Vec<PathBuf>,
}

impl Driver {
    pub async fn start() -> Driver {
        let exe =
            std::env::var("XF_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        assert!(
            std::path::Path::new(&exe).exists(),
            "{exe} is missing: run infra/test-tools.sh (installs Debian's chromium-driver)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(exe);
        cmd.arg(format!("--port={port}"));
        // For a failure that needs chromedriver's own account of it.
        if let Ok(log) = std::env::var("XF_CHROMEDRIVER_LOG") {
            cmd.arg(format!("--log-path={log}")).arg("--verbose");
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        // Ready when it answers /status.
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if let Ok(r) = http
                .get(format!("http://127.0.0.1:{port}/status"))
                .send()
                .await
                && r.status().is_success()
            {
                return Driver {
                    child,
                    port,
                    profiles: Vec::new(),
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("chromedriver did not answer on port {port}");
    }

    /// A new headless Chromium; `phone` emulates a 360-px-wide phone screen.
    pub async fn browser(&mut self, phone: bool) -> Client {
        let profile = std::env::temp_dir().join(format!("xf-chromium-{}", uuid::Uuid::now_v7()));
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            format!("--user-data-dir={}", profile.display()),
            "--lang=zh-CN".into(),
        ];
        if !phone {
            args.push("--window-size=1280,900".into());
        }
        let mut opts = json!({"binary": "/usr/bin/chromium", "args": args});
        if phone {
            opts["mobileEmulation"] = json!({
                "deviceMetrics": {"width": 360, "height": 740, "pixelRatio": 2.0, "touch": true}
            });
        }
        self.profiles.push(profile);
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), opts);
        // chromedriver on 127.0.0.1 speaks plain HTTP: no TLS stack needed.
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for p in &self.profiles {
            // A test that panicked never closed its session: Chromium outlives chromedriver.
            // Its command line names the profile, which is this run's own.
            let _ = Command::new("pkill")
                .args([
                    "-KILL",
                    "-f",
                    "--",
                    &format!("user-data-dir={}", p.display()),
                ])
                .status();
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

/// Where screenshots go: `XF_SCREENSHOTS` or target/console-screenshots.
pub fn screenshot_dir() -> PathBuf {
    let dir = std::env::var("XF_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            xinfang_platform::testing::repo_root().join("target/console-screenshots")
        });
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

/// A PNG of the whole page (up to 4000 CSS pixels tall), as wide as the page's content so a
/// horizontal overflow shows; the visible part only if the DevTools call fails.
pub async fn screenshot(c: &Client, name: &str) {
    let size = c
        .execute(
            "const d = document.documentElement; \
             return [Math.max(d.scrollWidth, window.innerWidth), Math.min(d.scrollHeight, 4000)];",
            vec![],
        )
        .await
        .ok()
        .and_then(|v| Some((v[0].as_f64()?, v[1].as_f64()?)));
    let png = match size {
        Some((w, h)) => c
            .issue_cmd(Cdp {
                cmd: "Page.captureScreenshot",
                params: json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": {"x": 0, "y": 0, "width": w, "height": h, "scale": 1},
                }),
            })
            .await
            .ok()
            .and_then(|v| v["data"].as_str().map(str::to_owned))
            .and_then(|b| {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.decode(b).ok()
            }),
        None => None,
    };
    let png = match png {
        Some(p) => p,
        None => c.screenshot().await.expect("a screenshot"),
    };
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).expect("written");
}

/// A Chrome DevTools command through chromedriver's `goog/cdp/execute`.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(json!({"cmd": self.cmd, "params": self.params}).to_string()),
        )
    }
}

/// Fills a field (by id) with `value`, replacing what it held.
pub async fn fill(c: &Client, id: &str, value: &str) {
    let e = c
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("field #{id}: {e}"));
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

/// The page's visible text; empty while a new page is still arriving.
pub async fn text(c: &Client) -> String {
    match c.find(Locator::Css("body")).await {
        Ok(body) => body.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

pub async fn sign_in(c: &Client, base: &str, username: &str, password: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(c, "username", username).await;
    fill(c, "password", password).await;
    c.find(Locator::Css("form[action='/login'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Signs in with the keyboard alone, as a user without a mouse would: the user name field has
/// the focus when the page opens, Tab moves to the password, Enter submits.
pub async fn sign_in_by_keyboard(c: &Client, base: &str, username: &str, password: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    let focused = c.active_element().await.expect("a focused field");
    assert_eq!(
        focused.attr("id").await.unwrap().as_deref(),
        Some("username"),
        "the sign-in page opens with the user name field focused"
    );
    // WebDriver's Tab and Enter keys.
    focused
        .send_keys(&format!("{username}\u{E004}{password}\u{E007}"))
        .await
        .unwrap();
}

/// Signs out with the page's 退出 button.
pub async fn sign_out(c: &Client) {
    click(c, "form.signout button[type=submit]").await;
    wait_path(c, "/login", 10).await;
}

/// Clicks the first element matching `css`.
pub async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// Follows the link reading `link_text`.
pub async fn follow(c: &Client, link_text: &str) {
    c.find(Locator::LinkText(link_text))
        .await
        .unwrap_or_else(|e| panic!("link “{link_text}”: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("follow “{link_text}”: {e}"));
}

/// Waits up to `secs` for an element with `id` (a page that has arrived).
pub async fn wait_element(c: &Client, id: &str, secs: u64) {
    c.wait()
        .at_most(Duration::from_secs(secs))
        .for_element(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id} after {secs}s: {e}"));
}

/// Submits the form posting to `action` with its submit button.
pub async fn submit(c: &Client, action: &str) {
    click(c, &format!("form[action='{action}'] button[type=submit]")).await;
}

/// Chooses `value` in the select `id`.
pub async fn choose(c: &Client, id: &str, value: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("select #{id}: {e}"))
        .select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("#{id} = {value}: {e}"));
}

/// Sets a date input: what keys type into one depends on the browser's locale, so the value
/// is set as a date picker would set it.
pub async fn set_date(c: &Client, id: &str, yyyy_mm_dd: &str) {
    c.execute(
        "const e = document.getElementById(arguments[0]); e.value = arguments[1]; \
         e.dispatchEvent(new Event('change', {bubbles: true})); return e.value;",
        vec![json!(id), json!(yyyy_mm_dd)],
    )
    .await
    .unwrap_or_else(|e| panic!("date #{id}: {e}"));
}

/// Opens every closed `<details>` around field `id` by clicking its summary, as a user would
/// before filling the field in.
pub async fn reveal(c: &Client, id: &str) {
    let xpath = format!("//*[@id='{id}']/ancestor::details");
    for d in c.find_all(Locator::XPath(&xpath)).await.unwrap() {
        if d.attr("open").await.unwrap().is_none() {
            d.find(Locator::XPath("./summary"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
        }
    }
}

/// Polls `f` every 100 ms for up to `secs`; panics naming `what` on timeout.
pub async fn poll(what: &str, secs: u64, mut f: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !f().await {
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {secs}s waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits up to `secs` for the page's visible text to contain `needle`; returns the text.
pub async fn wait_text(c: &Client, needle: &str, secs: u64) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let t = text(c).await;
        if t.contains(needle) {
            return t;
        }
        if tokio::time::Instant::now() > deadline {
            let url = c
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            panic!("{url}: no “{needle}” after {secs}s in:\n{t}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reloads `url` until its text contains `needle` (a page without live updates).
pub async fn reload_until(c: &Client, url: &str, needle: &str, secs: u64) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        c.goto(url).await.unwrap();
        let t = text(c).await;
        if t.contains(needle) {
            return t;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("{url}: no “{needle}” after {secs}s in:\n{t}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits up to `secs` for the browser to be on a path starting with `prefix`; returns the path.
pub async fn wait_path(c: &Client, prefix: &str, secs: u64) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let url = c.current_url().await.unwrap();
        if url.path().starts_with(prefix) {
            return url.path().to_owned();
        }
        if tokio::time::Instant::now() > deadline {
            panic!("still on {url} after {secs}s, expected {prefix}…");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The browser's cookies as a `Cookie:` header, to ask the console what it answers them.
pub async fn cookie_header(c: &Client) -> String {
    c.get_all_cookies()
        .await
        .unwrap()
        .iter()
        .map(|k| format!("{}={}", k.name(), k.value()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The page's content width and the window's width, in CSS pixels.
pub async fn widths(c: &Client) -> (u64, u64) {
    let v = c
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    (v[0].as_u64().unwrap(), v[1].as_u64().unwrap())
}
