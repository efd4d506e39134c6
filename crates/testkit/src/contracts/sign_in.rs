//! The sign-in races, run through the real `SignIn` service on each store: these are the
//! guarantees the atomic `update_code` exists for.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use gptgate_domain::{CodeHash, CodePolicy, Email, SessionPolicy, VerificationCode};
use gptgate_ports::services::{SignIn, SignInPorts};
use gptgate_ports::CodeHasher;

use super::fixtures::email;
use super::SignInStore;
use crate::{FakeClock, FakeCodeHasher, FakeSessionTokens, RecordingMailer, SeededRandom};

#[derive(Default)]
struct CountingHasher {
    inner: FakeCodeHasher,
    compared: AtomicUsize,
}

impl CodeHasher for CountingHasher {
    fn hash(&self, email: &Email, code: &VerificationCode) -> CodeHash {
        self.inner.hash(email, code)
    }
    fn matches(&self, email: &Email, code: &VerificationCode, hash: &CodeHash) -> bool {
        self.compared.fetch_add(1, Ordering::SeqCst);
        self.inner.matches(email, code, hash)
    }
}

struct Race {
    sign_in: SignIn,
    hasher: Arc<CountingHasher>,
    code: VerificationCode,
}

async fn race<S: ?Sized + SignInStore>(store: Arc<S>) -> Race {
    let mailer = Arc::new(RecordingMailer::new());
    let hasher = Arc::new(CountingHasher::default());
    let (codes, users, sessions) = store.sign_in_ports();
    let sign_in = SignIn::new(
        SignInPorts {
            codes,
            users,
            sessions,
            mailer: mailer.clone(),
            budgets: Arc::new(crate::InMemoryStore::new()),
            hasher: hasher.clone(),
            tokens: Arc::new(FakeSessionTokens),
            clock: Arc::new(FakeClock::new()),
            random: Arc::new(SeededRandom::new(11)),
        },
        CodePolicy::default(),
        SessionPolicy::default(),
    );
    sign_in
        .send_code(&email("racer"), "race")
        .await
        .expect("code is sent");
    let digits = mailer
        .last_code_for("racer@example.com")
        .expect("code was mailed");
    Race {
        sign_in,
        hasher,
        code: VerificationCode::parse(&digits).expect("a valid code"),
    }
}

pub async fn of_eight_concurrent_right_codes_exactly_one_signs_in<S: ?Sized + SignInStore>(
    store: Arc<S>,
) {
    let r = Arc::new(race(store).await);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let r = r.clone();
            tokio::spawn(async move { r.sign_in.verify(&email("racer"), &r.code).await })
        })
        .collect();
    let mut sessions = 0;
    for task in tasks {
        if task.await.expect("no panic").is_ok() {
            sessions += 1;
        }
    }
    assert_eq!(sessions, 1);
}

pub async fn of_fifty_concurrent_wrong_codes_at_most_five_are_compared<S: ?Sized + SignInStore>(
    store: Arc<S>,
) {
    let r = Arc::new(race(store).await);
    let right: u32 = r.code.digits().parse().expect("digits");
    let wrong = VerificationCode::parse(&format!("{:06}", (right + 1) % 1_000_000)).expect("code");
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let r = r.clone();
            let wrong = wrong.clone();
            tokio::spawn(async move { r.sign_in.verify(&email("racer"), &wrong).await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.expect("no panic").is_err());
    }
    let compared = r.hasher.compared.load(Ordering::SeqCst);
    assert!(compared <= 5, "{compared} codes were compared");
    assert!(
        r.sign_in.verify(&email("racer"), &r.code).await.is_err(),
        "the budget is spent: even the right code is refused"
    );
}
