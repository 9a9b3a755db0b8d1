//! Calls to the petitioner routes (intake's `GET /v1/query/{code}`, review's `POST /v1/reviews`
//! and `POST /v1/evaluations`), which take no token: the query code is the credential. Two
//! things the staff backend does not do: the petitioner's address is passed on in
//! `X-Forwarded-For` (the services' rate limits count failures per client; without it every
//! petitioner would count as the console's one address, and the services believe it only
//! from `http.trusted_proxies`), and a `429`'s `Retry-After` is kept, to tell the wait.
//! Nothing here logs a path or a body: both carry the query code or the ID number.

use reqwest::Method;
use serde_json::Value;

use crate::backend::{CallOptions, Service};
use crate::state::AppState;

/// A refusal, as the service gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub field: Option<String>,
    /// Seconds to wait, from `Retry-After`.
    pub retry_after: Option<u64>,
}

impl Refusal {
    /// What the petitioner reads: plain Chinese, with the wait for a rate limit.
    pub fn words(&self) -> String {
        let wait = wait_words(self.retry_after);
        match (self.status, self.code.as_str()) {
            (_, "identity_mismatch") => {
                "身份证号码与登记时提供的不一致，请核对后重试。多次输入错误，该查询码将被暂时锁定。"
                    .into()
            }
            (_, "too_many_attempts") => {
                format!("身份证号码输入错误次数过多，该查询码已被暂时锁定，请{wait}再试。")
            }
            (429, _) => format!("操作过于频繁，请{wait}再试。"),
            (404, _) => "未找到该查询码对应的信访事项，请核对登记回执上的查询码。".into(),
            (_, "already_requested") => "您已经提出过该申请，无需重复提交。".into(),
            (_, "terminated") => {
                "该事项已经终结，复核意见为最终意见，不再受理复查、复核申请。".into()
            }
            (_, "already_final") => {
                "申请期限届满未提出申请，处理意见已经生效，不能再申请复查、复核。".into()
            }
            (_, "not_allowed") => "该事项目前所处的办理阶段不能提出这项申请。".into(),
            (_, "review_needs_handling_opinion") => {
                "该事项尚未出具并送达信访处理意见书，暂不能申请复查。".into()
            }
            (_, "review_window_closed") => {
                "申请复查的期限（收到处理意见书之日起30日内）已过。".into()
            }
            (_, "rereview_window_closed") => {
                "申请复核的期限（收到复查意见之日起30日内）已过。".into()
            }
            (_, "opinion_sent_back") => {
                "原处理意见已被撤销或变更，正在重新办理；新的处理意见送达后，可再提出申请。".into()
            }
            (_, "review_organ_outside_system") => {
                "受理该申请的上级机关不在本系统内，请向信访部门当面或书面提出申请。".into()
            }
            (_, "already_evaluated") => "该事项已经评价过，每件事项只能评价一次。".into(),
            (_, "not_served") => "处理意见尚未送达，送达后才能评价。".into(),
            (_, "evaluation_window_closed") => "评价期限已过。".into(),
            (422, rule) => {
                let field = self.field.as_deref().map(field_zh).unwrap_or("填写的内容");
                match (self.field.as_deref(), rule) {
                    (Some("reason"), "required" | "reason_required") => {
                        "选择“不满意”时，请填写理由。".into()
                    }
                    (_, "too_long") => format!("{field}过长，请精简后再提交。"),
                    _ => format!("{field}不符合要求，请核对后重试。"),
                }
            }
            (503, _) => "系统暂时无法连接，请稍后再试。".into(),
            (status, _) => format!("提交未成功（{status}），请稍后再试或联系信访部门。"),
        }
    }
}

/// `30秒后` / `5分钟后` / `稍后`.
pub fn wait_words(secs: Option<u64>) -> String {
    match secs {
        Some(s) if s < 60 => format!("{}秒后", s.max(1)),
        Some(s) => format!("{}分钟后", s.div_ceil(60)),
        None => "稍后".into(),
    }
}

fn field_zh(field: &str) -> &'static str {
    match field {
        "query_code" => "查询码",
        "id_number" => "身份证号码",
        "grounds" => "请求和理由",
        "level" => "申请类别",
        "bureau" => "对信访部门的评价",
        "unit" => "对责任单位的评价",
        "reason" => "理由",
        _ => "填写的内容",
    }
}

pub use crate::backend::forwarded_for;

pub async fn call(
    state: &AppState,
    forwarded: &str,
    method: Method,
    service: Service,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, Refusal> {
    let opts = CallOptions {
        token: None,
        forwarded_for: Some(forwarded),
    };
    state
        .backend
        .request(method, service, path, body, opts)
        .await
        .map_err(|f| Refusal {
            status: f.status,
            code: f.code,
            message: if f.status == 503 {
                String::new()
            } else {
                f.message
            },
            field: f.field,
            retry_after: f.retry_after,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;
    use std::net::SocketAddr;

    fn refusal(status: u16, code: &str, field: Option<&str>, retry_after: Option<u64>) -> Refusal {
        Refusal {
            status,
            code: code.into(),
            message: "x".into(),
            field: field.map(str::to_owned),
            retry_after,
        }
    }

    #[test]
    fn refusals_read_in_chinese_with_the_wait() {
        assert_eq!(wait_words(Some(42)), "42秒后");
        assert_eq!(wait_words(Some(61)), "2分钟后");
        assert_eq!(wait_words(None), "稍后");
        let r = refusal(429, "rate_limited", None, Some(30));
        assert_eq!(r.words(), "操作过于频繁，请30秒后再试。");
        let r = refusal(429, "too_many_attempts", Some("id_number"), Some(3600));
        assert!(r.words().contains("60分钟后"), "{}", r.words());
        let r = refusal(403, "identity_mismatch", Some("id_number"), None);
        assert!(r.words().contains("身份证号码"));
        let r = refusal(422, "required", Some("reason"), None);
        assert!(r.words().contains("理由"));
        let r = refusal(422, "format", Some("query_code"), None);
        assert!(r.words().starts_with("查询码"));
    }

    #[test]
    fn the_client_address_is_appended_to_what_came_before() {
        let peer: SocketAddr = "192.0.2.7:5000".parse().unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(forwarded_for(peer, &h), "192.0.2.7");
        h.insert("x-forwarded-for", "198.51.100.1".parse().unwrap());
        assert_eq!(forwarded_for(peer, &h), "198.51.100.1, 192.0.2.7");
    }
}
