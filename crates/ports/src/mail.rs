//! The mail port.

use async_trait::async_trait;
use gptgate_domain::{Email, VerificationCode};
use time::Duration;

use crate::BoxError;

/// Mail could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The mail server or outbox could not be reached or refused the message; the sender may
    /// try again later.
    #[error("mail could not be sent")]
    Unavailable(#[source] BoxError),
}

/// Sends the messages of the sign-in flow.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Delivers `code` to `to`, saying it is valid for `valid_for`. Returns once the message is
    /// accepted by the mail server (or written to the outbox). Implementations MUST NOT log the
    /// code.
    async fn send_sign_in_code(
        &self,
        to: &Email,
        code: &VerificationCode,
        valid_for: Duration,
    ) -> Result<(), MailError>;
}
