//! Rate limits on the routes petitioners reach with a query code (查询码), so codes cannot be
//! enumerated and one code cannot be hammered: intake's `GET /v1/query/{query_code}`, review's
//! `POST /v1/reviews` and `POST /v1/evaluations`.
//!
//! Two fixed-window counters in Redis (shared by every instance of a service), both
//! [`FailedAttempts`] under `<redis.key_prefix>:limit:<service>:`:
//!
//! * per client address (`addr:<ip>`, IPv6 by its /64): requests that *fail* — answered
//!   `403` (wrong ID number), `404` (no such query code) or `429` — at most `per_address` per
//!   window. A request is counted before it is handled (so concurrent guesses cannot overshoot)
//!   and the count is taken back when the answer is anything else, so a reception hall or a
//!   mobile network behind one NAT address can serve any number of petitioners who type their
//!   codes right, while enumeration (almost every guess a `404`) stops after `per_address`.
//! * per query code (`code:<code>`): every request naming the code, at most `per_code` per
//!   window from all addresses together (someone cycling addresses on one code).
//!
//! Over a limit the answer is `429` with `Retry-After` (seconds left in the window) and
//! `{"error": {"code": "rate_limited", "message": …}}`. Requests that carry no query code (a
//! clerk's review request) are not limited here.
//!
//! The client address is the TCP peer (axum's `ConnectInfo`, which [`crate::http::serve`]
//! provides). When the peer is one of `http.trusted_proxies`, `X-Forwarded-For` is believed:
//! the client is the nearest hop that is not itself a trusted proxy. With no trusted proxies
//! (the default) the header is ignored, so a client cannot choose its own address.
//!
//! If Redis cannot be reached (an error, or no answer within 1 s) the request is let through
//! (fail open), and so are all requests of the next 5 s without asking Redis, with a warning
//! (at most one every 10 s) and `xf_rate_limit_errors_total`: petitioners keep getting answers
//! during a Redis outage, and a 39-bit query code space cannot be enumerated in the minutes an
//! outage lasts. The secret that *is* small — the ID number behind a code — stays guarded by review's
//! ID-number lockout, which fails closed.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::header::{CONTENT_LENGTH, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

use crate::attempts::{FailedAttempts, Locked};
use crate::http_error::error_response;
use crate::http_json::BodyError;

/// How long a Redis call may take before the request is let through without it.
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);

/// After Redis failed, how long requests skip it (so an outage costs one timeout per period,
/// not one per request).
const REDIS_RETRY_AFTER: Duration = Duration::from_secs(5);

/// A service's limits on its petitioner routes (`[intake.rate_limit]`, `[review.rate_limit]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Length of the fixed window both limits count in, seconds.
    pub window_secs: u64,
    /// Failed requests (403, 404, 429) from one client address per window (0: no limit).
    pub per_address: u32,
    /// Requests naming one query code per window, from all addresses (0: no limit).
    pub per_code: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            window_secs: 60,
            per_address: 30,
            per_code: 20,
        }
    }
}

impl RateLimitSettings {
    /// Checks what serde cannot; `key` names the section in the error (`intake.rate_limit`).
    pub fn validate(&self, key: &str) -> anyhow::Result<()> {
        if !(1..=86_400).contains(&self.window_secs) {
            anyhow::bail!("{key}.window_secs: must be between 1 and 86400");
        }
        Ok(())
    }
}

/// An address or a network (`10.0.0.0/8`, `fd00::/8`, `192.0.2.7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    fn parse(raw: &str) -> Result<Net, String> {
        let raw = raw.trim();
        let (addr, prefix) = match raw.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (raw, None),
        };
        let addr = canonical(
            addr.parse::<IpAddr>()
                .map_err(|_| format!("`{raw}` is not an IP address or network"))?,
        );
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{raw}`: the prefix length must be 0 to {max}"))?,
            None => max,
        };
        Ok(Net { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(i) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(i) & mask
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.7`, what a dual-stack listener reports) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The reverse proxies whose `X-Forwarded-For` is believed (`http.trusted_proxies`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Net>);

impl TrustedProxies {
    /// Parses addresses and CIDR networks; the error names the bad entry.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| Net::parse(e.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// The client of a request that arrived from `peer`: the peer itself unless it is a
    /// trusted proxy; then, walking `X-Forwarded-For` from the nearest hop, the first hop that
    /// is not a trusted proxy (or the farthest trusted one, when a hop cannot be read or all
    /// are trusted). Hops left of the client are the client's own claims and never read.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return client;
        }
        let values: Vec<String> = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        let hops = values
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|h| !h.is_empty());
        for hop in hops.rev() {
            let Some(ip) = parse_hop(hop) else {
                return client;
            };
            client = ip;
            if !self.trusts(ip) {
                return client;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: `192.0.2.7`, `192.0.2.7:5678`, `2001:db8::1`, `[2001:db8::1]:80`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(canonical)
}

/// The counter key of a client: IPv4 as is, IPv6 by its /64 (one subscriber's usual share).
pub fn address_key(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let net = Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64));
            format!("{net}/64")
        }
    }
}

