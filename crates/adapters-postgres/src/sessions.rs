//! Sessions: the shared SQL in `sql/sessions.rs`, on this crate's dialect.

include!("../sql/sessions.rs");

/// The last step of a sign-in with a code, in one statement: the code used up if it is still
/// the one compared (`$1`, `$2`), and only then its address's user found, or created as in
/// `CLAIM_OR_FIND` (`users.rs`: the identity claimed first, `$3` to `$6`), and a session
/// opened for them (`$7`, `$8`). Foreign keys are checked at the statement's end, so the new
/// user's identity and session may come before it does; a user deleted meanwhile fails the
/// whole statement, the code left unused. `used` says whether the code was the live one;
/// `user_id` is the session's holder, absent when the code was used but the identity was
/// claimed by a sign-in committed after this statement began (its snapshot cannot see it).
/// The holder is read from the statement's snapshot, unlocked: right because an identity never
/// moves from one user to another (it is inserted with its user and goes only with it); a
/// feature that moved one would have to lock it here (`FOR KEY SHARE`).
const SIGN_IN_WITH_CODE: &str = "WITH used AS ( \
         UPDATE verification_codes SET code_hash = NULL, version = version + 1 \
         WHERE email = $1 AND code_hash = $2 RETURNING email), \
     claimed AS ( \
         INSERT INTO user_identities (kind, value, user_id, created_at) \
         SELECT $3, $4, $5, $6 FROM used \
         ON CONFLICT (kind, value) DO NOTHING RETURNING user_id), \
     created AS ( \
         INSERT INTO users (id, created_at) SELECT user_id, $6 FROM claimed RETURNING id), \
     holder AS ( \
         SELECT id FROM created \
         UNION ALL \
         SELECT user_id FROM user_identities WHERE kind = $3 AND value = $4 \
         AND EXISTS (SELECT 1 FROM used) AND NOT EXISTS (SELECT 1 FROM claimed)), \
     opened AS ( \
         INSERT INTO sessions (id, user_id, created_at, expires_at) \
         SELECT $7, id, $6, $8 FROM holder RETURNING user_id) \
     SELECT EXISTS (SELECT 1 FROM used) AS used, (SELECT user_id FROM opened) AS user_id";

/// A sign-in with a code in one round trip, one commit (it was five and four).
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
        let (used, holder): (bool, Option<Uuid>) = sqlx::query_as(SIGN_IN_WITH_CODE)
            .bind(sign_in.email.as_str())
            .bind(sign_in.matched.as_bytes().to_vec())
            .bind(identity.kind().as_str())
            .bind(identity.value())
            .bind(sign_in.new_user.as_uuid())
            .bind(time(sign_in.now))
            .bind(session.id.as_uuid())
            .bind(time(session.expires_at))
            .fetch_one(self.writes())
            .await
            .map_err(storage)?;
        if !used {
            return Ok(None);
        }
        match holder {
            Some(user) => session.user_id = UserId::from_uuid(user),
            None => {
                // The code is used; the identity's holder committed after the statement
                // began: a new statement sees it. (Should this fail, the code stays used
                // without a session, as with the port's default: the caller asks anew.)
                let user = gptgate_ports::UserRepository::find_or_create_user(
                    self,
                    &identity,
                    sign_in.new_user,
                    sign_in.now,
                )
                .await?;
                session.user_id = user.id;
                self.create_session(&session).await?;
            }
        }
        Ok(Some(session))
    }
}
