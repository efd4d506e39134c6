// Shared by both SQL stores: `include!`d by crates/adapters-sqlite/src/admin.rs and
// crates/adapters-postgres/src/admin.rs, each with its own `crate::dialect`. See README.md.

use async_trait::async_trait;
use gptgate_domain::{
    AccountCount, AccountStatus, AdminAction, AdminAuditEntry, AdminOverview, AdminSession,
    PasswordHash, PrivacySettings, ProviderId, StoredAdminPassword, TokenHash,
};
use gptgate_ports::{AdminRepository, StorageError};
use sqlx::FromRow;
use tracing::instrument;

use crate::dialect::{corrupt, from_time, storage, time, Store, Time, BYTE_ORDER};
use time::OffsetDateTime;

#[derive(FromRow)]
struct AdminSessionRow {
    token_hash: Vec<u8>,
    created_at: Time,
    expires_at: Time,
}

impl AdminSessionRow {
    fn into_session(self) -> Result<AdminSession, StorageError> {
        let hash: [u8; 32] = self
            .token_hash
            .try_into()
            .map_err(|_| corrupt("admin session token hash is not 32 bytes"))?;
        Ok(AdminSession {
            token_hash: TokenHash::from_bytes(hash),
            created_at: from_time(self.created_at)?,
            expires_at: from_time(self.expires_at)?,
        })
    }
}

/// Adds `entry` to the audit log inside `tx`.
pub(crate) async fn record(
    tx: &mut crate::dialect::Tx<'_>,
    entry: &AdminAuditEntry,
) -> Result<(), StorageError> {
    sqlx::query("INSERT INTO admin_audit (at, action, address) VALUES ($1, $2, $3)")
        .bind(time(entry.at))
        .bind(entry.action.as_str())
        .bind(entry.address.as_str())
        .execute(&mut **tx)
        .await
        .map_err(storage)?;
    Ok(())
}

/// Ends, inside `tx`, every admin session and every chat session opened with the admin
/// password (what a change or reset of that password does).
async fn end_admin_sessions(tx: &mut crate::dialect::Tx<'_>) -> Result<(), StorageError> {
    for statement in [
        "DELETE FROM admin_sessions",
        "DELETE FROM chat_sessions WHERE kind = 'admin'",
    ] {
        sqlx::query(statement)
            .execute(&mut **tx)
            .await
            .map_err(storage)?;
    }
    Ok(())
}

#[async_trait]
impl AdminRepository for Store {
    #[instrument(skip_all)]
    async fn create_admin_session(&self, session: &AdminSession) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO admin_sessions (token_hash, created_at, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(session.token_hash.as_bytes().as_slice())
        .bind(time(session.created_at))
        .bind(time(session.expires_at))
        .execute(self.writes())
        .await
        .map_err(storage)?;
        Ok(())
    }

    #[instrument(skip_all)]
    async fn find_admin_session(
        &self,
        token_hash: &TokenHash,
    ) -> Result<Option<AdminSession>, StorageError> {
        sqlx::query_as::<_, AdminSessionRow>(
            "SELECT token_hash, created_at, expires_at FROM admin_sessions WHERE token_hash = $1",
        )
        .bind(token_hash.as_bytes().as_slice())
        .fetch_optional(self.reads())
        .await
        .map_err(storage)?
        .map(AdminSessionRow::into_session)
        .transpose()
    }

    #[instrument(skip_all)]
    async fn end_admin_session(&self, token_hash: &TokenHash) -> Result<bool, StorageError> {
        let done = sqlx::query("DELETE FROM admin_sessions WHERE token_hash = $1")
            .bind(token_hash.as_bytes().as_slice())
            .execute(self.writes())
            .await
            .map_err(storage)?;
        Ok(done.rows_affected() > 0)
    }

    #[instrument(skip_all)]
    async fn admin_password(&self) -> Result<Option<StoredAdminPassword>, StorageError> {
        let row: Option<(String, Time, String)> =
            sqlx::query_as("SELECT hash, changed_at, replaces FROM admin_password WHERE id = 1")
                .fetch_optional(self.reads())
                .await
                .map_err(storage)?;
        let hash = |raw: &str| {
            PasswordHash::parse(raw)
                .map_err(|_| corrupt("a stored admin password hash is unusable"))
        };
        row.map(|(stored, changed_at, replaces)| {
            Ok(StoredAdminPassword {
                hash: hash(&stored)?,
                changed_at: from_time(changed_at)?,
                replaces: hash(&replaces)?,
            })
        })
        .transpose()
    }

    #[instrument(skip_all)]
    async fn replace_admin_password(
        &self,
        password: &StoredAdminPassword,
        audit: &AdminAuditEntry,
    ) -> Result<(), StorageError> {
        let mut tx = self.writes().begin().await.map_err(storage)?;
        sqlx::query(
            "INSERT INTO admin_password (id, hash, changed_at, replaces) VALUES (1, $1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET hash = excluded.hash, \
             changed_at = excluded.changed_at, replaces = excluded.replaces",
        )
        .bind(password.hash.as_str())
        .bind(time(password.changed_at))
        .bind(password.replaces.as_str())
        .execute(&mut *tx)
        .await
        .map_err(storage)?;
        end_admin_sessions(&mut tx).await?;
        record(&mut tx, audit).await?;
        tx.commit().await.map_err(storage)?;
        Ok(())
    }

