//! Code records: the shared SQL in `sql/codes.rs` (optimistic updates, no dialect hook).

include!("../sql/codes.rs");
