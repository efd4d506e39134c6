//! The shared SQL in `sql/authorization.rs`, on this crate's dialect.

include!("../sql/authorization.rs");
