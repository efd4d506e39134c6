//! The fakes.

mod actions;
mod chat;
mod clock;
mod crypto;
mod launch;
mod mailer;
mod oauth;
mod random;
mod store;

pub use actions::{FakeActionCall, FakeOutcome, FakeProviderActions};
pub use chat::{FakeAnswer, FakeChatModel};
pub use clock::FakeClock;
pub use crypto::{
    FakeCodeHasher, FakeOpaqueTokens, FakePasswords, FakeSecretBox, FakeSessionTokens,
};
pub use launch::{lti_claims, FakeKeySets, FakeLaunchTokens, FakeLtiTokens};
pub use mailer::{RecordingMailer, SentCode};
pub use oauth::{FakeOAuthProvider, ProviderFailure};
pub use random::SeededRandom;
pub use store::InMemoryStore;
