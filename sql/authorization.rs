// Shared by both SQL stores: `include!`d by crates/adapters-sqlite/src/authorization.rs and
// crates/adapters-postgres/src/authorization.rs, each with its own `crate::dialect`. See
// README.md.

use async_trait::async_trait;
use gptgate_domain::{
    Audience, AuthorizationCode, ClientId, ClientKind, ClientName, CodeChallenge, GrantId,
    GrantSummary, OAuthClient, RedirectUri, RefreshToken, TokenHash, UserId,
};
use gptgate_ports::{AuthorizationRepository, CodeTaken, StorageError};
use sqlx::FromRow;
use time::OffsetDateTime;
use tracing::instrument;
use uuid::Uuid;

use crate::dialect::{corrupt, from_list, from_time, list, storage, time, List, Store, Time};

fn hash_of(bytes: Vec<u8>, what: &str) -> Result<[u8; 32], StorageError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| corrupt(what))
}

#[derive(FromRow)]
struct ClientRow {
    id: Uuid,
    name: String,
    kind: String,
    secret_hash: Option<Vec<u8>>,
    redirect_uris: List,
    created_at: Time,
}

impl ClientRow {
    fn into_client(self) -> Result<OAuthClient, StorageError> {
        Ok(OAuthClient {
            id: ClientId::from_uuid(self.id),
            name: ClientName::parse(&self.name).map_err(|_| corrupt("client name"))?,
            kind: ClientKind::parse(&self.kind).ok_or_else(|| corrupt("client kind"))?,
            secret_hash: self
                .secret_hash
                .map(|h| hash_of(h, "client secret hash").map(TokenHash::from_bytes))
                .transpose()?,
            redirect_uris: from_list(self.redirect_uris)
                .iter()
                .map(|u| RedirectUri::parse(u).map_err(|_| corrupt("redirect URI")))
                .collect::<Result<_, _>>()?,
            created_at: from_time(self.created_at)?,
        })
    }
}

const CLIENT_COLUMNS: &str = "id, name, kind, secret_hash, redirect_uris, created_at";

#[derive(FromRow)]
struct CodeRow {
    code_hash: Vec<u8>,
    client_id: Uuid,
    user_id: Uuid,
    redirect_uri: String,
    challenge: Option<Vec<u8>>,
    grant_id: Uuid,
    audience: String,
    expires_at: Time,
    created_at: Time,
}

impl CodeRow {
    fn into_code(self) -> Result<AuthorizationCode, StorageError> {
        Ok(AuthorizationCode {
            hash: TokenHash::from_bytes(hash_of(self.code_hash, "code hash")?),
            client_id: ClientId::from_uuid(self.client_id),
            user_id: UserId::from_uuid(self.user_id),
            redirect_uri: self.redirect_uri,
            challenge: self
                .challenge
                .map(|c| hash_of(c, "code challenge").map(CodeChallenge::from_bytes))
                .transpose()?,
            grant_id: GrantId::from_uuid(self.grant_id),
            audience: Audience::parse(&self.audience).ok_or_else(|| corrupt("audience"))?,
            expires_at: from_time(self.expires_at)?,
            created_at: from_time(self.created_at)?,
        })
    }
}

const CODE_COLUMNS: &str = "code_hash, client_id, user_id, redirect_uri, challenge, grant_id, \
     audience, expires_at, created_at";

#[derive(FromRow)]
struct RefreshRow {
    token_hash: Vec<u8>,
    grant_id: Uuid,
    client_id: Uuid,
    user_id: Uuid,
    expires_at: Time,
    created_at: Time,
    rotated_at: Option<Time>,
    revoked_at: Option<Time>,
    grant_started_at: Time,
    audience: String,
}

impl RefreshRow {
    fn into_token(self) -> Result<RefreshToken, StorageError> {
        Ok(RefreshToken {
            hash: TokenHash::from_bytes(hash_of(self.token_hash, "refresh token hash")?),
            grant_id: GrantId::from_uuid(self.grant_id),
            client_id: ClientId::from_uuid(self.client_id),
            user_id: UserId::from_uuid(self.user_id),
            expires_at: from_time(self.expires_at)?,
            created_at: from_time(self.created_at)?,
            rotated_at: self.rotated_at.map(from_time).transpose()?,
            revoked_at: self.revoked_at.map(from_time).transpose()?,
            grant_started_at: from_time(self.grant_started_at)?,
            audience: Audience::parse(&self.audience).ok_or_else(|| corrupt("audience"))?,
        })
    }
}

