use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use gptgate_domain::{Email, VerificationCode};
use gptgate_ports::{MailError, Mailer};
use time::Duration;

/// One message the [`RecordingMailer`] received.
#[derive(Debug, Clone)]
pub struct SentCode {
    pub to: Email,
    pub code: String,
    pub valid_for: Duration,
}

/// Keeps every message instead of sending it; can be told to fail.
#[derive(Default)]
pub struct RecordingMailer {
    sent: Mutex<Vec<SentCode>>,
    failing: AtomicBool,
}

impl RecordingMailer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything sent so far, oldest first.
    pub fn sent(&self) -> Vec<SentCode> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The code in the latest message to `to`.
    pub fn last_code_for(&self, to: &str) -> Option<String> {
        self.sent()
            .into_iter()
            .rev()
            .find(|m| m.to.as_str() == to)
            .map(|m| m.code)
    }

    /// Makes later sends fail (or succeed again).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

#[async_trait]
impl Mailer for RecordingMailer {
    async fn send_sign_in_code(
        &self,
        to: &Email,
        code: &VerificationCode,
        valid_for: Duration,
    ) -> Result<(), MailError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(MailError::Unavailable("the fake mailer is failing".into()));
        }
        self.sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(SentCode {
                to: to.clone(),
                code: code.digits().to_owned(),
                valid_for,
            });
        Ok(())
    }
}
