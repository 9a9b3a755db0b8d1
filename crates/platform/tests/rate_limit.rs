//! The petitioner rate limits over the real Redis, served the way every service serves
//! (`http::serve`, with the peer address as `ConnectInfo`). Clients bind distinct loopback
//! addresses (127.0.0.x) to be distinct clients.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use xinfang_platform::config::{PlatformSettings, Secret};
use xinfang_platform::rate_limit::{self, Guarded, RateLimitSettings, RateLimiter, TrustedProxies};
use xinfang_platform::{http, redis, testing};

/// A stand-in for a petitioner route: codes starting with `GOOD` exist, others do not.
async fn lookup(Path(code): Path<String>) -> StatusCode {
    // Long enough that concurrent requests are in flight together.
    tokio::time::sleep(Duration::from_millis(20)).await;
    if code.starts_with("GOOD") {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    }
}

async fn evaluate(body: String) -> StatusCode {
    let v: Value = serde_json::from_str(&body).unwrap_or_default();
    match v["query_code"].as_str() {
        Some(c) if c.starts_with("GOOD") => StatusCode::CREATED,
        Some(_) => StatusCode::NOT_FOUND,
        None => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

struct Server {
    base: String,
    shutdown: CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Serves the stand-in routes behind a limiter on `p`'s Redis.
async fn serve(p: &PlatformSettings, limits: RateLimitSettings, proxies: &[&str]) -> Server {
    let conn = redis::connect(&p.redis).await.expect("redis");
    let limiter = RateLimiter::new(
        conn,
        &p.redis.key_prefix,
        "test",
        &limits,
        TrustedProxies::parse(proxies).expect("proxies"),
    );
    serve_with(limiter).await
}

/// Serves the stand-in routes behind `limiter`.
async fn serve_with(limiter: RateLimiter) -> Server {
    let gate = limiter.guard(&[
        Guarded::get("/v1/query/{query_code}", "query_code"),
        Guarded::post("/v1/evaluations", "query_code", 1024),
    ]);
    let app = Router::new()
        .route("/v1/query/{query_code}", get(lookup))
        .route("/v1/unguarded/{query_code}", get(lookup))
        .route("/v1/evaluations", post(evaluate))
        .layer(axum::middleware::from_fn_with_state(
            gate,
            rate_limit::enforce,
        ));
    let listener = http::bind("127.0.0.1", 0).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    tokio::spawn(http::serve(listener, app, shutdown.clone()));
    Server {
        base: format!("http://{addr}"),
        shutdown,
    }
}

/// A client whose requests come from `127.0.0.<n>`.
fn client(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(IpAddr::from([127, 0, 0, n]))
        .build()
        .expect("client")
}

fn limits(window_secs: u64, per_address: u32, per_code: u32) -> RateLimitSettings {
    RateLimitSettings {
        window_secs,
        per_address,
        per_code,
    }
}

async fn settings() -> PlatformSettings {
    testing::settings().await.expect("test settings").0
}

async fn status(c: &reqwest::Client, url: String) -> u16 {
    c.get(url).send().await.expect("sent").status().as_u16()
}

/// Asserts a 429 in the API's shape with a `Retry-After` of 1..=`window` seconds.
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
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("try again")
    );
}

#[tokio::test]
async fn unknown_codes_from_one_address_are_limited_and_right_ones_are_not() {
    let p = settings().await;
    let s = serve(&p, limits(60, 3, 100), &[]).await;
    let a = client(1);
    // Right codes are taken back from the count: any number of them.
    for i in 0..8 {
        assert_eq!(
            status(&a, format!("{}/v1/query/GOOD{i:04}", s.base)).await,
            200
        );
    }
    for i in 0..3 {
        assert_eq!(
            status(&a, format!("{}/v1/query/BAD{i:05}", s.base)).await,
            404
        );
    }
    let r = a
        .get(format!("{}/v1/query/BAD00003", s.base))
        .send()
        .await
        .unwrap();
    assert_limited(r, 60).await;
    // The address is refused whatever it asks for now, right codes included...
    let r = a
        .get(format!("{}/v1/query/GOOD0000", s.base))
        .send()
        .await
        .unwrap();
    assert_limited(r, 60).await;
    // ...on the guarded routes only.
    assert_eq!(
        status(&a, format!("{}/v1/unguarded/BAD00009", s.base)).await,
        404
    );
    // Another address is not affected.
    let b = client(2);
    assert_eq!(
        status(&b, format!("{}/v1/query/BAD00004", s.base)).await,
        404
    );
    assert_eq!(
        status(&b, format!("{}/v1/query/GOOD0001", s.base)).await,
        200
    );
}

#[tokio::test]
async fn one_code_is_limited_across_addresses() {
    let p = settings().await;
    let s = serve(&p, limits(60, 100, 3), &[]).await;
    for n in 1..=3 {
        assert_eq!(
            status(&client(n), format!("{}/v1/query/GOOD0042", s.base)).await,
            200,
            "from 127.0.0.{n}"
        );
    }
    let r = client(4)
        .get(format!("{}/v1/query/GOOD0042", s.base))
        .send()
        .await
        .unwrap();
    assert_limited(r, 60).await;
    // Other codes are not affected, from any of those addresses.
    assert_eq!(
        status(&client(4), format!("{}/v1/query/GOOD0043", s.base)).await,
        200
    );
    assert_eq!(
        status(&client(1), format!("{}/v1/query/GOOD0043", s.base)).await,
        200
    );
}

#[tokio::test]
async fn forwarded_for_names_the_client_only_behind_a_trusted_proxy() {
    let p = settings().await;
    let s = serve(&p, limits(60, 2, 100), &["127.0.0.1"]).await;
    let proxy = client(1);
    let via = |ip: &'static str, code: &str| {
        proxy
            .get(format!("{}/v1/query/{code}", s.base))
            .header("x-forwarded-for", ip)
            .send()
    };
    assert_eq!(via("198.51.100.1", "BAD00001").await.unwrap().status(), 404);
    assert_eq!(via("198.51.100.1", "BAD00002").await.unwrap().status(), 404);
    assert_limited(via("198.51.100.1", "BAD00003").await.unwrap(), 60).await;
    // Another client behind the same proxy is its own address.
    assert_eq!(via("198.51.100.2", "BAD00004").await.unwrap().status(), 404);
    // From an untrusted peer the header is ignored: changing it does not help.
    let direct = client(2);
    for (i, xff) in ["203.0.113.1", "203.0.113.2"].into_iter().enumerate() {
        let r = direct
            .get(format!("{}/v1/query/BAD0001{i}", s.base))
            .header("x-forwarded-for", xff)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    let r = direct
        .get(format!("{}/v1/query/BAD00019", s.base))
        .header("x-forwarded-for", "203.0.113.3")
        .send()
        .await
        .unwrap();
    assert_limited(r, 60).await;
}

#[tokio::test]
async fn the_window_resets() {
    let p = settings().await;
    let s = serve(&p, limits(1, 1, 100), &[]).await;
    let a = client(1);
    assert_eq!(
        status(&a, format!("{}/v1/query/BAD00001", s.base)).await,
        404
    );
    let r = a
        .get(format!("{}/v1/query/BAD00002", s.base))
        .send()
        .await
        .unwrap();
    assert_limited(r, 1).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        status(&a, format!("{}/v1/query/BAD00003", s.base)).await,
        404
    );
    assert_eq!(
        status(&a, format!("{}/v1/query/BAD00004", s.base)).await,
        429
    );
}

