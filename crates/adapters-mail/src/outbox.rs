use std::path::{Path, PathBuf};

use async_trait::async_trait;
use gptgate_domain::{Email, VerificationCode};
use gptgate_ports::{MailError, Mailer};
use lettre::{AsyncFileTransport, AsyncTransport, Tokio1Executor};
use time::Duration;
use tracing::instrument;

use crate::MessageBuilder;

/// Writes each message as `<id>.eml` into a folder instead of sending it: the development
/// default, so sign-in works on a laptop with no mail server. Open the file with any mail
/// client, or read the code from it.
pub struct OutboxMailer {
    dir: PathBuf,
    transport: AsyncFileTransport<Tokio1Executor>,
    messages: MessageBuilder,
}

impl OutboxMailer {
    /// Creates `dir` if needed. The folder and every message in it are readable by their
    /// owner only: each holds a live sign-in code.
    pub fn new(dir: &Path, messages: MessageBuilder) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        owner_only(dir, 0o700)?;
        Ok(Self {
            dir: dir.to_owned(),
            transport: AsyncFileTransport::new(dir),
            messages,
        })
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    #[instrument(skip_all)]
    async fn send_sign_in_code(
        &self,
        to: &Email,
        code: &VerificationCode,
        valid_for: Duration,
    ) -> Result<(), MailError> {
        let message = self.messages.sign_in_code(to, code, valid_for)?;
        let id = self
            .transport
            .send(message)
            .await
            .map_err(|e| MailError::Unavailable(Box::new(e)))?;
        let file = self.dir.join(format!("{id}.eml"));
        owner_only(&file, 0o600).map_err(|e| MailError::Unavailable(Box::new(e)))?;
        tracing::info!(file = %file.display(), "sign-in email written to the outbox");
        Ok(())
    }
}

/// Sets `path`'s permission bits to `mode` (Unix; elsewhere the platform's defaults stand).
fn owner_only(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_message_lands_in_the_outbox_as_an_eml_file() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("outbox");
        let mailer = OutboxMailer::new(
            &outbox,
            MessageBuilder::new("gptgate <no-reply@example.com>", "gptgate").unwrap(),
        )
        .unwrap();
        mailer
            .send_sign_in_code(
                &Email::parse("ann@example.com").unwrap(),
                &VerificationCode::parse("123456").unwrap(),
                Duration::minutes(10),
            )
            .await
            .unwrap();
        let files: Vec<_> = std::fs::read_dir(&outbox)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].extension().unwrap(), "eml");
        let raw = std::fs::read_to_string(&files[0]).unwrap();
        assert!(raw.contains("123456"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&outbox), 0o700, "the folder");
            assert_eq!(mode(&files[0]), 0o600, "the message");
        }
    }
}
