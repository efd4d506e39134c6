//! The `x-api-key` check. The key authenticates the GPT, never a user.

use actix_web::HttpRequest;
use gptgate_ports::Random;
use ring::hmac;
use secrecy::{ExposeSecret, SecretString};

use crate::error::ApiError;

/// The configured API keys, held only as HMAC tags under a per-process random key; a presented
/// key is checked with `ring::hmac::verify`, which compares in constant time, so neither its
/// content nor its length shows in the timing.
pub struct ApiKeys {
    key: hmac::Key,
    tags: Vec<hmac::Tag>,
}

impl ApiKeys {
    pub fn new(
        keys: &[SecretString],
        random: &dyn Random,
    ) -> Result<Self, gptgate_ports::RandomError> {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &random.bytes::<32>()?);
        let tags = keys
            .iter()
            .map(|k| hmac::sign(&key, k.expose_secret().as_bytes()))
            .collect();
        Ok(Self { key, tags })
    }

    /// Whether `presented` is one of the keys.
    pub fn accepts(&self, presented: &str) -> bool {
        self.tags
            .iter()
            .any(|tag| hmac::verify(&self.key, presented.as_bytes(), tag.as_ref()).is_ok())
    }

    /// Checks the request's `x-api-key` header (headers only: a key in the query string is
    /// ignored, so it is never logged by proxies).
    pub fn check(&self, req: &HttpRequest) -> Result<(), ApiError> {
        let presented = req
            .headers()
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty());
        match presented {
            None => Err(ApiError::unauthorized(
                "missing_api_key",
                "Send the API key in the x-api-key header (set it in the GPT's Actions authentication).",
            )),
            Some(key) if self.accepts(key) => Ok(()),
            Some(_) => Err(ApiError::unauthorized("invalid_api_key", "The API key is not valid.")),
        }
    }
}
