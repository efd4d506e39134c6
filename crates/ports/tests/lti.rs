//! LTI 1.3 on the testkit fakes (signatures are tested with real RSA keys in
//! gptgate-adapters-system, the key set fetch against wiremock in gptgate-adapters-oauth): a
//! registered platform's login gets an authentication request with a fresh state and nonce;
//! its id_token, posted back to the browser that started the login, opens a chat session once.
//! Replayed nonces and states, foreign keys, wrong audiences, expired tokens, other browsers
//! and unregistered platforms open nothing.

use std::sync::Arc;

use gptgate_domain::{
    AdminAction, ChatPolicy, ChatVisitor, LoginInitiation, LoginRefused, LtiPlatformError,
    LtiPolicy, LtiRefused, PlatformError, PlatformKey,
};
use gptgate_ports::services::{
    LtiError, LtiLaunches, LtiLogin, LtiPorts, LtiRegistration, RegisterLtiError,
};
use gptgate_ports::{AdminRepository, ChatAccessRepository, Clock, LaunchTokenError, OpaqueTokens};
use gptgate_testkit::{
    lti_claims, FakeClock, FakeKeySets, FakeLtiTokens, FakeOpaqueTokens, InMemoryStore,
    SeededRandom,
};
use secrecy::ExposeSecret;
use serde_json::json;
use time::Duration;

const PUBLIC: &str = "https://gpt.example.com";
const ISSUER: &str = "https://canvas.instructure.com";
const CLIENT: &str = "10000000000042";
const KEYS: &str = "https://sso.canvaslms.com/api/lti/security/jwks";
const LOGIN: &str = "https://sso.canvaslms.com/api/lti/authorize_redirect";
const ADDRESS: &str = "10.0.0.1";

/// The nonce a login asked the platform to sign (as the platform reads it: from the
/// authentication request).
fn nonce_of(login: &LtiLogin) -> String {
    let at = login.redirect_to.find("&nonce=").expect("a nonce") + "&nonce=".len();
    login.redirect_to[at..]
        .split('&')
        .next()
        .unwrap()
        .to_owned()
}

fn key(kid: &str) -> PlatformKey {
    PlatformKey {
        kid: kid.into(),
        n: format!("modulus-of-{kid}"),
        e: "AQAB".into(),
    }
}

struct Setup {
    store: Arc<InMemoryStore>,
    clock: FakeClock,
    key_sets: Arc<FakeKeySets>,
    lti: Arc<LtiLaunches>,
}

fn setup() -> Setup {
    let store = Arc::new(InMemoryStore::new());
    let clock = FakeClock::new();
    let key_sets = Arc::new(FakeKeySets::default());
    key_sets.set(KEYS, vec![key("k1")]);
    let lti = Arc::new(LtiLaunches::new(
        LtiPorts {
            budgets: store.clone(),
            platforms: store.clone(),
            used: store.clone(),
            sessions: store.clone(),
            tokens: Arc::new(FakeLtiTokens),
            key_sets: key_sets.clone(),
            opaque: Arc::new(FakeOpaqueTokens::default()),
            random: Arc::new(SeededRandom::new(5)),
            clock: Arc::new(clock.clone()),
        },
        LtiPolicy::default(),
        ChatPolicy::default(),
        &format!("{PUBLIC}/"),
    ));
    Setup {
        store,
        clock,
        key_sets,
        lti,
    }
}

fn registration() -> LtiRegistration {
    LtiRegistration {
        name: "Canvas".into(),
        issuer: ISSUER.into(),
        client_id: CLIENT.into(),
        login_url: LOGIN.into(),
        key_set_url: KEYS.into(),
        deployments: vec!["dep-1".into(), "dep-2".into()],
        origins: vec!["https://school.instructure.com".into()],
    }
}

fn initiation() -> LoginInitiation {
    LoginInitiation {
        iss: Some(ISSUER.into()),
        login_hint: Some("user-7".into()),
        target_link_uri: Some(format!("{PUBLIC}/chat")),
        lti_message_hint: Some("opaque".into()),
        client_id: Some(CLIENT.into()),
        lti_deployment_id: Some("dep-1".into()),
    }
}

