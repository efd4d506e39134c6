use gptgate_domain::{Audience, SessionId, UserId};
use gptgate_ports::{SessionClaims, SessionTokens, TokenError};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::ServerKeys;

/// The audience of a token for the GPT Actions API (every email sign-in's).
pub const AUDIENCE: &str = "gptgate";
/// The audience of a token for the MCP endpoint.
pub const MCP_AUDIENCE: &str = "gptgate-mcp";

fn aud(audience: Audience) -> &'static str {
    match audience {
        Audience::Api => AUDIENCE,
        Audience::Mcp => MCP_AUDIENCE,
    }
}

/// HS256 session tokens (RFC 7519) with the algorithm pinned: `none`, HS384/512 and every
/// asymmetric algorithm are refused, as are tokens lacking `sub`, `sid`, `iss`, `aud`, `iat` or
/// `exp`. Expiry is checked against the caller's clock, not the system's, so it is testable.
pub struct JwtSessionTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    sid: Uuid,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
}

impl JwtSessionTokens {
    /// Tokens issued by `issuer` (the server's public URL).
    pub fn new(keys: &ServerKeys, issuer: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        // Both are accepted here; which one a face takes is the caller's check.
        validation.set_audience(&[AUDIENCE, MCP_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        // Expiry is checked in `verify` against the injected clock.
        validation.validate_exp = false;
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(&keys.session_jwt),
            decoding: DecodingKey::from_secret(&keys.session_jwt),
            validation,
            issuer: issuer.to_owned(),
        }
    }
}

impl SessionTokens for JwtSessionTokens {
    fn sign(&self, c: &SessionClaims) -> Result<String, TokenError> {
        let claims = Claims {
            sub: c.user_id.as_uuid(),
            sid: c.session_id.as_uuid(),
            iss: self.issuer.clone(),
            aud: aud(c.audience).to_owned(),
            iat: c.issued_at.unix_timestamp(),
            exp: c.expires_at.unix_timestamp(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| TokenError::Signing)
    }

    fn verify(&self, token: &str, now: OffsetDateTime) -> Result<SessionClaims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        let c = data.claims;
        let at = |t| OffsetDateTime::from_unix_timestamp(t).map_err(|_| TokenError::Invalid);
        let claims = SessionClaims {
            user_id: UserId::from_uuid(c.sub),
            session_id: SessionId::from_uuid(c.sid),
            issued_at: at(c.iat)?,
            expires_at: at(c.exp)?,
            audience: match c.aud.as_str() {
                AUDIENCE => Audience::Api,
                MCP_AUDIENCE => Audience::Mcp,
                _ => return Err(TokenError::Invalid),
            },
        };
        if now >= claims.expires_at {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use secrecy::SecretString;
    use serde_json::json;
    use time::{macros::datetime, Duration};

    const T0: OffsetDateTime = datetime!(2026-01-01 12:00 UTC);
    const ISSUER: &str = "https://gate.example.com";

    fn keys() -> ServerKeys {
        ServerKeys::derive(&SecretString::from("s".repeat(32))).unwrap()
    }

    fn tokens() -> JwtSessionTokens {
        JwtSessionTokens::new(&keys(), ISSUER)
    }

    fn claims() -> SessionClaims {
        SessionClaims {
            user_id: UserId::from_random_bytes([1; 16]),
            session_id: SessionId::from_random_bytes([2; 16]),
            issued_at: T0,
            expires_at: T0 + Duration::hours(12),
            audience: Audience::Api,
        }
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// A token with the given header and payload, signed with the server's own JWT key.
    fn hand_made(header: serde_json::Value, payload: serde_json::Value, alg: Algorithm) -> String {
        let head = b64(header.to_string().as_bytes());
        let body = b64(payload.to_string().as_bytes());
        let signing_input = format!("{head}.{body}");
        let sig = match alg {
            Algorithm::HS512 => ring::hmac::sign(
                &ring::hmac::Key::new(ring::hmac::HMAC_SHA512, &keys().session_jwt),
                signing_input.as_bytes(),
            )
            .as_ref()
            .to_vec(),
            _ => ring::hmac::sign(
                &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &keys().session_jwt),
                signing_input.as_bytes(),
            )
            .as_ref()
            .to_vec(),
        };
        format!("{signing_input}.{}", b64(&sig))
    }

    fn payload() -> serde_json::Value {
        json!({
            "sub": UserId::from_random_bytes([1; 16]).to_string(),
            "sid": SessionId::from_random_bytes([2; 16]).to_string(),
            "iss": ISSUER, "aud": AUDIENCE,
            "iat": T0.unix_timestamp(), "exp": (T0 + Duration::hours(1)).unix_timestamp(),
        })
    }

    #[test]
    fn a_signed_token_verifies_to_its_claims() {
        let t = tokens();
        let token = t.sign(&claims()).unwrap();
        assert_eq!(t.verify(&token, T0).unwrap(), claims());
    }

    #[test]
    fn the_hand_made_reference_token_is_accepted() {
        // Guards the tests below: they fail for the reason they name, not for a bad fixture.
        let token = hand_made(
            json!({"alg": "HS256", "typ": "JWT"}),
            payload(),
            Algorithm::HS256,
        );
        assert!(tokens().verify(&token, T0).is_ok());
    }

    #[test]
    fn an_mcp_token_carries_its_own_audience() {
        let t = tokens();
        let mcp = SessionClaims {
            audience: Audience::Mcp,
            ..claims()
        };
        let token = t.sign(&mcp).unwrap();
        assert_eq!(t.verify(&token, T0).unwrap(), mcp);
        let mut other = payload();
        other["aud"] = serde_json::json!("someone-else");
        let forged = hand_made(
            serde_json::json!({ "alg": "HS256", "typ": "JWT" }),
            other,
            Algorithm::HS256,
        );
        assert_eq!(t.verify(&forged, T0), Err(TokenError::Invalid));
    }

    #[test]
    fn a_token_is_refused_from_its_expiry_on() {
        let t = tokens();
        let token = t.sign(&claims()).unwrap();
        let exp = T0 + Duration::hours(12);
        assert!(t.verify(&token, exp - Duration::seconds(1)).is_ok());
        assert_eq!(t.verify(&token, exp), Err(TokenError::Invalid));
    }

    #[test]
    fn other_algorithms_are_refused() {
        let none = format!(
            "{}.{}.",
            b64(json!({"alg": "none", "typ": "JWT"}).to_string().as_bytes()),
            b64(payload().to_string().as_bytes())
        );
        let hs512 = hand_made(
            json!({"alg": "HS512", "typ": "JWT"}),
            payload(),
            Algorithm::HS512,
        );
        let rs256 = hand_made(
            json!({"alg": "RS256", "typ": "JWT"}),
            payload(),
            Algorithm::HS256,
        );
        for (name, token) in [("none", none), ("HS512", hs512), ("RS256", rs256)] {
            assert_eq!(
                tokens().verify(&token, T0),
                Err(TokenError::Invalid),
                "{name}"
            );
        }
    }

    #[test]
    fn wrong_or_missing_claims_are_refused() {
        let header = json!({"alg": "HS256", "typ": "JWT"});
        let mut cases = Vec::new();
        for (claim, bad) in [
            ("iss", json!("https://evil.example.com")),
            ("aud", json!("someone-else")),
            ("sub", json!("not-a-uuid")),
        ] {
            let mut p = payload();
            p[claim] = bad;
            cases.push((format!("wrong {claim}"), p));
        }
        for claim in ["sub", "sid", "iss", "aud", "iat", "exp"] {
            let mut p = payload();
            p.as_object_mut().unwrap().remove(claim);
            cases.push((format!("missing {claim}"), p));
        }
        for (why, p) in cases {
            let token = hand_made(header.clone(), p, Algorithm::HS256);
            assert_eq!(
                tokens().verify(&token, T0),
                Err(TokenError::Invalid),
                "{why}"
            );
        }
    }

    #[test]
    fn a_token_signed_with_another_key_or_pointing_at_its_own_key_is_refused() {
        let other = JwtSessionTokens::new(
            &ServerKeys::derive(&SecretString::from("o".repeat(32))).unwrap(),
            ISSUER,
        );
        let foreign = other.sign(&claims()).unwrap();
        assert_eq!(tokens().verify(&foreign, T0), Err(TokenError::Invalid));
        let mut header = Header::new(Algorithm::HS256);
        header.jku = Some("https://evil.example.com/jwks.json".into());
        let with_jku =
            jsonwebtoken::encode(&header, &payload(), &EncodingKey::from_secret(b"evil")).unwrap();
        assert_eq!(tokens().verify(&with_jku, T0), Err(TokenError::Invalid));
        assert_eq!(tokens().verify("not.a.token", T0), Err(TokenError::Invalid));
    }
}
