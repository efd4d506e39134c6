use std::sync::Arc;

use gptgate_domain::{
    AccountLabel, CodeHash, CodeRecord, ExportLink, ManagementToken, OAuthState, OnboardingToken,
    ProviderId, SessionId, SessionPolicy, TokenHash,
};
use gptgate_ports::PurgeReport;
use time::Duration;

use super::fixtures::{email, user, T0};
use super::Store;

pub async fn a_purge_removes_only_what_has_ended(store: Arc<dyn Store>) {
    let ann = user(store.as_ref(), 1).await;
    let before = T0;
    let long_ago = T0 - Duration::days(3);

    // Codes: one ended long ago, one whose rate-limit window is still open.
    for (name, sent) in [("old", long_ago), ("recent", T0 - Duration::minutes(30))] {
        let e = email(name);
        let record = CodeRecord {
            email: e.clone(),
            code_hash: Some(CodeHash::from_bytes(vec![1; 32])),
            expires_at: sent + Duration::minutes(10),
            attempts: 0,
            last_sent_at: sent,
            send_window_started_at: sent,
            sends_in_window: 1,
            attempt_window_started_at: sent,
            attempts_in_window: 0,
        };
        store
            .update_code(&e, &mut |_| Some(record.clone()))
            .await
            .unwrap();
    }
    // Sessions: expired, revoked, active.
    let policy = SessionPolicy::default();
    let expired = policy.open(SessionId::from_random_bytes([1; 16]), ann, long_ago);
    let revoked = policy.open(
        SessionId::from_random_bytes([2; 16]),
        ann,
        T0 - Duration::hours(2),
    );
    let active = policy.open(
        SessionId::from_random_bytes([3; 16]),
        ann,
        T0 - Duration::hours(1),
    );
    for s in [&expired, &revoked, &active] {
        store.create_session(s).await.unwrap();
    }
    store
        .revoke_session(revoked.id, T0 - Duration::hours(1))
        .await
        .unwrap();
    // Link tokens and states: one expired, one live, of each kind.
    for (n, expires_at) in [
        (1u8, before - Duration::seconds(1)),
        (2, before + Duration::minutes(5)),
    ] {
        store
            .create_onboarding_token(&OnboardingToken {
                hash: TokenHash::from_bytes([n; 32]),
                user_id: ann,
                provider: ProviderId::Gmail,
                label: AccountLabel::parse("work").unwrap(),
                expires_at,
                used_at: None,
                created_at: long_ago,
            })
            .await
            .unwrap();
        store
            .create_management_token(&ManagementToken {
                hash: TokenHash::from_bytes([n + 10; 32]),
                user_id: ann,
                expires_at,
                created_at: long_ago,
                signed_in: false,
            })
            .await
            .unwrap();
        store
            .create_oauth_state(&OAuthState {
                hash: TokenHash::from_bytes([n + 20; 32]),
                user_id: ann,
                provider: ProviderId::Gmail,
                label: AccountLabel::parse("work").unwrap(),
                pkce_verifier: None,
                browser: TokenHash::from_bytes([n + 30; 32]),
                redirect_uri: "https://x.test/cb".into(),
                expires_at,
                created_at: long_ago,
            })
            .await
            .unwrap();
        store
            .create_export_link(&ExportLink {
                hash: TokenHash::from_bytes([n + 40; 32]),
                user_id: ann,
                expires_at,
                used_at: None,
                created_at: long_ago,
            })
            .await
            .unwrap();
    }

    // The authorization server's codes and refresh tokens: expired, revoked, spent, live.
    let client = super::authorization::oauth_client(1);
    store.create_client(&client).await.unwrap();
    let grant = gptgate_domain::GrantId::from_random_bytes([1; 16]);
    store
        .start_grant(
            grant,
            client.id,
            ann,
            gptgate_domain::Audience::Api,
            long_ago,
        )
        .await
        .unwrap();
    for (n, expires_at) in [(1u8, before - Duration::seconds(1)), (2, before)] {
        store
            .create_code(&gptgate_domain::AuthorizationCode {
                hash: TokenHash::from_bytes([n + 50; 32]),
                client_id: client.id,
                user_id: ann,
                redirect_uri: "https://chatgpt.com/aip/g-1/oauth/callback".into(),
                challenge: None,
                grant_id: grant,
                audience: gptgate_domain::Audience::Api,
                expires_at,
                created_at: long_ago,
            })
            .await
            .unwrap();
    }
    let refresh = |n: u8, expires_at, rotated_at, revoked_at| gptgate_domain::RefreshToken {
        hash: TokenHash::from_bytes([n + 60; 32]),
        grant_id: grant,
        client_id: client.id,
        user_id: ann,
        expires_at,
        created_at: long_ago,
        rotated_at,
        revoked_at,
        grant_started_at: long_ago,
        audience: gptgate_domain::Audience::Api,
    };
    let later = before + Duration::days(30);
    for t in [
        refresh(1, before - Duration::seconds(1), None, None),
        refresh(2, later, None, Some(before - Duration::seconds(1))),
        refresh(3, later, Some(long_ago), None),
        refresh(4, later, None, Some(before)),
        refresh(5, before, None, None),
    ] {
        store.create_refresh_token(&t).await.unwrap();
    }

    // Grants nothing refers to: one old (purged), one recent (kept).
    let orphan = gptgate_domain::GrantId::from_random_bytes([2; 16]);
    store
        .start_grant(
            orphan,
            client.id,
            ann,
            gptgate_domain::Audience::Api,
            long_ago,
        )
        .await
        .unwrap();
    let recent = gptgate_domain::GrantId::from_random_bytes([3; 16]);
    store
        .start_grant(
            recent,
            client.id,
            ann,
            gptgate_domain::Audience::Api,
            before,
        )
        .await
        .unwrap();

    // Clients that registered themselves: one never used (purged), one with a grant, one
    // recent, and the operator's (kept).
    let public = |n: u8, created_at| gptgate_domain::OAuthClient {
        id: gptgate_domain::ClientId::from_random_bytes([n; 16]),
        kind: gptgate_domain::ClientKind::Public,
        secret_hash: None,
        created_at,
        ..super::authorization::oauth_client(2)
    };
    let (unused, used, new) = (
        public(30, long_ago),
        public(31, long_ago),
        public(32, before),
    );
    for c in [&unused, &used, &new] {
        store.create_client(c).await.unwrap();
    }
    let used_grant = gptgate_domain::GrantId::from_random_bytes([4; 16]);
    store
        .start_grant(
            used_grant,
            used.id,
            ann,
            gptgate_domain::Audience::Api,
            before,
        )
        .await
        .unwrap();

    // Admin sessions: one that ended before, one that ends exactly then (kept: `< before`).
    let admin = gptgate_domain::AdminPolicy::default();
    let ended = admin.open(
        gptgate_domain::TokenHash::from_bytes([31; 32]),
        before - time::Duration::hours(9),
    );
    let ending = admin.open(
        gptgate_domain::TokenHash::from_bytes([32; 32]),
        before - time::Duration::hours(8),
    );
    for s in [&ended, &ending] {
        store.create_admin_session(s).await.unwrap();
    }
    // Chat sessions: the same edge.
    let chat = gptgate_domain::ChatPolicy::default();
    let (chat_ended, chat_ending) = (
        chat.open(
            gptgate_domain::ChatVisitor::Admin,
            gptgate_domain::TokenHash::from_bytes([33; 32]),
            before - time::Duration::hours(9),
        ),
        chat.open(
            gptgate_domain::ChatVisitor::Admin,
            gptgate_domain::TokenHash::from_bytes([34; 32]),
            before - time::Duration::hours(8),
        ),
    );
    for s in [&chat_ended, &chat_ending] {
        store.create_chat_session(s).await.unwrap();
    }
    // Used ids: one that ended before (purged), one that ends exactly then (kept).
    for (id, expires_at) in [
        ("ended", before - time::Duration::seconds(1)),
        ("ending", before),
    ] {
        assert!(store
            .use_once("https://lms.example.edu", id, expires_at)
            .await
            .unwrap());
    }
    // Audit lines are kept a year: one older (purged), one of exactly a year ago (kept).
    let kept_from = before - gptgate_domain::ADMIN_AUDIT_RETENTION;
    for at in [kept_from - time::Duration::seconds(1), kept_from] {
        store
            .record_admin_action(&gptgate_domain::AdminAuditEntry::new(
                at,
                gptgate_domain::AdminAction::SignedIn,
                "192.0.2.1",
            ))
            .await
            .unwrap();
    }

    // Budget windows: one that ended more than an hour before, one still counting.
    for (key, started_at) in [
        (
            "ended-window",
            before - Duration::hours(1) - Duration::seconds(1),
        ),
        ("current-window", before - Duration::hours(1)),
    ] {
        store
            .update_budget(key, &mut |_| {
                Some(gptgate_domain::BudgetWindow {
                    started_at,
                    used: 3,
                })
            })
            .await
            .unwrap();
    }
    // A bucket full a microsecond before goes (PostgreSQL keeps microseconds); one full at the purge's instant stays.
    for (key, full_at) in [
        ("bucket-full", before - Duration::microseconds(1)),
        ("bucket-filling", before),
    ] {
        store
            .update_bucket(key, &mut |_| Some(full_at))
            .await
            .unwrap();
    }

    let report = store.purge(before).await.unwrap();
    assert_eq!(
        report,
        PurgeReport {
            verification_codes: 1,
            sessions: 2,
            onboarding_tokens: 1,
            management_tokens: 1,
            oauth_states: 1,
            export_links: 1,
            authorization_codes: 1,
            refresh_tokens: 2,
            grants: 1,
            unused_clients: 1,
            admin_sessions: 1,
            admin_audit_entries: 1,
            chat_sessions: 1,
            used_ids: 1,
            budget_windows: 1,
            rate_buckets: 1,
        }
    );
    let mut kept_bucket = None;
    store
        .update_bucket("bucket-filling", &mut |full_at| {
            kept_bucket = full_at;
            None
        })
        .await
        .unwrap();
    assert_eq!(kept_bucket, Some(before), "a filling bucket is kept");
    let mut kept = None;
    store
        .update_budget("current-window", &mut |w| {
            kept = Some(w.copied());
            None
        })
        .await
        .unwrap();
    assert_eq!(
        kept.flatten().map(|w| w.used),
        Some(3),
        "the current window is kept"
    );
    // The purged id may be used again (it expired: its token is refused anyway); the kept one
    // is still a replay.
    assert!(store
        .use_once("https://lms.example.edu", "ended", before)
        .await
        .unwrap());
    assert!(!store
        .use_once("https://lms.example.edu", "ending", before)
        .await
        .unwrap());
    assert_eq!(
        store
            .find_chat_session(&chat_ended.token_hash)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_chat_session(&chat_ending.token_hash)
            .await
            .unwrap(),
        Some(chat_ending)
    );
    let audit = store.admin_actions(10).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].at, kept_from);
    assert_eq!(
        store.find_admin_session(&ended.token_hash).await.unwrap(),
        None
    );
    assert!(store
        .find_admin_session(&ending.token_hash)
        .await
        .unwrap()
        .is_some());
    assert_eq!(store.find_client(unused.id).await.unwrap(), None);
    for kept in [used.id, new.id, client.id] {
        assert!(store.find_client(kept).await.unwrap().is_some());
    }
    // The purged grant's id can be started again; the kept ones cannot.
    assert!(store
        .start_grant(orphan, client.id, ann, gptgate_domain::Audience::Api, T0)
        .await
        .is_ok());
    assert!(store
        .start_grant(recent, client.id, ann, gptgate_domain::Audience::Api, T0)
        .await
        .is_err());
    assert!(store
        .start_grant(grant, client.id, ann, gptgate_domain::Audience::Api, T0)
        .await
        .is_err());
    for (n, kept) in [(3u8, true), (4, true), (5, true), (1, false), (2, false)] {
        assert_eq!(
            store
                .find_refresh_token(&TokenHash::from_bytes([n + 60; 32]))
                .await
                .unwrap()
                .is_some(),
            kept,
            "refresh token {n}: a spent one stays for reuse detection"
        );
    }
    assert!(store.find_code(&email("old")).await.unwrap().is_none());
    assert!(
        store.find_code(&email("recent")).await.unwrap().is_some(),
        "its window is open"
    );
    assert!(store.find_session(active.id).await.unwrap().is_some());
    assert!(store.find_session(expired.id).await.unwrap().is_none());
    let live = TokenHash::from_bytes([2; 32]);
    assert!(store
        .consume_onboarding_token(&live, T0)
        .await
        .unwrap()
        .is_some());
    assert!(store
        .find_management_token(&TokenHash::from_bytes([12; 32]), T0)
        .await
        .unwrap()
        .is_some());
    assert!(store
        .take_oauth_state(&TokenHash::from_bytes([22; 32]), T0)
        .await
        .unwrap()
        .is_some());
    assert!(store
        .consume_export_link(&TokenHash::from_bytes([42; 32]), T0)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store.purge(before).await.unwrap(),
        PurgeReport::default(),
        "nothing twice"
    );
}
