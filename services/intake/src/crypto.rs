//! Personal data at rest and in events: keyed hashes for matching, AES-256-GCM for storage.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use xinfang_platform::config::Security;

#[derive(Clone)]
pub struct Keys {
    cipher: Aes256Gcm,
    hash_key: Vec<u8>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(***)")
    }
}

impl Keys {
    pub fn from_settings(s: &Security) -> anyhow::Result<Self> {
        let data = B64
            .decode(s.data_key.expose())
            .map_err(|_| anyhow::anyhow!("security.data_key must be base64"))?;
        if data.len() != 32 {
            anyhow::bail!("security.data_key must be base64 of exactly 32 bytes");
        }
        let hash_key = B64
            .decode(s.hash_key.expose())
            .map_err(|_| anyhow::anyhow!("security.hash_key must be base64"))?;
        if hash_key.len() < 32 {
            anyhow::bail!("security.hash_key must be base64 of at least 32 bytes");
        }
        let cipher = Aes256Gcm::new_from_slice(&data)
            .map_err(|_| anyhow::anyhow!("security.data_key is not a valid AES-256 key"))?;
        Ok(Self { cipher, hash_key })
    }

    /// HMAC-SHA256 of a labelled identifier, hex: the same person gives the same key without
    /// the identifier being recoverable by anyone lacking the hash key.
    pub fn hash(&self, label: &str, value: &str) -> String {
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(&self.hash_key) {
            Ok(m) => m,
            Err(_) => unreachable_hmac(),
        };
        mac.update(label.as_bytes());
        mac.update(b":");
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// base64(nonce ‖ ciphertext).
    pub fn seal(&self, plaintext: &[u8]) -> anyhow::Result<String> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ct = self
            .cipher
            .encrypt(&nonce, plaintext)
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(B64.encode(out))
    }

    pub fn open(&self, sealed: &str) -> anyhow::Result<Vec<u8>> {
        let raw = B64
            .decode(sealed)
            .map_err(|_| anyhow::anyhow!("sealed data is not base64"))?;
        if raw.len() < 12 + 16 {
            anyhow::bail!("sealed data is too short");
        }
        let (nonce, ct) = raw.split_at(12);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| anyhow::anyhow!("sealed data does not open with this key"))
    }
}

// HMAC accepts keys of any length, so construction cannot fail.
fn unreachable_hmac() -> ! {
    panic!("HMAC-SHA256 accepts any key length")
}