/// A query code as counted: trimmed, 1–64 ASCII letters and digits (anything else is refused
/// by the handler as malformed and cannot name a case, so it is not counted per code).
fn code_key(raw: &str) -> Option<&str> {
    let c = raw.trim();
    (!c.is_empty() && c.len() <= 64 && c.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(c)
}

/// A route the limits guard: its method, its path template as routed
/// (`/v1/query/{query_code}`) and where it carries the query code.
#[derive(Debug, Clone)]
pub struct Guarded {
    pub method: Method,
    pub path: &'static str,
    pub code: CodeAt,
}

impl Guarded {
    /// `GET path` with the code in the path parameter `param`.
    pub fn get(path: &'static str, param: &'static str) -> Self {
        Self {
            method: Method::GET,
            path,
            code: CodeAt::Path(param),
        }
    }

    /// `POST path` with the code in the JSON body's `field` (bodies up to `max_bytes`).
    pub fn post(path: &'static str, field: &'static str, max_bytes: usize) -> Self {
        Self {
            method: Method::POST,
            path,
            code: CodeAt::Body { field, max_bytes },
        }
    }
}

/// Where a route carries its query code.
#[derive(Debug, Clone, Copy)]
pub enum CodeAt {
    /// A path parameter, e.g. `query_code` of `/v1/query/{query_code}`.
    Path(&'static str),
    /// A top-level string field of a JSON body of at most `max_bytes`.
    Body {
        field: &'static str,
        max_bytes: usize,
    },
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    Address,
    Code,
}

impl Limit {
    fn label(self) -> &'static str {
        match self {
            Limit::Address => "address",
            Limit::Code => "code",
        }
    }
}

/// What one counter said about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admit {
    /// Counted and within the limit.
    Counted,
    /// Not counted: no limit configured, or Redis failed (fail open).
    Uncounted,
    Refused(Locked),
}

/// A service's two counters and its trusted proxies.
#[derive(Clone)]
pub struct RateLimiter {
    service: &'static str,
    by_address: FailedAttempts,
    by_code: FailedAttempts,
    proxies: Arc<TrustedProxies>,
    /// Unix milliseconds until which Redis is not asked (it failed).
    skip_redis_until: Arc<AtomicU64>,
    redis_retry_after: Duration,
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl RateLimiter {
    /// Counters under `<key_prefix>:limit:<service>:`.
    pub fn new(
        redis: ConnectionManager,
        key_prefix: &str,
        service: &'static str,
        settings: &RateLimitSettings,
        proxies: TrustedProxies,
    ) -> Self {
        let window = Duration::from_secs(settings.window_secs);
        let prefix = format!("{key_prefix}:limit:{service}:");
        Self {
            service,
            by_address: FailedAttempts::with_key_prefix(
                redis.clone(),
                format!("{prefix}addr:"),
                settings.per_address,
                window,
            ),
            by_code: FailedAttempts::with_key_prefix(
                redis,
                format!("{prefix}code:"),
                settings.per_code,
                window,
            ),
            proxies: Arc::new(proxies),
            skip_redis_until: Arc::default(),
            redis_retry_after: REDIS_RETRY_AFTER,
        }
    }

    /// How long requests go unlimited, without asking Redis, after a Redis call failed or
    /// timed out (5 s by default).
    pub fn redis_retry_after(mut self, after: Duration) -> Self {
        self.redis_retry_after = after;
        self
    }

    /// The middleware state guarding `routes` (use as
    /// `router.layer(axum::middleware::from_fn_with_state(limiter.guard(…), rate_limit::enforce))`
    /// after the routes are added); other routes pass untouched.
    pub fn guard(&self, routes: &[Guarded]) -> Gate {
        Gate {
            limiter: self.clone(),
            routes: routes.into(),
        }
    }

    /// The counter key of the request's client.
    fn client_key(&self, req: &Request) -> String {
        match req.extensions().get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(peer)) => address_key(self.proxies.client(peer.ip(), req.headers())),
            None => {
                static WARNED: AtomicBool = AtomicBool::new(false);
                if !WARNED.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        service = self.service,
                        "rate limit: the server gives no client address (serve with \
                         ConnectInfo); all clients share one address limit"
                    );
                }
                "unknown".to_owned()
            }
        }
    }

    async fn admit(&self, counter: &FailedAttempts, target: &str, limit: Limit) -> Admit {
        if counter.limit() == 0 || self.redis_skipped() {
            return Admit::Uncounted;
        }
        match tokio::time::timeout(REDIS_TIMEOUT, counter.hit(target)).await {
            Ok(Ok(Ok(_))) => Admit::Counted,
            Ok(Ok(Err(locked))) => {
                metrics::counter!("xf_rate_limited_total", "service" => self.service, "limit" => limit.label())
                    .increment(1);
                Admit::Refused(locked)
            }
            Ok(Err(e)) => {
                self.redis_failed(&format!("{e:#}"));
                Admit::Uncounted
            }
            Err(_) => {
                self.redis_failed("timed out");
                Admit::Uncounted
            }
        }
    }

    async fn refund(&self, target: &str) {
        if self.redis_skipped() {
            return;
        }
        match tokio::time::timeout(REDIS_TIMEOUT, self.by_address.refund(target)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.redis_failed(&format!("{e:#}")),
            Err(_) => self.redis_failed("timed out"),
        }
    }

    fn redis_skipped(&self) -> bool {
        now_ms() < self.skip_redis_until.load(Ordering::Relaxed)
    }

    /// Fail open: skip Redis for a while, count the error, warn at most every 10 s.
    fn redis_failed(&self, error: &str) {
        static LAST_WARNING: AtomicU64 = AtomicU64::new(0);
        let retry_ms = u64::try_from(self.redis_retry_after.as_millis()).unwrap_or(u64::MAX);
        self.skip_redis_until
            .store(now_ms().saturating_add(retry_ms), Ordering::Relaxed);
        metrics::counter!("xf_rate_limit_errors_total", "service" => self.service).increment(1);
        let now = now_ms() / 1000;
        let last = LAST_WARNING.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 10
            && LAST_WARNING
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                service = self.service,
                error,
                "rate limit: Redis unavailable; petitioner requests are let through unlimited"
            );
        }
    }
}

