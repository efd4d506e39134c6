//! Usage budgets: the shared SQL in `sql/budgets.rs`, on this crate's dialect.

include!("../sql/budgets.rs");
