use ring::{hkdf, hmac};
use secrecy::{ExposeSecret, SecretString};

/// The shortest server secret accepted: 256 bits (RFC 7518 section 3.2 for HS256).
pub const MIN_SECRET_BYTES: usize = 32;

/// The server secret is too weak to use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the secret must be at least {MIN_SECRET_BYTES} bytes")]
pub struct KeyError;

/// Independent keys derived from the one server secret (`JWT_SECRET`) with HKDF-SHA256, so the
/// key that signs session tokens is never the key that hashes sign-in codes.
pub struct ServerKeys {
    pub(crate) code_hmac: hmac::Key,
    pub(crate) session_jwt: [u8; 32],
    browser_hmac: hmac::Key,
}

struct Len32;

impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

impl ServerKeys {
    /// Derives the keys; refuses secrets shorter than [`MIN_SECRET_BYTES`].
    pub fn derive(secret: &SecretString) -> Result<Self, KeyError> {
        let secret = secret.expose_secret().as_bytes();
        if secret.len() < MIN_SECRET_BYTES {
            return Err(KeyError);
        }
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"gptgate server keys v1").extract(secret);
        let code_hmac = hmac::Key::from(
            prk.expand(&[b"verification-code"], hmac::HMAC_SHA256)
                .map_err(|_| KeyError)?,
        );
        let mut session_jwt = [0u8; 32];
        prk.expand(&[b"session-jwt"], Len32)
            .and_then(|okm| okm.fill(&mut session_jwt))
            .map_err(|_| KeyError)?;
        let browser_hmac = hmac::Key::from(
            prk.expand(&[b"browser-csrf"], hmac::HMAC_SHA256)
                .map_err(|_| KeyError)?,
        );
        Ok(Self {
            code_hmac,
            session_jwt,
            browser_hmac,
        })
    }

    /// The key that signs the CSRF tokens of browser forms (bound to a browser's cookie). The
    /// same on every instance sharing `JWT_SECRET`, so a form shown by one is accepted by
    /// another.
    pub fn browser_key(&self) -> &hmac::Key {
        &self.browser_hmac
    }
}
