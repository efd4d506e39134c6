use gptgate_domain::{LaunchClaims, LaunchKey};
use gptgate_ports::{LaunchTokenError, LaunchTokens};
use serde_json::Value;

/// Launch tokens without cryptography, for service tests: a token is `<algorithm>|<key
/// fingerprint>|<claims JSON>`, made by [`FakeLaunchTokens::sign`]; verifying checks the
/// algorithm and the key. Only for tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct FakeLaunchTokens;

fn fingerprint(key: &LaunchKey) -> String {
    match key {
        LaunchKey::EdDsa { public_pem } | LaunchKey::Rs256 { public_pem } => public_pem.clone(),
        LaunchKey::Hs256 { secret } => secret.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

impl FakeLaunchTokens {
    /// A token of `claims` signed by `key`.
    pub fn sign(key: &LaunchKey, claims: &Value) -> String {
        format!("{}|{}|{claims}", key.algorithm(), fingerprint(key))
    }
}

impl LaunchTokens for FakeLaunchTokens {
    fn verify(&self, token: &str, key: &LaunchKey) -> Result<LaunchClaims, LaunchTokenError> {
        // As the real verifier: a key no longer usable (registered before a rule tightened)
        // verifies nothing.
        if !self.usable(key) {
            return Err(LaunchTokenError::UnusableKey);
        }
        let mut parts = token.splitn(3, '|');
        let (Some(alg), Some(print), Some(json)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(LaunchTokenError::Malformed);
        };
        if alg != key.algorithm() {
            return Err(LaunchTokenError::WrongAlgorithm);
        }
        if print != fingerprint(key) {
            return Err(LaunchTokenError::BadSignature);
        }
        let v: Value = serde_json::from_str(json).map_err(|_| LaunchTokenError::Malformed)?;
        let text = |name: &str| v.get(name).and_then(Value::as_str).map(str::to_owned);
        let number = |name: &str| v.get(name).and_then(Value::as_i64);
        Ok(LaunchClaims {
            iss: text("iss").ok_or(LaunchTokenError::Malformed)?,
            aud: match v.get("aud") {
                Some(Value::String(a)) => vec![a.clone()],
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            },
            sub: text("sub"),
            exp: number("exp"),
            iat: number("iat"),
            nbf: number("nbf"),
            jti: text("jti"),
        })
    }

    fn usable(&self, key: &LaunchKey) -> bool {
        match key {
            LaunchKey::EdDsa { public_pem } | LaunchKey::Rs256 { public_pem } => {
                public_pem.starts_with("-----BEGIN PUBLIC KEY-----")
            }
            LaunchKey::Hs256 { secret } => secret.len() >= LaunchKey::MIN_SECRET,
        }
    }

    fn issuer(&self, token: &str) -> Option<String> {
        let json = token.splitn(3, '|').nth(2)?;
        let v: Value = serde_json::from_str(json).ok()?;
        v.get("iss").and_then(Value::as_str).map(str::to_owned)
    }
}

/// The LTI claim names, as in real id_tokens.
pub mod lti_claims {
    pub const MESSAGE_TYPE: &str = "https://purl.imsglobal.org/spec/lti/claim/message_type";
    pub const VERSION: &str = "https://purl.imsglobal.org/spec/lti/claim/version";
    pub const DEPLOYMENT_ID: &str = "https://purl.imsglobal.org/spec/lti/claim/deployment_id";
    pub const RESOURCE_LINK: &str = "https://purl.imsglobal.org/spec/lti/claim/resource_link";
}

/// LTI id_tokens without cryptography, for service tests: a token is `<kid>|<key n>|<claims
/// JSON>`, made by [`FakeLtiTokens::sign`]; verifying checks the key. Only for tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct FakeLtiTokens;

impl FakeLtiTokens {
    /// A token of `claims` (LTI claims under their full names) signed by `key`.
    pub fn sign(key: &gptgate_domain::PlatformKey, claims: &Value) -> String {
        format!("{}|{}|{claims}", key.kid, key.n)
    }

    fn parts(token: &str) -> Option<(&str, &str, Value)> {
        let mut parts = token.splitn(3, '|');
        let (kid, n, json) = (parts.next()?, parts.next()?, parts.next()?);
        Some((kid, n, serde_json::from_str(json).ok()?))
    }
}

fn audience(v: &Value) -> Vec<String> {
    match v.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

impl gptgate_ports::LtiTokens for FakeLtiTokens {
    fn verify(
        &self,
        token: &str,
        key: &gptgate_domain::PlatformKey,
    ) -> Result<gptgate_domain::LtiClaims, LaunchTokenError> {
        let (kid, n, v) = Self::parts(token).ok_or(LaunchTokenError::Malformed)?;
        if kid != key.kid || n != key.n {
            return Err(LaunchTokenError::BadSignature);
        }
        let text = |name: &str| v.get(name).and_then(Value::as_str).map(str::to_owned);
        let number = |name: &str| v.get(name).and_then(Value::as_i64);
        Ok(gptgate_domain::LtiClaims {
            iss: text("iss").ok_or(LaunchTokenError::Malformed)?,
            aud: audience(&v),
            azp: text("azp"),
            sub: text("sub"),
            exp: number("exp"),
            iat: number("iat"),
            nbf: number("nbf"),
            nonce: text("nonce"),
            message_type: text(lti_claims::MESSAGE_TYPE),
            version: text(lti_claims::VERSION),
            deployment_id: text(lti_claims::DEPLOYMENT_ID),
            resource_link_id: v
                .get(lti_claims::RESOURCE_LINK)
                .and_then(|l| l.get("id"))
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }

    fn peek(&self, token: &str) -> Option<gptgate_ports::LtiPeek> {
        let (kid, _, v) = Self::parts(token)?;
        Some(gptgate_ports::LtiPeek {
            kid: Some(kid.to_owned()).filter(|k| !k.is_empty()),
            iss: v.get("iss")?.as_str()?.to_owned(),
            aud: audience(&v),
            azp: v.get("azp").and_then(Value::as_str).map(str::to_owned),
        })
    }
}

/// Platforms' key sets, as a test sets them; counts the fetches.
#[derive(Default)]
pub struct FakeKeySets {
    sets: std::sync::Mutex<
        std::collections::HashMap<String, Option<Vec<gptgate_domain::PlatformKey>>>,
    >,
    fetches: std::sync::atomic::AtomicUsize,
}

impl FakeKeySets {
    /// The set at `url` holds `keys` from now on.
    pub fn set(&self, url: &str, keys: Vec<gptgate_domain::PlatformKey>) {
        self.sets.lock().unwrap().insert(url.to_owned(), Some(keys));
    }

    /// The set at `url` cannot be fetched from now on.
    pub fn break_off(&self, url: &str) {
        self.sets.lock().unwrap().insert(url.to_owned(), None);
    }

    /// How many fetches were made.
    pub fn fetches(&self) -> usize {
        self.fetches.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl gptgate_ports::KeySets for FakeKeySets {
    async fn fetch(
        &self,
        url: &gptgate_domain::PlatformUrl,
    ) -> Result<Vec<gptgate_domain::PlatformKey>, gptgate_ports::KeySetError> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // Another task may run meanwhile, as during a real fetch.
        tokio::task::yield_now().await;
        self.sets
            .lock()
            .unwrap()
            .get(url.as_str())
            .cloned()
            .flatten()
            .ok_or_else(|| gptgate_ports::KeySetError::Unreachable("connection refused".into()))
    }
}
