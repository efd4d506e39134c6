//! The hosted assistant's chat on the testkit fakes: the team signs in with the team password
//! or the admin password (wrong ones limited like the console's); setting, rotating or
//! switching off the team password ends every team session; an answer applies the published
//! (or a named) profile to the conversation sent, within the limits on questions.

use std::sync::Arc;

use futures::StreamExt;
use gptgate_domain::{
    AdminAction, AdminPolicy, AssistantProfile, ChatInputError, ChatPolicy, ChatSession, ChatTurn,
    ChatVisitor, NewPassword, ProfileInput, Speaker,
};
use gptgate_ports::services::{
    AdminConsole, AdminPorts, Assistant, AssistantPorts, ChatError, ChatLoginError, Question,
    TeamPasswordError,
};
use gptgate_ports::{
    AdminRepository, ChatMessage, ChatModel, ChatModelError, ChatRole, Clock, ProfileRepository,
};
use gptgate_testkit::{
    FakeAnswer, FakeChatModel, FakeClock, FakeOpaqueTokens, FakePasswords, InMemoryStore,
};
use secrecy::SecretString;
use time::Duration;

const ADMIN: &str = "correct horse battery staple";
const TEAM: &str = "team password of the week";

struct Chat {
    store: Arc<InMemoryStore>,
    clock: FakeClock,
    passwords: Arc<FakePasswords>,
    model: Arc<FakeChatModel>,
    admin: Arc<AdminConsole>,
    fakes: Fakes,
    chat: Assistant,
}

/// The fakes a chat runs on, and the admin console whose password opens it too.
struct Fakes {
    store: Arc<InMemoryStore>,
    clock: FakeClock,
    passwords: Arc<FakePasswords>,
    model: Arc<FakeChatModel>,
    admin: Arc<AdminConsole>,
}

impl Fakes {
    /// The chat on these fakes with `policy`, and a model or none.
    fn assistant(&self, policy: ChatPolicy, model: bool) -> Assistant {
        Assistant::new(
            AssistantPorts {
                store: self.store.clone(),
                profiles: self.store.clone(),
                passwords: self.passwords.clone(),
                tokens: Arc::new(FakeOpaqueTokens::default()),
                budgets: self.store.clone(),
                clock: Arc::new(self.clock.clone()),
                model: model.then(|| self.model.clone() as Arc<dyn ChatModel>),
            },
            policy,
            AdminPolicy::default(),
            self.admin.clone(),
        )
    }
}

