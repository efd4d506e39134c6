//! The shared SQL in `sql/link_tokens.rs`, on this crate's dialect.

include!("../sql/link_tokens.rs");
