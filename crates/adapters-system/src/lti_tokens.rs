//! LTI 1.3 id_tokens, verified with `jsonwebtoken` (RustCrypto): RS256 only, whatever the
//! token's header says, with the platform key its `kid` named (the key set's modulus and
//! exponent). The claims are read, not judged: `gptgate_domain::LtiPolicy` judges them.

use gptgate_domain::{LtiClaims, PlatformKey};
use gptgate_ports::{LaunchTokenError, LtiPeek, LtiTokens};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// `aud`, a string or a list of them (RFC 7519 4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn into_list(self) -> Vec<String> {
        match self {
            Self::One(aud) => vec![aud],
            Self::Many(aud) => aud,
        }
    }
}

#[derive(Deserialize)]
struct ResourceLink {
    id: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: Audience,
    azp: Option<String>,
    sub: Option<String>,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    nonce: Option<String>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/message_type")]
    message_type: Option<String>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/version")]
    version: Option<String>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/deployment_id")]
    deployment_id: Option<String>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/resource_link")]
    resource_link: Option<ResourceLink>,
}

/// Whether the token's header has a `crit` member (jsonwebtoken does not look at it).
fn names_critical_extensions(token: &str) -> bool {
    use base64::Engine;
    token
        .split('.')
        .next()
        .and_then(|h| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h)
                .ok()
        })
        .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
        .is_none_or(|h| h.get("crit").is_some())
}

/// The id_token verifier.
#[derive(Debug, Default, Clone, Copy)]
pub struct JwtLtiTokens;

