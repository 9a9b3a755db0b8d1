//! Alibaba Cloud SMS (dysmsapi, `SendSms`, API version 2017-05-25), RPC style: every
//! parameter in the GET query string, signed with signature version 1.0 (HMAC-SHA1 over
//! `GET&%2F&` + percentEncode(canonicalized query), key = AccessKeySecret + "&"), as in the
//! public "签名机制" documentation of the SMS service.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::Deserialize;

use super::sha1::hmac_sha1;
use super::{SendError, SmsMessage, SmsProvider, classify_reqwest, clip};
use crate::mask;
use crate::settings::AliyunSettings;

/// POP percent-encoding: RFC 3986 unreserved characters (`A–Z a–z 0–9 - _ . ~`) stay,
/// every other byte of the UTF-8 encoding becomes `%XY` (upper-case hex); a space is
/// `%20`, never `+`.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parameters sorted by name (byte order), each `enc(name)=enc(value)`, joined by `&`.
/// A `Signature` parameter, if present, is left out.
pub fn canonicalized_query(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .filter(|(k, _)| k.as_str() != "Signature")
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `GET&%2F&` + percentEncode(canonicalized query).
pub fn string_to_sign(method: &str, params: &BTreeMap<String, String>) -> String {
    format!(
        "{method}&{}&{}",
        percent_encode("/"),
        percent_encode(&canonicalized_query(params))
    )
}

/// Base64 of HMAC-SHA1(AccessKeySecret + "&", StringToSign).
pub fn signature(
    access_key_secret: &str,
    method: &str,
    params: &BTreeMap<String, String>,
) -> String {
    let key = format!("{access_key_secret}&");
    STANDARD.encode(hmac_sha1(
        key.as_bytes(),
        string_to_sign(method, params).as_bytes(),
    ))
}

/// The signed query string: `Signature=<enc(sig)>&<canonicalized query>`.
pub fn signed_query(access_key_secret: &str, params: &BTreeMap<String, String>) -> String {
    format!(
        "Signature={}&{}",
        percent_encode(&signature(access_key_secret, "GET", params)),
        canonicalized_query(params)
    )
}

/// The SendSms parameters for one message.
pub fn send_sms_params(
    settings: &AliyunSettings,
    phone: &str,
    template_code: &str,
    template_param_json: &str,
    out_id: &str,
    nonce: &str,
    at: DateTime<Utc>,
) -> BTreeMap<String, String> {
    [
        ("AccessKeyId", settings.access_key_id.as_str()),
        ("Action", "SendSms"),
        ("Format", "JSON"),
        ("OutId", out_id),
        ("PhoneNumbers", phone),
        ("RegionId", settings.region_id.as_str()),
        ("SignName", settings.sign_name.as_str()),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", nonce),
        ("SignatureVersion", "1.0"),
        ("TemplateCode", template_code),
        ("TemplateParam", template_param_json),
        ("Timestamp", &at.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        ("Version", "2017-05-25"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SendSmsResponse {
    code: Option<String>,
    message: Option<String>,
    biz_id: Option<String>,
}

/// Codes worth retrying: throttling, flow control and the service's own faults.
fn transient_code(code: &str) -> bool {
    code.starts_with("Throttling")
        || code.starts_with("isp.")
        || matches!(
            code,
            "isv.BUSINESS_LIMIT_CONTROL"
                | "isv.DAY_LIMIT_CONTROL"
                | "isv.OUT_OF_SERVICE"
                | "isv.AMOUNT_NOT_ENOUGH"
                | "ServiceUnavailable"
                | "InternalError"
                | "SignatureNonceUsed"
        )
}

pub struct AliyunSms {
    settings: AliyunSettings,
    client: reqwest::Client,
}

impl AliyunSms {
    pub fn new(settings: AliyunSettings) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.timeout_secs.max(1)))
            .build()?;
        Ok(Self { settings, client })
    }

    async fn send_one(&self, msg: SmsMessage<'_>) -> Result<Option<String>, SendError> {
        let code = self
            .settings
            .templates
            .get(msg.notice.name())
            .ok_or_else(|| {
                SendError::Permanent(format!(
                    "notify.sms.aliyun.templates.{} is not configured",
                    msg.notice.name()
                ))
            })?;
        let params: BTreeMap<&str, String> = msg
            .params
            .iter()
            .map(|(k, v)| (k.as_str(), clip(v, self.settings.param_max_chars)))
            .collect();
        let param_json = serde_json::to_string(&params)
            .map_err(|e| SendError::Permanent(format!("template params: {e}")))?;
        let nonce = uuid::Uuid::new_v4().to_string();
        let query = send_sms_params(
            &self.settings,
            msg.to,
            code,
            &param_json,
            &msg.id.to_string(),
            &nonce,
            Utc::now(),
        );
        let url = format!(
            "{}?{}",
            self.settings.endpoint,
            signed_query(self.settings.access_key_secret.expose(), &query)
        );
        let resp = self
            .client
            .get(url)
            .send()
            .await
            .map_err(classify_reqwest)?;
        let status = resp.status();
        let body = resp.text().await.map_err(classify_reqwest)?;
        let parsed: Option<SendSmsResponse> = serde_json::from_str(&body).ok();
        match parsed {
            Some(SendSmsResponse {
                code: Some(c),
                biz_id,
                ..
            }) if c == "OK" => Ok(biz_id),
            Some(SendSmsResponse {
                code: Some(c),
                message,
                ..
            }) => {
                let text = mask::scrub(&format!(
                    "aliyun {c}: {}",
                    message
                        .unwrap_or_default()
                        .chars()
                        .take(200)
                        .collect::<String>()
                ));
                if transient_code(&c) || status.is_server_error() {
                    Err(SendError::Transient(text))
                } else {
                    Err(SendError::Permanent(text))
                }
            }
            _ if status.is_server_error() || status.as_u16() == 429 => Err(SendError::Transient(
                format!("aliyun: HTTP {status} without a result code"),
            )),
            _ => Err(SendError::Permanent(format!(
                "aliyun: HTTP {status}, unreadable response"
            ))),
        }
    }
}

impl SmsProvider for AliyunSms {
    fn name(&self) -> &'static str {
        "aliyun"
    }

    fn send<'a>(&'a self, msg: SmsMessage<'a>) -> BoxFuture<'a, Result<Option<String>, SendError>> {
        Box::pin(self.send_one(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of Alibaba Cloud's SMS signature documentation: AccessKeyId
    /// `testId`, AccessKeySecret `testSecret`, a SendSms request in XML format.
    fn documented_params() -> BTreeMap<String, String> {
        [
            ("AccessKeyId", "testId"),
            ("Action", "SendSms"),
            ("Format", "XML"),
            ("OutId", "123"),
            ("PhoneNumbers", "15300000001"),
            ("RegionId", "cn-hangzhou"),
            ("SignName", "阿里云短信测试专用"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "45e25e9b-0a6f-4070-8c85-2956eda1b466"),
            ("SignatureVersion", "1.0"),
            ("TemplateCode", "SMS_71390007"),
            ("TemplateParam", "{\"customer\":\"test\"}"),
            ("Timestamp", "2017-07-12T02:42:19Z"),
            ("Version", "2017-05-25"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn reproduces_the_documented_signature_example() {
        let p = documented_params();
        assert_eq!(
            canonicalized_query(&p),
            "AccessKeyId=testId&Action=SendSms&Format=XML&OutId=123&PhoneNumbers=15300000001\
             &RegionId=cn-hangzhou&SignName=%E9%98%BF%E9%87%8C%E4%BA%91%E7%9F%AD%E4%BF%A1%E6%B5%8B\
             %E8%AF%95%E4%B8%93%E7%94%A8&SignatureMethod=HMAC-SHA1\
             &SignatureNonce=45e25e9b-0a6f-4070-8c85-2956eda1b466&SignatureVersion=1.0\
             &TemplateCode=SMS_71390007&TemplateParam=%7B%22customer%22%3A%22test%22%7D\
             &Timestamp=2017-07-12T02%3A42%3A19Z&Version=2017-05-25"
        );
        assert_eq!(
            string_to_sign("GET", &p),
            "GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DXML%26OutId%3D123\
             %26PhoneNumbers%3D15300000001%26RegionId%3Dcn-hangzhou%26SignName%3D%25E9%2598%25BF\
             %25E9%2587%258C%25E4%25BA%2591%25E7%259F%25AD%25E4%25BF%25A1%25E6%25B5%258B%25E8\
             %25AF%2595%25E4%25B8%2593%25E7%2594%25A8%26SignatureMethod%3DHMAC-SHA1\
             %26SignatureNonce%3D45e25e9b-0a6f-4070-8c85-2956eda1b466%26SignatureVersion%3D1.0\
             %26TemplateCode%3DSMS_71390007%26TemplateParam%3D%257B%2522customer%2522%253A\
             %2522test%2522%257D%26Timestamp%3D2017-07-12T02%253A42%253A19Z%26Version%3D2017-05-25"
        );
        assert_eq!(
            signature("testSecret", "GET", &p),
            "zJDF+Lrzhj/ThnlvIToysFRq6t4="
        );
        assert!(
            signed_query("testSecret", &p)
                .starts_with("Signature=zJDF%2BLrzhj%2FThnlvIToysFRq6t4%3D&AccessKeyId=testId&")
        );
    }

    #[test]
    fn reproduces_the_generic_rpc_signature_example() {
        // The RPC signature documentation's DescribeRegions example (secret `testsecret`).
        let p: BTreeMap<String, String> = [
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("Format", "XML"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("SignatureVersion", "1.0"),
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Version", "2014-05-26"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(
            signature("testsecret", "GET", &p),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
    }

    #[test]
    fn percent_encoding_follows_the_pop_rules() {
        assert_eq!(percent_encode("a b"), "a%20b");
        assert_eq!(percent_encode("*"), "%2A");
        assert_eq!(percent_encode("~-_."), "~-_.");
        assert_eq!(percent_encode("/=&+"), "%2F%3D%26%2B");
        assert_eq!(percent_encode("派"), "%E6%B4%BE");
        assert_eq!(percent_encode("AZaz09"), "AZaz09");
        assert_eq!(percent_encode("%"), "%25");
    }

    #[test]
    fn canonicalisation_sorts_by_name_and_drops_signature() {
        let p: BTreeMap<String, String> =
            [("b", "2"), ("Signature", "x"), ("a", "1 1"), ("B", "*")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        assert_eq!(canonicalized_query(&p), "B=%2A&a=1%201&b=2");
    }

    #[test]
    fn codes_split_into_retry_and_give_up() {
        assert!(transient_code("isv.BUSINESS_LIMIT_CONTROL"));
        assert!(transient_code("isp.SYSTEM_ERROR"));
        assert!(transient_code("Throttling.User"));
        assert!(!transient_code("isv.MOBILE_NUMBER_ILLEGAL"));
        assert!(!transient_code("SignatureDoesNotMatch"));
        assert!(!transient_code("isv.TEMPLATE_MISSING_PARAMETERS"));
    }

    #[test]
    fn send_params_carry_the_required_fields() {
        let s = AliyunSettings {
            access_key_id: "id".into(),
            sign_name: "三门峡市信访局".into(),
            ..Default::default()
        };
        let at = DateTime::parse_from_rfc3339("2026-03-02T01:02:03Z")
            .unwrap()
            .with_timezone(&Utc);
        let p = send_sms_params(&s, "13800138000", "SMS_1", "{}", "out", "n", at);
        assert_eq!(p["Timestamp"], "2026-03-02T01:02:03Z");
        assert_eq!(p["Format"], "JSON");
        assert_eq!(p["SignatureMethod"], "HMAC-SHA1");
        assert_eq!(p.len(), 14);
    }
}
