//! Sealing personal data with the deployment's data key (`security.data_key`): AES-256-GCM,
//! written as base64 (standard alphabet, padded) of `nonce (12 bytes) ‖ ciphertext+tag`.
//! This is the format of [`SealedContact`]; intake seals, services holding the key open.
//!
//! Pure: the caller supplies the 96-bit nonce (fresh random bytes for every seal, e.g.
//! `rand::random::<[u8; 12]>()`); a nonce must never be reused with the same key.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::events::{Contact, SealedContact};

/// Bytes of the AES-GCM nonce at the start of a sealed value.
pub const NONCE_LEN: usize = 12;
/// Bytes of the GCM authentication tag at the end of the ciphertext.
pub const TAG_LEN: usize = 16;

/// Why a key could not be read or a value could not be sealed or opened. Messages never
/// contain the key or the plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("security.data_key: must be base64 of exactly 32 bytes")]
    BadKey,
    #[error("sealed value is not base64")]
    NotBase64,
    #[error("sealed value is too short to hold a nonce and a tag")]
    TooShort,
    #[error("sealed value does not open with this key (wrong key or tampered)")]
    Unauthentic,
    #[error("sealed contact is not the expected JSON: {0}")]
    Json(String),
    #[error("sealing failed")]
    Seal,
}

/// The 256-bit data key. `Debug` never shows it.
#[derive(Clone)]
pub struct DataKey([u8; 32]);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(***)")
    }
}

impl DataKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Reads the configured key: base64 (standard alphabet, padding optional) of 32 bytes.
    pub fn from_base64(raw: &str) -> Result<Self, SealError> {
        let bytes = STANDARD
            .decode(raw.trim())
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(raw.trim()))
            .map_err(|_| SealError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SealError::BadKey)?;
        Ok(Self(key))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.0.into())
    }
}

/// Seals `plaintext` under `key` with `nonce`: base64 of nonce ‖ ciphertext ‖ tag.
pub fn seal(key: &DataKey, nonce: [u8; NONCE_LEN], plaintext: &[u8]) -> Result<String, SealError> {
    let ct = key
        .cipher()
        .encrypt(Nonce::from_slice(&nonce), plaintext)
        .map_err(|_| SealError::Seal)?;
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(STANDARD.encode(out))
}

/// Opens a value made by [`seal`]; fails on a wrong key or any altered byte.
pub fn open(key: &DataKey, sealed: &str) -> Result<Vec<u8>, SealError> {
    let raw = STANDARD
        .decode(sealed.trim())
        .map_err(|_| SealError::NotBase64)?;
    if raw.len() < NONCE_LEN + TAG_LEN {
        return Err(SealError::TooShort);
    }
    let (nonce, ct) = raw.split_at(NONCE_LEN);
    key.cipher()
        .decrypt(Nonce::from_slice(nonce), ct)
        .map_err(|_| SealError::Unauthentic)
}

/// Seals a UTF-8 string (e.g. one address) — see [`seal`].
pub fn seal_str(key: &DataKey, nonce: [u8; NONCE_LEN], text: &str) -> Result<String, SealError> {
    seal(key, nonce, text.as_bytes())
}

/// Opens a string sealed by [`seal_str`].
pub fn open_str(key: &DataKey, sealed: &str) -> Result<String, SealError> {
    String::from_utf8(open(key, sealed)?).map_err(|_| SealError::Unauthentic)
}

/// Seals a [`Contact`] as the JSON the [`SealedContact`] format documents.
pub fn seal_contact(
    key: &DataKey,
    nonce: [u8; NONCE_LEN],
    contact: &Contact,
) -> Result<SealedContact, SealError> {
    let json = serde_json::to_vec(contact).map_err(|e| SealError::Json(e.to_string()))?;
    Ok(SealedContact(seal(key, nonce, &json)?))
}

/// Opens a [`SealedContact`] into its [`Contact`].
pub fn open_contact(key: &DataKey, sealed: &SealedContact) -> Result<Contact, SealError> {
    let json = open(key, &sealed.0)?;
    // serde_json's error names a position, never the content.
    serde_json::from_slice(&json).map_err(|e| SealError::Json(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> DataKey {
        DataKey::from_bytes([b; 32])
    }

    fn contact() -> Contact {
        Contact {
            name: "张三".into(),
            mobile: Some("13800138000".into()),
            email: Some("zhangsan@example.com".into()),
        }
    }

    #[test]
    fn contact_round_trips_and_has_the_documented_layout() {
        let nonce = [7u8; 12];
        let sealed = seal_contact(&key(1), nonce, &contact()).unwrap();
        let raw = STANDARD.decode(&sealed.0).unwrap();
        assert_eq!(&raw[..12], &nonce);
        let json = serde_json::to_vec(&contact()).unwrap();
        assert_eq!(raw.len(), 12 + json.len() + TAG_LEN);
        assert!(!sealed.0.contains("138"));
        assert_eq!(open_contact(&key(1), &sealed).unwrap(), contact());
    }

    #[test]
    fn known_answer_matches_aes_256_gcm() {
        // NIST GCM test case 13 (256-bit zero key, zero nonce, empty plaintext): tag only.
        let sealed = seal(&DataKey::from_bytes([0; 32]), [0; 12], b"").unwrap();
        let raw = STANDARD.decode(sealed).unwrap();
        assert_eq!(
            raw[12..]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
            "530f8afbc74536b9a963b4f1c4cb738b"
        );
        // Test case 14: one zero block.
        let sealed = seal(&DataKey::from_bytes([0; 32]), [0; 12], &[0u8; 16]).unwrap();
        let raw = STANDARD.decode(sealed).unwrap();
        assert_eq!(
            raw[12..]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
            "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"
        );
    }

    #[test]
    fn wrong_key_tampering_and_garbage_are_refused() {
        let sealed = seal_str(&key(1), [3; 12], "13800138000").unwrap();
        assert_eq!(open_str(&key(1), &sealed).unwrap(), "13800138000");
        assert_eq!(open_str(&key(2), &sealed), Err(SealError::Unauthentic));
        let mut raw = STANDARD.decode(&sealed).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(
            open_str(&key(1), &STANDARD.encode(&raw)),
            Err(SealError::Unauthentic)
        );
        assert_eq!(open(&key(1), "not base64!"), Err(SealError::NotBase64));
        assert_eq!(
            open(&key(1), &STANDARD.encode([0u8; 20])),
            Err(SealError::TooShort)
        );
        let not_json = seal(&key(1), [4; 12], b"[1,2]").unwrap();
        assert!(matches!(
            open_contact(&key(1), &SealedContact(not_json)),
            Err(SealError::Json(_))
        ));
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64_and_never_print() {
        let good = STANDARD.encode([9u8; 32]);
        let k = DataKey::from_base64(&good).unwrap();
        assert_eq!(format!("{k:?}"), "DataKey(***)");
        assert!(DataKey::from_base64(good.trim_end_matches('=')).is_ok());
        assert_eq!(DataKey::from_base64("").unwrap_err(), SealError::BadKey);
        assert_eq!(
            DataKey::from_base64(&STANDARD.encode([9u8; 16])).unwrap_err(),
            SealError::BadKey
        );
        assert_eq!(DataKey::from_base64("%%%").unwrap_err(), SealError::BadKey);
    }

    #[test]
    fn fresh_nonces_give_different_ciphertexts() {
        let a = seal_str(&key(1), [1; 12], "x").unwrap();
        let b = seal_str(&key(1), [2; 12], "x").unwrap();
        assert_ne!(a, b);
    }
}
