use std::sync::Arc;

use base64::Engine;
use gptgate_domain::TokenHash;
use gptgate_ports::{OpaqueTokens, Random, RandomError};
use ring::digest;
use secrecy::SecretString;

/// 256-bit random tokens, base64url without padding (43 characters), hashed with SHA-256.
pub struct Sha256OpaqueTokens {
    random: Arc<dyn Random>,
}

impl Sha256OpaqueTokens {
    pub fn new(random: Arc<dyn Random>) -> Self {
        Self { random }
    }
}

impl OpaqueTokens for Sha256OpaqueTokens {
    fn mint(&self) -> Result<(SecretString, TokenHash), RandomError> {
        let token =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.random.bytes::<32>()?);
        let hash = self.hash(&token);
        Ok((SecretString::from(token), hash))
    }

    fn hash(&self, token: &str) -> TokenHash {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
        TokenHash::from_bytes(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OsRandom;
    use secrecy::ExposeSecret;

    #[test]
    fn tokens_are_256_bit_url_safe_and_stored_by_hash() {
        let tokens = Sha256OpaqueTokens::new(Arc::new(OsRandom::new()));
        let (a, hash_a) = tokens.mint().unwrap();
        let (b, _) = tokens.mint().unwrap();
        assert_eq!(a.expose_secret().len(), 43);
        assert!(a
            .expose_secret()
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(tokens.hash(a.expose_secret()), hash_a);
        assert_ne!(&hash_a.as_bytes()[..], a.expose_secret().as_bytes());
    }
}