impl Setup {
    async fn registered(self) -> Self {
        self.lti
            .register(&registration(), "10.0.0.9")
            .await
            .unwrap();
        self
    }

    async fn login(&self) -> LtiLogin {
        self.lti.login(&initiation(), ADDRESS).await.unwrap()
    }

    /// The claims the platform signs for `login`, at the test clock's time.
    fn claims(&self, nonce: &str) -> serde_json::Value {
        let now = self.clock.now().unix_timestamp();
        json!({
            "iss": ISSUER, "aud": CLIENT, "sub": "user-7", "iat": now, "exp": now + 3600,
            "nonce": nonce,
            (lti_claims::MESSAGE_TYPE): "LtiResourceLinkRequest",
            (lti_claims::VERSION): "1.3.0",
            (lti_claims::DEPLOYMENT_ID): "dep-1",
            (lti_claims::RESOURCE_LINK): { "id": "link-1" },
        })
    }

    fn id_token(&self, login: &LtiLogin) -> String {
        FakeLtiTokens::sign(&key("k1"), &self.claims(&nonce_of(login)))
    }

    async fn launch(&self, token: &str, login: &LtiLogin) -> Result<(), LtiError> {
        self.lti
            .launch(token, &login.state, Some(&login.binding), ADDRESS)
            .await
            .map(|_| ())
    }
}

#[tokio::test]
async fn a_login_answers_with_an_authentication_request_bound_to_fresh_values() {
    let s = setup().registered().await;
    let (first, second) = (s.login().await, s.login().await);
    assert_ne!(first.state, second.state);
    assert_ne!(nonce_of(&first), nonce_of(&second));
    assert_ne!(first.state, nonce_of(&first));
    let url = &first.redirect_to;
    assert!(url.starts_with(&format!("{LOGIN}?")), "{url}");
    for part in [
        "scope=openid",
        "response_type=id_token",
        "response_mode=form_post",
        "prompt=none",
        &format!("client_id={CLIENT}"),
        "redirect_uri=https%3A%2F%2Fgpt.example.com%2Flti%2Flaunch",
        "login_hint=user-7",
        "lti_message_hint=opaque",
        &format!("state={}", first.state),
        &format!("nonce={}", nonce_of(&first)),
    ] {
        assert!(url.contains(part), "{part} in {url}");
    }
    assert_eq!(s.lti.redirect_uri(), "https://gpt.example.com/lti/launch");
}

#[tokio::test]
async fn logins_come_only_from_registered_platforms() {
    let s = setup().registered().await;
    let refused = |i: LoginInitiation| {
        let lti = s.lti.clone();
        async move { lti.login(&i, ADDRESS).await.unwrap_err() }
    };
    let mut other = initiation();
    other.iss = Some("https://evil.example".into());
    assert!(matches!(
        refused(other).await,
        LtiError::Login(LoginRefused::UnknownPlatform)
    ));
    let mut no_iss = initiation();
    no_iss.iss = Some("two words".into());
    assert!(matches!(
        refused(no_iss).await,
        LtiError::Login(LoginRefused::Issuer)
    ));
    let mut client = initiation();
    client.client_id = Some("another".into());
    assert!(matches!(
        refused(client).await,
        LtiError::Login(LoginRefused::UnknownPlatform)
    ));
    let mut deployment = initiation();
    deployment.lti_deployment_id = Some("dep-3".into());
    assert!(matches!(
        refused(deployment).await,
        LtiError::Login(LoginRefused::Deployment)
    ));
    let mut target = initiation();
    target.target_link_uri = Some("https://evil.example/chat".into());
    assert!(matches!(
        refused(target).await,
        LtiError::Login(LoginRefused::Target)
    ));
}

