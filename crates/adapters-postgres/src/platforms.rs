//! Learning platforms: the shared SQL in `sql/platforms.rs`, on this crate's dialect.

include!("../sql/platforms.rs");
