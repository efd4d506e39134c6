//! API keys made in the console: the shared SQL in `sql/api_keys.rs`, on this crate's dialect.

include!("../sql/api_keys.rs");
