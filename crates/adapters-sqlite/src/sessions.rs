//! Sessions: the shared SQL in `sql/sessions.rs`, on this crate's dialect.

include!("../sql/sessions.rs");

/// A sign-in's last step one write after the other (the port's default): the code's use, then
/// the user (a read on a reader, the writer only for a new one), then the session. Each is
/// safe alone, and SQLite's one writer runs each as soon as it is asked.
impl gptgate_ports::SignInRepository for Store {}
