//! AES-256-GCM for secrets at rest (`ring::aead`), with a key ring for rotation.
//!
//! A sealed value is `[1][key id length][key id][96-bit nonce][ciphertext + 128-bit tag]`. The
//! associated data is `gptgate/v1 || key id || context`, so a value moved to another row or
//! column, or relabelled with another key id, fails to open.

use std::sync::Arc;

use base64::Engine;
use gptgate_domain::Sealed;
use gptgate_ports::{Random, SealError, SecretBox};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::digest;
use secrecy::{ExposeSecret, SecretString};

const VERSION: u8 = 1;

/// Why `TOKEN_ENCRYPTION_KEY` is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    #[error("no key given")]
    Empty,
    #[error("key {0:?} is not 32 bytes of base64 (generate one with: openssl rand -base64 32)")]
    BadKey(String),
    #[error("key id {0:?} must be 1 to 32 letters, digits, '-' or '_'")]
    BadId(String),
    #[error("key id {0:?} appears twice")]
    Duplicate(String),
}

struct Key {
    id: String,
    key: LessSafeKey,
}

/// [`SecretBox`] with AES-256-GCM. The first key seals; every key opens.
pub struct AesGcmSecretBox {
    keys: Vec<Key>,
    random: Arc<dyn Random>,
}

fn decode_key(text: &str) -> Option<[u8; 32]> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
}

impl AesGcmSecretBox {
    /// Parses `TOKEN_ENCRYPTION_KEY`: comma-separated keys, each `id:base64` (or bare base64,
    /// named by the first 8 hex digits of its SHA-256). The first key seals new values; the
    /// others only open old ones, until `gptgate rotate-key` has re-sealed everything.
    pub fn from_config(keys: &SecretString, random: Arc<dyn Random>) -> Result<Self, KeyRingError> {
        let mut parsed: Vec<Key> = Vec::new();
        for entry in keys
            .expose_secret()
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let (id, text) = match entry.split_once(':') {
                Some((id, text)) => (id.trim().to_owned(), text.trim()),
                None => (String::new(), entry),
            };
            let bytes = decode_key(text).ok_or_else(|| {
                KeyRingError::BadKey(if id.is_empty() {
                    "(unnamed)".into()
                } else {
                    id.clone()
                })
            })?;
            let id = if id.is_empty() {
                digest::digest(&digest::SHA256, &bytes).as_ref()[..4]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            } else {
                id
            };
            let id_ok = (1..=32).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !id_ok {
                return Err(KeyRingError::BadId(id));
            }
            if parsed.iter().any(|k| k.id == id) {
                return Err(KeyRingError::Duplicate(id));
            }
            let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
                .map_err(|_| KeyRingError::BadKey(id.clone()))?;
            parsed.push(Key {
                id,
                key: LessSafeKey::new(unbound),
            });
        }
        if parsed.is_empty() {
            return Err(KeyRingError::Empty);
        }
        Ok(Self {
            keys: parsed,
            random,
        })
    }

    fn aad(key_id: &str, context: &str) -> Vec<u8> {
        let mut aad = Vec::with_capacity(16 + key_id.len() + context.len());
        aad.extend_from_slice(b"gptgate/v1\0");
        aad.extend_from_slice(key_id.as_bytes());
        aad.push(0);
        aad.extend_from_slice(context.as_bytes());
        aad
    }
}

