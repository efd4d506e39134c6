// Shared by both SQL stores: `include!`d by crates/adapters-sqlite/src/link_tokens.rs and
// crates/adapters-postgres/src/link_tokens.rs, each with its own `crate::dialect`. See README.md.

use async_trait::async_trait;
use gptgate_domain::{
    AccountLabel, ExportLink, ManagementToken, OAuthState, OnboardingToken, ProviderId, Sealed,
    TokenHash, UserId,
};
use gptgate_ports::{LinkTokenRepository, StorageError};
use sqlx::FromRow;
use time::OffsetDateTime;
use tracing::instrument;
use uuid::Uuid;

use crate::dialect::{corrupt, from_time, storage, time, Store, Time};

fn token_hash(bytes: Vec<u8>) -> Result<TokenHash, StorageError> {
    <[u8; 32]>::try_from(bytes)
        .map(TokenHash::from_bytes)
        .map_err(|_| corrupt("token hash"))
}

fn provider_and_label(
    provider: &str,
    label: &str,
) -> Result<(ProviderId, AccountLabel), StorageError> {
    Ok((
        ProviderId::parse(provider).map_err(|_| corrupt("provider"))?,
        AccountLabel::parse(label).map_err(|_| corrupt("label"))?,
    ))
}

#[derive(FromRow)]
struct OnboardingRow {
    token_hash: Vec<u8>,
    user_id: Uuid,
    provider: String,
    label: String,
    expires_at: Time,
    used_at: Option<Time>,
    created_at: Time,
}

impl OnboardingRow {
    fn into_token(self) -> Result<OnboardingToken, StorageError> {
        let (provider, label) = provider_and_label(&self.provider, &self.label)?;
        Ok(OnboardingToken {
            hash: token_hash(self.token_hash)?,
            user_id: UserId::from_uuid(self.user_id),
            provider,
            label,
            expires_at: from_time(self.expires_at)?,
            used_at: self.used_at.map(from_time).transpose()?,
            created_at: from_time(self.created_at)?,
        })
    }
}

#[derive(FromRow)]
struct ExportRow {
    token_hash: Vec<u8>,
    user_id: Uuid,
    expires_at: Time,
    used_at: Option<Time>,
    created_at: Time,
}

impl ExportRow {
    fn into_link(self) -> Result<ExportLink, StorageError> {
        Ok(ExportLink {
            hash: token_hash(self.token_hash)?,
            user_id: UserId::from_uuid(self.user_id),
            expires_at: from_time(self.expires_at)?,
            used_at: self.used_at.map(from_time).transpose()?,
            created_at: from_time(self.created_at)?,
        })
    }
}

#[derive(FromRow)]
struct ManagementRow {
    token_hash: Vec<u8>,
    user_id: Uuid,
    expires_at: Time,
    created_at: Time,
    signed_in: bool,
}

#[derive(FromRow)]
struct StateRow {
    state_hash: Vec<u8>,
    user_id: Uuid,
    provider: String,
    label: String,
    pkce_verifier: Option<Vec<u8>>,
    browser_hash: Vec<u8>,
    redirect_uri: String,
    expires_at: Time,
    created_at: Time,
}

impl StateRow {
    fn into_state(self) -> Result<OAuthState, StorageError> {
        let (provider, label) = provider_and_label(&self.provider, &self.label)?;
        Ok(OAuthState {
            hash: token_hash(self.state_hash)?,
            user_id: UserId::from_uuid(self.user_id),
            provider,
            label,
            pkce_verifier: self.pkce_verifier.map(Sealed::from_bytes),
            browser: token_hash(self.browser_hash)?,
            redirect_uri: self.redirect_uri,
            expires_at: from_time(self.expires_at)?,
            created_at: from_time(self.created_at)?,
        })
    }
}