/// Inserts a refresh token only while its grant is not revoked: a revocation racing an
/// exchange or a refresh leaves no token behind.
const INSERT_REFRESH: &str = "INSERT INTO oauth_refresh_tokens \
     (token_hash, grant_id, client_id, user_id, expires_at, created_at, rotated_at, revoked_at) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
     WHERE EXISTS (SELECT 1 FROM oauth_grants WHERE id = $2 AND revoked_at IS NULL)";

fn insert_refresh(
    t: &RefreshToken,
) -> sqlx::query::Query<'_, crate::dialect::Db, <crate::dialect::Db as sqlx::Database>::Arguments<'_>>
{
    sqlx::query(INSERT_REFRESH)
        .bind(&t.hash.as_bytes()[..])
        .bind(t.grant_id.as_uuid())
        .bind(t.client_id.as_uuid())
        .bind(t.user_id.as_uuid())
        .bind(time(t.expires_at))
        .bind(time(t.created_at))
        .bind(t.rotated_at.map(time))
        .bind(t.revoked_at.map(time))
}

#[async_trait]
impl AuthorizationRepository for Store {
    #[instrument(skip_all)]
    async fn create_client(&self, c: &OAuthClient) -> Result<(), StorageError> {
        let uris: Vec<String> = c
            .redirect_uris
            .iter()
            .map(|u| u.as_str().to_owned())
            .collect();
        sqlx::query(&format!(
            "INSERT INTO oauth_clients ({CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
        ))
        .bind(c.id.as_uuid())
        .bind(c.name.as_str())
        .bind(c.kind.as_str())
        .bind(c.secret_hash.as_ref().map(|h| h.as_bytes().to_vec()))
        .bind(list(&uris))
        .bind(time(c.created_at))
        .execute(self.writes())
        .await
        .map_err(storage)?;
        Ok(())
    }

