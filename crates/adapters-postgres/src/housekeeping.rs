//! The shared SQL in `sql/housekeeping.rs`, on this crate's dialect.

include!("../sql/housekeeping.rs");
