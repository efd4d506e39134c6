//! SQLite implementations of gptgate's storage ports: the embedded default store.
//!
//! One [`SqliteStore`] implements every storage port. Times are stored as INTEGER microseconds
//! since the epoch and ids as 16-byte blobs, so comparisons and ordering are exact. Writes that
//! read first run in `BEGIN IMMEDIATE` transactions, which take SQLite's write lock up front:
//! that is what makes the code-record updates atomic.

mod accounts;
mod codes;
mod conversations;
mod dialect;
mod error;
mod housekeeping;
mod link_tokens;
mod sessions;
mod store;
mod users;

pub use store::SqliteStore;