    #[instrument(skip_all)]
    async fn find_client(&self, id: ClientId) -> Result<Option<OAuthClient>, StorageError> {
        sqlx::query_as::<_, ClientRow>(&format!(
            "SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(self.reads())
        .await
        .map_err(storage)?
        .map(ClientRow::into_client)
        .transpose()
    }

    #[instrument(skip_all)]
    async fn list_clients(&self) -> Result<Vec<OAuthClient>, StorageError> {
        sqlx::query_as::<_, ClientRow>(&format!(
            "SELECT {CLIENT_COLUMNS} FROM oauth_clients ORDER BY created_at, id"
        ))
        .fetch_all(self.reads())
        .await
        .map_err(storage)?
        .into_iter()
        .map(ClientRow::into_client)
        .collect()
    }

    #[instrument(skip_all)]
    async fn delete_client(&self, id: ClientId) -> Result<bool, StorageError> {
        // Codes, refresh tokens and sessions go with it (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM oauth_clients WHERE id = $1")
            .bind(id.as_uuid())
            .execute(self.writes())
            .await
            .map_err(storage)?;
        Ok(done.rows_affected() > 0)
    }

    #[instrument(skip_all)]
    async fn start_grant(
        &self,
        grant: GrantId,
        client: ClientId,
        user: UserId,
        audience: Audience,
        at: OffsetDateTime,
    ) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO oauth_grants (id, client_id, user_id, audience, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(grant.as_uuid())
        .bind(client.as_uuid())
        .bind(user.as_uuid())
        .bind(audience.as_str())
        .bind(time(at))
        .execute(self.writes())
        .await
        .map_err(storage)?;
        Ok(())
    }

    #[instrument(skip_all)]
    async fn create_code(&self, c: &AuthorizationCode) -> Result<(), StorageError> {
        sqlx::query(&format!(
            "INSERT INTO oauth_codes ({CODE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(&c.hash.as_bytes()[..])
        .bind(c.client_id.as_uuid())
        .bind(c.user_id.as_uuid())
        .bind(&c.redirect_uri)
        .bind(c.challenge.as_ref().map(|ch| ch.as_bytes().to_vec()))
        .bind(c.grant_id.as_uuid())
        .bind(c.audience.as_str())
        .bind(time(c.expires_at))
        .bind(time(c.created_at))
        .execute(self.writes())
        .await
        .map_err(storage)?;
        Ok(())
    }

    #[instrument(skip_all)]
    async fn take_code(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<CodeTaken, StorageError> {
        let taken = sqlx::query_as::<_, CodeRow>(&format!(
            "UPDATE oauth_codes SET used_at = $2 \
             WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 \
             RETURNING {CODE_COLUMNS}"
        ))
        .bind(&hash.as_bytes()[..])
        .bind(time(now))
        .fetch_optional(self.writes())
        .await
        .map_err(storage)?;
        if let Some(row) = taken {
            return Ok(CodeTaken::Taken(row.into_code()?));
        }
        let used: Option<(Uuid, Option<Time>)> =
            sqlx::query_as("SELECT grant_id, used_at FROM oauth_codes WHERE code_hash = $1")
                .bind(&hash.as_bytes()[..])
                .fetch_optional(self.writes())
                .await
                .map_err(storage)?;
        Ok(match used {
            Some((grant, Some(_))) => CodeTaken::Replayed {
                grant_id: GrantId::from_uuid(grant),
            },
            _ => CodeTaken::NotFound,
        })
    }

    #[instrument(skip_all)]
    async fn create_refresh_token(&self, t: &RefreshToken) -> Result<bool, StorageError> {
        let done = insert_refresh(t)
            .execute(self.writes())
            .await
            .map_err(storage)?;
        Ok(done.rows_affected() > 0)
    }

    #[instrument(skip_all)]
    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<RefreshToken>, StorageError> {
        sqlx::query_as::<_, RefreshRow>(
            "SELECT t.token_hash, t.grant_id, t.client_id, t.user_id, t.expires_at, \
             t.created_at, t.rotated_at, COALESCE(t.revoked_at, g.revoked_at) AS revoked_at, \
             g.created_at AS grant_started_at, g.audience \
             FROM oauth_refresh_tokens t JOIN oauth_grants g ON g.id = t.grant_id \
             WHERE t.token_hash = $1",
        )
        .bind(&hash.as_bytes()[..])
        .fetch_optional(self.reads())
        .await
        .map_err(storage)?
        .map(RefreshRow::into_token)
        .transpose()
    }

    #[instrument(skip_all)]
    async fn rotate_refresh_token(
        &self,
        old: &TokenHash,
        new: &RefreshToken,
        now: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        let mut tx = self.writes().begin().await.map_err(storage)?;
        let spent = sqlx::query(
            "UPDATE oauth_refresh_tokens SET rotated_at = $2 \
             WHERE token_hash = $1 AND rotated_at IS NULL AND revoked_at IS NULL \
             AND EXISTS (SELECT 1 FROM oauth_grants g \
                         WHERE g.id = oauth_refresh_tokens.grant_id AND g.revoked_at IS NULL)",
        )
        .bind(&old.as_bytes()[..])
        .bind(time(now))
        .execute(&mut *tx)
        .await
        .map_err(storage)?;
        if spent.rows_affected() == 0 {
            tx.rollback().await.map_err(storage)?;
            return Ok(false);
        }
        let stored = insert_refresh(new)
            .execute(&mut *tx)
            .await
            .map_err(storage)?;
        if stored.rows_affected() == 0 {
            tx.rollback().await.map_err(storage)?;
            return Ok(false);
        }
        tx.commit().await.map_err(storage)?;
        Ok(true)
    }

    #[instrument(skip_all)]
    async fn revoke_grant(&self, grant: GrantId, now: OffsetDateTime) -> Result<(), StorageError> {
        let mut tx = self.writes().begin().await.map_err(storage)?;
        for sql in [
            "UPDATE oauth_grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            "UPDATE oauth_refresh_tokens SET revoked_at = $2 \
             WHERE grant_id = $1 AND revoked_at IS NULL",
            "UPDATE sessions SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL",
        ] {
            sqlx::query(sql)
                .bind(grant.as_uuid())
                .bind(time(now))
                .execute(&mut *tx)
                .await
                .map_err(storage)?;
        }
        tx.commit().await.map_err(storage)?;
        Ok(())
    }

    #[instrument(skip_all)]
    async fn grants_of(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<GrantSummary>, StorageError> {
        let rows: Vec<(Uuid, Uuid, String, Time, Time)> = sqlx::query_as(
            "SELECT t.grant_id, t.client_id, c.name, t.created_at, g.created_at \
             FROM oauth_refresh_tokens t JOIN oauth_clients c ON c.id = t.client_id \
             JOIN oauth_grants g ON g.id = t.grant_id \
             WHERE t.user_id = $1 AND t.rotated_at IS NULL AND t.revoked_at IS NULL \
             AND g.revoked_at IS NULL AND t.expires_at > $2 \
             ORDER BY t.created_at, t.grant_id",
        )
        .bind(user.as_uuid())
        .bind(time(now))
        .fetch_all(self.reads())
        .await
        .map_err(storage)?;
        rows.into_iter()
            .map(|(grant, client, name, renewed, started)| {
                Ok(GrantSummary {
                    id: GrantId::from_uuid(grant),
                    client_id: ClientId::from_uuid(client),
                    client_name: ClientName::parse(&name).map_err(|_| corrupt("client name"))?,
                    renewed_at: from_time(renewed)?,
                    started_at: from_time(started)?,
                })
            })
            .collect()
    }
}
