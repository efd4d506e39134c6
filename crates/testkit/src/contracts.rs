//! Contract suites for the storage ports, written once and run against every implementation:
//! the in-memory fakes (in this crate's tests), SQLite and PostgreSQL (in the adapter crates).
//!
//! Each check is a `pub async fn` taking a fresh, empty store, generic over the ports it needs,
//! so a store that implements only some ports (an embedder's) runs the checks of those ports:
//! [`code_checks`], [`user_checks`], [`session_checks`], [`conversation_checks`],
//! [`sign_in_checks`]; [`whole_store_checks`] need a whole [`Store`];
//! [`storage_contract_checks`] is all of them. [`crate::harness::contract_trials`] turns a list
//! into one test per check.

mod accounts;
mod admin;
mod api_keys;
mod authorization;
mod buckets;
mod budgets;
mod chat;
mod codes;
mod conversations;
mod housekeeping;
mod link_tokens;
mod platforms;
mod profiles;
mod sessions;
mod sign_in;
mod used_ids;
mod users;

use std::sync::Arc;

pub use accounts::*;
pub use admin::*;
pub use api_keys::*;
pub use authorization::*;
pub use buckets::*;
pub use budgets::*;
pub use chat::*;
pub use codes::*;
pub use conversations::*;
pub use housekeeping::*;
pub use link_tokens::*;
pub use platforms::*;
pub use profiles::*;
pub use sessions::*;
pub use sign_in::*;
pub use used_ids::*;
pub use users::*;

pub use gptgate_ports::Store;
use gptgate_ports::{
    AdminRepository, ApiKeyRepository, ChatAccessRepository, ConversationRepository,
    PlatformRepository, ProfileRepository, SessionRepository, SignInRepository, UsedIdRepository,
    UserRepository, VerificationCodeRepository,
};

/// A fresh, empty store for one check, and whatever must live as long as the check (a
/// temporary directory, a database to drop afterwards).
pub struct TestStore<S: ?Sized = dyn Store> {
    pub store: Arc<S>,
    pub guard: Option<Box<dyn Send>>,
}

/// One contract check: runs on a fresh, empty store of type `S` (by default, a whole [`Store`]).
pub type Check<S = dyn Store> =
    fn(Arc<S>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The checks named, each as a [`Check<S>`] (the name written once).
macro_rules! checks {
    ($($name:ident),* $(,)?) => {
        vec![$((
            stringify!($name),
            (|store| Box::pin($name(store))) as Check<_>,
        )),*]
    };
}

/// A store of sign-in code records: what [`code_checks`] need.
pub trait CodeStore: VerificationCodeRepository + 'static {}
impl<T: ?Sized + VerificationCodeRepository + 'static> CodeStore for T {}

/// A store of users: what [`user_checks`] need.
pub trait UserStore: UserRepository + 'static {}
impl<T: ?Sized + UserRepository + 'static> UserStore for T {}

/// A store of users and their sessions: what [`session_checks`] need.
pub trait SessionStore: UserRepository + SessionRepository + 'static {}
impl<T: ?Sized + UserRepository + SessionRepository + 'static> SessionStore for T {}

/// A store of users, their sessions and their conversations: what [`conversation_checks`]
/// need (a page may be read under a session's guard).
pub trait ConversationStore:
    UserRepository + SessionRepository + ConversationRepository + 'static
{
}
impl<T: ?Sized + UserRepository + SessionRepository + ConversationRepository + 'static>
    ConversationStore for T
{
}

/// A store of the admin console's sessions and password: what [`admin_checks`] need.
pub trait AdminStore: AdminRepository + 'static {}
impl<T: ?Sized + AdminRepository + 'static> AdminStore for T {}

/// A store of who may chat, with the audit log its changes go to: what [`chat_checks`] need.
pub trait ChatStore: ChatAccessRepository + AdminRepository + 'static {}
impl<T: ?Sized + ChatAccessRepository + AdminRepository + 'static> ChatStore for T {}

/// A store of console-made API keys, with the audit log: what [`api_key_checks`] need.
pub trait ApiKeyStore: ApiKeyRepository + AdminRepository + 'static {}
impl<T: ?Sized + ApiKeyRepository + AdminRepository + 'static> ApiKeyStore for T {}

/// A store of ids used once: what [`used_id_checks`] need.
pub trait UsedIdStore: UsedIdRepository + 'static {}
impl<T: ?Sized + UsedIdRepository + 'static> UsedIdStore for T {}

/// A store of learning platforms, with the audit log: what [`platform_checks`] need.
pub trait PlatformStore:
    PlatformRepository + AdminRepository + ChatAccessRepository + 'static
{
}
impl<T: ?Sized + PlatformRepository + AdminRepository + ChatAccessRepository + 'static>
    PlatformStore for T
{
}

/// A store of the assistant's profile versions: what [`profile_checks`] need.
pub trait ProfileStore: ProfileRepository + 'static {}
impl<T: ?Sized + ProfileRepository + 'static> ProfileStore for T {}

/// The ports the [`SignIn`](gptgate_ports::services::SignIn) service takes from one store.
pub type SignInStorage = (
    Arc<dyn VerificationCodeRepository>,
    Arc<dyn UserRepository>,
    Arc<dyn SessionRepository>,
    Arc<dyn SignInRepository>,
);

/// A store of codes, users and sessions, which the sign-in service can run on: what
/// the sign-in checks need.
pub trait SignInStore: SignInRepository + 'static {
    /// The store as each port the sign-in service takes.
    fn sign_in_ports(self: Arc<Self>) -> SignInStorage;
}

