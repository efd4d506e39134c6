use gptgate_domain::{CodeHash, Email, SessionId, UserId, VerificationCode};
use gptgate_ports::{CodeHasher, SessionClaims, SessionTokens, TokenError};
use time::OffsetDateTime;

/// A transparent, keyless "hash" (`email|code` bytes). Only for tests.
#[derive(Default)]
pub struct FakeCodeHasher;

impl CodeHasher for FakeCodeHasher {
    fn hash(&self, email: &Email, code: &VerificationCode) -> CodeHash {
        CodeHash::from_bytes(format!("{email}|{}", code.digits()).into_bytes())
    }

    fn matches(&self, email: &Email, code: &VerificationCode, hash: &CodeHash) -> bool {
        self.hash(email, code) == *hash
    }
}

/// Unsigned, readable tokens (`fake.<user>.<session>.<iat>.<exp>`). Only for tests.
#[derive(Default)]
pub struct FakeSessionTokens;

impl SessionTokens for FakeSessionTokens {
    fn sign(&self, c: &SessionClaims) -> Result<String, TokenError> {
        Ok(format!(
            "fake.{}.{}.{}.{}",
            c.user_id,
            c.session_id,
            c.issued_at.unix_timestamp(),
            c.expires_at.unix_timestamp()
        ))
    }

    fn verify(&self, token: &str, now: OffsetDateTime) -> Result<SessionClaims, TokenError> {
        let parts: Vec<&str> = token.split('.').collect();
        let ["fake", user, session, iat, exp] = parts.as_slice() else {
            return Err(TokenError::Invalid);
        };
        let at = |s: &str| {
            s.parse::<i64>()
                .ok()
                .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
                .ok_or(TokenError::Invalid)
        };
        let claims = SessionClaims {
            user_id: user.parse::<UserId>().map_err(|_| TokenError::Invalid)?,
            session_id: session
                .parse::<SessionId>()
                .map_err(|_| TokenError::Invalid)?,
            issued_at: at(iat)?,
            expires_at: at(exp)?,
        };
        if now >= claims.expires_at {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }
}
