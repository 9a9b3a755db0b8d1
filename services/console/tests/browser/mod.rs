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
        let mut child = Command::new(exe)
            .arg(format!("--port={port}"))
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

pub async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("a screenshot");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).expect("written");
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

/// The page's visible text.
pub async fn text(c: &Client) -> String {
    c.find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap_or_default()
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
