use std::time::Duration as StdDuration;

use async_trait::async_trait;
use gptgate_domain::{Email, VerificationCode};
use gptgate_ports::{MailError, Mailer};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use time::Duration;
use tracing::instrument;

use crate::{MailConfigError, MessageBuilder};

/// Sends mail through an SMTP server (connection pool, TLS per the URL, 10 s timeout).
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    messages: MessageBuilder,
}

impl SmtpMailer {
    /// `url` as lettre reads it: `smtps://user:password@smtp.example.com` (implicit TLS, 465),
    /// `smtp://user:password@smtp.example.com:587?tls=required` (STARTTLS), or
    /// `smtp://localhost:1025` (no TLS: local relays and tests only).
    pub fn new(url: &SecretString, messages: MessageBuilder) -> Result<Self, MailConfigError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
            .map_err(|_| MailConfigError::InvalidSmtpUrl)?
            .timeout(Some(StdDuration::from_secs(10)))
            .build();
        Ok(Self {
            transport,
            messages,
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    #[instrument(skip_all)]
    async fn send_sign_in_code(
        &self,
        to: &Email,
        code: &VerificationCode,
        valid_for: Duration,
    ) -> Result<(), MailError> {
        let message = self.messages.sign_in_code(to, code, valid_for)?;
        self.transport
            .send(message)
            .await
            .map_err(|e| MailError::Unavailable(Box::new(e)))?;
        tracing::info!("sign-in email handed to the SMTP server");
        Ok(())
    }
}
