use std::sync::Arc;

use gptgate_domain::{
    AuthorizationCode, ClientId, ClientKind, ClientName, CodeChallenge, GrantId, OAuthClient,
    RedirectUri, RefreshToken, SessionId, SessionPolicy, TokenHash, UserId,
};
use gptgate_ports::CodeTaken;
use time::Duration;

use super::fixtures::{user, T0};
use super::Store;

/// Client `n`: a ChatGPT client without redirect URIs when `n` is odd, else a web client
/// with two.
pub fn oauth_client(n: u8) -> OAuthClient {
    let (kind, uris) = if n % 2 == 1 {
        (ClientKind::ChatGpt, vec![])
    } else {
        (
            ClientKind::Web,
            vec![
                RedirectUri::parse("https://app.example.com/callback").unwrap(),
                RedirectUri::parse("http://localhost:3000/cb").unwrap(),
            ],
        )
    };
    OAuthClient {
        id: ClientId::from_random_bytes([n; 16]),
        name: ClientName::parse(&format!("Client {n} — Tutor GPT")).unwrap(),
        kind,
        secret_hash: Some(TokenHash::from_bytes([n; 32])),
        redirect_uris: uris,
        created_at: T0 + Duration::seconds(i64::from(n)),
    }
}

fn code(n: u8, client: ClientId, user: UserId, challenge: bool) -> AuthorizationCode {
    AuthorizationCode {
        hash: TokenHash::from_bytes([100 + n; 32]),
        client_id: client,
        user_id: user,
        redirect_uri: "https://chatgpt.com/aip/g-1/oauth/callback".into(),
        challenge: challenge.then(|| CodeChallenge::from_bytes([7; 32])),
        grant_id: GrantId::from_random_bytes([n; 16]),
        audience: gptgate_domain::Audience::Api,
        expires_at: T0 + Duration::seconds(60),
        created_at: T0,
    }
}

/// Starts grant `n` of `client` for `user` at `T0`.
pub(super) async fn started(
    store: &Arc<dyn Store>,
    n: u8,
    client: ClientId,
    user: UserId,
) -> GrantId {
    let grant = GrantId::from_random_bytes([n; 16]);
    store
        .start_grant(grant, client, user, gptgate_domain::Audience::Api, T0)
        .await
        .unwrap();
    grant
}

fn refresh(n: u8, grant: GrantId, client: ClientId, user: UserId) -> RefreshToken {
    RefreshToken {
        hash: TokenHash::from_bytes([200 + n; 32]),
        grant_id: grant,
        client_id: client,
        user_id: user,
        expires_at: T0 + Duration::days(90),
        created_at: T0,
        rotated_at: None,
        revoked_at: None,
        grant_started_at: T0,
        audience: gptgate_domain::Audience::Api,
    }
}

pub async fn clients_round_trip_are_listed_oldest_first_and_deleted(store: Arc<dyn Store>) {
    let (gpt, web) = (oauth_client(1), oauth_client(2));
    store.create_client(&web).await.unwrap();
    store.create_client(&gpt).await.unwrap();
    assert!(store.create_client(&gpt).await.is_err(), "ids are unique");
    assert_eq!(store.find_client(gpt.id).await.unwrap(), Some(gpt.clone()));
    assert_eq!(store.find_client(web.id).await.unwrap(), Some(web.clone()));
    assert_eq!(
        store.list_clients().await.unwrap(),
        vec![gpt.clone(), web.clone()]
    );
    assert!(store.delete_client(gpt.id).await.unwrap());
    assert!(!store.delete_client(gpt.id).await.unwrap());
    assert_eq!(store.find_client(gpt.id).await.unwrap(), None);
    assert_eq!(store.list_clients().await.unwrap(), vec![web]);
}

pub async fn a_code_is_taken_once_and_a_replay_names_its_grant(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    let client = oauth_client(1);
    store.create_client(&client).await.unwrap();
    let with = code(1, client.id, ann, true);
    let without = code(2, client.id, ann, false);
    store.create_code(&with).await.unwrap();
    store.create_code(&without).await.unwrap();
    assert!(store.create_code(&with).await.is_err(), "hashes are unique");

    let last = with.expires_at - Duration::microseconds(1);
    assert_eq!(
        store.take_code(&with.hash, last).await.unwrap(),
        CodeTaken::Taken(with.clone())
    );
    assert_eq!(
        store.take_code(&with.hash, last).await.unwrap(),
        CodeTaken::Replayed {
            grant_id: with.grant_id
        }
    );
    // Dead from its expiry on.
    assert_eq!(
        store
            .take_code(&without.hash, without.expires_at)
            .await
            .unwrap(),
        CodeTaken::NotFound
    );
    assert_eq!(
        store.take_code(&without.hash, T0).await.unwrap(),
        CodeTaken::Taken(without)
    );
    assert_eq!(
        store
            .take_code(&TokenHash::from_bytes([9; 32]), T0)
            .await
            .unwrap(),
        CodeTaken::NotFound
    );
}

