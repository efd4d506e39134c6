//! Mail adapters: [`SmtpMailer`] sends through an SMTP server with lettre; [`OutboxMailer`]
//! (the development default) writes each message as an `.eml` file into a folder instead.
//! Both render the same tera templates, built once at start-up.

mod message;
mod outbox;
mod smtp;

pub use message::{MailConfigError, MessageBuilder};
pub use outbox::OutboxMailer;
pub use smtp::SmtpMailer;
