//! PostgreSQL implementations of gptgate's storage ports.
//!
//! One [`PostgresStore`] implements every storage port. The read-decide-write update of a
//! code record runs in a transaction holding a per-email advisory lock, which serializes
//! updates of one email even when no row exists yet.

mod accounts;
mod admin;
mod api_keys;
mod authorization;
mod buckets;
mod budgets;
mod chat;
mod codes;
mod connections;
mod conversations;
mod dialect;
mod error;
mod housekeeping;
mod link_tokens;
mod platforms;
mod profiles;
mod sessions;
mod statements;
mod store;
mod used_ids;
mod users;

pub use store::{PoolSettings, PostgresStore};