pub async fn of_eight_concurrent_exchanges_of_one_code_one_takes_it(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    let client = oauth_client(1);
    store.create_client(&client).await.unwrap();
    let c = code(1, client.id, ann, true);
    store.create_code(&c).await.unwrap();
    let takers = (0..8).map(|_| {
        let (store, hash) = (store.clone(), c.hash.clone());
        tokio::spawn(async move { store.take_code(&hash, T0).await.unwrap() })
    });
    let mut taken = 0;
    for t in takers {
        match t.await.unwrap() {
            CodeTaken::Taken(_) => taken += 1,
            CodeTaken::Replayed { grant_id } => assert_eq!(grant_id, c.grant_id),
            CodeTaken::NotFound => panic!("the code exists"),
        }
    }
    assert_eq!(taken, 1);
}

pub async fn a_refresh_token_is_rotated_once(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    let client = oauth_client(1);
    store.create_client(&client).await.unwrap();
    let grant = started(&store, 1, client.id, ann).await;
    let first = refresh(1, grant, client.id, ann);
    store.create_refresh_token(&first).await.unwrap();
    assert_eq!(
        store.find_refresh_token(&first.hash).await.unwrap(),
        Some(first.clone())
    );
    let second = refresh(2, grant, client.id, ann);
    let later = T0 + Duration::minutes(5);
    assert!(store
        .rotate_refresh_token(&first.hash, &second, later)
        .await
        .unwrap());
    let spent = store
        .find_refresh_token(&first.hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(spent.rotated_at, Some(later));
    assert_eq!(
        store.find_refresh_token(&second.hash).await.unwrap(),
        Some(second.clone())
    );
    // A spent token cannot be rotated again, and the would-be new one is not stored.
    let third = refresh(3, grant, client.id, ann);
    assert!(!store
        .rotate_refresh_token(&first.hash, &third, later)
        .await
        .unwrap());
    assert_eq!(store.find_refresh_token(&third.hash).await.unwrap(), None);
    // Of concurrent rotations of one token, one wins.
    let rotations = (0..8u8).map(|i| {
        let (store, old) = (store.clone(), second.hash.clone());
        let new = refresh(10 + i, grant, client.id, ann);
        tokio::spawn(async move { store.rotate_refresh_token(&old, &new, later).await.unwrap() })
    });
    let mut won = 0;
    for r in rotations {
        won += usize::from(r.await.unwrap());
    }
    assert_eq!(won, 1);
}

pub async fn revoking_a_grant_ends_its_refresh_tokens_and_sessions_only(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    let client = oauth_client(1);
    store.create_client(&client).await.unwrap();
    let (a, b) = (
        started(&store, 1, client.id, ann).await,
        started(&store, 2, client.id, ann).await,
    );
    let policy = SessionPolicy::default();
    let in_a = policy.open_for_grant(SessionId::from_random_bytes([1; 16]), ann, client.id, a, T0);
    let in_b = policy.open_for_grant(SessionId::from_random_bytes([2; 16]), ann, client.id, b, T0);
    let by_email = policy.open(SessionId::from_random_bytes([3; 16]), ann, T0);
    for s in [&in_a, &in_b, &by_email] {
        store.create_session(s).await.unwrap();
    }
    assert_eq!(
        store.find_session(in_a.id).await.unwrap(),
        Some(in_a.clone()),
        "the grant round-trips"
    );
    let (ta, tb) = (refresh(1, a, client.id, ann), refresh(2, b, client.id, ann));
    store.create_refresh_token(&ta).await.unwrap();
    store.create_refresh_token(&tb).await.unwrap();

    let then = T0 + Duration::hours(1);
    store.revoke_grant(a, then).await.unwrap();
    store
        .revoke_grant(a, then + Duration::hours(1))
        .await
        .unwrap();
    let revoked = store.find_refresh_token(&ta.hash).await.unwrap().unwrap();
    assert_eq!(
        revoked.revoked_at,
        Some(then),
        "the first revocation time stays"
    );
    assert_eq!(
        store
            .find_session(in_a.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(then)
    );
    assert_eq!(store.find_refresh_token(&tb.hash).await.unwrap(), Some(tb));
    assert_eq!(store.find_session(in_b.id).await.unwrap(), Some(in_b));
    assert_eq!(
        store.find_session(by_email.id).await.unwrap(),
        Some(by_email)
    );
    assert!(
        !store
            .rotate_refresh_token(&ta.hash, &refresh(3, a, client.id, ann), then)
            .await
            .unwrap(),
        "a revoked token cannot be rotated"
    );
}

pub async fn deleting_a_client_or_a_user_takes_their_grants_along(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    let bob = user(store.as_ref(), 2).await;
    let (gpt, web) = (oauth_client(1), oauth_client(2));
    store.create_client(&gpt).await.unwrap();
    store.create_client(&web).await.unwrap();
    let grant = started(&store, 1, gpt.id, ann).await;
    let session = SessionPolicy::default().open_for_grant(
        SessionId::from_random_bytes([1; 16]),
        ann,
        gpt.id,
        grant,
        T0,
    );
    store.create_session(&session).await.unwrap();
    let anns_code = code(1, gpt.id, ann, false);
    store.create_code(&anns_code).await.unwrap();
    let anns_token = refresh(1, grant, gpt.id, ann);
    store.create_refresh_token(&anns_token).await.unwrap();
    let bobs_token = refresh(2, started(&store, 2, web.id, bob).await, web.id, bob);
    store.create_refresh_token(&bobs_token).await.unwrap();
    let bobs_code = code(2, web.id, bob, false);
    store.create_code(&bobs_code).await.unwrap();

    assert!(store.delete_client(gpt.id).await.unwrap());
    assert_eq!(store.find_session(session.id).await.unwrap(), None);
    assert_eq!(
        store.find_refresh_token(&anns_token.hash).await.unwrap(),
        None
    );
    assert_eq!(
        store.take_code(&anns_code.hash, T0).await.unwrap(),
        CodeTaken::NotFound
    );

    assert!(store.delete_user(bob).await.unwrap());
    assert_eq!(
        store.find_refresh_token(&bobs_token.hash).await.unwrap(),
        None
    );
    assert_eq!(
        store.take_code(&bobs_code.hash, T0).await.unwrap(),
        CodeTaken::NotFound
    );
    assert!(
        store.find_client(web.id).await.unwrap().is_some(),
        "clients are the operator's"
    );
}

pub async fn a_users_live_grants_are_listed_with_their_apps(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    let bob = user(store.as_ref(), 2).await;
    let (gpt, web) = (oauth_client(1), oauth_client(2));
    store.create_client(&gpt).await.unwrap();
    store.create_client(&web).await.unwrap();
    let (a, b, c) = (
        started(&store, 1, gpt.id, ann).await,
        started(&store, 2, web.id, ann).await,
        started(&store, 3, gpt.id, bob).await,
    );
    let mut older = refresh(1, a, gpt.id, ann);
    older.created_at = T0 - Duration::days(1);
    store.create_refresh_token(&older).await.unwrap();
    // Grant b was renewed once: only its current token counts.
    let spent = refresh(2, b, web.id, ann);
    store.create_refresh_token(&spent).await.unwrap();
    let mut current = refresh(3, b, web.id, ann);
    current.created_at = T0 + Duration::hours(1);
    store
        .rotate_refresh_token(&spent.hash, &current, T0 + Duration::hours(1))
        .await
        .unwrap();
    store
        .create_refresh_token(&refresh(4, c, gpt.id, bob))
        .await
        .unwrap();
    let listed = store.grants_of(ann, T0 + Duration::hours(2)).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|g| (
                g.id,
                g.client_id,
                g.client_name.as_str().to_owned(),
                g.renewed_at
            ))
            .collect::<Vec<_>>(),
        vec![
            (a, gpt.id, gpt.name.as_str().to_owned(), older.created_at),
            (b, web.id, web.name.as_str().to_owned(), current.created_at),
        ]
    );
    store.revoke_grant(a, T0).await.unwrap();
    let listed = store.grants_of(ann, T0 + Duration::hours(2)).await.unwrap();
    assert_eq!(listed.iter().map(|g| g.id).collect::<Vec<_>>(), vec![b]);
    // Expired at its exact end.
    assert!(store
        .grants_of(ann, current.expires_at)
        .await
        .unwrap()
        .is_empty());
}

