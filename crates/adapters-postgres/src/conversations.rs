//! The shared SQL in `sql/conversations.rs`, on this crate's dialect.

include!("../sql/conversations.rs");