    #[instrument(skip_all)]
    async fn forget_admin_password(&self) -> Result<bool, StorageError> {
        let mut tx = self.writes().begin().await.map_err(storage)?;
        let forgot = sqlx::query("DELETE FROM admin_password")
            .execute(&mut *tx)
            .await
            .map_err(storage)?
            .rows_affected()
            > 0;
        end_admin_sessions(&mut tx).await?;
        tx.commit().await.map_err(storage)?;
        Ok(forgot)
    }

    #[instrument(skip_all)]
    async fn record_admin_action(&self, entry: &AdminAuditEntry) -> Result<(), StorageError> {
        let mut tx = self.writes().begin().await.map_err(storage)?;
        record(&mut tx, entry).await?;
        tx.commit().await.map_err(storage)?;
        Ok(())
    }

    #[instrument(skip_all)]
    async fn admin_actions(&self, limit: usize) -> Result<Vec<AdminAuditEntry>, StorageError> {
        let rows: Vec<(Time, String, String)> = sqlx::query_as(
            "SELECT at, action, address FROM admin_audit ORDER BY at DESC, id DESC LIMIT $1",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.reads())
        .await
        .map_err(storage)?;
        rows.into_iter()
            .map(|(at, action, address)| {
                Ok(AdminAuditEntry {
                    at: from_time(at)?,
                    action: AdminAction::parse(&action)
                        .ok_or_else(|| corrupt("unknown admin audit action"))?,
                    address,
                })
            })
            .collect()
    }

    #[instrument(skip_all)]
    async fn privacy_settings(&self) -> Result<PrivacySettings, StorageError> {
        let row: Option<(i32, bool)> = sqlx::query_as(
            "SELECT retention_days, zero_retention FROM privacy_settings WHERE id = 1",
        )
        .fetch_optional(self.reads())
        .await
        .map_err(storage)?;
        match row {
            None => Ok(PrivacySettings::default()),
            Some((days, zero)) => u32::try_from(days)
                .ok()
                .and_then(|days| PrivacySettings::new(days, zero).ok())
                .ok_or_else(|| corrupt("stored retention out of range")),
        }
    }

    #[instrument(skip_all)]
    async fn set_privacy_settings(
        &self,
        settings: &PrivacySettings,
        audit: &AdminAuditEntry,
    ) -> Result<(), StorageError> {
        let mut tx = self.writes().begin().await.map_err(storage)?;
        sqlx::query(
            "INSERT INTO privacy_settings (id, retention_days, zero_retention, changed_at) \
             VALUES (1, $1, $2, $3) ON CONFLICT (id) DO UPDATE SET \
             retention_days = excluded.retention_days, zero_retention = excluded.zero_retention, \
             changed_at = excluded.changed_at",
        )
        .bind(i32::try_from(settings.retention_days).unwrap_or(i32::MAX))
        .bind(settings.zero_retention)
        .bind(time(audit.at))
        .execute(&mut *tx)
        .await
        .map_err(storage)?;
        record(&mut tx, audit).await?;
        tx.commit().await.map_err(storage)?;
        Ok(())
    }

    #[instrument(skip_all)]
    async fn admin_overview(&self, since: OffsetDateTime) -> Result<AdminOverview, StorageError> {
        let count = |sql: &'static str| async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(self.reads())
                .await
                .map(|n| u64::try_from(n).unwrap_or(0))
                .map_err(storage)
        };
        let users = count("SELECT COUNT(*) FROM users").await?;
        let conversations = count("SELECT COUNT(*) FROM conversations").await?;
        let code_addresses = sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM verification_codes WHERE last_sent_at >= $1",
        )
        .bind(time(since))
        .fetch_one(self.reads())
        .await
        .map_err(storage)?;
        let rows: Vec<(String, String, bool, i64)> = sqlx::query_as(&format!(
            "SELECT provider, status, enabled, COUNT(*) FROM accounts \
             GROUP BY provider, status, enabled \
             ORDER BY provider {BYTE_ORDER}, status {BYTE_ORDER}, enabled DESC"
        ))
        .fetch_all(self.reads())
        .await
        .map_err(storage)?;
        let accounts = rows
            .into_iter()
            .map(|(provider, status, enabled, n)| {
                Ok(AccountCount {
                    provider: ProviderId::parse(&provider)
                        .map_err(|_| corrupt("unknown provider in accounts"))?,
                    status: AccountStatus::parse(&status)
                        .ok_or_else(|| corrupt("unknown account status"))?,
                    enabled,
                    count: u64::try_from(n).unwrap_or(0),
                })
            })
            .collect::<Result<_, StorageError>>()?;
        Ok(AdminOverview {
            users,
            conversations,
            accounts,
            code_addresses: u64::try_from(code_addresses).unwrap_or(0),
        })
    }
}