fn chat_with(admin_password: Option<&str>, model: bool) -> Chat {
    let store = Arc::new(InMemoryStore::new());
    let clock = FakeClock::new();
    let passwords = Arc::new(FakePasswords::default());
    let admin = Arc::new(AdminConsole::new(
        AdminPorts {
            store: store.clone(),
            passwords: passwords.clone(),
            tokens: Arc::new(FakeOpaqueTokens::default()),
            budgets: store.clone(),
            clock: Arc::new(clock.clone()),
        },
        AdminPolicy::default(),
        admin_password.map(FakePasswords::hash_of),
    ));
    let fakes = Fakes {
        store,
        clock,
        passwords,
        model: Arc::new(FakeChatModel::default()),
        admin,
    };
    Chat {
        chat: fakes.assistant(ChatPolicy::default(), model),
        store: fakes.store.clone(),
        clock: fakes.clock.clone(),
        passwords: fakes.passwords.clone(),
        model: fakes.model.clone(),
        admin: fakes.admin.clone(),
        fakes,
    }
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn turn(speaker: Speaker, text: &str) -> ChatTurn {
    ChatTurn {
        speaker,
        text: text.into(),
    }
}

fn question(text: &str) -> Question {
    Question {
        conversation: vec![turn(Speaker::User, text)],
        model: None,
        version: None,
    }
}

fn profile(name: &str, instructions: &str) -> AssistantProfile {
    AssistantProfile::parse(ProfileInput {
        name: name.into(),
        instructions: instructions.into(),
        model: "gpt-4o-mini".into(),
        temperature: 0.3,
        max_output_tokens: 500,
        starters: vec!["Practise ser and estar".into()],
        allowed_models: vec!["gpt-4o-mini".into(), "llama3.1:8b".into()],
    })
    .unwrap()
}

impl Chat {
    async fn publish(&self, name: &str, instructions: &str) -> u32 {
        let version = self
            .store
            .save_profile_version(&profile(name, instructions), self.clock.now())
            .await
            .unwrap()
            .version;
        assert!(self
            .store
            .publish_profile_version(version, self.clock.now())
            .await
            .unwrap());
        version
    }

    async fn signed_in(&self, password: &str) -> ChatSession {
        let token = self
            .chat
            .log_in(&secret(password), "10.0.0.1")
            .await
            .unwrap();
        use secrecy::ExposeSecret;
        self.chat
            .session(token.expose_secret())
            .await
            .unwrap()
            .expect("a live session")
    }

    async fn answer_text(&self, session: &ChatSession, q: Question) -> Result<String, ChatError> {
        let pieces: Vec<_> = self
            .chat
            .answer(session, q, "10.0.0.1")
            .await?
            .collect()
            .await;
        Ok(pieces.into_iter().map(|p| p.unwrap()).collect())
    }
}

#[tokio::test]
async fn without_a_team_or_admin_password_nobody_signs_in_by_password() {
    let c = chat_with(None, true);
    assert!(!c.chat.has_password_sign_in().await.unwrap());
    assert!(matches!(
        c.chat.log_in(&secret(ADMIN), "10.0.0.1").await,
        Err(ChatLoginError::Closed)
    ));
    assert_eq!(c.passwords.verifications(), 0);
}

#[tokio::test]
async fn the_admin_password_and_the_team_password_each_open_an_eight_hour_session() {
    let c = chat_with(Some(ADMIN), true);
    assert!(c.chat.has_password_sign_in().await.unwrap());
    let by_admin = c.signed_in(ADMIN).await;
    assert_eq!(
        by_admin.expires_at - by_admin.created_at,
        Duration::hours(8)
    );
    c.chat
        .set_team_password(&NewPassword::parse(TEAM).unwrap(), "10.0.0.9")
        .await
        .unwrap();
    let by_team = c.signed_in(TEAM).await;
    assert_ne!(by_team.token_hash, by_admin.token_hash);
    // Live to the last second, dead at 8 hours.
    let token = c.chat.log_in(&secret(TEAM), "10.0.0.1").await.unwrap();
    use secrecy::ExposeSecret;
    c.clock.advance(Duration::hours(8) - Duration::seconds(1));
    assert!(c
        .chat
        .session(token.expose_secret())
        .await
        .unwrap()
        .is_some());
    c.clock.advance(Duration::seconds(1));
    assert!(c
        .chat
        .session(token.expose_secret())
        .await
        .unwrap()
        .is_none());
    assert!(c.chat.session("made-up").await.unwrap().is_none());
}

#[tokio::test]
async fn a_team_password_alone_opens_the_chat_when_the_console_is_off() {
    let c = chat_with(None, true);
    c.chat
        .set_team_password(&NewPassword::parse(TEAM).unwrap(), "10.0.0.9")
        .await
        .unwrap();
    assert!(c.chat.has_password_sign_in().await.unwrap());
    c.signed_in(TEAM).await;
    assert!(matches!(
        c.chat.log_in(&secret(ADMIN), "10.0.0.1").await,
        Err(ChatLoginError::WrongPassword)
    ));
}

#[tokio::test]
async fn rotating_or_switching_off_the_team_password_ends_every_team_session_at_once() {
    let c = chat_with(Some(ADMIN), true);
    let new = |p: &str| NewPassword::parse(p).unwrap();
    c.chat
        .set_team_password(&new(TEAM), "10.0.0.9")
        .await
        .unwrap();
    let set_at = c.chat.team_password_set_at().await.unwrap();
    assert_eq!(set_at, Some(c.clock.now()));
    let token = c.chat.log_in(&secret(TEAM), "10.0.0.1").await.unwrap();
    use secrecy::ExposeSecret;
    c.chat
        .set_team_password(&new("next week's team password"), "10.0.0.9")
        .await
        .unwrap();
    assert!(c
        .chat
        .session(token.expose_secret())
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        c.chat.log_in(&secret(TEAM), "10.0.0.1").await,
        Err(ChatLoginError::WrongPassword)
    ));
    let token = c
        .chat
        .log_in(&secret("next week's team password"), "10.0.0.1")
        .await
        .unwrap();
    c.chat.switch_off_team_password("10.0.0.9").await.unwrap();
    assert!(c
        .chat
        .session(token.expose_secret())
        .await
        .unwrap()
        .is_none());
    assert_eq!(c.chat.team_password_set_at().await.unwrap(), None);
    assert!(matches!(
        c.chat
            .log_in(&secret("next week's team password"), "10.0.0.1")
            .await,
        Err(ChatLoginError::WrongPassword)
    ));
    // The admin password still opens it; the audit log has each change and its address, and
    // each wrong password (checked against the admin password as well).
    c.signed_in(ADMIN).await;
    let audit = c.store.admin_actions(10).await.unwrap();
    let actions: Vec<_> = audit
        .iter()
        .map(|e| (e.action, e.address.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            (AdminAction::WrongPassword, "10.0.0.1"),
            (AdminAction::TeamPasswordOff, "10.0.0.9"),
            (AdminAction::WrongPassword, "10.0.0.1"),
            (AdminAction::TeamPasswordSet, "10.0.0.9"),
            (AdminAction::TeamPasswordSet, "10.0.0.9"),
        ]
    );
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let c = chat_with(Some(ADMIN), true);
    let token = c.chat.log_in(&secret(ADMIN), "10.0.0.1").await.unwrap();
    use secrecy::ExposeSecret;
    c.chat.log_out(token.expose_secret()).await.unwrap();
    assert!(c
        .chat
        .session(token.expose_secret())
        .await
        .unwrap()
        .is_none());
    c.chat.log_out(token.expose_secret()).await.unwrap();
}