#[tokio::test]
async fn concurrent_guesses_cannot_overshoot_the_limit() {
    let p = settings().await;
    let s = serve(&p, limits(60, 5, 1000), &[]).await;
    let a = client(1);
    let guesses = (0..40).map(|i| {
        let a = a.clone();
        let url = format!("{}/v1/query/BAD{i:05}", s.base);
        async move { a.get(url).send().await.unwrap().status().as_u16() }
    });
    let statuses = futures::future::join_all(guesses).await;
    let answered = statuses.iter().filter(|s| **s == 404).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((answered, refused), (5, 35), "{statuses:?}");
}

#[tokio::test]
async fn codes_in_json_bodies_are_limited_and_requests_without_one_pass() {
    let p = settings().await;
    let s = serve(&p, limits(60, 100, 2), &[]).await;
    let a = client(1);
    let url = format!("{}/v1/evaluations", s.base);
    let send = |body: Value| a.post(&url).json(&body).send();
    for _ in 0..2 {
        let r = send(json!({"query_code": "GOOD0001", "bureau": "满意"}))
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let r = send(json!({"query_code": "GOOD0001"})).await.unwrap();
    assert_limited(r, 60).await;
    // The body reached the handler intact: a different code is answered on its merits.
    let r = send(json!({"query_code": "BAD00001"})).await.unwrap();
    assert_eq!(r.status(), 404);
    // No query code (a clerk's request): not limited.
    for _ in 0..5 {
        let r = send(json!({"case_no": "XF-411282-2026-000001"}))
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
    }
    // Oversized bodies are refused before they are buffered.
    let r = a
        .post(&url)
        .header("content-type", "application/json")
        .body(format!("{{\"query_code\": \"{}\"}}", "A".repeat(2000)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

/// Forwards TCP connections on `addr` (a free loopback port when `None`) to the local Redis
/// until stopped.
async fn redis_proxy(addr: Option<SocketAddr>) -> (SocketAddr, CancellationToken) {
    let listener = match addr {
        Some(a) => tokio::net::TcpListener::bind(a).await.unwrap(),
        None => tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    };
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let stop2 = stop.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop2.cancelled() => return,
                accepted = listener.accept() => {
                    let Ok((mut inbound, _)) = accepted else { return };
                    let stop3 = stop2.clone();
                    tokio::spawn(async move {
                        let Ok(mut outbound) = tokio::net::TcpStream::connect("127.0.0.1:6379").await else {
                            return;
                        };
                        tokio::select! {
                            _ = stop3.cancelled() => {}
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        }
                    });
                }
            }
        }
    });
    (addr, stop)
}

