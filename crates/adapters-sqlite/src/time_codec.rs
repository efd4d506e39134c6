use gptgate_ports::StorageError;
use time::OffsetDateTime;

use crate::error::corrupt;

/// Microseconds since the epoch; sub-microsecond digits are dropped.
pub(crate) fn to_micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

pub(crate) fn from_micros(micros: i64) -> Result<OffsetDateTime, StorageError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .map_err(|_| corrupt("timestamp out of range"))
}