#[tokio::test]
async fn the_id_token_opens_a_two_hour_chat_session_once() {
    let s = setup().registered().await;
    let platform = s.lti.platforms().await.unwrap().remove(0);
    let login = s.login().await;
    let token = s.id_token(&login);
    let launched = s
        .lti
        .launch(&token, &login.state, Some(&login.binding), ADDRESS)
        .await
        .unwrap();
    assert_eq!(launched.platform, platform.id);
    assert_eq!(
        launched.session.visitor,
        ChatVisitor::Launched {
            platform: platform.id,
            subject: "user-7".into()
        }
    );
    assert_eq!(
        launched.session.expires_at - launched.session.created_at,
        Duration::hours(2)
    );
    let hash = FakeOpaqueTokens::default().hash(launched.token.expose_secret());
    assert!(s.store.find_chat_session(&hash).await.unwrap().is_some());
    // The same id_token and state again: replayed.
    assert!(matches!(
        s.launch(&token, &login).await,
        Err(LtiError::Replayed)
    ));
    // Another token the platform signed for the same login (same nonce): the nonce is spent.
    let mut claims = s.claims(&nonce_of(&login));
    claims["sub"] = json!("user-8");
    let again = FakeLtiTokens::sign(&key("k1"), &claims);
    assert!(matches!(
        s.launch(&again, &login).await,
        Err(LtiError::Replayed)
    ));
}

#[tokio::test]
async fn a_state_finishes_only_the_login_it_was_minted_with() {
    let s = setup().registered().await;
    let (first, second) = (s.login().await, s.login().await);
    // The second login's token and cookie, posted under the first's state.
    let token = s.id_token(&second);
    let err = s
        .lti
        .launch(&token, &first.state, Some(&second.binding), ADDRESS)
        .await
        .unwrap_err();
    assert!(matches!(err, LtiError::Refused(LtiRefused::Nonce)), "{err}");
    s.launch(&token, &second).await.unwrap();
}

#[tokio::test]
async fn only_the_browser_that_started_the_login_can_finish_it() {
    let s = setup().registered().await;
    let login = s.login().await;
    let token = s.id_token(&login);
    // No cookie for this state (another browser: login CSRF), or an empty one.
    for nonce in [None, Some("")] {
        let err = s
            .lti
            .launch(&token, &login.state, nonce, ADDRESS)
            .await
            .unwrap_err();
        assert!(matches!(err, LtiError::NotThisBrowser), "{err}");
    }
    // This browser holds another login's nonce: the token was not asked for by it.
    let mine = s.login().await;
    let err = s
        .lti
        .launch(&token, &mine.state, Some(&mine.binding), ADDRESS)
        .await
        .unwrap_err();
    assert!(matches!(err, LtiError::Refused(LtiRefused::Nonce)), "{err}");
    // Whoever holds only the id_token (it carries the nonce) cannot make the cookie: a cookie
    // holding the nonce, or a binding of their own making, is refused.
    let nonce = nonce_of(&login);
    let forged = login
        .binding
        .replacen(&login.binding[..43], &"A".repeat(43), 1);
    for cookie in [nonce.as_str(), forged.as_str()] {
        let err = s
            .lti
            .launch(&token, &login.state, Some(cookie), ADDRESS)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                LtiError::NotThisBrowser | LtiError::Refused(LtiRefused::Nonce)
            ),
            "{err}"
        );
    }
    // Refusals spent nothing: the right browser still gets in.
    s.launch(&token, &login).await.unwrap();
}

#[tokio::test]
async fn a_login_is_open_five_minutes_and_for_its_registration_only() {
    let s = setup().registered().await;
    let mut canvas2 = registration();
    canvas2.client_id = "10000000000043".into();
    s.lti.register(&canvas2, "10.0.0.9").await.unwrap();
    let login = s.login().await;
    // A token for the other registration of the issuer, finishing this registration's login.
    let mut claims = s.claims(&nonce_of(&login));
    claims["aud"] = json!("10000000000043");
    let mixed = FakeLtiTokens::sign(&key("k1"), &claims);
    assert!(matches!(
        s.launch(&mixed, &login).await,
        Err(LtiError::NotThisBrowser)
    ));
    // Five minutes after the login, it is over (the token itself lives an hour).
    let token = s.id_token(&login);
    s.clock.advance(Duration::minutes(5));
    assert!(matches!(
        s.launch(&token, &login).await,
        Err(LtiError::NotThisBrowser)
    ));
    s.clock.advance(Duration::seconds(-1));
    s.launch(&token, &login).await.unwrap();
}

