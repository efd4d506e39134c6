//! The `x-api-key` check. The key authenticates the GPT, never a user. A key is one of
//! `GPT_API_KEY`'s, or one made in the admin console (looked up through its service, which
//! remembers answers for a few seconds: no query per request).

use std::sync::Arc;

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
    /// A public name for each key (`key-` and 8 bytes of its SHA-256 in hex), for budgets and
    /// logs: the same on every instance and after restarts, and no help to a guesser.
    ids: Vec<String>,
    /// The keys made in the admin console.
    console: Arc<gptgate_ports::services::ApiKeys>,
}

impl ApiKeys {
    pub fn new(
        keys: &[SecretString],
        random: &dyn Random,
        console: Arc<gptgate_ports::services::ApiKeys>,
    ) -> Result<Self, gptgate_ports::RandomError> {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &random.bytes::<32>()?);
        let tags = keys
            .iter()
            .map(|k| hmac::sign(&key, k.expose_secret().as_bytes()))
            .collect();
        let ids = keys
            .iter()
            .map(|k| {
                let digest =
                    ring::digest::digest(&ring::digest::SHA256, k.expose_secret().as_bytes());
                let hex: String = digest.as_ref()[..8]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                format!("key-{hex}")
            })
            .collect();
        Ok(Self {
            key,
            tags,
            ids,
            console,
        })
    }

    /// The public names of `GPT_API_KEY`'s keys, for the console's list.
    pub fn environment_ids(&self) -> &[String] {
        &self.ids
    }

    /// The id of the key `presented` is, if it is one of them. Every key is compared, so the
    /// time taken does not tell which one matched.
    pub fn accepts(&self, presented: &str) -> Option<&str> {
        let mut found = None;
        for (tag, id) in self.tags.iter().zip(&self.ids) {
            if hmac::verify(&self.key, presented.as_bytes(), tag.as_ref()).is_ok() {
                found = Some(id.as_str());
            }
        }
        found
    }

    /// Checks the request's `x-api-key` header (headers only: a key in the query string is
    /// ignored, so it is never logged by proxies) and returns the key's id: `key-<hex>` for one
    /// of `GPT_API_KEY`'s, `key-<uuid>` for one made in the console.
    pub async fn check(&self, req: &HttpRequest) -> Result<String, ApiError> {
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
            Some(key) => {
                if let Some(id) = self.accepts(key) {
                    return Ok(id.to_owned());
                }
                let made = self.console.accept(key).await.map_err(|e| {
                    ApiError::unavailable(
                        "database_unavailable",
                        "The API key cannot be checked right now. Please try again in a minute.",
                        e,
                    )
                })?;
                made.map(|id| format!("key-{id}")).ok_or_else(|| {
                    ApiError::unauthorized("invalid_api_key", "The API key is not valid.")
                })
            }
        }
    }
}
