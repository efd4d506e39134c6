//! In-memory fakes of every gptgate port, and the contract suites that every implementation of
//! a storage port must pass.
//!
//! The fakes are real, stateful implementations (not mocks): service tests run the use cases on
//! them end to end, with a [`FakeClock`] to move time and a [`SeededRandom`] for repeatable ids.
//! [`contracts`] holds the shared suites; [`harness::contract_trials`] turns them into one test
//! per check for any store.

pub mod contracts;
mod fakes;
pub mod harness;
pub mod openai;

pub use contracts::{Store, TestStore};
pub use fakes::{
    lti_claims, FakeActionCall, FakeAnswer, FakeChatModel, FakeClock, FakeCodeHasher, FakeKeySets,
    FakeLaunchTokens, FakeLtiTokens, FakeOAuthProvider, FakeOpaqueTokens, FakeOutcome,
    FakePasswords, FakeProviderActions, FakeSecretBox, FakeSessionTokens, InMemoryStore,
    ProviderFailure, RecordingMailer, SeededRandom, SentCode,
};
