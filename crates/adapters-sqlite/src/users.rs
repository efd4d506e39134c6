//! Users: the shared SQL in `sql/users.rs`.

include!("../sql/users.rs");
