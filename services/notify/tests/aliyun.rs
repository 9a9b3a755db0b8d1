//! The Alibaba Cloud SMS provider against a local stand-in for dysmsapi that checks the RPC
//! signature of every request the way the service does, and answers with its result codes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Query, State};
use serde_json::{Value, json};
use xinfang_notify::notice::Notice;
use xinfang_notify::providers::aliyun::{AliyunSms, signature};
use xinfang_notify::providers::{SendError, SmsMessage, SmsProvider};
use xinfang_notify::settings::AliyunSettings;
use xinfang_platform::config::Secret;

type Seen = Arc<Mutex<Vec<BTreeMap<String, String>>>>;

async fn dysmsapi(
    State(seen): State<Seen>,
    Query(mut q): Query<BTreeMap<String, String>>,
) -> Json<Value> {
    let given = q.remove("Signature").unwrap_or_default();
    let expected = signature("key-secret", "GET", &q);
    seen.lock().unwrap().push(q.clone());
    if given != expected {
        return Json(json!({"Code": "SignatureDoesNotMatch", "Message": "bad signature"}));
    }
    match q.get("PhoneNumbers").map(String::as_str) {
        Some("13800000001") => Json(json!({
            "Code": "isv.MOBILE_NUMBER_ILLEGAL",
            "Message": "mobile 13800000001 is illegal",
            "RequestId": "r1"
        })),
        Some("13800000002") => Json(json!({
            "Code": "isv.BUSINESS_LIMIT_CONTROL",
            "Message": "flow control",
            "RequestId": "r2"
        })),
        _ => Json(
            json!({"Code": "OK", "Message": "OK", "BizId": "900619746936498440^0", "RequestId": "r3"}),
        ),
    }
}

#[tokio::test]
async fn send_sms_is_signed_and_results_are_classified() {
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .route("/", axum::routing::get(dysmsapi))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let mut templates = BTreeMap::new();
    templates.insert("receipt".to_owned(), "SMS_000001".to_owned());
    let provider = AliyunSms::new(AliyunSettings {
        endpoint: format!("http://{addr}/"),
        access_key_id: "key-id".into(),
        access_key_secret: Secret::new("key-secret"),
        sign_name: "测试市信访局".into(),
        templates,
        param_max_chars: 10,
        ..Default::default()
    })
    .unwrap();
    let params: BTreeMap<String, String> = [
        ("case_no", "XF-411202-2026-000123"),
        ("query_code", "Q7K9M2XA"),
        ("note", "空 *+/&=~%"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let msg = |to: &'static str, notice: Notice| SmsMessage {
        id: uuid::Uuid::now_v7(),
        to,
        text: "unused by template providers",
        notice,
        params: &params,
    };

    let id = provider
        .send(msg("13900000000", Notice::Receipt))
        .await
        .unwrap();
    assert_eq!(id.as_deref(), Some("900619746936498440^0"));
    let q = seen.lock().unwrap()[0].clone();
    assert_eq!(q["Action"], "SendSms");
    assert_eq!(q["SignName"], "测试市信访局");
    assert_eq!(q["TemplateCode"], "SMS_000001");
    assert_eq!(q["SignatureMethod"], "HMAC-SHA1");
    let tp: BTreeMap<String, String> = serde_json::from_str(&q["TemplateParam"]).unwrap();
    assert_eq!(tp["query_code"], "Q7K9M2XA");
    assert_eq!(
        tp["case_no"].chars().count(),
        10,
        "params clipped to param_max_chars"
    );
    assert_eq!(
        tp["note"], "空 *+/&=~%",
        "reserved characters survive signing"
    );

    let err = provider
        .send(msg("13800000001", Notice::Receipt))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SendError::Permanent(m) if m.contains("MOBILE_NUMBER_ILLEGAL")),
        "{err}"
    );
    assert!(
        !err.to_string().contains("13800000001"),
        "number masked: {err}"
    );
    let err = provider
        .send(msg("13800000002", Notice::Receipt))
        .await
        .unwrap_err();
    assert!(matches!(err, SendError::Transient(_)), "{err}");
    let err = provider
        .send(msg("13900000000", Notice::Accepted))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SendError::Permanent(m) if m.contains("templates.accepted")),
        "{err}"
    );

    // A wrong secret is refused by the stand-in, proving it really checks.
    let wrong = AliyunSms::new(AliyunSettings {
        endpoint: format!("http://{addr}/"),
        access_key_id: "key-id".into(),
        access_key_secret: Secret::new("other"),
        sign_name: "测试市信访局".into(),
        templates: [("receipt".to_owned(), "SMS_000001".to_owned())].into(),
        ..Default::default()
    })
    .unwrap();
    let err = wrong
        .send(msg("13900000000", Notice::Receipt))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SendError::Permanent(m) if m.contains("SignatureDoesNotMatch")),
        "{err}"
    );
}
