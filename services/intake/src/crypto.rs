//! Personal data at rest and in events: keyed hashes for matching, AES-256-GCM sealing
//! (the shared format of `xinfang_domain::seal`, so notify can open what intake seals).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use xinfang_domain::seal::{self, DataKey};
use xinfang_platform::config::Security;

#[derive(Clone)]
pub struct Keys {
    data_key: DataKey,
    hash_key: Vec<u8>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(***)")
    }
}

impl Keys {
    pub fn from_settings(s: &Security) -> anyhow::Result<Self> {
        let data_key = DataKey::from_base64(s.data_key.expose())
            .map_err(|e| anyhow::anyhow!("security.data_key: {e}"))?;
        let hash_key = B64
            .decode(s.hash_key.expose())
            .map_err(|_| anyhow::anyhow!("security.hash_key must be base64"))?;
        if hash_key.len() < 32 {
            anyhow::bail!("security.hash_key must be base64 of at least 32 bytes");
        }
        Ok(Self { data_key, hash_key })
    }

    /// HMAC-SHA256 of a labelled identifier, hex: the same person gives the same key without
    /// the identifier being recoverable by anyone lacking the hash key.
    pub fn hash(&self, label: &str, value: &str) -> String {
        // HMAC takes keys of any length: construction cannot fail.
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.hash_key) else {
            return String::new();
        };
        mac.update(label.as_bytes());
        mac.update(b":");
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// base64(nonce ‖ ciphertext) with a fresh random nonce.
    pub fn seal(&self, plaintext: &[u8]) -> anyhow::Result<String> {
        Ok(seal::seal(&self.data_key, rand::random(), plaintext)?)
    }

    pub fn open(&self, sealed: &str) -> anyhow::Result<Vec<u8>> {
        Ok(seal::open(&self.data_key, sealed)?)
    }
}
