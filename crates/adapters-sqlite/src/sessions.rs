//! Sessions: the shared SQL in `sql/sessions.rs`, on this crate's dialect.

include!("../sql/sessions.rs");

use sqlx::pool::PoolConnection;
use sqlx::Sqlite;

/// The last step of a sign-in with a code, as one script on the writer: one command to its
/// thread instead of seven (and their four pool round trips). `BEGIN IMMEDIATE` takes the
/// write lock first, so every statement sees the state the first one saw, untouched by any
/// other writer (of this process or another): the code still `$2` for `$1` decides each one,
/// and it is used up last. Only if it is: the user `$5` is created when the address
/// (`$3`, `$4`) has no holder, its identity then (`changes()` is the user's insert), and the
/// session `$7` opened for the holder and returned. No code, no row of any of them.
const SIGN_IN_WITH_CODE: &str = "BEGIN IMMEDIATE; \
     INSERT INTO users (id, created_at) SELECT $5, $6 FROM verification_codes \
         WHERE email = $1 AND code_hash = $2 \
         AND NOT EXISTS (SELECT 1 FROM user_identities WHERE kind = $3 AND value = $4); \
     INSERT INTO user_identities (kind, value, user_id, created_at) \
         SELECT $3, $4, $5, $6 WHERE changes() = 1; \
     INSERT INTO sessions (id, user_id, created_at, expires_at) \
         SELECT $7, i.user_id, $6, $8 FROM user_identities i, verification_codes c \
         WHERE i.kind = $3 AND i.value = $4 AND c.email = $1 AND c.code_hash = $2 \
         RETURNING user_id; \
     UPDATE verification_codes SET code_hash = NULL, version = version + 1 \
         WHERE email = $1 AND code_hash = $2; \
     COMMIT";

/// A sign-in with a code in one command to the writer, one commit.
#[async_trait]
impl gptgate_ports::SignInRepository for Store {
    #[instrument(skip_all)]
    async fn sign_in_with_code(
        &self,
        sign_in: gptgate_ports::CodeSignIn<'_>,
    ) -> Result<Option<Session>, StorageError> {
        let mut session = sign_in
            .sessions
            .open(sign_in.session_id, sign_in.new_user, sign_in.now);
        let identity = gptgate_domain::Identity::email(sign_in.email);
        let mut writer = Script::new(self.writes().acquire().await.map_err(storage)?);
        let holders: Vec<(Uuid,)> = sqlx::query_as(SIGN_IN_WITH_CODE)
            .bind(sign_in.email.as_str())
            .bind(sign_in.matched.as_bytes().to_vec())
            .bind(identity.kind().as_str())
            .bind(identity.value())
            .bind(sign_in.new_user.as_uuid())
            .bind(time(sign_in.now))
            .bind(session.id.as_uuid())
            .bind(time(session.expires_at))
            .fetch_all(&mut **writer.conn())
            .await
            .map_err(storage)?;
        writer.ended();
        match holders.as_slice() {
            [] => Ok(None),
            [(user,)] => {
                session.user_id = UserId::from_uuid(*user);
                Ok(Some(session))
            }
            _ => Err(crate::error::corrupt(
                "a sign-in opened more than one session",
            )),
        }
    }
}

/// The writer, lent to one script that holds a transaction of its own. A script stops at its
/// first failing statement, and one cut off mid-way (its request dropped) is stopped by the
/// connection's thread at its next answer: either way the rest, its `COMMIT` (or `ROLLBACK`)
/// included, never runs, and the writer would stay in a transaction no one ends. So unless the
/// script ended, the connection is closed rather than given back, which rolls it back.
struct Script {
    conn: Option<PoolConnection<Sqlite>>,
}

impl Script {
    fn new(conn: PoolConnection<Sqlite>) -> Self {
        Self { conn: Some(conn) }
    }

    fn conn(&mut self) -> &mut PoolConnection<Sqlite> {
        self.conn
            .as_mut()
            .expect("a script's connection until it ends")
    }

    /// The script ran to its end: the connection goes back to the pool.
    fn ended(mut self) {
        self.conn = None;
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            conn.close_on_drop();
        }
    }
}