impl<T: SignInRepository + 'static> SignInStore for T {
    fn sign_in_ports(self: Arc<Self>) -> SignInStorage {
        (self.clone(), self.clone(), self.clone(), self)
    }
}

impl SignInStore for dyn Store {
    fn sign_in_ports(self: Arc<Self>) -> SignInStorage {
        (self.clone(), self.clone(), self.clone(), self)
    }
}

/// The code-record checks: atomic read-decide-write per address.
pub fn code_checks<S: ?Sized + CodeStore>() -> Vec<(&'static str, Check<S>)> {
    checks![
        code_update_of_a_new_email_sees_no_record,
        code_update_stores_and_replaces_the_record,
        code_update_that_returns_nothing_keeps_the_record,
        code_records_of_different_emails_are_separate,
        code_updates_of_one_email_never_interleave,
        a_code_is_used_up_once_and_only_while_it_is_the_live_one,
        a_used_code_stays_used_when_a_write_decided_before_lands,
    ]
}

/// The user checks: one user per identity, found by id and email.
pub fn user_checks<S: ?Sized + UserStore>() -> Vec<(&'static str, Check<S>)> {
    checks![
        find_or_create_creates_a_user_once,
        identities_of_different_kinds_lead_to_different_users,
        concurrent_first_sight_of_an_identity_creates_one_user,
        a_users_email_is_found_and_other_identities_have_none,
    ]
}

/// The session checks: sessions belong to existing users; revocation keeps its first time.
pub fn session_checks<S: ?Sized + SessionStore>() -> Vec<(&'static str, Check<S>)> {
    checks![
        a_session_round_trips,
        revoking_a_session_keeps_the_first_revocation_time,
        a_session_needs_an_existing_user,
        a_users_identities_and_active_sessions_are_listed,
    ]
}

/// The conversation checks: every field kept, saves by external id, pages, ownership.
pub fn conversation_checks<S: ?Sized + ConversationStore>() -> Vec<(&'static str, Check<S>)> {
    checks![
        a_conversation_round_trips_with_every_field,
        saving_with_the_same_external_id_updates_the_earlier_save,
        external_ids_are_scoped_to_their_user,
        concurrent_saves_of_one_chat_leave_one_conversation,
        listing_pages_newest_first_without_gaps_or_repeats,
        a_user_lists_only_their_own_conversations,
        deleting_another_users_conversation_finds_nothing,
        a_guarded_page_is_read_only_while_its_session_admits_it,
    ]
}

