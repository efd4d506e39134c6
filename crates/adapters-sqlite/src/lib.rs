//! SQLite implementations of gptgate's storage ports: the embedded default store.
//!
//! One [`SqliteStore`] implements every storage port, with the SQL shared with PostgreSQL
//! (`sql/` at the workspace root, see its README). Times are stored as INTEGER microseconds
//! since the epoch and ids as 16-byte blobs, so comparisons and ordering are exact. Writes go
//! through one writer connection and reads through a pool of read-only connections (WAL mode),
//! so concurrent writers queue in-process instead of sleeping in SQLite's busy handler.

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

pub use store::SqliteStore;
