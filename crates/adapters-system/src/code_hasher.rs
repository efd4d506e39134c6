use gptgate_domain::{CodeHash, Email, VerificationCode};
use gptgate_ports::CodeHasher;
use ring::hmac;

use crate::ServerKeys;

/// HMAC-SHA256 over `purpose || email || code` under a key derived from the server secret.
/// Comparison goes through `ring::hmac::verify`, which is constant-time.
pub struct HmacCodeHasher {
    key: hmac::Key,
}

impl HmacCodeHasher {
    pub fn new(keys: &ServerKeys) -> Self {
        Self {
            key: keys.code_hmac.clone(),
        }
    }

    fn message(email: &Email, code: &VerificationCode) -> Vec<u8> {
        // NUL cannot occur in a normalized email or a code, so the fields cannot run together.
        format!("sign-in\0{}\0{}", email.as_str(), code.digits()).into_bytes()
    }
}

impl CodeHasher for HmacCodeHasher {
    fn hash(&self, email: &Email, code: &VerificationCode) -> CodeHash {
        let tag = hmac::sign(&self.key, &Self::message(email, code));
        CodeHash::from_bytes(tag.as_ref().to_vec())
    }

    fn matches(&self, email: &Email, code: &VerificationCode, hash: &CodeHash) -> bool {
        hmac::verify(&self.key, &Self::message(email, code), hash.as_bytes()).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::digest;
    use secrecy::SecretString;

    fn hasher(secret: &str) -> HmacCodeHasher {
        HmacCodeHasher::new(&ServerKeys::derive(&SecretString::from(secret.to_owned())).unwrap())
    }

    #[test]
    fn the_stored_hash_is_keyed_and_reveals_nothing_about_the_code() {
        let h = hasher(&"k".repeat(32));
        let email = Email::parse("ann@example.com").unwrap();
        let code = VerificationCode::parse("123456").unwrap();
        let hash = h.hash(&email, &code);
        assert_eq!(hash.as_bytes().len(), 32);
        assert_ne!(hash.as_bytes(), b"123456");
        assert_ne!(
            hash.as_bytes(),
            digest::digest(&digest::SHA256, b"123456").as_ref()
        );
        assert!(h.matches(&email, &code, &hash));
        assert!(
            !hasher(&"x".repeat(32)).matches(&email, &code, &hash),
            "another key fails"
        );
    }

    #[test]
    fn a_hash_is_bound_to_its_email_and_code() {
        let h = hasher(&"k".repeat(32));
        let ann = Email::parse("ann@example.com").unwrap();
        let bob = Email::parse("bob@example.com").unwrap();
        let code = VerificationCode::parse("123456").unwrap();
        let hash = h.hash(&ann, &code);
        assert!(!h.matches(&bob, &code, &hash));
        assert!(!h.matches(&ann, &VerificationCode::parse("123457").unwrap(), &hash));
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(ServerKeys::derive(&SecretString::from("x".repeat(31))).is_err());
    }
}
