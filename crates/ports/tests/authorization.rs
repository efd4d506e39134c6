//! The authorization server's use cases on the testkit fakes: registration, the request check
//! that comes before any redirect, codes (once, 60 s, client, redirect URI, PKCE), refresh
//! rotation with reuse detection, revocation, and that the access tokens are sessions that
//! end with their grant.

use std::sync::Arc;

use gptgate_domain::{
    ClientKind, CodeChallenge, Email, Identity, OAuthClient, OAuthPolicy, SessionPolicy, UserId,
};
use gptgate_ports::services::{
    Authorization, AuthorizationPorts, AuthorizeError, ClientCredentials, IssuedTokens,
    OAuthTokenError, RegisterError,
};
use gptgate_ports::{Clock, OpaqueTokens, SessionTokens, UserRepository};
use gptgate_testkit::{
    FakeClock, FakeOpaqueTokens, FakeSessionTokens, InMemoryStore, SeededRandom,
};
use secrecy::{ExposeSecret, SecretString};
use time::Duration;

const CALLBACK: &str = "https://chatgpt.com/aip/g-6a3f/oauth/callback";

struct Harness {
    store: Arc<InMemoryStore>,
    clock: FakeClock,
    tokens: Arc<FakeOpaqueTokens>,
    server: Authorization,
    client: OAuthClient,
    client_id: String,
    secret: SecretString,
    ann: UserId,
}

async fn harness() -> Harness {
    let store = Arc::new(InMemoryStore::new());
    let clock = FakeClock::new();
    let tokens = Arc::new(FakeOpaqueTokens::default());
    let server = Authorization::new(
        AuthorizationPorts {
            store: store.clone(),
            sessions: store.clone(),
            tokens: tokens.clone(),
            session_tokens: Arc::new(FakeSessionTokens),
            clock: Arc::new(clock.clone()),
            random: Arc::new(SeededRandom::new(3)),
            budgets: store.clone(),
        },
        OAuthPolicy::default(),
        SessionPolicy {
            ttl: Duration::hours(24),
        },
    );
    let registered = server
        .register_client("Spanish tutor GPT", ClientKind::ChatGpt, &[])
        .await
        .unwrap();
    let ann = store
        .find_or_create_user(
            &Identity::email(&Email::parse("ann@example.com").unwrap()),
            UserId::from_random_bytes([1; 16]),
            clock.now(),
        )
        .await
        .unwrap()
        .id;
    Harness {
        store,
        clock,
        tokens,
        server,
        client_id: registered.client.id.to_string(),
        client: registered.client,
        secret: registered.secret,
        ann,
    }
}

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

impl Harness {
    fn credentials(&self) -> ClientCredentials<'_> {
        ClientCredentials {
            id: &self.client_id,
            secret: Some(self.secret.expose_secret()),
        }
    }

    fn challenge(&self) -> CodeChallenge {
        CodeChallenge::from_bytes(*self.tokens.hash(VERIFIER).as_bytes())
    }

    async fn code(&self, pkce: bool) -> String {
        let client = self
            .server
            .check_request(&self.client.id.to_string(), CALLBACK)
            .await
            .unwrap();
        self.server
            .issue_code(
                &client,
                self.ann,
                CALLBACK,
                pkce.then(|| self.challenge()),
                gptgate_domain::Audience::Api,
            )
            .await
            .unwrap()
            .expose_secret()
            .to_owned()
    }

    async fn exchange(&self, code: &str) -> Result<IssuedTokens, OAuthTokenError> {
        self.server
            .exchange_code(
                &self.credentials(),
                code,
                Some(CALLBACK),
                Some(VERIFIER),
                None,
            )
            .await
    }

    /// The user the API sees for `access_token`, if it is accepted.
    async fn user_of(&self, access_token: &SecretString) -> Option<UserId> {
        let claims = FakeSessionTokens
            .verify(access_token.expose_secret(), self.clock.now())
            .ok()?;
        let session =
            gptgate_ports::SessionRepository::find_session(self.store.as_ref(), claims.session_id)
                .await
                .unwrap()?;
        session
            .is_active(self.clock.now())
            .then_some(session.user_id)
    }
}

fn grant_refused<T>(r: Result<T, OAuthTokenError>) -> bool {
    matches!(r, Err(OAuthTokenError::InvalidGrant))
}

