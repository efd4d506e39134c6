//! The randomness port: the only source of random bytes for business code.

use gptgate_domain::{ConversationId, SessionId, UserId, VerificationCode};

use crate::InternalError;

/// The CSPRNG failed to produce bytes.
#[derive(Debug, thiserror::Error)]
#[error("the random number generator failed")]
pub struct RandomError;

impl From<RandomError> for InternalError {
    fn from(e: RandomError) -> Self {
        InternalError::new(e)
    }
}

/// A source of cryptographically secure random bytes.
pub trait Random: Send + Sync {
    /// Fills `buf` entirely with bytes from a CSPRNG (in production the operating system's),
    /// or fails; it MUST NOT return predictable bytes.
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError>;
}

impl dyn Random + '_ {
    /// `N` random bytes.
    pub fn bytes<const N: usize>(&self) -> Result<[u8; N], RandomError> {
        let mut buf = [0u8; N];
        self.fill(&mut buf)?;
        Ok(buf)
    }

    /// A uniformly distributed six-digit code.
    pub fn verification_code(&self) -> Result<VerificationCode, RandomError> {
        loop {
            let bits = u32::from_be_bytes(self.bytes::<4>()?);
            if let Some(code) = VerificationCode::from_random(bits) {
                return Ok(code);
            }
        }
    }

    pub fn user_id(&self) -> Result<UserId, RandomError> {
        Ok(UserId::from_random_bytes(self.bytes()?))
    }

    pub fn session_id(&self) -> Result<SessionId, RandomError> {
        Ok(SessionId::from_random_bytes(self.bytes()?))
    }

    pub fn conversation_id(&self) -> Result<ConversationId, RandomError> {
        Ok(ConversationId::from_random_bytes(self.bytes()?))
    }
}
