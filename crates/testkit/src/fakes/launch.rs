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
