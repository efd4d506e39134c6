//! The fakes.

mod clock;
mod crypto;
mod mailer;
mod random;
mod store;

pub use clock::FakeClock;
pub use crypto::{FakeCodeHasher, FakeSessionTokens};
pub use mailer::{RecordingMailer, SentCode};
pub use random::SeededRandom;
pub use store::InMemoryStore;
