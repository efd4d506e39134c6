//! Sessions: the shared SQL in `sql/sessions.rs`, on this crate's dialect.

include!("../sql/sessions.rs");

use futures::TryStreamExt as _;
use sqlx::sqlite::{SqliteQueryResult, SqliteRow};
use sqlx::{Either, Executor as _, Row as _};

/// The last step of a sign-in with a code, as one script on the writer: one command to its
/// thread instead of seven statements (and their four pool round trips). `BEGIN IMMEDIATE`
/// takes the write lock first, so every statement sees the state the first one saw, untouched
/// by any other writer (of this process or another): the code still `$2` for `$1` decides
/// each, and it is used up last. Only if it is: the user `$5` is created when the address
/// (`$3`, `$4`) has no holder, its identity then (`changes()` is the user's insert), and the
/// session `$7` opened for the holder and returned. No code, no row of any of them.
///
/// Several statements with parameters in one query is something only sqlx's SQLite driver
/// runs, and sqlx calls it deprecated (launchbadge/sqlx#3108); it works in the sqlx this
/// workspace pins. Should a later sqlx refuse it, every sign-in on SQLite fails and the
/// contract suite with it; the port's default (an empty `impl`) is the way back.
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

/// How many statements [`SIGN_IN_WITH_CODE`] holds: each one run says it is done.
const SIGN_IN_STATEMENTS: usize = 6;

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
        let script = SignInScript {
            email: sign_in.email.as_str().to_owned(),
            matched: sign_in.matched.as_bytes().to_vec(),
            kind: identity.kind().as_str(),
            value: identity.value().to_owned(),
            new_user: sign_in.new_user.as_uuid(),
            now: time(sign_in.now),
            session: session.id.as_uuid(),
            expires_at: time(session.expires_at),
        };
        // A task of its own, so the script runs to its end even if this request is dropped
        // meanwhile (see `run_sign_in`).
        let store = self.clone();
        let run = async move { store.run_sign_in(script).await };
        let holder = tokio::spawn(tracing::Instrument::in_current_span(run))
            .await
            .map_err(|e| StorageError::Failed(Box::new(e)))??;
        Ok(holder.map(|user| {
            session.user_id = UserId::from_uuid(user);
            session
        }))
    }
}

/// What [`SIGN_IN_WITH_CODE`] binds, owned by the task that runs it.
struct SignInScript {
    email: String,
    matched: Vec<u8>,
    kind: &'static str,
    value: String,
    new_user: Uuid,
    now: Time,
    session: Uuid,
    expires_at: Time,
}

impl Store {
    /// Runs [`SIGN_IN_WITH_CODE`]: the holder the session was opened for, if the code was
    /// still the live one. The script holds a transaction that only its own `COMMIT` ends,
    /// and sqlx does not know of it. A script stops at its first failing statement, so then it
    /// is rolled back here; one whose caller is gone stops at its next answer, so it is never
    /// left without a caller (its task outlives the request). A connection whose transaction
    /// may still be open otherwise (a rollback that failed, the task itself cut off) is
    /// closed, never kept: closing rolls it back.
    async fn run_sign_in(&self, script: SignInScript) -> Result<Option<Uuid>, StorageError> {
        let mut conn = self.writes().lend().await.map_err(storage)?;
        conn.close_unless_kept();
        let query = sqlx::query(SIGN_IN_WITH_CODE)
            .bind(script.email)
            .bind(script.matched)
            .bind(script.kind)
            .bind(script.value)
            .bind(script.new_user)
            .bind(script.now)
            .bind(script.session)
            .bind(script.expires_at);
        let steps = (&mut *conn)
            .fetch_many(query)
            .try_collect::<Vec<Either<SqliteQueryResult, SqliteRow>>>()
            .await;
        // Its `COMMIT` ran only if every statement did: sqlx's transaction count knows
        // nothing of this one, so `keep` could not tell a writer left inside it.
        let steps = steps.and_then(|steps| {
            let done = steps.iter().filter(|step| step.is_left()).count();
            if done == SIGN_IN_STATEMENTS {
                Ok(steps)
            } else {
                Err(sqlx::Error::Protocol(format!(
                    "the sign-in script ran {done} of its {SIGN_IN_STATEMENTS} statements"
                )))
            }
        });
        let holders = match steps {
            Ok(steps) => {
                conn.keep();
                steps
                    .into_iter()
                    .filter_map(Either::right)
                    .map(|row| row.try_get::<Uuid, _>("user_id"))
                    .collect::<Result<Vec<Uuid>, _>>()
                    .map_err(storage)?
            }
            Err(e) => {
                match sqlx::query("ROLLBACK").execute(&mut *conn).await {
                    Ok(_) => conn.keep(),
                    // It stopped before its BEGIN took effect.
                    Err(sqlx::Error::Database(db))
                        if db.message().contains("no transaction is active") =>
                    {
                        conn.keep()
                    }
                    Err(_) => {}
                }
                return Err(storage(e));
            }
        };
        match holders.as_slice() {
            [] => Ok(None),
            [user] => Ok(Some(*user)),
            _ => Err(crate::error::corrupt(
                "a sign-in opened more than one session",
            )),
        }
    }
}
