use gptgate_domain::{Email, VerificationCode};
use gptgate_ports::MailError;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::Message;
use serde::Serialize;
use tera::{Context, Tera};
use time::Duration;

/// The mail configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum MailConfigError {
    #[error(
        "MAIL_FROM is not a valid mailbox (expected \"Name <address@example.com>\" or an address)"
    )]
    InvalidFrom,
    #[error(
        "SMTP_URL is not a valid SMTP URL (expected smtp://, smtps:// or smtp://...?tls=required)"
    )]
    InvalidSmtpUrl,
    #[error("the mail templates do not compile: {0}")]
    Templates(String),
}

/// Builds the sign-in messages: the sender, the app name and the compiled templates.
pub struct MessageBuilder {
    from: Mailbox,
    /// The domain of `from`, for Message-IDs.
    domain: String,
    app_name: String,
    templates: Tera,
}

#[derive(Serialize)]
struct CodeContext<'a> {
    app_name: &'a str,
    code: &'a str,
    minutes: i64,
}

impl MessageBuilder {
    /// `from` is a mailbox such as `gptgate <no-reply@example.com>`.
    pub fn new(from: &str, app_name: &str) -> Result<Self, MailConfigError> {
        let from = from
            .parse::<Mailbox>()
            .map_err(|_| MailConfigError::InvalidFrom)?;
        let mut templates = Tera::new();
        templates
            .add_raw_templates([
                (
                    "sign_in_code.txt",
                    include_str!("../templates/sign_in_code.txt"),
                ),
                (
                    "sign_in_code.html",
                    include_str!("../templates/sign_in_code.html"),
                ),
            ])
            .map_err(|e| MailConfigError::Templates(e.to_string()))?;
        let domain = from.email.domain().to_owned();
        Ok(Self {
            from,
            domain,
            app_name: app_name.to_owned(),
            templates,
        })
    }

    /// The sign-in code message, as plain text with an HTML alternative. The code appears in the
    /// body only, not in the subject (subjects end up in mail server logs).
    pub fn sign_in_code(
        &self,
        to: &Email,
        code: &VerificationCode,
        valid_for: Duration,
    ) -> Result<Message, MailError> {
        let context = Context::from_serialize(&CodeContext {
            app_name: &self.app_name,
            code: code.digits(),
            minutes: valid_for.whole_minutes(),
        })
        .map_err(|e| MailError::Unavailable(Box::new(e)))?;
        let render = |name| {
            self.templates
                .render(name, &context)
                .map_err(|e| MailError::Unavailable(Box::new(e)))
        };
        let to = to
            .as_str()
            .parse::<Mailbox>()
            .map_err(|e| MailError::Unavailable(Box::new(e)))?;
        // A Message-ID on the sender's own domain: Gmail refuses messages without one unless a
        // relay adds it, and a foreign domain there costs deliverability. lettre adds `Date`.
        #[allow(
            clippy::disallowed_methods,
            reason = "a Message-ID only has to be unique; no business rule reads it"
        )]
        let unique = uuid::Uuid::new_v4().simple();
        Message::builder()
            .message_id(Some(format!("<{unique}@{}>", self.domain)))
            .from(self.from.clone())
            .to(to)
            .subject(format!("Your {} sign-in code", self.app_name))
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(render("sign_in_code.txt")?),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(render("sign_in_code.html")?),
                    ),
            )
            .map_err(|e| MailError::Unavailable(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_in_both_bodies_and_not_in_the_subject() {
        let builder = MessageBuilder::new("gptgate <no-reply@example.com>", "gptgate").unwrap();
        let message = builder
            .sign_in_code(
                &Email::parse("ann@example.com").unwrap(),
                &VerificationCode::parse("042917").unwrap(),
                Duration::minutes(10),
            )
            .unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert!(raw.contains("Subject: Your gptgate sign-in code\r\n"));
        assert_eq!(
            raw.matches("042917").count(),
            2,
            "once per alternative:\n{raw}"
        );
        assert!(raw.contains("expires in 10 minutes"));
        assert!(raw.contains("To: ann@example.com"));
    }

    #[test]
    fn every_message_has_its_own_message_id_on_the_senders_domain_and_a_date() {
        let builder =
            MessageBuilder::new("gptgate <no-reply@mail.example.com>", "gptgate").unwrap();
        let ids: Vec<String> = (0..2)
            .map(|_| {
                let raw = String::from_utf8(
                    builder
                        .sign_in_code(
                            &Email::parse("ann@example.com").unwrap(),
                            &VerificationCode::parse("042917").unwrap(),
                            Duration::minutes(10),
                        )
                        .unwrap()
                        .formatted(),
                )
                .unwrap();
                assert!(raw.lines().any(|l| l.starts_with("Date: ")), "{raw}");
                raw.lines()
                    .find_map(|l| l.strip_prefix("Message-ID: "))
                    .expect("a Message-ID")
                    .to_owned()
            })
            .collect();
        for id in &ids {
            let local = id
                .strip_prefix('<')
                .and_then(|i| i.strip_suffix("@mail.example.com>"))
                .unwrap_or_else(|| panic!("on the sender's domain: {id}"));
            assert_eq!(local.len(), 32, "{id}");
        }
        assert_ne!(ids[0], ids[1]);
    }

    #[test]
    fn a_bad_sender_is_a_configuration_error() {
        assert!(matches!(
            MessageBuilder::new("not a mailbox", "gptgate"),
            Err(MailConfigError::InvalidFrom)
        ));
    }
}
