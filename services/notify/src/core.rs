//! What the consumers and the sender share: settings, templates, keys, contacts, clock and
//! providers.

use std::sync::Arc;

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use xinfang_domain::seal::{self, DataKey};

use crate::clock::SharedClock;
use crate::contacts::DepartmentContacts;
use crate::notice::Channel;
use crate::providers::Providers;
use crate::quiet::QuietHours;
use crate::settings::NotifySettings;
use crate::templates::Templates;

pub struct Core {
    pub settings: NotifySettings,
    /// `{{ bureau }}` in every notice.
    pub bureau: String,
    pub templates: Templates,
    pub data_key: DataKey,
    hash_key: Vec<u8>,
    pub contacts: Arc<dyn DepartmentContacts>,
    pub clock: SharedClock,
    pub quiet: QuietHours,
    pub providers: Providers,
    /// Fault tests only ([`crate::service::Options::pause_after_accept`]).
    pub pause_after_accept: Option<std::time::Duration>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("bureau", &self.bureau)
            .finish_non_exhaustive()
    }
}

/// Reads `security.hash_key`: base64 of at least 32 bytes.
pub fn hash_key_from_base64(raw: &str) -> anyhow::Result<Vec<u8>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(raw.trim())
        .map_err(|_| anyhow::anyhow!("security.hash_key: must be base64"))?;
    if bytes.len() < 32 {
        anyhow::bail!("security.hash_key: must be at least 32 bytes");
    }
    Ok(bytes)
}

/// Canonical form of an address for keys: digits of a phone (without +86), lower-case mail.
pub fn normalize(channel: Channel, address: &str) -> String {
    match channel {
        Channel::Email => address.trim().to_lowercase(),
        Channel::Sms => {
            let digits: String = address.chars().filter(char::is_ascii_digit).collect();
            match digits.strip_prefix("86") {
                Some(rest) if digits.len() == 13 => rest.to_owned(),
                _ => digits,
            }
        }
    }
}

impl Core {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        settings: NotifySettings,
        bureau: String,
        templates: Templates,
        data_key: DataKey,
        hash_key: Vec<u8>,
        contacts: Arc<dyn DepartmentContacts>,
        clock: SharedClock,
        providers: Providers,
    ) -> anyhow::Result<Self> {
        let quiet = QuietHours::from_settings(&settings.quiet_hours).map_err(anyhow::Error::msg)?;
        Ok(Self {
            settings,
            bureau,
            templates,
            data_key,
            hash_key,
            contacts,
            clock,
            quiet,
            providers,
            pause_after_accept: None,
        })
    }

    /// The delivery log's recipient key: keyed hash of channel and address, so the log can
    /// de-duplicate without holding the address in the clear.
    pub fn recipient_key(&self, channel: Channel, address: &str) -> String {
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.hash_key) {
            Ok(m) => m,
            // HMAC takes keys of any length.
            Err(_) => return normalize(channel, address),
        };
        mac.update(channel.as_str().as_bytes());
        mac.update(b":");
        mac.update(normalize(channel, address).as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// Seals an address for the delivery row (fresh random nonce).
    pub fn seal_address(&self, address: &str) -> Result<String, seal::SealError> {
        seal::seal_str(&self.data_key, rand::random::<[u8; 12]>(), address)
    }

    pub fn open_address(&self, sealed: &str) -> Result<String, seal::SealError> {
        seal::open_str(&self.data_key, sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_normalize_for_keys() {
        assert_eq!(normalize(Channel::Sms, "+86 138-0013-8000"), "13800138000");
        assert_eq!(normalize(Channel::Sms, "13800138000"), "13800138000");
        assert_eq!(
            normalize(Channel::Email, " Li@Example.COM "),
            "li@example.com"
        );
        assert!(hash_key_from_base64("c2hvcnQ=").is_err());
        assert!(hash_key_from_base64("!!").is_err());
        assert_eq!(
            hash_key_from_base64(&base64::engine::general_purpose::STANDARD.encode([1u8; 32]))
                .unwrap()
                .len(),
            32
        );
    }
}