#[tokio::test]
async fn without_redis_petitioners_still_get_answers() {
    let (proxy, stop) = redis_proxy(None).await;
    let mut p = settings().await;
    p.redis.url = Secret::new(format!("redis://{proxy}"));
    let conn = redis::connect(&p.redis).await.expect("redis");
    let limiter = RateLimiter::new(
        conn,
        &p.redis.key_prefix,
        "test",
        &limits(60, 1, 100),
        TrustedProxies::default(),
    )
    .redis_retry_after(Duration::from_millis(1500));
    let s = serve_with(limiter).await;
    let a = client(1);
    let url = |i: u32| format!("{}/v1/query/BAD{i:05}", s.base);
    // Through the proxy the limit works...
    assert_eq!(status(&a, url(1)).await, 404);
    assert_eq!(status(&a, url(2)).await, 429);
    // ...and with Redis gone the requests are answered, unlimited: the first waits for Redis
    // at most a second, the next ones do not ask it.
    stop.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    assert_eq!(status(&a, url(3)).await, 404);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    for i in 4..9 {
        assert_eq!(status(&a, url(i)).await, 404);
    }
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    // Redis is back: the limit applies again (the address's count is still in it).
    let (_, _restarted) = redis_proxy(Some(proxy)).await;
    let mut answers = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let st = status(&a, url(100)).await;
        answers.push(st);
        if st == 429 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(answers.last(), Some(&429), "{answers:?}");
}