#[tokio::test]
async fn foreign_keys_wrong_audiences_and_expired_tokens_open_nothing() {
    let s = setup().registered().await;
    let login = s.login().await;
    // Signed with a key the platform's set does not hold, under a kid it does.
    let foreign = FakeLtiTokens::sign(
        &PlatformKey {
            n: "an attacker's modulus".into(),
            ..key("k1")
        },
        &s.claims(&nonce_of(&login)),
    );
    assert!(matches!(
        s.launch(&foreign, &login).await,
        Err(LtiError::Token(LaunchTokenError::BadSignature))
    ));
    // For another client of the same issuer, unregistered.
    let mut claims = s.claims(&nonce_of(&login));
    claims["aud"] = json!("another-client");
    let other = FakeLtiTokens::sign(&key("k1"), &claims);
    assert!(matches!(
        s.launch(&other, &login).await,
        Err(LtiError::UnknownPlatform)
    ));
    // Of an unregistered issuer.
    claims["aud"] = json!(CLIENT);
    claims["iss"] = json!("https://evil.example");
    let other = FakeLtiTokens::sign(&key("k1"), &claims);
    assert!(matches!(
        s.launch(&other, &login).await,
        Err(LtiError::UnknownPlatform)
    ));
    // Of another deployment.
    let mut claims = s.claims(&nonce_of(&login));
    claims[lti_claims::DEPLOYMENT_ID] = json!("dep-9");
    let other = FakeLtiTokens::sign(&key("k1"), &claims);
    assert!(matches!(
        s.launch(&other, &login).await,
        Err(LtiError::Refused(LtiRefused::Deployment))
    ));
    // Expired: exp + 30 s leeway is now; a second later than that, still good.
    let now = s.clock.now().unix_timestamp();
    let mut claims = s.claims(&nonce_of(&login));
    claims["iat"] = json!(now - 60);
    claims["exp"] = json!(now - 30);
    let expired = FakeLtiTokens::sign(&key("k1"), &claims);
    assert!(matches!(
        s.launch(&expired, &login).await,
        Err(LtiError::Refused(LtiRefused::Expired))
    ));
    claims["exp"] = json!(now - 29);
    s.launch(&FakeLtiTokens::sign(&key("k1"), &claims), &login)
        .await
        .unwrap();
    // Not a JWT at all.
    assert!(matches!(
        s.launch("garbage", &login).await,
        Err(LtiError::Malformed)
    ));
}

#[tokio::test]
async fn an_unknown_key_id_fetches_the_set_again_at_most_every_30_seconds() {
    let s = setup().registered().await;
    assert_eq!(s.key_sets.fetches(), 1, "registration read the set");
    let login = s.login().await;
    s.launch(&s.id_token(&login), &login).await.unwrap();
    assert_eq!(
        s.key_sets.fetches(),
        1,
        "the set fetched at registration is used"
    );
    // The platform rotates to k2; a token signed with it fetches the set again.
    s.key_sets.set(KEYS, vec![key("k2")]);
    s.clock.advance(Duration::seconds(30));
    let login = s.login().await;
    let rotated = FakeLtiTokens::sign(&key("k2"), &s.claims(&nonce_of(&login)));
    s.launch(&rotated, &login).await.unwrap();
    assert_eq!(s.key_sets.fetches(), 2);
    // Made-up key ids: one fetch, then none for 30 s.
    let made_up = |kid: &str, nonce: &str| FakeLtiTokens::sign(&key(kid), &s.claims(nonce));
    s.clock.advance(Duration::seconds(30));
    let login = s.login().await;
    for n in 0..5 {
        let err = s
            .launch(&made_up(&format!("x{n}"), &nonce_of(&login)), &login)
            .await
            .unwrap_err();
        assert!(matches!(err, LtiError::UnknownKey), "{err}");
    }
    assert_eq!(s.key_sets.fetches(), 3);
    s.clock.advance(Duration::seconds(29));
    let _ = s.launch(&made_up("x9", &nonce_of(&login)), &login).await;
    assert_eq!(s.key_sets.fetches(), 3, "29 s later: still no fetch");
    s.clock.advance(Duration::seconds(1));
    let _ = s.launch(&made_up("x9", &nonce_of(&login)), &login).await;
    assert_eq!(s.key_sets.fetches(), 4, "30 s later: one more");
    // A token without a kid is refused without a fetch.
    let err = s
        .launch(&made_up("", &nonce_of(&login)), &login)
        .await
        .unwrap_err();
    assert!(matches!(err, LtiError::UnknownKey), "{err}");
    assert_eq!(s.key_sets.fetches(), 4);
}

