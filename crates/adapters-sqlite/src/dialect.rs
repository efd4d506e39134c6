//! What the shared SQL (`sql/*.rs`, included by this crate's repository modules) needs to know
//! about SQLite: the store type, how times are stored (INTEGER microseconds), and how driver
//! errors map to port errors.

use time::OffsetDateTime;

pub(crate) use crate::error::{corrupt, storage};
pub(crate) use crate::SqliteStore as Store;

/// The sqlx database.
pub(crate) type Db = sqlx::Sqlite;

/// A transaction (`self.writes().begin()`).
pub(crate) type Tx<'c> = crate::statements::Tx<'c>;

/// A time as stored: microseconds since the epoch.
pub(crate) type Time = i64;

/// A time to store: microseconds since the epoch; sub-microsecond digits are dropped.
pub(crate) fn time(t: OffsetDateTime) -> Time {
    i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

/// A stored time, read back.
pub(crate) fn from_time(t: Time) -> Result<OffsetDateTime, gptgate_ports::StorageError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(t) * 1_000)
        .map_err(|_| corrupt("timestamp out of range"))
}

/// A list of strings as stored: a JSON array in a TEXT column.
pub(crate) type List = sqlx::types::Json<Vec<String>>;

/// A list to store.
pub(crate) fn list(items: &[String]) -> List {
    sqlx::types::Json(items.to_vec())
}

/// A stored list, read back.
pub(crate) fn from_list(items: List) -> Vec<String> {
    items.0
}

/// Orders text by its bytes (SQLite's default collation, named).
pub(crate) const BYTE_ORDER: &str = "COLLATE BINARY";

/// Whether a `WITH` may hold an `INSERT` whose rows the rest of the statement reads (not in
/// SQLite: each write there is its own statement).
pub(crate) const DATA_MODIFYING_WITH: bool = false;
