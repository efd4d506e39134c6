//! Contract suites for the storage ports, written once and run against every implementation:
//! the in-memory fakes (in this crate's tests), SQLite and PostgreSQL (in the adapter crates).
//!
//! Each check is a `pub async fn` taking a fresh, empty store. Use
//! [`storage_contract_tests!`](crate::storage_contract_tests) to get one test per check.

mod accounts;
mod budgets;
mod codes;
mod conversations;
mod housekeeping;
mod link_tokens;
mod sessions;
mod sign_in;
mod users;

use std::sync::Arc;

pub use accounts::*;
pub use budgets::*;
pub use codes::*;
pub use conversations::*;
pub use housekeeping::*;
pub use link_tokens::*;
pub use sessions::*;
pub use sign_in::*;
pub use users::*;

pub use gptgate_ports::Store;

/// A fresh, empty store for one test, and whatever must live as long as the test (a temporary
/// directory, a database to drop afterwards).
pub struct TestStore {
    pub store: Arc<dyn Store>,
    pub guard: Option<Box<dyn Send>>,
}

/// Expands to one `#[tokio::test]` per contract check, each on a fresh store from `$factory`,
/// an `async fn() -> TestStore`. (`@checks` expands to the list behind
/// [`storage_contract_checks`]: the names are written once, here.)
#[macro_export]
macro_rules! storage_contract_tests {
    ($factory:path) => {
        $crate::storage_contract_tests! { @names [@each $factory] }
    };
    (@checks) => {
        $crate::storage_contract_tests! { @names [@vec] }
    };
    (@names [$($mode:tt)*]) => {
        $crate::storage_contract_tests! { $($mode)*;
            code_update_of_a_new_email_sees_no_record,
            code_update_stores_and_replaces_the_record,
            code_update_that_returns_nothing_keeps_the_record,
            code_records_of_different_emails_are_separate,
            code_updates_of_one_email_never_interleave,
            find_or_create_creates_a_user_once,
            identities_of_different_kinds_lead_to_different_users,
            concurrent_first_sight_of_an_identity_creates_one_user,
            deleting_a_user_deletes_everything_they_own,
            a_session_round_trips,
            revoking_a_session_keeps_the_first_revocation_time,
            a_session_needs_an_existing_user,
            a_conversation_round_trips_with_every_field,
            saving_with_the_same_external_id_updates_the_earlier_save,
            external_ids_are_scoped_to_their_user,
            concurrent_saves_of_one_chat_leave_one_conversation,
            listing_pages_newest_first_without_gaps_or_repeats,
            a_user_lists_only_their_own_conversations,
            deleting_another_users_conversation_finds_nothing,
            of_eight_concurrent_right_codes_exactly_one_signs_in,
            of_fifty_concurrent_wrong_codes_at_most_five_are_compared,
            an_account_round_trips_with_every_field,
            connecting_the_same_label_again_updates_the_account,
            accounts_are_listed_by_provider_and_label_for_their_user_only,
            another_users_account_cannot_be_found_toggled_or_deleted,
            tokens_can_be_replaced_and_accounts_scanned_in_pages,
            a_reseal_replaces_only_the_tokens_it_read,
            deleting_a_user_deletes_their_accounts_and_link_tokens,
            an_onboarding_token_is_consumed_once_and_never_after_expiry,
            concurrent_consumers_of_one_onboarding_token_get_it_once,
            a_management_token_is_found_until_it_expires,
            an_onboarding_token_can_be_looked_at_without_using_it,
            pending_states_are_scanned_in_pages_and_their_verifier_replaced,
            a_users_email_is_found_and_other_identities_have_none,
            a_users_identities_and_active_sessions_are_listed,
            an_export_link_is_consumed_once_and_never_after_expiry,
            an_oauth_state_is_taken_once_and_never_after_expiry,
            concurrent_callbacks_with_one_state_take_it_once,
            a_purge_removes_only_what_has_ended,
        }
    };
    (@each $factory:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let test_store: $crate::TestStore = $factory().await;
                $crate::contracts::$name(test_store.store.clone()).await;
                drop(test_store);
            }
        )*
    };
    (@vec; $($name:ident),* $(,)?) => {
        vec![$((
            stringify!($name),
            (|store| Box::pin($crate::contracts::$name(store))) as $crate::contracts::Check,
        )),*]
    };
}

/// One contract check: runs on a fresh, empty store.
pub type Check =
    fn(Arc<dyn Store>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Every contract check by name, for a harness that decides at run time whether its store is
/// there (PostgreSQL), and reports the checks as ignored when it is not.
pub fn storage_contract_checks() -> Vec<(&'static str, Check)> {
    crate::storage_contract_tests!(@checks)
}

/// Fixtures shared by the suites.
mod fixtures {
    use gptgate_domain::{Email, Identity, UserId};
    use time::{macros::datetime, OffsetDateTime};

    use super::Store;

    /// A time with microsecond precision, which every backend keeps exactly.
    pub const T0: OffsetDateTime = datetime!(2026-02-03 04:05:06.123456 UTC);

    pub fn email(name: &str) -> Email {
        Email::parse(&format!("{name}@example.com")).expect("fixture email is valid")
    }

    pub fn user_id(n: u8) -> UserId {
        UserId::from_random_bytes([n; 16])
    }

    /// Creates user `n` (holding email identity `user<n>@example.com`).
    pub async fn user(store: &dyn Store, n: u8) -> UserId {
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