#[tokio::test]
async fn a_set_older_than_an_hour_is_fetched_again_and_kept_if_the_platform_is_away() {
    let s = setup().registered().await;
    s.clock.advance(Duration::hours(1) - Duration::seconds(1));
    let login = s.login().await;
    s.launch(&s.id_token(&login), &login).await.unwrap();
    assert_eq!(s.key_sets.fetches(), 1, "within the hour: the cached set");
    s.clock.advance(Duration::seconds(1));
    s.key_sets.break_off(KEYS);
    let login = s.login().await;
    s.launch(&s.id_token(&login), &login).await.unwrap();
    assert_eq!(s.key_sets.fetches(), 2, "an hour old: fetched again");
    // The platform is away and the key unknown: the fetch failure is said.
    s.clock.advance(Duration::seconds(30));
    let login = s.login().await;
    let unknown = FakeLtiTokens::sign(&key("k7"), &s.claims(&nonce_of(&login)));
    assert!(matches!(
        s.launch(&unknown, &login).await,
        Err(LtiError::KeySet(_))
    ));
}

#[tokio::test]
async fn concurrent_launches_of_one_login_open_one_session_and_a_cold_set_is_fetched_once() {
    let s = setup();
    s.lti.register(&registration(), "10.0.0.9").await.unwrap();
    // A second instance: its cache is cold.
    let cold = Arc::new(LtiLaunches::new(
        LtiPorts {
            budgets: s.store.clone(),
            platforms: s.store.clone(),
            used: s.store.clone(),
            sessions: s.store.clone(),
            tokens: Arc::new(FakeLtiTokens),
            key_sets: s.key_sets.clone(),
            opaque: Arc::new(FakeOpaqueTokens::default()),
            random: Arc::new(SeededRandom::new(6)),
            clock: Arc::new(s.clock.clone()),
        },
        LtiPolicy::default(),
        ChatPolicy::default(),
        PUBLIC,
    ));
    let login = s.login().await;
    let token = s.id_token(&login);
    let tries = (0..8).map(|_| {
        let (cold, token, state, binding) = (
            cold.clone(),
            token.clone(),
            login.state.clone(),
            login.binding.clone(),
        );
        tokio::spawn(async move { cold.launch(&token, &state, Some(&binding), ADDRESS).await })
    });
    let results = futures::future::join_all(tries).await;
    let opened = results
        .iter()
        .filter(|r| r.as_ref().unwrap().is_ok())
        .count();
    assert_eq!(opened, 1);
    for r in &results {
        let r = r.as_ref().unwrap();
        assert!(
            matches!(r, Ok(_) | Err(LtiError::Replayed)),
            "{:?}",
            r.as_ref().err()
        );
    }
    assert_eq!(
        s.key_sets.fetches(),
        2,
        "registration, then one for the cold instance"
    );
}