/// A [`RateLimiter`] and the routes it guards.
#[derive(Clone)]
pub struct Gate {
    limiter: RateLimiter,
    routes: Arc<[Guarded]>,
}

/// Answers that count against the client's address: a wrong ID number, an unknown code, and
/// refusals for going too fast.
fn is_failure(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND | StatusCode::TOO_MANY_REQUESTS
    )
}

/// `429` with `Retry-After` and the API's error shape.
fn refused(limit: Limit, locked: Locked) -> Response {
    let secs = locked.retry_after_secs.max(1);
    let message = match limit {
        Limit::Address => format!(
            "too many requests with unknown query codes from this address; try again in {secs} s"
        ),
        Limit::Code => format!("too many requests for this query code; try again in {secs} s"),
    };
    let mut response = error_response(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message, None);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(secs));
    response
}

/// The query code a request names, and the request to hand on (its body read and restored).
async fn take_code(at: CodeAt, req: Request) -> Result<(Request, Option<String>), Response> {
    match at {
        CodeAt::Path(name) => {
            let (mut parts, body) = req.into_parts();
            let code = RawPathParams::from_request_parts(&mut parts, &())
                .await
                .ok()
                .and_then(|params| {
                    params
                        .iter()
                        .find(|(k, _)| *k == name)
                        .and_then(|(_, v)| code_key(v))
                        .map(str::to_owned)
                });
            Ok((Request::from_parts(parts, body), code))
        }
        CodeAt::Body { field, max_bytes } => {
            let too_large = || {
                BodyError {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    code: "too_large",
                    message: format!("the request body is larger than {max_bytes} bytes"),
                    field: None,
                }
                .into_response()
            };
            let declared = req
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok());
            if declared.is_some_and(|n| n > max_bytes) {
                return Err(too_large());
            }
            let (parts, body) = req.into_parts();
            let bytes = axum::body::to_bytes(body, max_bytes)
                .await
                .map_err(|_| too_large())?;
            let code = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| {
                    v.get(field)
                        .and_then(|c| c.as_str())
                        .and_then(code_key)
                        .map(str::to_owned)
                });
            Ok((Request::from_parts(parts, Body::from(bytes)), code))
        }
    }
}

