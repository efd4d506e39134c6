//! What the shared SQL (`sql/*.rs`, included by this crate's repository modules) needs to know
//! about PostgreSQL: the store type, how times are stored (`timestamptz`, natively), and how
//! driver errors map to port errors.

use time::OffsetDateTime;

pub(crate) use crate::error::{corrupt, storage};
pub(crate) use crate::PostgresStore as Store;

/// The sqlx database.
pub(crate) type Db = sqlx::Postgres;

/// A transaction (`self.writes().begin()`).
pub(crate) type Tx<'c> = crate::statements::Tx<'c>;

/// A time as stored: `timestamptz`.
pub(crate) type Time = OffsetDateTime;

/// A time to store.
pub(crate) fn time(t: OffsetDateTime) -> Time {
    t
}

/// A stored time, read back.
pub(crate) fn from_time(t: Time) -> Result<OffsetDateTime, gptgate_ports::StorageError> {
    Ok(t)
}

/// A list of strings as stored: `text[]`.
pub(crate) type List = Vec<String>;

/// A list to store.
pub(crate) fn list(items: &[String]) -> List {
    items.to_vec()
}

/// A stored list, read back.
pub(crate) fn from_list(items: List) -> Vec<String> {
    items
}

/// Orders text by its bytes, whatever the database's locale.
pub(crate) const BYTE_ORDER: &str = "COLLATE \"C\"";

/// Whether a `WITH` may hold an `INSERT` whose rows the rest of the statement reads.
pub(crate) const DATA_MODIFYING_WITH: bool = true;