#[tokio::test]
async fn registration_checks_each_field_and_reads_the_key_set() {
    let s = setup();
    let with = |f: fn(&mut LtiRegistration)| {
        let mut r = registration();
        f(&mut r);
        r
    };
    type Expected = fn(&RegisterLtiError) -> bool;
    let cases: [(LtiRegistration, Expected); 7] = [
        (with(|r| r.name = String::new()), |e| {
            matches!(e, RegisterLtiError::Invalid(PlatformError::Name))
        }),
        (with(|r| r.issuer = String::new()), |e| {
            matches!(e, RegisterLtiError::Invalid(PlatformError::Issuer))
        }),
        (with(|r| r.client_id = "a b".into()), |e| {
            matches!(e, RegisterLtiError::Lti(LtiPlatformError::ClientId))
        }),
        (
            with(|r| r.login_url = "http://lms.example.edu/auth".into()),
            |e| matches!(e, RegisterLtiError::Lti(LtiPlatformError::Url("login URL"))),
        ),
        (
            with(|r| r.key_set_url = "ftp://lms.example.edu/jwks".into()),
            |e| {
                matches!(
                    e,
                    RegisterLtiError::Lti(LtiPlatformError::Url("key set URL"))
                )
            },
        ),
        (with(|r| r.deployments = vec![]), |e| {
            matches!(e, RegisterLtiError::Lti(LtiPlatformError::Deployment))
        }),
        (
            with(|r| r.origins = vec!["http://lms.example.edu".into()]),
            |e| matches!(e, RegisterLtiError::Invalid(PlatformError::Origin)),
        ),
    ];
    for (input, expected) in cases {
        let err = s.lti.register(&input, "10.0.0.9").await.unwrap_err();
        assert!(expected(&err), "{err}");
    }
    // On an https server, platforms are on https too (http://localhost is for development).
    let local = with(|r| r.key_set_url = "http://localhost:9000/jwks".into());
    assert!(matches!(
        s.lti.register(&local, "10.0.0.9").await,
        Err(RegisterLtiError::Lti(LtiPlatformError::Url("key set URL")))
    ));
    let local = with(|r| r.login_url = "http://127.0.0.1:9000/auth".into());
    assert!(matches!(
        s.lti.register(&local, "10.0.0.9").await,
        Err(RegisterLtiError::Lti(LtiPlatformError::Url("login URL")))
    ));
    assert_eq!(s.key_sets.fetches(), 0, "a refused field fetches nothing");
    let away = with(|r| r.key_set_url = "https://lms.example.edu/gone".into());
    assert!(matches!(
        s.lti.register(&away, "10.0.0.9").await,
        Err(RegisterLtiError::KeySet(_))
    ));
    s.key_sets.set("https://lms.example.edu/empty", vec![]);
    let empty = with(|r| r.key_set_url = "https://lms.example.edu/empty".into());
    assert!(matches!(
        s.lti.register(&empty, "10.0.0.9").await,
        Err(RegisterLtiError::NoKeys)
    ));
    assert!(s.lti.platforms().await.unwrap().is_empty());
    assert!(s.store.admin_actions(10).await.unwrap().is_empty());

    let platform = s.lti.register(&registration(), "10.0.0.9").await.unwrap();
    assert_eq!(s.lti.platforms().await.unwrap(), [platform]);
    assert!(matches!(
        s.lti.register(&registration(), "10.0.0.9").await,
        Err(RegisterLtiError::Taken)
    ));
    // Another client of the same issuer is another registration.
    let second = with(|r| r.client_id = "10000000000043".into());
    s.lti.register(&second, "10.0.0.9").await.unwrap();
    let audit = s.store.admin_actions(10).await.unwrap();
    assert_eq!(audit.len(), 2);
    assert!(audit
        .iter()
        .all(|e| e.action == AdminAction::PlatformAdded && e.address == "10.0.0.9"));
    // Two registrations of one issuer: a login must name its client.
    let mut unnamed = initiation();
    unnamed.client_id = None;
    assert!(matches!(
        s.lti.login(&unnamed, ADDRESS).await,
        Err(LtiError::Login(LoginRefused::Ambiguous))
    ));
}

#[tokio::test]
async fn an_address_gets_300_refused_logins_and_300_launches_a_minute() {
    let s = setup().registered().await;
    let mut unknown = initiation();
    unknown.iss = Some("https://evil.example".into());
    for _ in 0..300 {
        let err = s.lti.login(&unknown, "10.0.0.7").await.unwrap_err();
        assert!(
            matches!(err, LtiError::Login(LoginRefused::UnknownPlatform)),
            "{err}"
        );
    }
    let Err(LtiError::TooMany { retry_after }) = s.lti.login(&unknown, "10.0.0.7").await else {
        panic!("the 301st refused login of a minute from one address is refused as too many");
    };
    assert_eq!(retry_after, Duration::minutes(1));
    // Good logins spend nothing (a page making browsers open logins cannot use up a class's
    // launches), but launches spend the same budget.
    let login = s.lti.login(&initiation(), "10.0.0.7").await.unwrap();
    let token = s.id_token(&login);
    assert!(matches!(
        s.lti
            .launch(&token, &login.state, Some(&login.binding), "10.0.0.7")
            .await,
        Err(LtiError::TooMany { .. })
    ));
    s.launch(&token, &login).await.unwrap();
    // 300 launches from a fresh address, the 301st refused.
    for _ in 0..300 {
        let _ = s
            .lti
            .launch("garbage", &login.state, None, "10.0.0.8")
            .await;
    }
    assert!(matches!(
        s.lti
            .launch("garbage", &login.state, None, "10.0.0.8")
            .await,
        Err(LtiError::TooMany { .. })
    ));
}

