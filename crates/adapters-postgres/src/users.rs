//! Users: the shared SQL in `sql/users.rs`.

include!("../sql/users.rs");

/// Claims an identity for a new user and creates that user, in one statement, or finds its
/// holder: the identity's unique key decides. The identity row comes first (the user's row is
/// inserted only for a claim that won), which its foreign key allows because PostgreSQL checks
/// it at the end of the statement. A known identity inserts nothing and is read by the second
/// branch, which answers only when the first did not (its snapshot may still show a holder
/// deleted meanwhile, whose identity the first branch then claimed). Neither answers when a
/// concurrent first sight committed after this statement's snapshot: see
/// `find_or_create_holder`.
const CLAIM_OR_FIND: &str = "WITH claimed AS ( \
         INSERT INTO user_identities (kind, value, user_id, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (kind, value) DO NOTHING RETURNING user_id), \
     created AS ( \
         INSERT INTO users (id, created_at) SELECT user_id, $4 FROM claimed \
         RETURNING id, created_at) \
     SELECT id, created_at FROM created \
     UNION ALL \
     SELECT u.id, u.created_at FROM user_identities i JOIN users u ON u.id = i.user_id \
     WHERE i.kind = $1 AND i.value = $2 AND NOT EXISTS (SELECT 1 FROM claimed)";

impl Store {
    /// The user holding `identity`, created with `new_id` if there is none: one round trip,
    /// known or new (a new user used to take five: the read, then a transaction of two
    /// inserts). A first sight that lost a race to a concurrent one reads the winner's user.
    pub(crate) async fn find_or_create_holder(
        &self,
        identity: &Identity,
        new_id: UserId,
        now: OffsetDateTime,
    ) -> Result<User, StorageError> {
        let found = sqlx::query_as::<_, UserRow>(CLAIM_OR_FIND)
            .bind(identity.kind().as_str())
            .bind(identity.value())
            .bind(new_id.as_uuid())
            .bind(time(now))
            .fetch_optional(self.writes())
            .await
            .map_err(storage)?;
        match found {
            Some(row) => row.into_user(),
            // The identity was claimed by a transaction that committed after this statement
            // began (its insert waited for that one): its row is visible to a new statement.
            None => self.race_winner(identity).await,
        }
    }
}