/// The middleware: see the module documentation.
pub async fn enforce(State(gate): State<Gate>, req: Request, next: Next) -> Response {
    let at = req.extensions().get::<MatchedPath>().and_then(|p| {
        gate.routes
            .iter()
            .find(|g| g.method == req.method() && g.path == p.as_str())
            .map(|g| g.code)
    });
    let Some(at) = at else {
        return next.run(req).await;
    };
    let (req, code) = match take_code(at, req).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let Some(code) = code else {
        return next.run(req).await;
    };
    let l = &gate.limiter;
    let addr = l.client_key(&req);
    let by_address = l.admit(&l.by_address, &addr, Limit::Address).await;
    if let Admit::Refused(locked) = by_address {
        tracing::debug!(service = l.service, client = %addr, "rate limited (address)");
        return refused(Limit::Address, locked);
    }
    if let Admit::Refused(locked) = l.admit(&l.by_code, &code, Limit::Code).await {
        // The address's count stands: hammering a code is not a right answer.
        tracing::debug!(service = l.service, client = %addr, "rate limited (query code)");
        return refused(Limit::Code, locked);
    }
    let response = next.run(req).await;
    if by_address == Admit::Counted && !is_failure(response.status()) {
        l.refund(&addr).await;
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn networks_parse_and_match() {
        let p = TrustedProxies::parse(&["10.0.0.0/8", "192.0.2.7", "fd00::/8"]).unwrap();
        assert!(p.trusts(ip("10.1.2.3")));
        assert!(p.trusts(ip("::ffff:10.1.2.3")));
        assert!(p.trusts(ip("192.0.2.7")));
        assert!(!p.trusts(ip("192.0.2.8")));
        assert!(p.trusts(ip("fd12::1")));
        assert!(!p.trusts(ip("fe80::1")));
        assert!(!p.trusts(ip("11.0.0.1")));
        assert!(
            TrustedProxies::parse(&["0.0.0.0/0"])
                .unwrap()
                .trusts(ip("8.8.8.8"))
        );
        for bad in [
            "10.0.0.0/33",
            "example.org",
            "10.0.0/8",
            "::/129",
            "1.2.3.4/x",
        ] {
            assert!(TrustedProxies::parse(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let none = TrustedProxies::default();
        let h = xff(&["198.51.100.9"]);
        // No trusted proxies: the header is the client's own claim.
        assert_eq!(none.client(ip("203.0.113.5"), &h), ip("203.0.113.5"));
        let p = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        // From an untrusted peer the header is ignored.
        assert_eq!(p.client(ip("203.0.113.5"), &h), ip("203.0.113.5"));
        // From the proxy: the nearest untrusted hop; what the client prepended is not read.
        let h = xff(&["1.1.1.1, 198.51.100.9, 10.0.0.2"]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("198.51.100.9"));
        // Several header lines are one list, in order.
        let h = xff(&["1.1.1.1", "198.51.100.9:4711"]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("198.51.100.9"));
        let h = xff(&["[2001:db8::7]:443"]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("2001:db8::7"));
        // Garbage left of the client is never reached; garbage nearer stops at the last proxy.
        let h = xff(&["garbage, 198.51.100.9"]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("198.51.100.9"));
        let h = xff(&["198.51.100.9, garbage, 10.0.0.2"]);
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("10.0.0.2"));
        // No header, or only proxies: the farthest proxy.
        assert_eq!(p.client(ip("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"));
        assert_eq!(
            p.client(ip("10.0.0.1"), &xff(&["10.9.9.9"])),
            ip("10.9.9.9")
        );
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        assert_eq!(address_key(ip("203.0.113.5")), "203.0.113.5");
        assert_eq!(address_key(ip("::ffff:203.0.113.5")), "203.0.113.5");
        assert_eq!(
            address_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            address_key(ip("2001:db8:1:2::1"))
        );
        assert_eq!(address_key(ip("2001:db8:1:2::1")), "2001:db8:1:2::/64");
        assert_ne!(
            address_key(ip("2001:db8:1:2::1")),
            address_key(ip("2001:db8:1:3::1"))
        );
    }

    #[test]
    fn only_well_formed_codes_are_counted() {
        assert_eq!(code_key(" AB12CD34 "), Some("AB12CD34"));
        assert_eq!(code_key(""), None);
        assert_eq!(code_key("AB 12"), None);
        assert_eq!(code_key("AB:12"), None);
        assert_eq!(code_key(&"A".repeat(65)), None);
    }

    #[test]
    fn settings_default_and_validate() {
        let s = RateLimitSettings::default();
        assert_eq!((s.window_secs, s.per_address, s.per_code), (60, 30, 20));
        assert!(s.validate("intake.rate_limit").is_ok());
        let bad = RateLimitSettings {
            window_secs: 0,
            ..s
        };
        let err = bad.validate("intake.rate_limit").unwrap_err().to_string();
        assert!(err.contains("intake.rate_limit.window_secs"), "{err}");
    }

    #[test]
    fn refusals_carry_retry_after_and_the_error_shape() {
        let r = refused(
            Limit::Code,
            Locked {
                retry_after_secs: 42,
            },
        );
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[RETRY_AFTER], "42");
        assert!(is_failure(StatusCode::NOT_FOUND));
        assert!(!is_failure(StatusCode::UNPROCESSABLE_ENTITY));
        assert!(!is_failure(StatusCode::OK));
    }
}