impl SecretBox for AesGcmSecretBox {
    fn seal(&self, plaintext: &SecretString, context: &str) -> Result<Sealed, SealError> {
        let key = &self.keys[0];
        let nonce_bytes = self
            .random
            .bytes::<NONCE_LEN>()
            .map_err(|_| SealError::Seal)?;
        let mut in_out = plaintext.expose_secret().as_bytes().to_vec();
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(Self::aad(&key.id, context)),
                &mut in_out,
            )
            .map_err(|_| SealError::Seal)?;
        let id = key.id.as_bytes();
        let mut out = Vec::with_capacity(2 + id.len() + NONCE_LEN + in_out.len());
        out.push(VERSION);
        out.push(u8::try_from(id.len()).map_err(|_| SealError::Seal)?);
        out.extend_from_slice(id);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&in_out);
        Ok(Sealed::from_bytes(out))
    }

    fn open(&self, sealed: &Sealed, context: &str) -> Result<SecretString, SealError> {
        let bytes = sealed.as_bytes();
        let (&version, rest) = bytes.split_first().ok_or(SealError::Open)?;
        let (&id_len, rest) = rest.split_first().ok_or(SealError::Open)?;
        if version != VERSION || rest.len() < usize::from(id_len) + NONCE_LEN {
            return Err(SealError::Open);
        }
        let (id, rest) = rest.split_at(usize::from(id_len));
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let id = std::str::from_utf8(id).map_err(|_| SealError::Open)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or(SealError::Open)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Open)?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = key
            .key
            .open_in_place(nonce, Aad::from(Self::aad(id, context)), &mut in_out)
            .map_err(|_| SealError::Open)?;
        let text = std::str::from_utf8(plaintext).map_err(|_| SealError::Open)?;
        Ok(SecretString::from(text.to_owned()))
    }

    fn current_key_id(&self) -> &str {
        &self.keys[0].id
    }

    fn key_id_of(&self, sealed: &Sealed) -> Option<String> {
        let bytes = sealed.as_bytes();
        let (&version, rest) = bytes.split_first()?;
        let (&id_len, rest) = rest.split_first()?;
        if version != VERSION {
            return None;
        }
        let id = rest.get(..usize::from(id_len))?;
        std::str::from_utf8(id).ok().map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OsRandom;

    const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "Hx4dHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=";

    fn secret_box(keys: &str) -> AesGcmSecretBox {
        AesGcmSecretBox::from_config(
            &SecretString::from(keys.to_owned()),
            Arc::new(OsRandom::new()),
        )
        .unwrap()
    }

    fn token() -> SecretString {
        SecretString::from("xoxb-provider-token".to_owned())
    }

    #[test]
    fn a_sealed_value_opens_in_its_own_context_only() {
        let b = secret_box(&format!("k1:{K1}"));
        let sealed = b.seal(&token(), "accounts/1/access_token").unwrap();
        assert_eq!(
            b.open(&sealed, "accounts/1/access_token")
                .unwrap()
                .expose_secret(),
            "xoxb-provider-token"
        );
        assert_eq!(
            b.open(&sealed, "accounts/2/access_token").err(),
            Some(SealError::Open),
            "another row"
        );
        assert_eq!(
            b.open(&sealed, "accounts/1/refresh_token").err(),
            Some(SealError::Open),
            "another column"
        );
        let raw = sealed.as_bytes();
        assert!(
            !raw.windows(5).any(|w| w == b"xoxb-"),
            "no plaintext in the ciphertext"
        );
    }

    #[test]
    fn sealing_twice_gives_different_nonces_and_ciphertexts() {
        let b = secret_box(&format!("k1:{K1}"));
        let a = b.seal(&token(), "c").unwrap();
        let c = b.seal(&token(), "c").unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn every_flipped_bit_is_an_error_not_a_panic() {
        let b = secret_box(&format!("k1:{K1}"));
        let sealed = b.seal(&token(), "c").unwrap();
        for i in 0..sealed.as_bytes().len() * 8 {
            let mut bytes = sealed.as_bytes().to_vec();
            bytes[i / 8] ^= 1 << (i % 8);
            assert!(b.open(&Sealed::from_bytes(bytes), "c").is_err(), "bit {i}");
        }
        for len in 0..sealed.as_bytes().len() {
            let cut = Sealed::from_bytes(sealed.as_bytes()[..len].to_vec());
            assert!(b.open(&cut, "c").is_err(), "truncated to {len}");
        }
    }

    #[test]
    fn old_keys_open_and_the_first_key_seals() {
        let old = secret_box(&format!("k1:{K1}"));
        let sealed_old = old.seal(&token(), "c").unwrap();
        let rotated = secret_box(&format!("k2:{K2},k1:{K1}"));
        assert_eq!(rotated.current_key_id(), "k2");
        assert!(
            rotated.open(&sealed_old, "c").is_ok(),
            "old values still open"
        );
        let sealed_new = rotated.seal(&token(), "c").unwrap();
        assert!(
            old.open(&sealed_new, "c").is_err(),
            "the old ring does not know k2"
        );
        let retired = secret_box(&format!("k2:{K2}"));
        assert!(
            retired.open(&sealed_old, "c").is_err(),
            "a removed key opens nothing"
        );
    }

    #[test]
    fn every_sealed_value_names_its_own_key() {
        let old = secret_box(&format!("k1:{K1}"));
        let rotated = secret_box(&format!("k2:{K2},k1:{K1}"));
        let a = old.seal(&token(), "c").unwrap();
        let b = rotated.seal(&token(), "c").unwrap();
        assert_eq!(rotated.key_id_of(&a).as_deref(), Some("k1"));
        assert_eq!(rotated.key_id_of(&b).as_deref(), Some("k2"));
        assert_eq!(rotated.key_id_of(&Sealed::from_bytes(vec![])), None);
        assert_eq!(
            rotated.key_id_of(&Sealed::from_bytes(vec![2, 2, b'k', b'1'])),
            None
        );
        assert_eq!(
            rotated.key_id_of(&Sealed::from_bytes(vec![1, 9, b'k'])),
            None,
            "cut short"
        );
    }

    #[test]
    fn a_bare_key_is_named_by_its_fingerprint() {
        let b = secret_box(K1);
        assert_eq!(b.current_key_id().len(), 8);
    }

    #[test]
    fn bad_key_rings_are_refused() {
        let random: Arc<dyn Random> = Arc::new(OsRandom::new());
        let parse = |s: &str| {
            AesGcmSecretBox::from_config(&SecretString::from(s.to_owned()), random.clone()).err()
        };
        assert_eq!(parse(""), Some(KeyRingError::Empty));
        assert_eq!(
            parse("k1:c2hvcnQ="),
            Some(KeyRingError::BadKey("k1".into()))
        );
        assert_eq!(
            parse(&format!("bad id:{K1}")),
            Some(KeyRingError::BadId("bad id".into()))
        );
        assert_eq!(
            parse(&format!("k1:{K1},k1:{K2}")),
            Some(KeyRingError::Duplicate("k1".into()))
        );
    }
}
