//! Ids used once: the shared SQL in `sql/used_ids.rs`, on this crate's dialect.

include!("../sql/used_ids.rs");