#[tokio::test]
async fn registration_checks_names_and_uris_and_shows_the_secret_once() {
    let h = harness().await;
    assert_eq!(h.server.clients().await.unwrap(), vec![h.client.clone()]);
    assert_eq!(
        h.client.secret_hash,
        Some(h.tokens.hash(h.secret.expose_secret()))
    );
    for (name, kind, uris) in [
        ("", ClientKind::ChatGpt, vec![]),
        ("Web app", ClientKind::Web, vec![]),
        (
            "Web app",
            ClientKind::Web,
            vec!["http://app.example.com/cb".to_owned()],
        ),
    ] {
        assert!(matches!(
            h.server.register_client(name, kind, &uris).await,
            Err(RegisterError::Invalid(_))
        ));
    }
    assert!(h.server.remove_client(h.client.id).await.unwrap());
    assert!(h.server.clients().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_unknown_client_or_unregistered_redirect_is_refused_before_any_redirect() {
    let h = harness().await;
    let id = h.client.id.to_string();
    assert!(h.server.check_request(&id, CALLBACK).await.is_ok());
    assert!(matches!(
        h.server.check_request("not-a-client", CALLBACK).await,
        Err(AuthorizeError::UnknownClient)
    ));
    assert!(matches!(
        h.server
            .check_request(
                &gptgate_domain::ClientId::from_random_bytes([9; 16]).to_string(),
                CALLBACK
            )
            .await,
        Err(AuthorizeError::UnknownClient)
    ));
    for uri in [
        "https://chatgpt.com.evil.example/aip/g-1/oauth/callback",
        "https://chatgpt.com@evil.example/aip/g-1/oauth/callback",
        "https://evil.example/",
    ] {
        assert!(matches!(
            h.server.check_request(&id, uri).await,
            Err(AuthorizeError::UnregisteredRedirectUri)
        ));
    }
}

#[tokio::test]
async fn a_code_becomes_an_access_token_for_the_same_user_and_a_refresh_token() {
    let h = harness().await;
    let code = h.code(true).await;
    let issued = h.exchange(&code).await.unwrap();
    assert_eq!(issued.expires_in, 24 * 3600);
    assert_eq!(h.user_of(&issued.access_token).await, Some(h.ann));
    assert_ne!(
        issued.refresh_token.expose_secret(),
        issued.access_token.expose_secret()
    );
}

#[tokio::test]
async fn a_code_works_once_for_sixty_seconds_for_its_client_uri_and_verifier() {
    let h = harness().await;
    // Expired at exactly 60 s.
    let code = h.code(true).await;
    h.clock.advance(Duration::seconds(60));
    assert!(grant_refused(h.exchange(&code).await));
    // 60 s less a microsecond: fine.
    let code = h.code(true).await;
    h.clock
        .advance(Duration::seconds(60) - Duration::microseconds(1));
    assert!(h.exchange(&code).await.is_ok());

    // Another redirect URI, or none.
    let code = h.code(true).await;
    let other = "https://chatgpt.com/aip/g-other/oauth/callback";
    assert!(grant_refused(
        h.server
            .exchange_code(&h.credentials(), &code, Some(other), Some(VERIFIER), None)
            .await
    ));
    let code = h.code(true).await;
    assert!(grant_refused(
        h.server
            .exchange_code(&h.credentials(), &code, None, Some(VERIFIER), None)
            .await
    ));
    // A wrong, malformed or missing verifier.
    for verifier in [Some("x".repeat(43)), Some(VERIFIER[..42].to_owned()), None] {
        let code = h.code(true).await;
        assert!(grant_refused(
            h.server
                .exchange_code(
                    &h.credentials(),
                    &code,
                    Some(CALLBACK),
                    verifier.as_deref(),
                    None
                )
                .await
        ));
    }
    // No challenge: no verifier either (no downgrade).
    let code = h.code(false).await;
    assert!(grant_refused(h.exchange(&code).await));
    let code = h.code(false).await;
    assert!(h
        .server
        .exchange_code(&h.credentials(), &code, Some(CALLBACK), None, None)
        .await
        .is_ok());
    // Another client's credentials.
    let other = h
        .server
        .register_client("Other GPT", ClientKind::ChatGpt, &[])
        .await
        .unwrap();
    let code = h.code(true).await;
    let id = other.client.id.to_string();
    assert!(grant_refused(
        h.server
            .exchange_code(
                &ClientCredentials {
                    id: &id,
                    secret: Some(other.secret.expose_secret())
                },
                &code,
                Some(CALLBACK),
                Some(VERIFIER),
                None
            )
            .await
    ));
}

#[tokio::test]
async fn a_replayed_code_revokes_what_was_issued_from_it() {
    let h = harness().await;
    let code = h.code(true).await;
    let issued = h.exchange(&code).await.unwrap();
    assert!(grant_refused(h.exchange(&code).await));
    assert_eq!(h.user_of(&issued.access_token).await, None, "access ended");
    assert!(grant_refused(
        h.server
            .refresh(&h.credentials(), issued.refresh_token.expose_secret(), None)
            .await
    ));
}

#[tokio::test]
async fn the_client_must_prove_itself() {
    let h = harness().await;
    let code = h.code(true).await;
    let id = h.client.id.to_string();
    for (id, secret) in [
        (id.as_str(), "wrong secret"),
        (id.as_str(), ""),
        ("not-a-client", h.secret.expose_secret()),
    ] {
        assert!(matches!(
            h.server
                .exchange_code(
                    &ClientCredentials {
                        id,
                        secret: Some(secret)
                    },
                    &code,
                    Some(CALLBACK),
                    Some(VERIFIER),
                    None
                )
                .await,
            Err(OAuthTokenError::InvalidClient)
        ));
    }
    assert!(h.exchange(&code).await.is_ok(), "the code was not used up");
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_late_reuse_revokes_the_family() {
    let h = harness().await;
    let first = h.exchange(&h.code(true).await).await.unwrap();
    let second = h
        .server
        .refresh(&h.credentials(), first.refresh_token.expose_secret(), None)
        .await
        .unwrap();
    assert_eq!(h.user_of(&second.access_token).await, Some(h.ann));
    assert_ne!(
        second.refresh_token.expose_secret(),
        first.refresh_token.expose_secret()
    );
    // Within the 10 s grace, the spent token is refused, and nothing else happens.
    h.clock.advance(Duration::seconds(10));
    assert!(grant_refused(
        h.server
            .refresh(&h.credentials(), first.refresh_token.expose_secret(), None)
            .await
    ));
    assert_eq!(h.user_of(&second.access_token).await, Some(h.ann));
    // After it, the reuse is theft: every token of the family ends.
    h.clock.advance(Duration::microseconds(1));
    assert!(grant_refused(
        h.server
            .refresh(&h.credentials(), first.refresh_token.expose_secret(), None)
            .await
    ));
    assert_eq!(h.user_of(&second.access_token).await, None);
    assert_eq!(h.user_of(&first.access_token).await, None);
    assert!(grant_refused(
        h.server
            .refresh(&h.credentials(), second.refresh_token.expose_secret(), None)
            .await
    ));
}

#[tokio::test]
async fn refresh_tokens_slide_ninety_days_and_belong_to_their_client() {
    let h = harness().await;
    let mut issued = h.exchange(&h.code(true).await).await.unwrap();
    for _ in 0..3 {
        h.clock
            .advance(Duration::days(90) - Duration::microseconds(1));
        issued = h
            .server
            .refresh(&h.credentials(), issued.refresh_token.expose_secret(), None)
            .await
            .unwrap();
    }
    h.clock.advance(Duration::days(90));
    assert!(grant_refused(
        h.server
            .refresh(&h.credentials(), issued.refresh_token.expose_secret(), None)
            .await
    ));
    let other = h
        .server
        .register_client("Other GPT", ClientKind::ChatGpt, &[])
        .await
        .unwrap();
    let fresh = h.exchange(&h.code(true).await).await.unwrap();
    let id = other.client.id.to_string();
    assert!(grant_refused(
        h.server
            .refresh(
                &ClientCredentials {
                    id: &id,
                    secret: Some(other.secret.expose_secret())
                },
                fresh.refresh_token.expose_secret(),
                None
            )
            .await
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_refreshes_with_one_token_one_succeeds() {
    let h = Arc::new(harness().await);
    let issued = h.exchange(&h.code(true).await).await.unwrap();
    let token = issued.refresh_token.expose_secret().to_owned();
    let attempts = (0..8).map(|_| {
        let (h, token) = (h.clone(), token.clone());
        tokio::spawn(async move {
            h.server
                .refresh(&h.credentials(), &token, None)
                .await
                .is_ok()
        })
    });
    let mut ok = 0;
    for a in attempts {
        ok += usize::from(a.await.unwrap());
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn revoking_either_token_ends_the_grant_and_others_tokens_are_ignored() {
    let h = harness().await;
    for by_refresh in [true, false] {
        let issued = h.exchange(&h.code(true).await).await.unwrap();
        let token = if by_refresh {
            &issued.refresh_token
        } else {
            &issued.access_token
        };
        h.server
            .revoke(&h.credentials(), token.expose_secret())
            .await
            .unwrap();
        assert_eq!(h.user_of(&issued.access_token).await, None);
        assert!(grant_refused(
            h.server
                .refresh(&h.credentials(), issued.refresh_token.expose_secret(), None)
                .await
        ));
    }
    // Unknown tokens: no error. Another client's token: ignored.
    h.server
        .revoke(&h.credentials(), "never-issued")
        .await
        .unwrap();
    let other = h
        .server
        .register_client("Other GPT", ClientKind::ChatGpt, &[])
        .await
        .unwrap();
    let issued = h.exchange(&h.code(true).await).await.unwrap();
    let id = other.client.id.to_string();
    h.server
        .revoke(
            &ClientCredentials {
                id: &id,
                secret: Some(other.secret.expose_secret()),
            },
            issued.refresh_token.expose_secret(),
        )
        .await
        .unwrap();
    assert_eq!(h.user_of(&issued.access_token).await, Some(h.ann));
    assert!(matches!(
        h.server
            .revoke(
                &ClientCredentials {
                    id: &id,
                    secret: Some("wrong")
                },
                "x"
            )
            .await,
        Err(OAuthTokenError::InvalidClient)
    ));
}

#[tokio::test]
async fn a_user_sees_the_apps_with_access_and_takes_one_back() {
    let h = harness().await;
    let issued = h.exchange(&h.code(true).await).await.unwrap();
    let grants = h.server.grants_of(h.ann).await.unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].client_name.as_str(), "Spanish tutor GPT");
    // Someone else's grant id: nothing happens.
    let bob = h
        .store
        .find_or_create_user(
            &Identity::email(&Email::parse("bob@example.com").unwrap()),
            UserId::from_random_bytes([2; 16]),
            h.clock.now(),
        )
        .await
        .unwrap()
        .id;
    assert!(!h.server.revoke_for_user(bob, grants[0].id).await.unwrap());
    assert_eq!(h.user_of(&issued.access_token).await, Some(h.ann));
    assert!(h.server.revoke_for_user(h.ann, grants[0].id).await.unwrap());
    assert_eq!(h.user_of(&issued.access_token).await, None);
    assert!(h.server.grants_of(h.ann).await.unwrap().is_empty());
    assert!(!h.server.revoke_for_user(h.ann, grants[0].id).await.unwrap());
}

#[tokio::test]
async fn a_grant_ends_a_year_after_the_user_allowed_it_however_often_it_is_refreshed() {
    let h = harness().await;
    let allowed_at = h.clock.now();
    let mut issued = h.exchange(&h.code(true).await).await.unwrap();
    while h.clock.now() + Duration::days(80) < allowed_at + Duration::days(365) {
        h.clock.advance(Duration::days(80));
        issued = h
            .server
            .refresh(&h.credentials(), issued.refresh_token.expose_secret(), None)
            .await
            .unwrap();
    }
    let last = allowed_at + Duration::days(365) - Duration::microseconds(1);
    h.clock.advance(last - h.clock.now());
    issued = h
        .server
        .refresh(&h.credentials(), issued.refresh_token.expose_secret(), None)
        .await
        .unwrap();
    h.clock.advance(Duration::microseconds(1));
    assert!(grant_refused(
        h.server
            .refresh(&h.credentials(), issued.refresh_token.expose_secret(), None)
            .await
    ));
}

#[tokio::test]
async fn a_public_client_registers_itself_within_bounds_and_needs_no_secret_but_pkce() {
    use gptgate_ports::services::{SelfRegisterError, REGISTRATIONS_PER_HOUR};
    let h = harness().await;
    let uri = "http://127.0.0.1:33418/callback".to_owned();
    let public = h
        .server
        .register_public_client(Some("Claude"), std::slice::from_ref(&uri))
        .await
        .unwrap();
    assert_eq!(public.kind, ClientKind::Public);
    assert_eq!(public.secret_hash, None);
    assert!(public.requires_pkce());
    for (name, uris) in [
        (None, vec![]),
        (None, vec!["http://evil.example/cb".to_owned()]),
        (None, vec![uri.clone(); 11]),
    ] {
        assert!(matches!(
            h.server.register_public_client(name, &uris).await,
            Err(SelfRegisterError::InvalidRedirectUri(_))
        ));
    }
    assert!(matches!(
        h.server
            .register_public_client(Some("a\nb"), std::slice::from_ref(&uri))
            .await,
        Err(SelfRegisterError::InvalidMetadata(_))
    ));
    // It may have access to the MCP endpoint only: never a code for the GPT API.
    assert!(matches!(
        h.server
            .issue_code(
                &public,
                h.ann,
                &uri,
                Some(h.challenge()),
                gptgate_domain::Audience::Api,
            )
            .await,
        Err(gptgate_ports::services::AuthorizeError::AudienceNotAllowed)
    ));
    // Its code is exchanged with its id alone; a secret from it is refused, and an operator's
    // client without its secret too.
    let code = h
        .server
        .issue_code(
            &public,
            h.ann,
            &uri,
            Some(h.challenge()),
            gptgate_domain::Audience::Mcp,
        )
        .await
        .unwrap();
    let id = public.id.to_string();
    assert!(matches!(
        h.server
            .exchange_code(
                &ClientCredentials {
                    id: &id,
                    secret: Some("anything")
                },
                code.expose_secret(),
                Some(&uri),
                Some(VERIFIER),
                None
            )
            .await,
        Err(OAuthTokenError::InvalidClient)
    ));
    let issued = h
        .server
        .exchange_code(
            &ClientCredentials {
                id: &id,
                secret: None,
            },
            code.expose_secret(),
            Some(&uri),
            Some(VERIFIER),
            None,
        )
        .await
        .unwrap();
    assert_eq!(h.user_of(&issued.access_token).await, Some(h.ann));
    let code = h.code(true).await;
    assert!(matches!(
        h.server
            .exchange_code(
                &ClientCredentials {
                    id: &h.client_id,
                    secret: None
                },
                &code,
                Some(CALLBACK),
                Some(VERIFIER),
                None
            )
            .await,
        Err(OAuthTokenError::InvalidClient)
    ));
    // At most REGISTRATIONS_PER_HOUR an hour, all together: the one above counted.
    for _ in 1..REGISTRATIONS_PER_HOUR {
        h.server
            .register_public_client(None, std::slice::from_ref(&uri))
            .await
            .unwrap();
    }
    assert!(matches!(
        h.server
            .register_public_client(None, std::slice::from_ref(&uri))
            .await,
        Err(SelfRegisterError::TooMany { .. })
    ));
    h.clock.advance(Duration::hours(1));
    assert!(h
        .server
        .register_public_client(None, std::slice::from_ref(&uri))
        .await
        .is_ok());
}

#[tokio::test]
async fn an_app_leaves_the_list_at_its_grants_year() {
    let h = harness().await;
    let allowed_at = h.clock.now();
    let mut issued = h.exchange(&h.code(true).await).await.unwrap();
    // Keep it refreshed, so only the year can end it.
    for _ in 0..4 {
        h.clock.advance(Duration::days(89));
        issued = h
            .server
            .refresh(&h.credentials(), issued.refresh_token.expose_secret(), None)
            .await
            .unwrap();
    }
    let year = allowed_at + Duration::days(365);
    h.clock
        .advance(year - Duration::microseconds(1) - h.clock.now());
    assert_eq!(h.server.grants_of(h.ann).await.unwrap().len(), 1);
    h.clock.advance(Duration::microseconds(1));
    assert!(h.server.grants_of(h.ann).await.unwrap().is_empty());
}

impl Harness {
    async fn code_for(&self, audience: gptgate_domain::Audience) -> String {
        let client = self
            .server
            .check_request(&self.client_id, CALLBACK)
            .await
            .unwrap();
        self.server
            .issue_code(
                &client,
                self.ann,
                CALLBACK,
                Some(self.challenge()),
                audience,
            )
            .await
            .unwrap()
            .expose_secret()
            .to_owned()
    }

    async fn exchange_for(
        &self,
        code: &str,
        resource: Option<gptgate_domain::Audience>,
    ) -> Result<IssuedTokens, OAuthTokenError> {
        self.server
            .exchange_code(
                &self.credentials(),
                code,
                Some(CALLBACK),
                Some(VERIFIER),
                resource,
            )
            .await
    }

    fn audience_of(&self, token: &SecretString) -> gptgate_domain::Audience {
        FakeSessionTokens
            .verify(token.expose_secret(), self.clock.now())
            .unwrap()
            .audience
    }
}

#[tokio::test]
async fn a_grant_for_the_mcp_face_issues_mcp_tokens_and_a_wrong_resource_is_refused() {
    use gptgate_domain::Audience;
    let h = harness().await;
    let code = h.code_for(Audience::Mcp).await;
    assert!(matches!(
        h.exchange_for(&code, Some(Audience::Api)).await,
        Err(OAuthTokenError::InvalidTarget)
    ));
    let code = h.code_for(Audience::Mcp).await;
    let issued = h.exchange_for(&code, Some(Audience::Mcp)).await.unwrap();
    assert_eq!(h.audience_of(&issued.access_token), Audience::Mcp);
    assert!(matches!(
        h.server
            .refresh(
                &h.credentials(),
                issued.refresh_token.expose_secret(),
                Some(Audience::Api)
            )
            .await,
        Err(OAuthTokenError::InvalidTarget)
    ));
    let refreshed = h
        .server
        .refresh(&h.credentials(), issued.refresh_token.expose_secret(), None)
        .await
        .unwrap();
    assert_eq!(
        h.audience_of(&refreshed.access_token),
        Audience::Mcp,
        "a refresh keeps the grant's audience"
    );
    let code = h.code_for(Audience::Api).await;
    let api = h.exchange_for(&code, None).await.unwrap();
    assert_eq!(h.audience_of(&api.access_token), Audience::Api);
}

/// A self-registered client's code or grant for the GPT API, made before the rule that keeps
/// such clients to /mcp (or by a bug), is worth nothing: the code is refused, and the grant
/// is ended at its next refresh.
#[tokio::test]
async fn a_self_registered_clients_api_code_or_grant_is_worth_nothing() {
    use gptgate_domain::{Audience, AuthorizationCode, GrantId, RefreshToken};
    use gptgate_ports::AuthorizationRepository;
    let h = harness().await;
    let uri = "http://127.0.0.1:33418/callback".to_owned();
    let public = h
        .server
        .register_public_client(Some("Old client"), std::slice::from_ref(&uri))
        .await
        .unwrap();
    let id = public.id.to_string();
    let credentials = ClientCredentials {
        id: &id,
        secret: None,
    };
    let now = h.clock.now();
    let (code_grant, refresh_grant) = (
        GrantId::from_random_bytes([8; 16]),
        GrantId::from_random_bytes([9; 16]),
    );
    for grant in [code_grant, refresh_grant] {
        h.store
            .start_grant(grant, public.id, h.ann, Audience::Api, now)
            .await
            .unwrap();
    }
    h.store
        .create_code(&AuthorizationCode {
            hash: h.tokens.hash("old-code"),
            client_id: public.id,
            user_id: h.ann,
            redirect_uri: uri.clone(),
            challenge: None,
            grant_id: code_grant,
            audience: Audience::Api,
            expires_at: now + Duration::seconds(60),
            created_at: now,
        })
        .await
        .unwrap();
    assert!(matches!(
        h.server
            .exchange_code(&credentials, "old-code", Some(&uri), None, None)
            .await,
        Err(OAuthTokenError::InvalidGrant)
    ));
    assert!(h
        .store
        .create_refresh_token(&RefreshToken {
            hash: h.tokens.hash("old-refresh"),
            grant_id: refresh_grant,
            client_id: public.id,
            user_id: h.ann,
            expires_at: now + Duration::days(90),
            created_at: now,
            rotated_at: None,
            revoked_at: None,
            grant_started_at: now,
            audience: Audience::Api,
        })
        .await
        .unwrap());
    assert!(matches!(
        h.server.refresh(&credentials, "old-refresh", None).await,
        Err(OAuthTokenError::InvalidGrant)
    ));
    let ended = h
        .store
        .find_refresh_token(&h.tokens.hash("old-refresh"))
        .await
        .unwrap()
        .unwrap();
    assert!(ended.revoked_at.is_some(), "the grant is ended");
}