#[tokio::test]
async fn wrong_passwords_are_limited_per_address_on_budgets_of_their_own() {
    let c = chat_with(Some(ADMIN), true);
    for _ in 0..10 {
        assert!(matches!(
            c.chat.log_in(&secret("wrong"), "10.0.0.1").await,
            Err(ChatLoginError::WrongPassword)
        ));
    }
    let Err(ChatLoginError::TooMany { retry_after }) =
        c.chat.log_in(&secret(ADMIN), "10.0.0.1").await
    else {
        panic!("the eleventh guess from one address is refused, right or not");
    };
    assert_eq!(retry_after, Duration::minutes(15));
    assert_eq!(
        c.passwords.verifications(),
        10,
        "the refused one is not checked"
    );
    // Another address is not affected.
    assert!(c.chat.log_in(&secret(ADMIN), "10.0.0.2").await.is_ok());
}

#[tokio::test]
async fn of_thirty_concurrent_guesses_from_one_address_ten_are_checked() {
    let c = Arc::new(chat_with(Some(ADMIN), true));
    let tries = (0..30).map(|_| {
        let c = c.clone();
        tokio::spawn(async move { c.chat.log_in(&secret("wrong"), "10.0.0.1").await })
    });
    let outcomes = futures::future::join_all(tries).await;
    let wrong = outcomes
        .iter()
        .filter(|o| matches!(o.as_ref().unwrap(), Err(ChatLoginError::WrongPassword)))
        .count();
    assert_eq!(wrong, 10);
    assert_eq!(c.passwords.verifications(), 10);
}

#[tokio::test]
async fn an_answer_applies_the_published_profile_to_the_conversation_sent() {
    let c = chat_with(Some(ADMIN), true);
    c.publish("Spanish tutor", "You are a patient Spanish tutor.")
        .await;
    let session = c.signed_in(ADMIN).await;
    c.model
        .will(FakeAnswer::Pieces(vec!["¡Muy ".into(), "bien!".into()]));
    let conversation = vec![
        turn(Speaker::User, "Hola"),
        turn(Speaker::Assistant, "¡Hola! ¿Qué tal?"),
        turn(Speaker::User, "Bien, gracias"),
    ];
    let published = c
        .chat
        .published()
        .await
        .unwrap()
        .expect("the published version");
    assert_eq!(published.profile.name, "Spanish tutor");
    let answer = c
        .answer_text(
            &session,
            Question {
                conversation,
                model: None,
                version: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(answer, "¡Muy bien!");
    let asked = c.model.requests();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].model, "gpt-4o-mini");
    assert_eq!(asked[0].temperature, 0.3);
    assert_eq!(asked[0].max_output_tokens, 500);
    let message = |role, content: &str| ChatMessage {
        role,
        content: content.into(),
    };
    assert_eq!(
        asked[0].messages,
        [
            message(ChatRole::System, "You are a patient Spanish tutor."),
            message(ChatRole::User, "Hola"),
            message(ChatRole::Assistant, "¡Hola! ¿Qué tal?"),
            message(ChatRole::User, "Bien, gracias"),
        ]
    );
}

#[tokio::test]
async fn a_profile_without_instructions_sends_no_system_message() {
    let c = chat_with(Some(ADMIN), true);
    c.publish("Plain", "").await;
    let session = c.signed_in(ADMIN).await;
    c.answer_text(&session, question("Hola")).await.unwrap();
    assert_eq!(c.model.requests()[0].messages[0].role, ChatRole::User);
}

