//! The README's first command, from outside: `xinfang up` with the demo switch (as
//! infra/demo.sh runs it) on a test's own codes, database and free ports. Its banner names
//! the console and a demo account per role; the clerk's account signs in, and the printed
//! token registers a petition through the console's one origin.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use xinfang_platform::testing;

#[tokio::test]
async fn up_prints_the_console_and_demo_accounts_that_sign_in() {
    let (p, city, county) = testing::settings().await.unwrap();
    let dir_file = std::env::temp_dir().join(format!("xf-up-dir-{}.toml", uuid::Uuid::now_v7()));
    std::fs::write(&dir_file, testing::directory_toml(&city, &county)).unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_xinfang"));
    cmd.arg("up")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("XF_ENV")
        .env("XF__SECURITY__DEMO_TOKEN", "true")
        .env("XF__DEPLOYMENT__CITY", city.to_string())
        .env("XF__DEPLOYMENT__COUNTIES", format!("{city},{county}"))
        .env("XF__DATABASE__URL", p.database.url.expose())
        .env("XF__REDIS__KEY_PREFIX", &p.redis.key_prefix)
        .env("XF__PATHS__DIRECTORY", &dir_file)
        .env("XF__SECURITY__DATA_KEY", p.security.data_key.expose())
        .env("XF__SECURITY__HASH_KEY", p.security.hash_key.expose())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    for port in ["INTAKE", "ROUTING", "SUPERVISION", "REVIEW", "NOTIFY"] {
        cmd.env(format!("XF__HTTP__{port}_PORT"), "0");
    }
    cmd.env("XF__CONSOLE__PORT", "0");
    let mut child = cmd.spawn().expect("xinfang up starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(90), async {
        while let Ok(Some(line)) = lines.next_line().await {
            let done = line.contains("Stop with Ctrl-C");
            banner.push(line);
            if done {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "banner in time: {banner:#?}");
    let text = banner.join("\n");
    let console = banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("console:"))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the banner names the console")
        .trim_end_matches('/')
        .to_owned();
    let account = |user: &str| {
        banner
            .iter()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|w| w.first() == Some(&user) && w.len() >= 2)
            .map(|w| w[1].to_owned())
            .unwrap_or_else(|| panic!("no demo account {user} in {text}"))
    };
    for user in [
        "clerk",
        "rsj",
        "supervisor",
        "reviewer",
        "leader",
        "operator",
    ] {
        account(user);
    }
    let token = text
        .split("Bearer ")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .expect("the demo prints a clerk token")
        .to_owned();

    // The clerk signs in with the printed password and lands on the registration form.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = http.get(format!("{console}/login")).send().await.unwrap();
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    let page = login.text().await.unwrap();
    let csrf = page
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    let r = http
        .post(format!("{console}/login"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "_csrf={csrf}&username=clerk&password={}",
            account("clerk")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/clerk");
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("xf_session="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    let r = http
        .get(format!("{console}/clerk"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("身份证"));

    // The first petition, as the banner says, but through the console's one origin.
    let mut petition: serde_json::Value =
        serde_json::from_str(include_str!("../docs/examples/petition.json")).unwrap();
    petition["county"] = county.to_string().into();
    let r = http
        .post(format!("{console}/v1/petitions"))
        .bearer_auth(&token)
        .json(&petition)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // Ctrl-C: a clean stop.
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("stops after Ctrl-C")
        .unwrap();
    assert!(status.success(), "{status}");
    let _ = std::fs::remove_file(&dir_file);
    let _ = xinfang_platform::db::drop_database(&p.database).await;
}
