//! The shared SQL in `sql/accounts.rs`, on this crate's dialect.

include!("../sql/accounts.rs");