#[tokio::test]
async fn an_allowed_model_or_a_saved_version_can_be_asked_for() {
    let c = chat_with(Some(ADMIN), true);
    c.publish("Published", "Published instructions").await;
    let draft = c
        .store
        .save_profile_version(&profile("Draft", "Draft instructions"), c.clock.now())
        .await
        .unwrap()
        .version;
    let session = c.signed_in(ADMIN).await;
    let ask = |model: Option<&str>, version: Option<u32>| Question {
        model: model.map(str::to_owned),
        version,
        ..question("Hola")
    };
    c.answer_text(&session, ask(Some("llama3.1:8b"), Some(draft)))
        .await
        .unwrap();
    let asked = &c.model.requests()[0];
    assert_eq!(asked.model, "llama3.1:8b");
    assert_eq!(asked.messages[0].content, "Draft instructions");
    assert!(matches!(
        c.answer_text(&session, ask(Some("gpt-5"), None)).await,
        Err(ChatError::ModelNotAllowed)
    ));
    assert!(matches!(
        c.answer_text(&session, ask(None, Some(99))).await,
        Err(ChatError::NoSuchVersion(99))
    ));
    assert_eq!(
        c.model.requests().len(),
        1,
        "refused questions reach no model"
    );
}

#[tokio::test]
async fn without_a_model_or_a_published_profile_no_question_is_answered() {
    let c = chat_with(Some(ADMIN), false);
    assert!(!c.chat.has_model());
    c.publish("Spanish tutor", "…").await;
    let session = c.signed_in(ADMIN).await;
    assert!(matches!(
        c.answer_text(&session, question("Hola")).await,
        Err(ChatError::NoModel)
    ));
    let c = chat_with(Some(ADMIN), true);
    assert!(c.chat.has_model());
    let session = c.signed_in(ADMIN).await;
    assert!(matches!(
        c.answer_text(&session, question("Hola")).await,
        Err(ChatError::NoProfile)
    ));
    assert!(c.chat.published().await.unwrap().is_none());
}

#[tokio::test]
async fn a_conversation_that_breaks_a_rule_is_refused_before_any_model_call() {
    let c = chat_with(Some(ADMIN), true);
    c.publish("Spanish tutor", "…").await;
    let session = c.signed_in(ADMIN).await;
    let refused = c
        .answer_text(
            &session,
            Question {
                conversation: vec![
                    turn(Speaker::User, "Hola"),
                    turn(Speaker::Assistant, "¡Hola!"),
                ],
                model: None,
                version: None,
            },
        )
        .await;
    assert!(matches!(
        refused,
        Err(ChatError::Invalid(ChatInputError::LastNotUser))
    ));
    assert!(c.model.requests().is_empty());
}

#[tokio::test]
async fn the_models_refusals_and_breaks_are_passed_on() {
    let c = chat_with(Some(ADMIN), true);
    c.publish("Spanish tutor", "…").await;
    let session = c.signed_in(ADMIN).await;
    c.model
        .will(FakeAnswer::Refuses(ChatModelError::Unauthorized));
    assert!(matches!(
        c.answer_text(&session, question("Hola")).await,
        Err(ChatError::Model(ChatModelError::Unauthorized))
    ));
    c.model.will(FakeAnswer::BreaksOff(
        vec!["Hal".into()],
        ChatModelError::TimedOut,
    ));
    let pieces: Vec<_> = c
        .chat
        .answer(&session, question("Hola"), "10.0.0.1")
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(pieces, [Ok("Hal".into()), Err(ChatModelError::TimedOut)]);
}

#[tokio::test]
async fn questions_are_limited_per_session_and_per_address_at_their_edges() {
    let c = chat_with(Some(ADMIN), true);
    c.publish("Spanish tutor", "…").await;
    let session = c.signed_in(ADMIN).await;
    for _ in 0..20 {
        c.answer_text(&session, question("Hola")).await.unwrap();
    }
    let Err(ChatError::TooMany { retry_after }) = c.answer_text(&session, question("Hola")).await
    else {
        panic!("the 21st question of a minute is refused");
    };
    assert_eq!(retry_after, Duration::minutes(1));
    // Another session from the same address goes on, up to 60 from the address.
    let mut others = Vec::new();
    for _ in 0..3 {
        others.push(c.signed_in(ADMIN).await);
    }
    for other in &others[..2] {
        for _ in 0..20 {
            c.answer_text(other, question("Hola")).await.unwrap();
        }
    }
    // 20 + 40 questions came from 10.0.0.1: the address's budget is spent, and the refusal
    // gives the third session's question back.
    assert!(matches!(
        c.answer_text(&others[2], question("Hola")).await,
        Err(ChatError::TooMany { .. })
    ));
    let from_elsewhere: Vec<_> = c
        .chat
        .answer(&others[2], question("Hola"), "10.0.0.2")
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(from_elsewhere.len(), 1);
    // A minute later the session may ask again.
    c.clock.advance(Duration::minutes(1));
    c.answer_text(&session, question("Hola")).await.unwrap();
    assert_eq!(c.model.requests().len(), 62);
}

