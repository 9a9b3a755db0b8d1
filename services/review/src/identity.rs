//! The petitioner's identity check for requests made with the query code (查询码): the ID
//! number given is hashed exactly as intake hashes it (HMAC-SHA256 of `id:<ID number>` under
//! the deployment's `security.hash_key`, hex) and compared with the case's `petitioner_key`.
//! The ID number itself is never stored or logged.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::NaiveDate;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use xinfang_domain::validation::{IdNumber, ValidationError};
use xinfang_platform::config::Security;

/// The label intake hashes ID numbers under (`Keys::hash("id", ..)`).
pub const ID_LABEL: &str = "id";

/// The deployment's hash key, as a keyed HMAC, and the ids of its keys (the terminated-matters
/// registry names which keys made a record's petitioner key and sealed identity). `Debug`
/// never shows a key.
#[derive(Clone)]
pub struct HashKey {
    mac: Hmac<Sha256>,
    id: String,
    data_key_id: Option<String>,
}

/// What a key id is derived from: `HMAC-SHA256(key, KEY_ID_LABEL)`, its first 8 bytes in hex.
pub const KEY_ID_LABEL: &str = "xf-key-id";

/// The id of a key: 16 hex digits that tell keys apart and reveal nothing of them.
pub fn key_id(key: &[u8]) -> String {
    match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(KEY_ID_LABEL.as_bytes());
            hex::encode(&mac.finalize().into_bytes()[..8])
        }
        // HMAC takes keys of any length.
        Err(_) => String::new(),
    }
}

impl std::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashKey(***)")
    }
}

impl HashKey {
    pub fn from_settings(s: &Security) -> anyhow::Result<Self> {
        let key = B64
            .decode(s.hash_key.expose())
            .map_err(|_| anyhow::anyhow!("security.hash_key must be base64"))?;
        if key.len() < 32 {
            anyhow::bail!("security.hash_key must be base64 of at least 32 bytes");
        }
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(&key)
            .map_err(|_| anyhow::anyhow!("security.hash_key is not a valid HMAC key"))?;
        // Review never opens sealed values; it only names the data key they were sealed with.
        let raw = s.data_key.expose().trim();
        let data_key_id = B64
            .decode(raw)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(raw))
            .ok()
            .filter(|k| k.len() == 32)
            .map(|k| key_id(&k));
        Ok(Self {
            mac,
            id: key_id(&key),
            data_key_id,
        })
    }

    /// The id of the hash key ([`key_id`]).
    pub fn key_id(&self) -> &str {
        &self.id
    }

    /// The id of the data key (`security.data_key`), when one is configured.
    pub fn data_key_id(&self) -> Option<&str> {
        self.data_key_id.as_deref()
    }

    fn mac(&self, label: &str, value: &str) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(label.as_bytes());
        mac.update(b":");
        mac.update(value.as_bytes());
        mac
    }

    /// Hex HMAC-SHA256 of `label:value`: intake's petitioner key for that identifier.
    pub fn hash(&self, label: &str, value: &str) -> String {
        hex::encode(self.mac(label, value).finalize().into_bytes())
    }

    /// Whether `id_number` is the identifier `petitioner_key` was made from (constant time).
    pub fn id_matches(&self, id_number: &IdNumber, petitioner_key: &str) -> bool {
        let Ok(expected) = hex::decode(petitioner_key) else {
            return false;
        };
        self.mac(ID_LABEL, id_number.as_str())
            .verify_slice(&expected)
            .is_ok()
    }
}

/// Parses the ID number a petitioner gave (field `id_number`).
pub fn parse_id_number(raw: &str, today: NaiveDate) -> Result<IdNumber, ValidationError> {
    IdNumber::parse(raw.trim(), today).map_err(|e| ValidationError {
        field: "id_number".into(),
        ..e
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use xinfang_platform::config::{PlatformSettings, Secret};

    fn security(hash_key: &str) -> Security {
        let mut s = PlatformSettings::default().security;
        s.hash_key = Secret::new(hash_key);
        s
    }

    fn key() -> HashKey {
        HashKey::from_settings(&security(&B64.encode([7u8; 32]))).unwrap()
    }

    #[test]
    fn matches_only_the_same_id_number() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let id = parse_id_number("11010519491231002X", today).unwrap();
        let other = parse_id_number("110105194912310021", today);
        let k = key();
        let pk = k.hash(ID_LABEL, id.as_str());
        // intake's Keys::hash("id", ..): HMAC-SHA256(key, "id:" + ID number), lowercase hex
        // (vector computed independently with Python's hmac module).
        assert_eq!(
            pk,
            "07bd711a93f685635adc8fee95131d4e510c3b460bd11521ad0a94e132203523"
        );
        assert!(k.id_matches(&id, &pk));
        if let Ok(other) = other {
            assert!(!k.id_matches(&other, &pk));
        }
        assert!(!k.id_matches(&id, "not hex"));
        assert!(!k.id_matches(&id, &k.hash("mobile", id.as_str())));
        assert_eq!(k.key_id(), key_id(&[7u8; 32]));
        assert_eq!(k.key_id().len(), 16);
        assert_ne!(k.key_id(), key_id(&[8u8; 32]));
        assert_eq!(
            parse_id_number("123", today).unwrap_err().field,
            "id_number"
        );
        assert_eq!(format!("{k:?}"), "HashKey(***)");
    }

    #[test]
    fn short_or_malformed_keys_are_refused() {
        assert!(HashKey::from_settings(&security(&B64.encode([7u8; 8]))).is_err());
        assert!(HashKey::from_settings(&security("%%%")).is_err());
    }
}
