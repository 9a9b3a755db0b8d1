//! Guessing query codes is slowed (issue #12, item 4): `GET /v1/query/{query_code}` is
//! rate-limited per client address and per code, over the real Redis, Postgres and NATS.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{Value, json};
use xinfang_platform::host::Started;
use xinfang_platform::testing::TestEnv;

const ID: &str = "411203195202145284";

struct App {
    env: TestEnv,
    started: Started,
}

impl App {
    async fn start(trusted_proxies: &[&str], intake_toml: &str) -> App {
        let proxies: Vec<String> = trusted_proxies.iter().map(|p| p.to_string()).collect();
        let env = TestEnv::start(|p| p.http.trusted_proxies = proxies, intake_toml)
            .await
            .expect("local infrastructure");
        let started = xinfang_intake::service::start(env.infra.clone())
            .await
            .expect("intake starts");
        App { env, started }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.started.http)
    }

    /// Registers a petition and returns its query code.
    async fn register(&self) -> String {
        let r: Value = reqwest::Client::new()
            .post(self.url("/v1/petitions"))
            .json(&json!({
                "channel": "letter",
                "petitioner": {"name": "测试人", "id_number": ID, "mobile": "13800138000"},
                "text": "包工头拖欠我工资两万元一直不给，请求责令其支付。",
                "county": self.env.county.to_string(),
                "received_at": chrono::Utc::now(),
                "clerk_id": "clerk-1",
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["query_code"].as_str().expect("a query code").to_owned()
    }

    /// `GET /v1/query/{code}` from `127.0.0.<from>`, optionally forwarded for `xff`.
    async fn query(&self, from: u8, xff: Option<&str>, code: &str) -> reqwest::Response {
        let client = reqwest::Client::builder()
            .no_proxy()
            .local_address(IpAddr::from([127, 0, 0, from]))
            .build()
            .unwrap();
        let mut req = client.get(self.url(&format!("/v1/query/{code}")));
        if let Some(ip) = xff {
            req = req.header("x-forwarded-for", ip);
        }
        req.send().await.unwrap()
    }
}

/// A well-formed code no case has (the codes of the alphabet counted from `i`).
fn unknown(i: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    (0..8u32)
        .map(|k| ALPHABET[(i / 31usize.pow(k)) % 31] as char)
        .collect()
}

/// A 429 in the API's shape with a `Retry-After` of 1..=`window` seconds.
async fn assert_limited(r: reqwest::Response, window: u64) {
    assert_eq!(r.status().as_u16(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=window).contains(&retry), "Retry-After {retry}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
}

#[tokio::test]
async fn query_codes_are_limited_per_address_and_per_code_until_the_window_ends() {
    let app = App::start(
        &["127.0.0.1"],
        "[intake.rate_limit]\nwindow_secs = 5\nper_address = 3\nper_code = 4\n",
    )
    .await;
    let code = app.register().await;

    // Behind the trusted proxy (127.0.0.1) each forwarded address is a client of its own.
    let x = Some("198.51.100.1");
    for i in 0..3 {
        assert_eq!(app.query(1, x, &unknown(i)).await.status(), 404);
    }
    assert_limited(app.query(1, x, &unknown(3)).await, 5).await;
    // Once limited, the address gets nothing, not even a right code.
    assert_eq!(app.query(1, x, &code).await.status(), 429);

    // A different address is not affected.
    let y = Some("198.51.100.2");
    assert_eq!(app.query(1, y, &code).await.status(), 200);
    assert_eq!(app.query(1, y, &unknown(4)).await.status(), 404);
    // Nor is a client that is not behind the proxy.
    assert_eq!(app.query(2, None, &unknown(5)).await.status(), 404);

    // One code from ever new addresses: the per-code limit (4) trips across them.
    for ip in ["198.51.100.3", "198.51.100.4", "198.51.100.5"] {
        assert_eq!(app.query(1, Some(ip), &code).await.status(), 200, "{ip}");
    }
    assert_limited(app.query(1, Some("198.51.100.6"), &code).await, 5).await;
    assert_eq!(app.query(2, None, &code).await.status(), 429);

    // The window ends: both limits reset.
    tokio::time::sleep(Duration::from_millis(5100)).await;
    assert_eq!(app.query(1, x, &unknown(6)).await.status(), 404);
    assert_eq!(
        app.query(1, Some("198.51.100.6"), &code).await.status(),
        200
    );

    // The OpenAPI document lists the 429.
    let doc: Value = reqwest::get(app.url("/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let responses = &doc["paths"]["/v1/query/{query_code}"]["get"]["responses"];
    assert!(responses["429"].is_object(), "{responses}");
    assert!(
        responses["429"]["headers"]["Retry-After"].is_object(),
        "{responses}"
    );
    app.env.stop().await;
}

#[tokio::test]
async fn an_enumeration_is_stopped_by_the_default_limits() {
    // The outside probe: wrong codes as fast as they go, from one address, no configuration.
    let app = App::start(&[], "").await;
    let mut answered = 0;
    let mut refused = 0;
    for i in 0..60 {
        match app
            .query(1, None, &unknown(1000 + i))
            .await
            .status()
            .as_u16()
        {
            404 => answered += 1,
            429 => refused += 1,
            s => panic!("status {s}"),
        }
    }
    // `intake.rate_limit.per_address` defaults to 30 a minute.
    assert_eq!((answered, refused), (30, 30));
    // A forwarded-for header does not help without a trusted proxy.
    let r = app
        .query(1, Some("198.51.100.7"), &unknown(2000))
        .await
        .status();
    assert_eq!(r, 429);
    app.env.stop().await;
}

#[test]
fn every_petitioner_route_is_rate_limited() {
    use xinfang_platform::route_table::Access;
    let mut petitioner: Vec<(String, String)> = xinfang_intake::api::routes()
        .routes()
        .iter()
        .filter(|r| r.access == Access::Petitioner)
        .map(|r| (r.method().to_string(), r.path.clone()))
        .collect();
    let mut limited: Vec<(String, String)> = xinfang_intake::api::rate_limited_routes()
        .iter()
        .map(|g| (g.method.to_string(), g.path.to_owned()))
        .collect();
    petitioner.sort();
    limited.sort();
    assert!(!petitioner.is_empty());
    assert_eq!(petitioner, limited);
}
