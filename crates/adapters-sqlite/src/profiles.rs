//! The hosted assistant's profiles: the shared SQL in `sql/profiles.rs`, on this crate's dialect.

include!("../sql/profiles.rs");
