//! The connections kept between statements: the shared `sql/connections.rs`.

include!("../sql/connections.rs");
