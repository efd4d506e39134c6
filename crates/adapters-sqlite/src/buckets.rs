//! Rate-limit token buckets: the shared SQL in `sql/buckets.rs`, on this crate's dialect.

include!("../sql/buckets.rs");