pub async fn nothing_more_is_issued_from_a_revoked_grant(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    let client = oauth_client(1);
    store.create_client(&client).await.unwrap();
    let grant = started(&store, 1, client.id, ann).await;
    let live = refresh(1, grant, client.id, ann);
    assert!(store.create_refresh_token(&live).await.unwrap());
    store.revoke_grant(grant, T0).await.unwrap();
    // A refresh token, a rotation, a session: none is issued any more.
    assert!(!store
        .create_refresh_token(&refresh(2, grant, client.id, ann))
        .await
        .unwrap());
    assert_eq!(
        store
            .find_refresh_token(&TokenHash::from_bytes([202; 32]))
            .await
            .unwrap(),
        None
    );
    let other = started(&store, 2, client.id, ann).await;
    let unrevoked = refresh(3, other, client.id, ann);
    store.create_refresh_token(&unrevoked).await.unwrap();
    store.revoke_grant(other, T0).await.unwrap();
    assert!(!store
        .rotate_refresh_token(&unrevoked.hash, &refresh(4, other, client.id, ann), T0)
        .await
        .unwrap());
    let session = SessionPolicy::default().open_for_grant(
        SessionId::from_random_bytes([1; 16]),
        ann,
        client.id,
        grant,
        T0,
    );
    store.create_session(&session).await.unwrap();
    assert_eq!(store.find_session(session.id).await.unwrap(), None);
    // A token's grant start comes with it.
    let third = started(&store, 3, client.id, ann).await;
    let t = refresh(5, third, client.id, ann);
    store.create_refresh_token(&t).await.unwrap();
    assert_eq!(
        store
            .find_refresh_token(&t.hash)
            .await
            .unwrap()
            .unwrap()
            .grant_started_at,
        T0
    );
}
