//! Sessions: the shared SQL in `sql/sessions.rs`, on this crate's dialect.

include!("../sql/sessions.rs");
