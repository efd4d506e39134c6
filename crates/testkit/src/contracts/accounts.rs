use std::sync::Arc;

use gptgate_domain::{
    Account, AccountId, AccountLabel, AccountStatus, ProviderId, Sealed, SealedTokens,
    SessionGuard, SessionId, SessionPolicy, UserId,
};
use serde_json::json;
use time::Duration;

use super::authorization::{oauth_client, started};
use super::fixtures::{user, T0};
use super::link_tokens::onboarding;
use super::Store;
use gptgate_ports::RefreshOutcome;

/// Account `n` of `user` at `provider` labelled `label`.
pub fn account(user: UserId, n: u8, provider: ProviderId, label: &str) -> Account {
    let mut metadata = serde_json::Map::new();
    metadata.insert("email".into(), json!(format!("user{n}@example.com")));
    metadata.insert("workspace".into(), json!({ "id": "T1", "name": "Acme" }));
    Account {
        id: AccountId::from_random_bytes([n; 16]),
        user_id: user,
        provider,
        label: AccountLabel::parse(label).unwrap(),
        enabled: true,
        status: AccountStatus::Active,
        tokens: SealedTokens {
            access_token: Some(Sealed::from_bytes(vec![n, 1, 2, 3])),
            refresh_token: Some(Sealed::from_bytes(vec![n, 4, 5, 6])),
            key_id: "k1".into(),
        },
        expires_at: Some(T0 + Duration::hours(1)),
        scopes: vec!["openid".into(), "email".into()],
        metadata,
        created_at: T0,
        updated_at: T0,
    }
}

pub async fn an_account_round_trips_with_every_field(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    let full = account(ann, 1, ProviderId::Gmail, "work");
    assert_eq!(store.upsert_account(&full).await.unwrap(), full);
    let mut bare = account(ann, 2, ProviderId::Slack, "team");
    bare.tokens.access_token = None;
    bare.tokens.refresh_token = None;
    bare.expires_at = None;
    bare.scopes.clear();
    bare.metadata.clear();
    assert_eq!(store.upsert_account(&bare).await.unwrap(), bare);
    assert_eq!(store.find_account(ann, full.id).await.unwrap(), Some(full));
    assert_eq!(store.find_account(ann, bare.id).await.unwrap(), Some(bare));
}

pub async fn connecting_the_same_label_again_updates_the_account(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    let first = account(ann, 1, ProviderId::Linear, "work");
    store.upsert_account(&first).await.unwrap();
    store
        .set_account_enabled(ann, first.id, false, T0)
        .await
        .unwrap();

    let later = T0 + Duration::minutes(5);
    let mut again = account(ann, 2, ProviderId::Linear, "work");
    again.enabled = false;
    again.status = AccountStatus::ReauthRequired;
    again.created_at = later;
    again.updated_at = later;
    let stored = store.upsert_account(&again).await.unwrap();
    assert_eq!(stored.id, first.id, "the row keeps its id");
    assert_eq!(stored.created_at, T0);
    assert_eq!(stored.updated_at, later);
    assert_eq!(stored.tokens, again.tokens, "tokens replaced");
    assert!(stored.enabled, "enabled again");
    assert_eq!(stored.status, AccountStatus::Active);
    assert_eq!(store.list_accounts(ann).await.unwrap(), vec![stored]);
}

pub async fn accounts_are_listed_by_provider_and_label_for_their_user_only(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    let bob = user(store.as_ref(), 2).await;
    let a = account(ann, 1, ProviderId::Slack, "b-team");
    let b = account(ann, 2, ProviderId::Gmail, "work");
    let c = account(ann, 3, ProviderId::Gmail, "personal");
    let d = account(bob, 4, ProviderId::Gmail, "work");
    for x in [&a, &b, &c, &d] {
        store.upsert_account(x).await.unwrap();
    }
    assert_eq!(store.list_accounts(ann).await.unwrap(), vec![c, b, a]);
    assert_eq!(store.list_accounts(bob).await.unwrap(), vec![d]);
}

