//! The admin console's sessions and password: the shared SQL in `sql/admin.rs`, on this crate's
//! dialect.

include!("../sql/admin.rs");
