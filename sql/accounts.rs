// Shared by both SQL stores: `include!`d by crates/adapters-sqlite/src/accounts.rs and
// crates/adapters-postgres/src/accounts.rs, each with its own `crate::dialect`. See README.md.

use async_trait::async_trait;
use gptgate_domain::{
    Account, AccountId, AccountLabel, AccountStatus, ProviderId, Sealed, SealedTokens,
    SessionGuard, UserId,
};
use gptgate_ports::{AccountRepository, RefreshOutcome, StorageError};
use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::{FromRow, Row};
use std::sync::LazyLock;
use time::OffsetDateTime;
use tracing::instrument;
use uuid::Uuid;

use crate::dialect::{
    corrupt, from_list, from_time, list, storage, time, List, Store, Time, BYTE_ORDER,
};
use crate::sessions::SESSION_ADMITS;

#[derive(FromRow)]
struct AccountRow {
    id: Uuid,
    user_id: Uuid,
    provider: String,
    label: String,
    enabled: bool,
    status: String,
    access_token: Option<Vec<u8>>,
    refresh_token: Option<Vec<u8>>,
    key_id: String,
    expires_at: Option<Time>,
    scopes: List,
    metadata: Json<Map<String, Value>>,
    created_at: Time,
    updated_at: Time,
}

impl AccountRow {
    fn into_account(self) -> Result<Account, StorageError> {
        Ok(Account {
            id: AccountId::from_uuid(self.id),
            user_id: UserId::from_uuid(self.user_id),
            provider: ProviderId::parse(&self.provider).map_err(|_| corrupt("account provider"))?,
            label: AccountLabel::parse(&self.label).map_err(|_| corrupt("account label"))?,
            enabled: self.enabled,
            status: AccountStatus::parse(&self.status).ok_or_else(|| corrupt("account status"))?,
            tokens: SealedTokens {
                access_token: self.access_token.map(Sealed::from_bytes),
                refresh_token: self.refresh_token.map(Sealed::from_bytes),
                key_id: self.key_id,
            },
            expires_at: self.expires_at.map(from_time).transpose()?,
            scopes: from_list(self.scopes),
            metadata: self.metadata.0,
            created_at: from_time(self.created_at)?,
            updated_at: from_time(self.updated_at)?,
        })
    }
}

const COLUMNS: &str =
    "id, user_id, provider, label, enabled, status, access_token, refresh_token, \
     key_id, expires_at, scopes, metadata, created_at, updated_at";

fn sealed(s: &Option<Sealed>) -> Option<&[u8]> {
    s.as_ref().map(Sealed::as_bytes)
}

#[async_trait]
impl AccountRepository for Store {
    #[instrument(skip_all)]
    async fn upsert_account(&self, a: &Account) -> Result<Account, StorageError> {
        let sql = format!(
            "INSERT INTO accounts ({COLUMNS}, refreshed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) \
             ON CONFLICT (user_id, provider, label) DO UPDATE SET enabled = TRUE, \
             status = 'active', access_token = excluded.access_token, \
             refresh_token = excluded.refresh_token, key_id = excluded.key_id, \
             expires_at = excluded.expires_at, scopes = excluded.scopes, \
             metadata = excluded.metadata, updated_at = excluded.updated_at, \
             refreshed_at = excluded.updated_at \
             RETURNING {COLUMNS}"
        );
        sqlx::query_as::<_, AccountRow>(&sql)
            .bind(a.id.as_uuid())
            .bind(a.user_id.as_uuid())
            .bind(a.provider.as_str())
            .bind(a.label.as_str())
            .bind(a.enabled)
            .bind(a.status.as_str())
            .bind(sealed(&a.tokens.access_token))
            .bind(sealed(&a.tokens.refresh_token))
            .bind(&a.tokens.key_id)
            .bind(a.expires_at.map(time))
            .bind(list(&a.scopes))
            .bind(Json(&a.metadata))
            .bind(time(a.created_at))
            .bind(time(a.updated_at))
            .fetch_one(self.writes())
            .await
            .map_err(storage)?
            .into_account()
    }

