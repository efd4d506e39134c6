//! `cargo run --example embed`: gptgate's use cases on a store of one's own.
//!
//! 1. Runs the testkit's contract checks for the four ports `NotebookStore` implements (codes,
//!    users, sessions, conversations) and the sign-in races, each on a fresh store.
//! 2. Signs a user in by email code with the `SignIn` service on that store (production
//!    crypto, clock and randomness from gptgate-adapters-system; a mailer of its own), checks
//!    the session token, and saves and lists a conversation with the `Conversations` service.

use std::error::Error;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use gptgate_adapters_system::{
    HmacCodeHasher, InProcessBudgets, JwtSessionTokens, OsRandom, ServerKeys, SystemClock,
};
use gptgate_domain::{
    CodePolicy, ConversationDraft, ConversationInput, Email, SessionPolicy, VerificationCode,
};
use gptgate_example_embed::NotebookStore;
use gptgate_ports::services::{Conversations, SignIn, SignInPorts};
use gptgate_ports::{Clock, MailError, Mailer, Random};
use gptgate_testkit::contracts::{
    code_checks, conversation_checks, session_checks, sign_in_checks, user_checks,
};
use gptgate_testkit::harness::{all_passed, contract_trials};
use gptgate_testkit::TestStore;
use secrecy::{ExposeSecret, SecretString};
use time::Duration;

fn main() -> ExitCode {
    println!("1. The contract checks, on NotebookStore:");
    let mut checks = code_checks::<NotebookStore>();
    checks.extend(user_checks());
    checks.extend(session_checks());
    checks.extend(conversation_checks());
    checks.extend(sign_in_checks());
    let trials = contract_trials(checks, || async {
        TestStore {
            store: Arc::new(NotebookStore::new()),
            guard: None,
        }
    });
    if !all_passed(trials) {
        return ExitCode::FAILURE;
    }

    println!("\n2. Signing in and saving a conversation, on NotebookStore:");
    let outcome = tokio::runtime::Runtime::new()
        .map_err(Into::into)
        .and_then(|runtime| runtime.block_on(sign_in_and_save(Arc::new(NotebookStore::new()))));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A mailer of the embedder's own: here it keeps the last code, as the user's inbox would.
#[derive(Default)]
struct Inbox {
    last_code: Mutex<Option<String>>,
}

#[async_trait]
impl Mailer for Inbox {
    async fn send_sign_in_code(
        &self,
        to: &Email,
        code: &VerificationCode,
        valid_for: Duration,
    ) -> Result<(), MailError> {
        println!(
            "   mail to {}: a sign-in code, valid {} minutes",
            to.as_str(),
            valid_for.whole_minutes()
        );
        *self.last_code.lock().unwrap_or_else(|e| e.into_inner()) = Some(code.digits().into());
        Ok(())
    }
}

async fn sign_in_and_save(store: Arc<NotebookStore>) -> Result<(), Box<dyn Error>> {
    let random: Arc<dyn Random> = Arc::new(OsRandom::new());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // The server's secret: here a random one per run; an embedder keeps theirs in its vault.
    let secret: String = random
        .bytes::<32>()?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let keys = ServerKeys::derive(&SecretString::from(secret))?;
    let inbox = Arc::new(Inbox::default());
    let sign_in = SignIn::new(
        SignInPorts {
            codes: store.clone(),
            users: store.clone(),
            sessions: store.clone(),
            sign_ins: store.clone(),
            mailer: inbox.clone(),
            budgets: Arc::new(InProcessBudgets::new()),
            hasher: Arc::new(HmacCodeHasher::new(&keys)),
            tokens: Arc::new(JwtSessionTokens::new(&keys, "https://embed.example")),
            clock: clock.clone(),
            random: random.clone(),
        },
        CodePolicy::default(),
        SessionPolicy::default(),
    );

    let email = Email::parse("ann@example.com")?;
    sign_in.send_code(&email, "embed-example").await?;
    let typed = inbox
        .last_code
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or("no code was mailed")?;
    let signed_in = sign_in
        .verify(&email, &VerificationCode::parse(&typed)?)
        .await?;
    let caller = sign_in
        .authenticate(signed_in.token.expose_secret())
        .await?;
    println!(
        "   signed in: user {}, session token accepted until {}",
        caller.user_id, signed_in.expires_at
    );

    let conversations = Conversations::new(store, clock, random);
    let draft = ConversationDraft::parse(ConversationInput {
        title: Some("First chat".into()),
        summary: Some("Greetings in Spanish".into()),
        messages: vec![
            ("user".into(), "¿Cómo se dice hello?".into()),
            ("assistant".into(), "Se dice «hola».".into()),
        ],
        raw_text: Vec::new(),
        exercises: vec![("greetings".into(), 90, None)],
    })?;
    conversations.save(caller.user_id, draft, None).await?;
    let page = conversations.list(caller.user_id, 10, None).await?;
    println!(
        "   saved and listed: {} conversation(s), the first titled {:?}",
        page.items.len(),
        page.items.first().and_then(|c| c.title.as_deref())
    );
    Ok(())
}
