//! Who may use the chat: the shared SQL in `sql/chat.rs`, on this crate's dialect.

include!("../sql/chat.rs");