#[tokio::test]
async fn registrations_sharing_a_key_set_share_its_fetches() {
    let s = setup().registered().await;
    let mut second = registration();
    second.client_id = "10000000000043".into();
    s.lti.register(&second, "10.0.0.9").await.unwrap();
    assert_eq!(
        s.key_sets.fetches(),
        2,
        "each registration reads the set once"
    );
    s.clock.advance(Duration::seconds(30));
    let login = s.login().await;
    let made_up = FakeLtiTokens::sign(&key("x1"), &s.claims(&nonce_of(&login)));
    assert!(matches!(
        s.launch(&made_up, &login).await,
        Err(LtiError::UnknownKey)
    ));
    assert_eq!(s.key_sets.fetches(), 3);
    // The other registration's unknown key: the same set, fetched just now.
    let mut other = initiation();
    other.client_id = Some("10000000000043".into());
    let login = s.lti.login(&other, ADDRESS).await.unwrap();
    let mut claims = s.claims(&nonce_of(&login));
    claims["aud"] = json!("10000000000043");
    let made_up = FakeLtiTokens::sign(&key("x2"), &claims);
    assert!(matches!(
        s.launch(&made_up, &login).await,
        Err(LtiError::UnknownKey)
    ));
    assert_eq!(s.key_sets.fetches(), 3);
}

#[tokio::test]
async fn the_spent_nonce_outlives_the_token_by_the_leeway() {
    use gptgate_ports::Housekeeping;
    let s = setup().registered().await;
    let login = s.login().await;
    let mut claims = s.claims(&nonce_of(&login));
    claims["exp"] = json!(s.clock.now().unix_timestamp() + 60);
    let token = FakeLtiTokens::sign(&key("k1"), &claims);
    s.launch(&token, &login).await.unwrap();
    // A purge of everything that ended a second before the token's last accepted moment
    // (its expiry plus the leeway) keeps the nonce: the token is still accepted until then.
    let expiry = s.clock.now() + Duration::seconds(60) + LtiPolicy::default().leeway;
    s.store.purge(expiry - Duration::seconds(1)).await.unwrap();
    s.clock.advance(Duration::seconds(60 + 29));
    assert!(matches!(
        s.launch(&token, &login).await,
        Err(LtiError::Replayed)
    ));
}

#[tokio::test]
async fn an_authorized_party_names_the_registration() {
    let s = setup().registered().await;
    let login = s.login().await;
    let mut claims = s.claims(&nonce_of(&login));
    claims["azp"] = json!("10000000000099");
    let token = FakeLtiTokens::sign(&key("k1"), &claims);
    assert!(matches!(
        s.launch(&token, &login).await,
        Err(LtiError::UnknownPlatform)
    ));
    claims["azp"] = json!(CLIENT);
    let token = FakeLtiTokens::sign(&key("k1"), &claims);
    s.launch(&token, &login).await.unwrap();
}

#[tokio::test]
async fn a_fetched_set_without_usable_keys_keeps_the_keys_fetched_before() {
    let s = setup().registered().await;
    s.clock.advance(Duration::hours(1));
    s.key_sets.set(KEYS, vec![]);
    let login = s.login().await;
    s.launch(&s.id_token(&login), &login).await.unwrap();
    assert_eq!(
        s.key_sets.fetches(),
        2,
        "the hour-old set was fetched again"
    );
}