    #[instrument(skip_all)]
    async fn list_accounts(&self, user: UserId) -> Result<Vec<Account>, StorageError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM accounts WHERE user_id = $1 \
             ORDER BY provider {BYTE_ORDER}, label {BYTE_ORDER}"
        );
        sqlx::query_as::<_, AccountRow>(&sql)
            .bind(user.as_uuid())
            .fetch_all(self.reads())
            .await
            .map_err(storage)?
            .into_iter()
            .map(AccountRow::into_account)
            .collect()
    }

    #[instrument(skip_all)]
    async fn list_accounts_in_session(
        &self,
        guard: &SessionGuard,
    ) -> Result<Option<Vec<Account>>, StorageError> {
        // One row at least, whatever the user has: the session's verdict, then each account
        // (none: one row of NULLs), so a user with no account costs one round trip too.
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT s.session_ok, {COLUMNS} FROM (SELECT {SESSION_ADMITS} AS session_ok) s \
                 LEFT JOIN accounts ON s.session_ok AND user_id = $2 \
                 ORDER BY provider {BYTE_ORDER}, label {BYTE_ORDER}"
            )
        });
        let rows = sqlx::query(SQL.as_str())
            .bind(guard.session_id.as_uuid())
            .bind(guard.user_id.as_uuid())
            .bind(time(guard.now))
            .fetch_all(self.reads())
            .await
            .map_err(storage)?;
        let mut accounts = Vec::with_capacity(rows.len());
        for row in &rows {
            if !row.try_get::<bool, _>("session_ok").map_err(storage)? {
                return Ok(None);
            }
            if row
                .try_get::<Option<Uuid>, _>("id")
                .map_err(storage)?
                .is_some()
            {
                accounts.push(AccountRow::from_row(row).map_err(storage)?.into_account()?);
            }
        }
        Ok(Some(accounts))
    }

    #[instrument(skip_all)]
    async fn find_account(
        &self,
        user: UserId,
        id: AccountId,
    ) -> Result<Option<Account>, StorageError> {
        let sql = format!("SELECT {COLUMNS} FROM accounts WHERE id = $1 AND user_id = $2");
        sqlx::query_as::<_, AccountRow>(&sql)
            .bind(id.as_uuid())
            .bind(user.as_uuid())
            .fetch_optional(self.reads())
            .await
            .map_err(storage)?
            .map(AccountRow::into_account)
            .transpose()
    }

    #[instrument(skip_all)]
    async fn set_account_enabled(
        &self,
        user: UserId,
        id: AccountId,
        enabled: bool,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "UPDATE accounts SET enabled = $1, updated_at = $2 WHERE id = $3 AND user_id = $4",
        )
        .bind(enabled)
        .bind(time(now))
        .bind(id.as_uuid())
        .bind(user.as_uuid())
        .execute(self.writes())
        .await
        .map_err(storage)?;
        Ok(done.rows_affected() > 0)
    }

    #[instrument(skip_all)]
    async fn replace_tokens(
        &self,
        id: AccountId,
        tokens: &SealedTokens,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "UPDATE accounts SET access_token = $1, refresh_token = $2, key_id = $3, updated_at = $4 \
             WHERE id = $5",
        )
        .bind(sealed(&tokens.access_token))
        .bind(sealed(&tokens.refresh_token))
        .bind(&tokens.key_id)
        .bind(time(now))
        .bind(id.as_uuid())
        .execute(self.writes())
        .await
        .map_err(storage)?;
        Ok(done.rows_affected() > 0)
    }

    #[instrument(skip_all)]
    async fn reseal_tokens(
        &self,
        id: AccountId,
        old: &SealedTokens,
        new: &SealedTokens,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "UPDATE accounts SET access_token = $1, refresh_token = $2, key_id = $3, \
             updated_at = $4 WHERE id = $5 AND access_token IS NOT DISTINCT FROM $6 \
             AND refresh_token IS NOT DISTINCT FROM $7",
        )
        .bind(sealed(&new.access_token))
        .bind(sealed(&new.refresh_token))
        .bind(&new.key_id)
        .bind(time(now))
        .bind(id.as_uuid())
        .bind(sealed(&old.access_token))
        .bind(sealed(&old.refresh_token))
        .execute(self.writes())
        .await
        .map_err(storage)?;
        Ok(done.rows_affected() > 0)
    }

    #[instrument(skip_all)]
    async fn take_refresh_lease(
        &self,
        id: AccountId,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "UPDATE accounts SET refresh_lease_until = $1 WHERE id = $2 \
             AND (refresh_lease_until IS NULL OR refresh_lease_until <= $3)",
        )
        .bind(time(until))
        .bind(id.as_uuid())
        .bind(time(now))
        .execute(self.writes())
        .await
        .map_err(storage)?;
        Ok(done.rows_affected() > 0)
    }

    #[instrument(skip_all)]
    async fn end_refresh(
        &self,
        id: AccountId,
        outcome: &RefreshOutcome,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        let query = match outcome {
            RefreshOutcome::Refreshed {
                tokens,
                expires_at,
                metadata,
            } => sqlx::query(
                "UPDATE accounts SET refresh_lease_until = NULL, updated_at = $2, \
                 refreshed_at = $2, status = 'active', access_token = $3, refresh_token = $4, key_id = $5, \
                 expires_at = $6, metadata = $7 WHERE id = $1",
            )
            .bind(id.as_uuid())
            .bind(time(now))
            .bind(sealed(&tokens.access_token))
            .bind(sealed(&tokens.refresh_token))
            .bind(&tokens.key_id)
            .bind(expires_at.map(time))
            .bind(Json(metadata)),
            RefreshOutcome::ReauthRequired { refused } => sqlx::query(
                "UPDATE accounts SET refresh_lease_until = NULL, \
                 status = CASE WHEN refresh_token IS NOT DISTINCT FROM $3 \
                     THEN 'reauth_required' ELSE status END, \
                 updated_at = CASE WHEN refresh_token IS NOT DISTINCT FROM $3 \
                     THEN $2 ELSE updated_at END \
                 WHERE id = $1",
            )
            .bind(id.as_uuid())
            .bind(time(now))
            .bind(sealed(refused)),
            RefreshOutcome::Unchanged => {
                sqlx::query("UPDATE accounts SET refresh_lease_until = NULL WHERE id = $1")
                    .bind(id.as_uuid())
            }
        };
        let done = query.execute(self.writes()).await.map_err(storage)?;
        Ok(done.rows_affected() > 0)
    }

    #[instrument(skip_all)]
    async fn accounts_page(
        &self,
        after: Option<AccountId>,
        limit: usize,
    ) -> Result<Vec<Account>, StorageError> {
        // The first page has no lower bound (a NULL parameter has no type to compare with).
        let after = after.map_or(Uuid::nil(), |id| id.as_uuid());
        let sql = format!("SELECT {COLUMNS} FROM accounts WHERE id > $1 ORDER BY id LIMIT $2");
        sqlx::query_as::<_, AccountRow>(&sql)
            .bind(after)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.reads())
            .await
            .map_err(storage)?
            .into_iter()
            .map(AccountRow::into_account)
            .collect()
    }

    #[instrument(skip_all)]
    async fn accounts_idle_since(
        &self,
        provider: ProviderId,
        before: OffsetDateTime,
        after: Option<AccountId>,
        limit: usize,
    ) -> Result<Vec<Account>, StorageError> {
        // The first page has no lower bound (a NULL parameter has no type to compare with).
        let after = after.map_or(Uuid::nil(), |id| id.as_uuid());
        let sql = format!(
            "SELECT {COLUMNS} FROM accounts WHERE provider = $1 AND status = 'active' \
             AND refresh_token IS NOT NULL AND refreshed_at < $2 AND id > $3 \
             ORDER BY id LIMIT $4"
        );
        sqlx::query_as::<_, AccountRow>(&sql)
            .bind(provider.as_str())
            .bind(time(before))
            .bind(after)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.reads())
            .await
            .map_err(storage)?
            .into_iter()
            .map(AccountRow::into_account)
            .collect()
    }

    #[instrument(skip_all)]
    async fn delete_account(&self, user: UserId, id: AccountId) -> Result<bool, StorageError> {
        let done = sqlx::query("DELETE FROM accounts WHERE id = $1 AND user_id = $2")
            .bind(id.as_uuid())
            .bind(user.as_uuid())
            .execute(self.writes())
            .await
            .map_err(storage)?;
        Ok(done.rows_affected() > 0)
    }
}