#[async_trait]
impl LinkTokenRepository for Store {
    #[instrument(skip_all)]
    async fn create_onboarding_token(&self, t: &OnboardingToken) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO onboarding_tokens (token_hash, user_id, provider, label, expires_at, \
             used_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&t.hash.as_bytes()[..])
        .bind(t.user_id.as_uuid())
        .bind(t.provider.as_str())
        .bind(t.label.as_str())
        .bind(time(t.expires_at))
        .bind(t.used_at.map(time))
        .bind(time(t.created_at))
        .execute(self.writes())
        .await
        .map_err(storage)?;
        Ok(())
    }

    #[instrument(skip_all)]
    async fn find_onboarding_token(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<OnboardingToken>, StorageError> {
        sqlx::query_as::<_, OnboardingRow>(
            "SELECT token_hash, user_id, provider, label, expires_at, used_at, created_at \
             FROM onboarding_tokens WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(&hash.as_bytes()[..])
        .bind(time(now))
        .fetch_optional(self.reads())
        .await
        .map_err(storage)?
        .map(OnboardingRow::into_token)
        .transpose()
    }

    #[instrument(skip_all)]
    async fn consume_onboarding_token(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<OnboardingToken>, StorageError> {
        // One statement: of concurrent consumers, only one finds `used_at IS NULL`.
        sqlx::query_as::<_, OnboardingRow>(
            "UPDATE onboarding_tokens SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $3 \
             RETURNING token_hash, user_id, provider, label, expires_at, used_at, created_at",
        )
        .bind(time(now))
        .bind(&hash.as_bytes()[..])
        .bind(time(now))
        .fetch_optional(self.writes())
        .await
        .map_err(storage)?
        .map(OnboardingRow::into_token)
        .transpose()
    }

    #[instrument(skip_all)]
    async fn create_management_token(&self, t: &ManagementToken) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO management_tokens (token_hash, user_id, expires_at, created_at, signed_in) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&t.hash.as_bytes()[..])
        .bind(t.user_id.as_uuid())
        .bind(time(t.expires_at))
        .bind(time(t.created_at))
        .bind(t.signed_in)
        .execute(self.writes())
        .await
        .map_err(storage)?;
        Ok(())
    }

    #[instrument(skip_all)]
    async fn create_export_link(&self, l: &ExportLink) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO export_links (token_hash, user_id, expires_at, used_at, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&l.hash.as_bytes()[..])
        .bind(l.user_id.as_uuid())
        .bind(time(l.expires_at))
        .bind(l.used_at.map(time))
        .bind(time(l.created_at))
        .execute(self.writes())
        .await
        .map_err(storage)?;
        Ok(())
    }

    #[instrument(skip_all)]
    async fn consume_export_link(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<ExportLink>, StorageError> {
        // One statement: of concurrent consumers, only one finds `used_at IS NULL`.
        sqlx::query_as::<_, ExportRow>(
            "UPDATE export_links SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $3 \
             RETURNING token_hash, user_id, expires_at, used_at, created_at",
        )
        .bind(time(now))
        .bind(&hash.as_bytes()[..])
        .bind(time(now))
        .fetch_optional(self.writes())
        .await
        .map_err(storage)?
        .map(ExportRow::into_link)
        .transpose()
    }

    #[instrument(skip_all)]
    async fn delete_management_token(&self, hash: &TokenHash) -> Result<bool, StorageError> {
        let done = sqlx::query("DELETE FROM management_tokens WHERE token_hash = $1")
            .bind(&hash.as_bytes()[..])
            .execute(self.writes())
            .await
            .map_err(storage)?;
        Ok(done.rows_affected() > 0)
    }

    #[instrument(skip_all)]
    async fn find_management_token(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<ManagementToken>, StorageError> {
        let row = sqlx::query_as::<_, ManagementRow>(
            "SELECT token_hash, user_id, expires_at, created_at, signed_in FROM management_tokens \
             WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(&hash.as_bytes()[..])
        .bind(time(now))
        .fetch_optional(self.reads())
        .await
        .map_err(storage)?;
        row.map(|r| {
            Ok(ManagementToken {
                hash: token_hash(r.token_hash)?,
                user_id: UserId::from_uuid(r.user_id),
                expires_at: from_time(r.expires_at)?,
                created_at: from_time(r.created_at)?,
                signed_in: r.signed_in,
            })
        })
        .transpose()
    }

    #[instrument(skip_all)]
    async fn create_oauth_state(&self, s: &OAuthState) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO oauth_states (state_hash, user_id, provider, label, pkce_verifier, \
             browser_hash, redirect_uri, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&s.hash.as_bytes()[..])
        .bind(s.user_id.as_uuid())
        .bind(s.provider.as_str())
        .bind(s.label.as_str())
        .bind(s.pkce_verifier.as_ref().map(Sealed::as_bytes))
        .bind(&s.browser.as_bytes()[..])
        .bind(&s.redirect_uri)
        .bind(time(s.expires_at))
        .bind(time(s.created_at))
        .execute(self.writes())
        .await
        .map_err(storage)?;
        Ok(())
    }

    #[instrument(skip_all)]
    async fn take_oauth_state(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<OAuthState>, StorageError> {
        // Deleting is what makes a state single-use; an expired one is deleted too.
        let state = sqlx::query_as::<_, StateRow>(
            "DELETE FROM oauth_states WHERE state_hash = $1 \
             RETURNING state_hash, user_id, provider, label, pkce_verifier, browser_hash, \
             redirect_uri, expires_at, created_at",
        )
        .bind(&hash.as_bytes()[..])
        .fetch_optional(self.writes())
        .await
        .map_err(storage)?
        .map(StateRow::into_state)
        .transpose()?;
        Ok(state.filter(|s| now < s.expires_at))
    }

    #[instrument(skip_all)]
    async fn oauth_states_page(
        &self,
        after: Option<TokenHash>,
        limit: usize,
    ) -> Result<Vec<OAuthState>, StorageError> {
        // The empty byte string sorts before every 32-byte hash.
        let after = after.map(|h| h.as_bytes().to_vec()).unwrap_or_default();
        sqlx::query_as::<_, StateRow>(
            "SELECT state_hash, user_id, provider, label, pkce_verifier, browser_hash, \
             redirect_uri, expires_at, created_at FROM oauth_states \
             WHERE state_hash > $1 ORDER BY state_hash LIMIT $2",
        )
        .bind(after)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.reads())
        .await
        .map_err(storage)?
        .into_iter()
        .map(StateRow::into_state)
        .collect()
    }

    #[instrument(skip_all)]
    async fn replace_pkce_verifier(
        &self,
        hash: &TokenHash,
        verifier: &Sealed,
    ) -> Result<bool, StorageError> {
        let done = sqlx::query("UPDATE oauth_states SET pkce_verifier = $1 WHERE state_hash = $2")
            .bind(verifier.as_bytes())
            .bind(&hash.as_bytes()[..])
            .execute(self.writes())
            .await
            .map_err(storage)?;
        Ok(done.rows_affected() == 1)
    }
}