/// The admin console's checks: sessions found and ended once; a new password ends them all;
/// the audit log, newest first.
pub fn admin_checks<S: ?Sized + AdminStore>() -> Vec<(&'static str, Check<S>)> {
    checks![
        an_admin_session_round_trips_and_ends_once,
        replacing_the_admin_password_ends_every_admin_session,
        the_audit_log_lists_the_newest_lines_first,
        privacy_settings_default_to_keeping_and_are_replaced,
    ]
}

/// The chat access checks: sessions found and ended once; setting, rotating or switching off
/// the team password ends every team session, recorded in the audit log.
pub fn chat_checks<S: ?Sized + ChatStore>() -> Vec<(&'static str, Check<S>)> {
    checks![
        a_chat_session_round_trips_and_ends_once,
        setting_or_switching_off_the_team_password_ends_every_team_session,
        changing_or_forgetting_the_admin_password_ends_the_admins_chat_sessions_only,
    ]
}

/// The API key checks: listed newest first, found by hash, one per hash; revoked once with its
/// audit line; uses recorded in batches keep the latest time.
pub fn api_key_checks<S: ?Sized + ApiKeyStore>() -> Vec<(&'static str, Check<S>)> {
    checks![
        api_keys_are_listed_newest_first_found_by_hash_and_unique,
        an_api_key_is_revoked_once_with_its_audit_line,
        recorded_uses_keep_the_latest_time,
    ]
}

/// The single-use checks: once per issuer, exactly one of concurrent uses first.
pub fn used_id_checks<S: ?Sized + UsedIdStore>() -> Vec<(&'static str, Check<S>)> {
    checks![
        an_id_is_used_once_per_issuer,
        of_eight_concurrent_uses_of_one_id_one_is_first,
    ]
}

/// The platform checks: each kind of key round-trips; an issuer once; removal audited; LTI
/// registrations one per issuer and client; origins and removal for either kind.
pub fn platform_checks<S: ?Sized + PlatformStore>() -> Vec<(&'static str, Check<S>)> {
    checks![
        platforms_round_trip_with_each_kind_of_key,
        an_issuer_is_registered_once_and_removed_with_its_audit_line,
        removing_a_platform_ends_the_sessions_of_the_visitors_it_sent,
        lti_registrations_round_trip_one_per_issuer_and_client,
        embedding_origins_are_read_for_either_kind_and_removal_covers_lti,
    ]
}

/// The profile checks: versions numbered in order and kept whole, publishing and rollback,
/// distinct versions under concurrent saves.
pub fn profile_checks<S: ?Sized + ProfileStore>() -> Vec<(&'static str, Check<S>)> {
    checks![
        profile_versions_count_up_and_round_trip,
        a_published_version_can_be_rolled_back_and_only_saved_ones_publish,
        concurrent_saves_get_distinct_versions,
    ]
}

/// The sign-in races, through the real service on the store.
pub fn sign_in_checks<S: ?Sized + SignInStore>() -> Vec<(&'static str, Check<S>)> {
    checks![
        of_eight_concurrent_right_codes_exactly_one_signs_in,
        of_fifty_concurrent_wrong_codes_at_most_five_are_compared,
        a_sign_in_with_the_live_code_uses_it_and_opens_a_session_for_a_new_user,
        a_sign_in_of_a_known_address_opens_a_session_for_its_user,
        a_sign_in_with_a_code_no_longer_live_does_nothing,
        of_eight_concurrent_sign_ins_with_one_code_exactly_one_opens_a_session,
    ]
}