pub async fn accounts_are_read_under_a_guard_only_while_its_session_admits_it(
    store: Arc<dyn Store>,
) {
    let ann = user(store.as_ref(), 1).await;
    let bob = user(store.as_ref(), 2).await;
    for a in [
        account(ann, 1, ProviderId::Slack, "b-team"),
        account(ann, 2, ProviderId::Gmail, "work"),
    ] {
        store.upsert_account(&a).await.unwrap();
    }
    let client = oauth_client(1);
    store.create_client(&client).await.unwrap();
    let grant = started(&store, 1, client.id, ann).await;
    let policy = SessionPolicy::default();
    let anns = policy.open(SessionId::from_random_bytes([1; 16]), ann, T0);
    let granted = policy.open_for_grant(
        SessionId::from_random_bytes([2; 16]),
        ann,
        client.id,
        grant,
        T0,
    );
    let bobs = policy.open(SessionId::from_random_bytes([3; 16]), bob, T0);
    for s in [&anns, &granted, &bobs] {
        store.create_session(s).await.unwrap();
    }
    let guard = |session: &gptgate_domain::Session, user, now| SessionGuard {
        user_id: user,
        session_id: session.id,
        now,
    };
    let read = |g: SessionGuard| {
        let store = store.clone();
        async move { store.list_accounts_in_session(&g).await.unwrap() }
    };
    let all = store.list_accounts(ann).await.unwrap();
    assert_eq!(all.len(), 2);
    for session in [&anns, &granted] {
        let end = session.expires_at;
        for now in [
            T0,
            end - Duration::microseconds(1),
            end - Duration::nanoseconds(1),
        ] {
            assert_eq!(read(guard(session, ann, now)).await, Some(all.clone()));
        }
        for now in [end, end + Duration::nanoseconds(1)] {
            assert_eq!(read(guard(session, ann, now)).await, None);
        }
        assert_eq!(read(guard(session, bob, T0)).await, None);
    }
    assert_eq!(
        read(guard(&bobs, bob, T0)).await,
        Some(vec![]),
        "none: empty"
    );
    assert_eq!(
        read(guard(&bobs, ann, T0)).await,
        None,
        "another user's session"
    );
    let unknown = policy.open(SessionId::from_random_bytes([4; 16]), ann, T0);
    assert_eq!(read(guard(&unknown, ann, T0)).await, None);
    // A revoked grant ends its sessions; a revoked session ends.
    store
        .revoke_grant(grant, T0 + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(read(guard(&granted, ann, T0)).await, None);
    assert_eq!(read(guard(&anns, ann, T0)).await, Some(all.clone()));
    store
        .revoke_session(anns.id, T0 + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(read(guard(&anns, ann, T0)).await, None);
    store
        .revoke_session(bobs.id, T0 + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(
        read(guard(&bobs, bob, T0)).await,
        None,
        "revoked, nothing to read"
    );
}

pub async fn another_users_account_cannot_be_found_toggled_or_deleted(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    let bob = user(store.as_ref(), 2).await;
    let anns = account(ann, 1, ProviderId::Zoho, "books");
    store.upsert_account(&anns).await.unwrap();
    assert_eq!(store.find_account(bob, anns.id).await.unwrap(), None);
    assert!(!store
        .set_account_enabled(bob, anns.id, false, T0)
        .await
        .unwrap());
    assert!(!store.delete_account(bob, anns.id).await.unwrap());
    assert!(
        store
            .find_account(ann, anns.id)
            .await
            .unwrap()
            .unwrap()
            .enabled
    );

    let later = T0 + Duration::minutes(1);
    assert!(store
        .set_account_enabled(ann, anns.id, false, later)
        .await
        .unwrap());
    let toggled = store.find_account(ann, anns.id).await.unwrap().unwrap();
    assert!(!toggled.enabled);
    assert_eq!(toggled.updated_at, later);
    assert!(store.delete_account(ann, anns.id).await.unwrap());
    assert_eq!(store.find_account(ann, anns.id).await.unwrap(), None);
}

pub async fn tokens_can_be_replaced_and_accounts_scanned_in_pages(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    let bob = user(store.as_ref(), 2).await;
    let a = account(ann, 1, ProviderId::Mercury, "ops");
    let b = account(ann, 2, ProviderId::Gmail, "work");
    let c = account(bob, 3, ProviderId::Slack, "team");
    for x in [&c, &a, &b] {
        store.upsert_account(x).await.unwrap();
    }
    let first = store.accounts_page(None, 2).await.unwrap();
    assert_eq!(
        first.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![a.id, b.id],
        "every user's accounts, by id"
    );
    let rest = store.accounts_page(Some(b.id), 2).await.unwrap();
    assert_eq!(rest.iter().map(|x| x.id).collect::<Vec<_>>(), vec![c.id]);
    assert!(store.accounts_page(Some(c.id), 2).await.unwrap().is_empty());

    let resealed = SealedTokens {
        access_token: Some(Sealed::from_bytes(vec![9, 9])),
        refresh_token: None,
        key_id: "k2".into(),
    };
    let later = T0 + Duration::minutes(1);
    assert!(store.replace_tokens(a.id, &resealed, later).await.unwrap());
    let stored = store.find_account(ann, a.id).await.unwrap().unwrap();
    assert_eq!(stored.tokens, resealed);
    assert_eq!(stored.updated_at, later);
    assert!(!store
        .replace_tokens(AccountId::from_random_bytes([77; 16]), &resealed, later)
        .await
        .unwrap());
}

pub async fn a_reseal_replaces_only_the_tokens_it_read(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    let mut a = account(ann, 1, ProviderId::Zoho, "crm");
    a.tokens.refresh_token = None;
    store.upsert_account(&a).await.unwrap();
    let resealed = SealedTokens {
        access_token: Some(Sealed::from_bytes(vec![7, 7])),
        refresh_token: None,
        key_id: "k2".into(),
    };
    let later = T0 + Duration::minutes(1);
    assert!(
        store
            .reseal_tokens(a.id, &a.tokens, &resealed, later)
            .await
            .unwrap(),
        "unchanged since read (a missing refresh token compares equal)"
    );
    let stored = store.find_account(ann, a.id).await.unwrap().unwrap();
    assert_eq!(stored.tokens, resealed);
    assert_eq!(stored.updated_at, later);

    // A reconnect wrote new tokens meanwhile: a reseal of what was read before leaves them.
    let reconnected = SealedTokens {
        access_token: Some(Sealed::from_bytes(vec![8])),
        refresh_token: Some(Sealed::from_bytes(vec![9])),
        key_id: "k2".into(),
    };
    store
        .replace_tokens(a.id, &reconnected, later)
        .await
        .unwrap();
    assert!(!store
        .reseal_tokens(a.id, &resealed, &a.tokens, later)
        .await
        .unwrap());
    assert_eq!(
        store.find_account(ann, a.id).await.unwrap().unwrap().tokens,
        reconnected
    );
    assert!(
        !store
            .reseal_tokens(
                AccountId::from_random_bytes([77; 16]),
                &a.tokens,
                &resealed,
                later
            )
            .await
            .unwrap(),
        "no such account"
    );
}

pub async fn deleting_a_user_deletes_their_accounts_and_link_tokens(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    let acc = account(ann, 1, ProviderId::Gmail, "work");
    store.upsert_account(&acc).await.unwrap();
    let token = onboarding(ann, 1);
    store.create_onboarding_token(&token).await.unwrap();
    store.delete_user(ann).await.unwrap();
    assert!(store.list_accounts(ann).await.unwrap().is_empty());
    assert_eq!(
        store
            .consume_onboarding_token(&token.hash, T0)
            .await
            .unwrap(),
        None
    );
}

pub async fn a_refresh_lease_is_held_by_one_until_it_ends_or_expires(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    let a = account(ann, 1, ProviderId::Slack, "team");
    store.upsert_account(&a).await.unwrap();
    let until = T0 + Duration::seconds(30);
    assert!(store.take_refresh_lease(a.id, T0, until).await.unwrap());
    assert!(
        !store.take_refresh_lease(a.id, T0, until).await.unwrap(),
        "held: a second refresh waits"
    );
    // Up to the last instant of the lease it is held; at its end it can be taken again.
    let last = until - Duration::microseconds(1);
    assert!(!store
        .take_refresh_lease(a.id, last, last + Duration::seconds(30))
        .await
        .unwrap());
    assert!(store
        .take_refresh_lease(a.id, until, until + Duration::seconds(30))
        .await
        .unwrap());
    // Ended: free at once, whatever its end was.
    assert!(store
        .end_refresh(a.id, &RefreshOutcome::Unchanged, T0)
        .await
        .unwrap());
    assert!(store.take_refresh_lease(a.id, T0, until).await.unwrap());
    assert_eq!(
        store.find_account(ann, a.id).await.unwrap(),
        Some(a),
        "taking and ending a lease with no outcome changes nothing of the account"
    );
    let unknown = AccountId::from_random_bytes([9; 16]);
    assert!(!store.take_refresh_lease(unknown, T0, until).await.unwrap());
    assert!(!store
        .end_refresh(unknown, &RefreshOutcome::Unchanged, T0)
        .await
        .unwrap());
}

pub async fn ending_a_refresh_stores_its_outcome(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    let a = account(ann, 1, ProviderId::Linear, "work");
    store.upsert_account(&a).await.unwrap();
    let later = T0 + Duration::minutes(50);

    let tokens = SealedTokens {
        access_token: Some(Sealed::from_bytes(vec![7, 7, 7])),
        refresh_token: Some(Sealed::from_bytes(vec![8, 8, 8])),
        key_id: "k2".into(),
    };
    let mut metadata = a.metadata.clone();
    metadata.insert("apiDomain".into(), json!("https://www.zohoapis.eu"));
    store
        .take_refresh_lease(a.id, later, later + Duration::seconds(30))
        .await
        .unwrap();
    let refreshed = RefreshOutcome::Refreshed {
        tokens: tokens.clone(),
        expires_at: Some(later + Duration::hours(1)),
        metadata: metadata.clone(),
    };
    assert!(store.end_refresh(a.id, &refreshed, later).await.unwrap());
    let stored = store.find_account(ann, a.id).await.unwrap().unwrap();
    assert_eq!(stored.tokens, tokens);
    assert_eq!(stored.expires_at, Some(later + Duration::hours(1)));
    assert_eq!(stored.metadata, metadata);
    assert_eq!(stored.status, AccountStatus::Active);
    assert_eq!(stored.updated_at, later);
    assert_eq!(
        (stored.label, stored.scopes, stored.created_at),
        (a.label.clone(), a.scopes.clone(), a.created_at)
    );
    assert!(
        store
            .take_refresh_lease(a.id, later, later + Duration::seconds(30))
            .await
            .unwrap(),
        "the lease went with the write"
    );

    // A refusal of a refresh token that is no longer the stored one (another refresh stored
    // a new pair meanwhile) releases the lease and changes nothing else.
    let then = later + Duration::minutes(1);
    let stale = RefreshOutcome::ReauthRequired {
        refused: a.tokens.refresh_token.clone(),
    };
    assert!(store.end_refresh(a.id, &stale, then).await.unwrap());
    let stored = store.find_account(ann, a.id).await.unwrap().unwrap();
    assert_eq!(stored.status, AccountStatus::Active);
    assert_eq!(stored.updated_at, later);
    assert!(
        store
            .take_refresh_lease(a.id, then, then + Duration::seconds(30))
            .await
            .unwrap(),
        "the lease was released all the same"
    );
    let refused = RefreshOutcome::ReauthRequired {
        refused: tokens.refresh_token.clone(),
    };
    assert!(store.end_refresh(a.id, &refused, then).await.unwrap());
    let stored = store.find_account(ann, a.id).await.unwrap().unwrap();
    assert_eq!(stored.status, AccountStatus::ReauthRequired);
    assert_eq!(stored.tokens, tokens, "the tokens stay, for a revocation");
    assert_eq!(stored.updated_at, then);

    // A reconnect makes the account active again.
    store.upsert_account(&a).await.unwrap();
    let stored = store.find_account(ann, a.id).await.unwrap().unwrap();
    assert_eq!(stored.status, AccountStatus::Active);
}

pub async fn idle_accounts_are_listed_by_provider_in_pages(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    let bob = user(store.as_ref(), 2).await;
    let at = |mut a: Account, days: i64| {
        a.updated_at = T0 - Duration::days(days);
        a
    };
    let old = at(account(ann, 1, ProviderId::Mercury, "ops"), 20);
    let older = at(account(bob, 2, ProviderId::Mercury, "main"), 25);
    let recent = at(account(ann, 3, ProviderId::Mercury, "new"), 1);
    let other_provider = at(account(ann, 4, ProviderId::Gmail, "work"), 40);
    let mut no_refresh_token = at(account(bob, 5, ProviderId::Mercury, "bare"), 30);
    no_refresh_token.tokens.refresh_token = None;
    let mut needs_reauth = at(account(bob, 6, ProviderId::Mercury, "dead"), 30);
    needs_reauth.status = AccountStatus::ReauthRequired;
    let mut disabled = at(account(bob, 7, ProviderId::Mercury, "off"), 22);
    disabled.enabled = false;
    for a in [
        &old,
        &older,
        &recent,
        &other_provider,
        &no_refresh_token,
        &needs_reauth,
        &disabled,
    ] {
        store.upsert_account(a).await.unwrap();
    }
    let idle = |before, after, limit| {
        let store = store.clone();
        async move {
            store
                .accounts_idle_since(ProviderId::Mercury, before, after, limit)
                .await
                .unwrap()
                .into_iter()
                .map(|a| a.id)
                .collect::<Vec<_>>()
        }
    };
    let cutoff = T0 - Duration::days(15);
    assert_eq!(
        idle(cutoff, None, 10).await,
        vec![old.id, older.id, disabled.id],
        "active with a refresh token, renewed before the cutoff, by id; a disabled account's grant is kept alive too"
    );
    assert_eq!(idle(cutoff, None, 2).await, vec![old.id, older.id]);
    assert_eq!(idle(cutoff, Some(older.id), 2).await, vec![disabled.id]);
    assert_eq!(
        idle(old.updated_at, None, 10).await,
        vec![older.id, disabled.id],
        "renewed exactly at the cutoff: not idle"
    );
    assert_eq!(
        idle(old.updated_at + Duration::microseconds(1), None, 10).await,
        vec![old.id, older.id, disabled.id]
    );

    // Turning an account off and on renews nothing; a refresh does.
    store
        .set_account_enabled(ann, old.id, false, T0)
        .await
        .unwrap();
    store
        .set_account_enabled(ann, old.id, true, T0)
        .await
        .unwrap();
    assert!(idle(cutoff, None, 10).await.contains(&old.id));
    store
        .take_refresh_lease(older.id, T0, T0 + Duration::seconds(30))
        .await
        .unwrap();
    let refreshed = RefreshOutcome::Refreshed {
        tokens: older.tokens.clone(),
        expires_at: None,
        metadata: older.metadata.clone(),
    };
    store.end_refresh(older.id, &refreshed, T0).await.unwrap();
    assert_eq!(idle(cutoff, None, 10).await, vec![old.id, disabled.id]);
}

pub async fn a_job_lease_is_held_by_one_until_it_ends(store: Arc<dyn Store>) {
    let until = T0 + Duration::minutes(50);
    assert!(store.take_job_lease("hourly", T0, until).await.unwrap());
    assert!(
        !store.take_job_lease("hourly", T0, until).await.unwrap(),
        "held: another instance skips the job"
    );
    assert!(
        store.take_job_lease("other", T0, until).await.unwrap(),
        "each job has its own lease"
    );
    let last = until - Duration::microseconds(1);
    assert!(!store
        .take_job_lease("hourly", last, last + Duration::minutes(50))
        .await
        .unwrap());
    assert!(store
        .take_job_lease("hourly", until, until + Duration::minutes(50))
        .await
        .unwrap());
    assert!(
        !store
            .take_job_lease("hourly", until, until + Duration::minutes(50))
            .await
            .unwrap(),
        "taken over: held again"
    );
}

pub async fn of_eight_instances_one_takes_a_job_lease(store: Arc<dyn Store>) {
    let takers = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .take_job_lease("hourly", T0, T0 + Duration::minutes(50))
                .await
                .unwrap()
        })
    });
    let mut taken = 0;
    for t in takers {
        taken += usize::from(t.await.unwrap());
    }
    assert_eq!(taken, 1);
}

pub async fn an_account_without_a_refresh_token_is_marked_when_its_none_is_refused(
    store: Arc<dyn Store>,
) {
    let ann = user(store.as_ref(), 1).await;
    let mut a = account(ann, 1, ProviderId::Slack, "team");
    a.tokens.refresh_token = None;
    store.upsert_account(&a).await.unwrap();
    let later = T0 + Duration::minutes(5);
    assert!(store
        .end_refresh(
            a.id,
            &RefreshOutcome::ReauthRequired { refused: None },
            later
        )
        .await
        .unwrap());
    let stored = store.find_account(ann, a.id).await.unwrap().unwrap();
    assert_eq!(stored.status, AccountStatus::ReauthRequired);
    assert_eq!(stored.updated_at, later);
}