#[tokio::test]
async fn the_admin_password_opens_an_admin_session_on_the_consoles_guess_budget() {
    let c = chat_with(Some(ADMIN), true);
    c.chat
        .set_team_password(&NewPassword::parse(TEAM).unwrap(), "10.0.0.9")
        .await
        .unwrap();
    assert_eq!(c.signed_in(ADMIN).await.visitor, ChatVisitor::Admin);
    assert_eq!(
        c.signed_in(TEAM).await.visitor,
        ChatVisitor::Team {
            password_set_at: c.clock.now()
        }
    );
    // Ten wrong guesses at the chat spend the console's budget for that address too: the
    // admin password gets no second budget of guesses.
    for _ in 0..10 {
        assert!(matches!(
            c.chat.log_in(&secret("wrong"), "10.0.0.7").await,
            Err(ChatLoginError::WrongPassword)
        ));
    }
    assert!(matches!(
        c.admin.log_in(&secret(ADMIN), "10.0.0.7").await,
        Err(gptgate_ports::services::AdminLoginError::TooMany { .. })
    ));
}

#[tokio::test]
async fn the_team_password_may_not_be_the_admin_password() {
    let c = chat_with(Some(ADMIN), true);
    assert!(matches!(
        c.chat
            .set_team_password(&NewPassword::parse(ADMIN).unwrap(), "10.0.0.9")
            .await,
        Err(TeamPasswordError::SameAsAdmin)
    ));
    assert_eq!(c.chat.team_password_set_at().await.unwrap(), None);
}

#[tokio::test]
async fn only_the_admin_may_try_a_saved_version() {
    let c = chat_with(Some(ADMIN), true);
    c.publish("Published", "Published instructions").await;
    c.chat
        .set_team_password(&NewPassword::parse(TEAM).unwrap(), "10.0.0.9")
        .await
        .unwrap();
    let member = c.signed_in(TEAM).await;
    let try_version = Question {
        version: Some(1),
        ..question("Hola")
    };
    assert!(matches!(
        c.answer_text(&member, try_version.clone()).await,
        Err(ChatError::VersionNotAllowed)
    ));
    let admin = c.signed_in(ADMIN).await;
    c.answer_text(&admin, try_version).await.unwrap();
}

#[tokio::test]
async fn a_session_streams_at_most_two_answers_at_once() {
    let c = chat_with(Some(ADMIN), true);
    c.publish("Spanish tutor", "…").await;
    let session = c.signed_in(ADMIN).await;
    c.model.will(FakeAnswer::Stalls(vec!["a".into()]));
    c.model.will(FakeAnswer::Stalls(vec!["b".into()]));
    let first = c
        .chat
        .answer(&session, question("1"), "10.0.0.1")
        .await
        .unwrap();
    let second = c
        .chat
        .answer(&session, question("2"), "10.0.0.1")
        .await
        .unwrap();
    assert!(matches!(
        c.chat.answer(&session, question("3"), "10.0.0.1").await,
        Err(ChatError::Busy)
    ));
    let other = c.signed_in(ADMIN).await;
    c.answer_text(&other, question("elsewhere")).await.unwrap();
    drop(first);
    c.answer_text(&session, question("4")).await.unwrap();
    drop(second);
    assert_eq!(
        c.model.requests().len(),
        4,
        "the refused one reached no model"
    );
}

#[tokio::test]
async fn questions_from_everyone_together_are_capped() {
    let c = chat_with(Some(ADMIN), true);
    let policy = ChatPolicy {
        overall: gptgate_domain::BudgetPolicy {
            limit: 3,
            window: Duration::minutes(1),
        },
        ..ChatPolicy::default()
    };
    let chat = c.fakes.assistant(policy, true);
    c.publish("Spanish tutor", "…").await;
    let mut refused = 0;
    for n in 0..4u8 {
        let token = chat
            .log_in(&secret(ADMIN), &format!("10.0.1.{n}"))
            .await
            .unwrap();
        use secrecy::ExposeSecret;
        let session = chat.session(token.expose_secret()).await.unwrap().unwrap();
        match chat
            .answer(&session, question("Hola"), &format!("10.0.1.{n}"))
            .await
        {
            Ok(_) => {}
            Err(ChatError::TooMany { retry_after }) => {
                assert_eq!(retry_after, Duration::minutes(1));
                refused += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(
        refused, 1,
        "the fourth question of the minute, from a fourth address"
    );
}