impl LtiTokens for JwtLtiTokens {
    fn verify(&self, token: &str, key: &PlatformKey) -> Result<LtiClaims, LaunchTokenError> {
        // The key set's fetch keeps only keys of a size RSA is safe and able to verify with;
        // checked again here, where the signature is: a smaller modulus could be factored.
        if !crate::rsa_keys::jwk_modulus_bits(&key.n)
            .is_some_and(gptgate_domain::LaunchKey::rsa_size_ok)
        {
            return Err(LaunchTokenError::UnusableKey);
        }
        let decoding = DecodingKey::from_rsa_components(&key.n, &key.e)
            .map_err(|_| LaunchTokenError::UnusableKey)?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| LaunchTokenError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(LaunchTokenError::WrongAlgorithm);
        }
        // Critical extensions (RFC 7515 4.1.11): gptgate understands none, so none may be named.
        if names_critical_extensions(token) {
            return Err(LaunchTokenError::Malformed);
        }
        // The signature and the algorithm only: the claims are the domain's to judge.
        let mut validation = Validation::new(Algorithm::RS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<Claims>(token, &decoding, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::InvalidSignature => LaunchTokenError::BadSignature,
                    ErrorKind::InvalidAlgorithm => LaunchTokenError::WrongAlgorithm,
                    ErrorKind::InvalidRsaKey(_) => LaunchTokenError::UnusableKey,
                    _ => LaunchTokenError::Malformed,
                }
            })?
            .claims;
        Ok(LtiClaims {
            iss: claims.iss,
            aud: claims.aud.into_list(),
            azp: claims.azp,
            sub: claims.sub,
            exp: claims.exp,
            iat: claims.iat,
            nbf: claims.nbf,
            nonce: claims.nonce,
            message_type: claims.message_type,
            version: claims.version,
            deployment_id: claims.deployment_id,
            resource_link_id: claims.resource_link.and_then(|l| l.id),
        })
    }

    fn peek(&self, token: &str) -> Option<LtiPeek> {
        use base64::Engine;
        #[derive(Deserialize)]
        struct Named {
            iss: String,
            aud: Audience,
            azp: Option<String>,
        }
        let header = jsonwebtoken::decode_header(token).ok()?;
        let payload = token.split('.').nth(1)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()?;
        let named: Named = serde_json::from_slice(&bytes).ok()?;
        Some(LtiPeek {
            kid: header.kid.filter(|kid| !kid.is_empty()),
            iss: named.iss,
            aud: named.aud.into_list(),
            azp: named.azp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    const RSA_PRIVATE: &str = include_str!("../tests/fixtures/test-only-rsa-private.pem");
    const OTHER_PRIVATE: &str = include_str!("../tests/fixtures/test-only-rsa-other-private.pem");
    const JWKS: &str = include_str!("../tests/fixtures/test-only-rsa-jwks.json");
    const ED_PRIVATE: &str = include_str!("../tests/fixtures/test-only-ed25519-private.pem");

    fn key() -> PlatformKey {
        let set: serde_json::Value = serde_json::from_str(JWKS).unwrap();
        let k = &set["keys"][0];
        PlatformKey {
            kid: k["kid"].as_str().unwrap().into(),
            n: k["n"].as_str().unwrap().into(),
            e: k["e"].as_str().unwrap().into(),
        }
    }

    /// What Moodle puts in a resource link launch (abridged).
    fn claims() -> serde_json::Value {
        json!({
            "iss": "https://moodle.example.edu", "aud": "kVd7wEZwUQiJfS6", "sub": "2",
            "exp": 1_764_237_060, "iat": 1_764_237_000, "nonce": "n-1",
            "https://purl.imsglobal.org/spec/lti/claim/deployment_id": "1",
            "https://purl.imsglobal.org/spec/lti/claim/target_link_uri": "https://gpt.example.com/chat",
            "https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiResourceLinkRequest",
            "https://purl.imsglobal.org/spec/lti/claim/version": "1.3.0",
            "https://purl.imsglobal.org/spec/lti/claim/resource_link": { "id": "3", "title": "Ask the tutor" },
            "https://purl.imsglobal.org/spec/lti/claim/roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
            "name": "Ada Lovelace", "email": "ada@example.edu"
        })
    }

    fn signed(
        alg: Algorithm,
        kid: Option<&str>,
        key: &EncodingKey,
        claims: &serde_json::Value,
    ) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, key).unwrap()
    }

    fn rsa(pem: &str) -> EncodingKey {
        EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()
    }

    #[test]
    fn a_key_set_key_under_2048_bits_is_unusable_even_for_a_token_it_signed() {
        use base64::Engine;
        use rsa::pkcs1::DecodeRsaPublicKey;
        use rsa::traits::PublicKeyParts;
        let block = pem::parse(include_str!(
            "../tests/fixtures/test-only-rsa-1024-pkcs1-public.pem"
        ))
        .unwrap();
        let public = rsa::RsaPublicKey::from_pkcs1_der(block.contents()).unwrap();
        let b64 = |n: &rsa::BigUint| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(n.to_bytes_be())
        };
        let small = PlatformKey {
            kid: "small".into(),
            n: b64(public.n()),
            e: b64(public.e()),
        };
        let token = signed(
            Algorithm::RS256,
            Some("small"),
            &rsa(include_str!(
                "../tests/fixtures/test-only-rsa-1024-private.pem"
            )),
            &claims(),
        );
        assert_eq!(
            JwtLtiTokens.verify(&token, &small),
            Err(LaunchTokenError::UnusableKey)
        );
        // The 2048-bit key of the fixtures verifies its own tokens.
        let token = signed(
            Algorithm::RS256,
            Some(&key().kid),
            &rsa(RSA_PRIVATE),
            &claims(),
        );
        assert!(JwtLtiTokens.verify(&token, &key()).is_ok());
    }

    #[test]
    fn a_platform_signed_id_token_is_read_whole() {
        let token = signed(
            Algorithm::RS256,
            Some("test-only-key-1"),
            &rsa(RSA_PRIVATE),
            &claims(),
        );
        let read = JwtLtiTokens.verify(&token, &key()).unwrap();
        assert_eq!(
            read,
            LtiClaims {
                iss: "https://moodle.example.edu".into(),
                aud: vec!["kVd7wEZwUQiJfS6".into()],
                azp: None,
                sub: Some("2".into()),
                exp: Some(1_764_237_060),
                iat: Some(1_764_237_000),
                nbf: None,
                nonce: Some("n-1".into()),
                message_type: Some("LtiResourceLinkRequest".into()),
                version: Some("1.3.0".into()),
                deployment_id: Some("1".into()),
                resource_link_id: Some("3".into()),
            }
        );
        let peek = JwtLtiTokens.peek(&token).unwrap();
        assert_eq!(peek.kid.as_deref(), Some("test-only-key-1"));
        assert_eq!(peek.iss, "https://moodle.example.edu");
        assert_eq!(peek.aud, ["kVd7wEZwUQiJfS6"]);
        // aud as a list, with azp.
        let mut many = claims();
        many["aud"] = json!(["kVd7wEZwUQiJfS6", "other"]);
        many["azp"] = json!("kVd7wEZwUQiJfS6");
        let token = signed(Algorithm::RS256, Some("k"), &rsa(RSA_PRIVATE), &many);
        let read = JwtLtiTokens.verify(&token, &key()).unwrap();
        assert_eq!(read.aud, ["kVd7wEZwUQiJfS6", "other"]);
        assert_eq!(read.azp.as_deref(), Some("kVd7wEZwUQiJfS6"));
        assert_eq!(JwtLtiTokens.peek(&token).unwrap().azp, read.azp);
    }

    #[test]
    fn only_rs256_with_the_named_key_verifies() {
        // Another platform's key: a bad signature.
        let foreign = signed(
            Algorithm::RS256,
            Some("test-only-key-1"),
            &rsa(OTHER_PRIVATE),
            &claims(),
        );
        assert_eq!(
            JwtLtiTokens.verify(&foreign, &key()),
            Err(LaunchTokenError::BadSignature)
        );
        // The right key, another RSA algorithm: refused before any signature check.
        for alg in [Algorithm::RS384, Algorithm::RS512, Algorithm::PS256] {
            let token = signed(alg, Some("test-only-key-1"), &rsa(RSA_PRIVATE), &claims());
            assert_eq!(
                JwtLtiTokens.verify(&token, &key()),
                Err(LaunchTokenError::WrongAlgorithm),
                "{alg:?}"
            );
        }
        // The key's modulus as an HMAC secret.
        let hs = signed(
            Algorithm::HS256,
            Some("test-only-key-1"),
            &EncodingKey::from_secret(key().n.as_bytes()),
            &claims(),
        );
        assert_eq!(
            JwtLtiTokens.verify(&hs, &key()),
            Err(LaunchTokenError::WrongAlgorithm)
        );
        let ed = signed(
            Algorithm::EdDSA,
            Some("test-only-key-1"),
            &EncodingKey::from_ed_pem(ED_PRIVATE.as_bytes()).unwrap(),
            &claims(),
        );
        assert_eq!(
            JwtLtiTokens.verify(&ed, &key()),
            Err(LaunchTokenError::WrongAlgorithm)
        );
        // alg none, and a token whose payload was changed after signing.
        let good = signed(Algorithm::RS256, None, &rsa(RSA_PRIVATE), &claims());
        let parts: Vec<&str> = good.split('.').collect();
        use base64::Engine;
        let b64 = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let none = format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT"})),
            parts[1]
        );
        assert_eq!(
            JwtLtiTokens.verify(&none, &key()),
            Err(LaunchTokenError::Malformed)
        );
        let mut changed = claims();
        changed["sub"] = json!("1");
        let forged = format!("{}.{}.{}", parts[0], b64(&changed), parts[2]);
        assert_eq!(
            JwtLtiTokens.verify(&forged, &key()),
            Err(LaunchTokenError::BadSignature)
        );
        for garbage in ["", "a.b.c", "not a token"] {
            assert_eq!(
                JwtLtiTokens.verify(garbage, &key()),
                Err(LaunchTokenError::Malformed)
            );
            assert_eq!(JwtLtiTokens.peek(garbage), None);
        }
    }

    #[test]
    fn an_empty_kid_names_no_key_and_critical_extensions_are_refused() {
        let token = signed(Algorithm::RS256, Some(""), &rsa(RSA_PRIVATE), &claims());
        assert_eq!(JwtLtiTokens.peek(&token).unwrap().kid, None);
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("test-only-key-1".into());
        use base64::Engine;
        let good = jsonwebtoken::encode(&header, &claims(), &rsa(RSA_PRIVATE)).unwrap();
        // The same signing input with a crit member: sign it as the platform would.
        let head = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            json!({"alg": "RS256", "kid": "test-only-key-1", "crit": ["exp"], "exp": 1})
                .to_string(),
        );
        let payload = good.split('.').nth(1).unwrap();
        let message = format!("{head}.{payload}");
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &rsa(RSA_PRIVATE), Algorithm::RS256)
                .unwrap();
        let critical = format!("{message}.{signature}");
        assert_eq!(
            JwtLtiTokens.verify(&critical, &key()),
            Err(LaunchTokenError::Malformed)
        );
        assert!(JwtLtiTokens.verify(&good, &key()).is_ok());
    }

    #[test]
    fn a_key_that_is_not_rsa_components_is_unusable() {
        let token = signed(Algorithm::RS256, None, &rsa(RSA_PRIVATE), &claims());
        let broken = PlatformKey {
            n: "not base64!".into(),
            ..key()
        };
        assert_eq!(
            JwtLtiTokens.verify(&token, &broken),
            Err(LaunchTokenError::UnusableKey)
        );
    }
}