/// The checks that need every port of a [`Store`]: accounts, link tokens, a user's deletion
/// reaching everything they own, the purge.
pub fn whole_store_checks() -> Vec<(&'static str, Check)> {
    checks![
        deleting_a_user_deletes_everything_they_own,
        a_write_for_a_user_deleted_meanwhile_is_gone,
        an_account_round_trips_with_every_field,
        connecting_the_same_label_again_updates_the_account,
        accounts_are_listed_by_provider_and_label_for_their_user_only,
        accounts_are_read_under_a_guard_only_while_its_session_admits_it,
        another_users_account_cannot_be_found_toggled_or_deleted,
        tokens_can_be_replaced_and_accounts_scanned_in_pages,
        a_reseal_replaces_only_the_tokens_it_read,
        a_refresh_lease_is_held_by_one_until_it_ends_or_expires,
        ending_a_refresh_stores_its_outcome,
        an_account_without_a_refresh_token_is_marked_when_its_none_is_refused,
        idle_accounts_are_listed_by_provider_in_pages,
        a_job_lease_is_held_by_one_until_it_ends,
        of_eight_instances_one_takes_a_job_lease,
        deleting_a_user_deletes_their_accounts_and_link_tokens,
        an_onboarding_token_is_consumed_once_and_never_after_expiry,
        concurrent_consumers_of_one_onboarding_token_get_it_once,
        a_management_token_is_found_until_it_expires,
        an_onboarding_token_can_be_looked_at_without_using_it,
        pending_states_are_scanned_in_pages_and_their_verifier_replaced,
        an_export_link_is_consumed_once_and_never_after_expiry,
        an_oauth_state_is_taken_once_and_never_after_expiry,
        concurrent_callbacks_with_one_state_take_it_once,
        a_purge_removes_only_what_has_ended,
        a_stores_budgets_never_overspend,
        a_stores_buckets_never_overspend,
        clients_round_trip_are_listed_oldest_first_and_deleted,
        a_code_is_taken_once_and_a_replay_names_its_grant,
        of_eight_concurrent_exchanges_of_one_code_one_takes_it,
        a_refresh_token_is_rotated_once,
        revoking_a_grant_ends_its_refresh_tokens_and_sessions_only,
        deleting_a_client_or_a_user_takes_their_grants_along,
        a_users_live_grants_are_listed_with_their_apps,
        nothing_more_is_issued_from_a_revoked_grant,
        the_overview_counts_what_the_server_holds,
        conversations_last_saved_before_a_time_are_deleted,
    ]
}

/// Every storage contract check, for a store of every port.
pub fn storage_contract_checks() -> Vec<(&'static str, Check)> {
    let mut all = code_checks::<dyn Store>();
    all.extend(user_checks::<dyn Store>());
    all.extend(session_checks::<dyn Store>());
    all.extend(conversation_checks::<dyn Store>());
    all.extend(sign_in_checks::<dyn Store>());
    all.extend(admin_checks::<dyn Store>());
    all.extend(chat_checks::<dyn Store>());
    all.extend(api_key_checks::<dyn Store>());
    all.extend(used_id_checks::<dyn Store>());
    all.extend(platform_checks::<dyn Store>());
    all.extend(profile_checks::<dyn Store>());
    all.extend(whole_store_checks());
    all
}

/// Fixtures shared by the suites.
mod fixtures {
    use gptgate_domain::{Email, Identity, UserId};
    use time::{macros::datetime, OffsetDateTime};

    use gptgate_ports::UserRepository;

    /// A time with microsecond precision, which every backend keeps exactly.
    pub const T0: OffsetDateTime = datetime!(2026-02-03 04:05:06.123456 UTC);

    pub fn email(name: &str) -> Email {
        Email::parse(&format!("{name}@example.com")).expect("fixture email is valid")
    }

    pub fn user_id(n: u8) -> UserId {
        UserId::from_random_bytes([n; 16])
    }

    /// Creates user `n` (holding email identity `user<n>@example.com`).
    pub async fn user<S: ?Sized + UserRepository>(store: &S, n: u8) -> UserId {
        store
            .find_or_create_user(
                &Identity::email(&email(&format!("user{n}"))),
                user_id(n),
                T0,
            )
            .await
            .expect("user is created")
            .id
    }
}
