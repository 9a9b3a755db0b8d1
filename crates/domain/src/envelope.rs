//! The event envelope every message carries: `{v, id, type, case_id, county, at, data}`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::county::CountyCode;
use crate::subject;

/// Envelope schema version this build writes and understands.
pub const ENVELOPE_VERSION: u16 = 1;

/// Upper bound on an envelope's encoded size; larger payloads are refused before publishing.
pub const MAX_ENVELOPE_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope<T = serde_json::Value> {
    pub v: u16,
    /// UUIDv7; also sent as `Nats-Msg-Id` so JetStream drops duplicate publishes.
    pub id: Uuid,
    /// Event type, a lowercase ASCII subject token such as `registered`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The case number (`XF-411282-2026-000001`), absent for events about no case.
    pub case_id: Option<String>,
    pub county: CountyCode,
    pub at: DateTime<Utc>,
    pub data: T,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("envelope is not valid JSON of the expected shape: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("envelope version {0} is not supported (this build understands {ENVELOPE_VERSION})")]
    UnsupportedVersion(u16),
    #[error("envelope type: {0}")]
    Type(#[from] subject::SubjectError),
    #[error("envelope id must be a UUIDv7")]
    NotV7,
    #[error("envelope is {0} bytes, over the {MAX_ENVELOPE_BYTES}-byte limit")]
    TooLarge(usize),
}

impl<T> Envelope<T> {
    /// A new envelope with a fresh UUIDv7.
    pub fn new(
        kind: &str,
        case_id: Option<String>,
        county: CountyCode,
        at: DateTime<Utc>,
        data: T,
    ) -> Result<Self, EnvelopeError> {
        Self::with_id(Uuid::now_v7(), kind, case_id, county, at, data)
    }

    /// An envelope with a caller-chosen id: deterministic ids make re-emitted facts
    /// (a timer fired twice, a retried command) collapse into one.
    pub fn with_id(
        id: Uuid,
        kind: &str,
        case_id: Option<String>,
        county: CountyCode,
        at: DateTime<Utc>,
        data: T,
    ) -> Result<Self, EnvelopeError> {
        subject::token("type", kind)?;
        Ok(Self {
            v: ENVELOPE_VERSION,
            id,
            kind: kind.to_owned(),
            case_id,
            county,
            at,
            data,
        })
    }
}

impl<T: Serialize> Envelope<T> {
    pub fn to_bytes(&self) -> Result<Vec<u8>, EnvelopeError> {
        let bytes = serde_json::to_vec(self)?;
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(EnvelopeError::TooLarge(bytes.len()));
        }
        Ok(bytes)
    }

    /// The same envelope with `data` as untyped JSON.
    pub fn erase(&self) -> Result<Envelope, EnvelopeError> {
        Ok(Envelope {
            v: self.v,
            id: self.id,
            kind: self.kind.clone(),
            case_id: self.case_id.clone(),
            county: self.county.clone(),
            at: self.at,
            data: serde_json::to_value(&self.data)?,
        })
    }
}

impl<T: serde::de::DeserializeOwned> Envelope<T> {
    /// Parses and checks an envelope received from the wire.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(EnvelopeError::TooLarge(bytes.len()));
        }
        let env: Self = serde_json::from_slice(bytes)?;
        if env.v != ENVELOPE_VERSION {
            return Err(EnvelopeError::UnsupportedVersion(env.v));
        }
        subject::token("type", &env.kind)?;
        if env.id.get_version_num() != 7 {
            return Err(EnvelopeError::NotV7);
        }
        Ok(env)
    }
}

impl Envelope {
    /// Reads `data` as a concrete payload type.
    pub fn data_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, EnvelopeError> {
        Ok(serde_json::from_value(self.data.clone())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn county() -> CountyCode {
        CountyCode::parse("411202").unwrap()
    }

    #[test]
    fn round_trips_with_the_agreed_field_names() {
        let env = Envelope::new(
            "registered",
            Some("XF-411202-2026-000001".into()),
            county(),
            Utc::now(),
            json!({"k": 1}),
        )
        .unwrap();
        let bytes = env.to_bytes().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["at", "case_id", "county", "data", "id", "type", "v"]);
        let back: Envelope = Envelope::from_bytes(&bytes).unwrap();
        assert_eq!(back, env);
    }

    #[test]
    fn refuses_bad_type_version_id_and_unknown_fields() {
        assert!(Envelope::new("Registered", None, county(), Utc::now(), json!({})).is_err());
        let good = Envelope::new("registered", None, county(), Utc::now(), json!({})).unwrap();
        let mut v = serde_json::to_value(&good).unwrap();
        v["v"] = json!(2);
        assert!(matches!(
            Envelope::<serde_json::Value>::from_bytes(&serde_json::to_vec(&v).unwrap()),
            Err(EnvelopeError::UnsupportedVersion(2))
        ));
        let mut v = serde_json::to_value(&good).unwrap();
        v["id"] = json!(Uuid::new_v4());
        assert!(matches!(
            Envelope::<serde_json::Value>::from_bytes(&serde_json::to_vec(&v).unwrap()),
            Err(EnvelopeError::NotV7)
        ));
        let mut v = serde_json::to_value(&good).unwrap();
        v["extra"] = json!(1);
        assert!(
            Envelope::<serde_json::Value>::from_bytes(&serde_json::to_vec(&v).unwrap()).is_err()
        );
        let mut v = serde_json::to_value(&good).unwrap();
        v["county"] = json!("41120");
        assert!(
            Envelope::<serde_json::Value>::from_bytes(&serde_json::to_vec(&v).unwrap()).is_err()
        );
    }

    #[test]
    fn refuses_oversized_payloads() {
        let big = "x".repeat(MAX_ENVELOPE_BYTES);
        let env = Envelope::new("registered", None, county(), Utc::now(), json!(big)).unwrap();
        assert!(matches!(env.to_bytes(), Err(EnvelopeError::TooLarge(_))));
    }
}
