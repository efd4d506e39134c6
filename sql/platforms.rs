// Shared by both SQL stores: `include!`d by crates/adapters-sqlite/src/platforms.rs and
// crates/adapters-postgres/src/platforms.rs, each with its own `crate::dialect`. See README.md.

use async_trait::async_trait;
use gptgate_domain::{
    AdminAuditEntry, DeploymentId, EmbeddingOrigin, Issuer, LaunchPlatform, LtiClientId,
    LtiPlatform, PlatformId, PlatformName, PlatformUrl, Sealed, StoredLaunchKey,
};
use gptgate_ports::{PlatformRepository, StorageError};
use sqlx::FromRow;
use tracing::instrument;
use uuid::Uuid;

use crate::dialect::{corrupt, from_list, from_time, list, storage, time, List, Store, Time};

#[derive(FromRow)]
struct PlatformRow {
    id: Uuid,
    name: String,
    issuer: String,
    key_kind: String,
    public_pem: Option<String>,
    sealed_secret: Option<Vec<u8>>,
    origins: List,
    created_at: Time,
}

impl PlatformRow {
    fn into_platform(self) -> Result<LaunchPlatform, StorageError> {
        let unusable = |_| corrupt("an unusable launch platform row");
        let key = match (self.key_kind.as_str(), self.public_pem, self.sealed_secret) {
            ("eddsa", Some(public_pem), None) => StoredLaunchKey::EdDsa { public_pem },
            ("rs256", Some(public_pem), None) => StoredLaunchKey::Rs256 { public_pem },
            ("hs256", None, Some(sealed)) => StoredLaunchKey::Hs256 {
                sealed: Sealed::from_bytes(sealed),
            },
            _ => return Err(corrupt("an unusable launch platform key")),
        };
        Ok(LaunchPlatform {
            id: PlatformId::from_uuid(self.id),
            name: PlatformName::parse(&self.name).map_err(unusable)?,
            issuer: Issuer::parse(&self.issuer).map_err(unusable)?,
            key,
            origins: parse_origins(self.origins)?,
            created_at: from_time(self.created_at)?,
        })
    }
}

const COLUMNS: &str = "id, name, issuer, key_kind, public_pem, sealed_secret, origins, created_at";

fn parse_origins(origins: List) -> Result<Vec<EmbeddingOrigin>, StorageError> {
    from_list(origins)
        .iter()
        .map(|o| EmbeddingOrigin::parse(o))
        .collect::<Result<_, _>>()
        .map_err(|_| corrupt("an unusable embedding origin"))
}

#[derive(FromRow)]
struct LtiRow {
    id: Uuid,
    name: String,
    issuer: String,
    client_id: String,
    login_url: String,
    key_set_url: String,
    deployments: List,
    origins: List,
    created_at: Time,
}

impl LtiRow {
    fn into_platform(self) -> Result<LtiPlatform, StorageError> {
        let unusable = || corrupt("an unusable LTI platform row");
        Ok(LtiPlatform {
            id: PlatformId::from_uuid(self.id),
            name: PlatformName::parse(&self.name).map_err(|_| unusable())?,
            issuer: Issuer::parse(&self.issuer).map_err(|_| unusable())?,
            client_id: LtiClientId::parse(&self.client_id).map_err(|_| unusable())?,
            login_url: PlatformUrl::parse(&self.login_url, "login URL").map_err(|_| unusable())?,
            key_set_url: PlatformUrl::parse(&self.key_set_url, "key set URL")
                .map_err(|_| unusable())?,
            deployments: from_list(self.deployments)
                .iter()
                .map(|d| DeploymentId::parse(d))
                .collect::<Result<_, _>>()
                .map_err(|_| unusable())?,
            origins: parse_origins(self.origins)?,
            created_at: from_time(self.created_at)?,
        })
    }
}

const LTI_COLUMNS: &str =
    "id, name, issuer, client_id, login_url, key_set_url, deployments, origins, created_at";

#[async_trait]
impl PlatformRepository for Store {
    #[instrument(skip_all)]
    async fn create_platform(
        &self,
        platform: &LaunchPlatform,
        audit: &AdminAuditEntry,
    ) -> Result<(), StorageError> {
        let (public_pem, sealed) = match &platform.key {
            StoredLaunchKey::EdDsa { public_pem } | StoredLaunchKey::Rs256 { public_pem } => {
                (Some(public_pem.as_str()), None)
            }
            StoredLaunchKey::Hs256 { sealed } => (None, Some(sealed.as_bytes())),
        };
        let origins: Vec<String> = platform
            .origins
            .iter()
            .map(|o| o.as_str().to_owned())
            .collect();
        let mut tx = self.writes().begin().await.map_err(storage)?;
        sqlx::query(&format!(
            "INSERT INTO launch_platforms ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(platform.id.as_uuid())
        .bind(platform.name.as_str())
        .bind(platform.issuer.as_str())
        .bind(platform.key.kind())
        .bind(public_pem)
        .bind(sealed)
        .bind(list(&origins))
        .bind(time(platform.created_at))
        .execute(&mut *tx)
        .await
        .map_err(storage)?;
        crate::admin::record(&mut tx, audit).await?;
        tx.commit().await.map_err(storage)?;
        Ok(())
    }

    #[instrument(skip_all)]
    async fn platforms(&self) -> Result<Vec<LaunchPlatform>, StorageError> {
        sqlx::query_as::<_, PlatformRow>(&format!(
            "SELECT {COLUMNS} FROM launch_platforms ORDER BY created_at, id"
        ))
        .fetch_all(self.reads())
        .await
        .map_err(storage)?
        .into_iter()
        .map(PlatformRow::into_platform)
        .collect()
    }

    #[instrument(skip_all)]
    async fn platform_by_issuer(
        &self,
        issuer: &Issuer,
    ) -> Result<Option<LaunchPlatform>, StorageError> {
        sqlx::query_as::<_, PlatformRow>(&format!(
            "SELECT {COLUMNS} FROM launch_platforms WHERE issuer = $1"
        ))
        .bind(issuer.as_str())
        .fetch_optional(self.reads())
        .await
        .map_err(storage)?
        .map(PlatformRow::into_platform)
        .transpose()
    }

    #[instrument(skip_all)]
    async fn create_lti_platform(
        &self,
        platform: &LtiPlatform,
        audit: &AdminAuditEntry,
    ) -> Result<(), StorageError> {
        let strings = |items: Vec<&str>| items.into_iter().map(str::to_owned).collect::<Vec<_>>();
        let deployments = strings(platform.deployments.iter().map(|d| d.as_str()).collect());
        let origins = strings(platform.origins.iter().map(|o| o.as_str()).collect());
        let mut tx = self.writes().begin().await.map_err(storage)?;
        sqlx::query(&format!(
            "INSERT INTO lti_platforms ({LTI_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(platform.id.as_uuid())
        .bind(platform.name.as_str())
        .bind(platform.issuer.as_str())
        .bind(platform.client_id.as_str())
        .bind(platform.login_url.as_str())
        .bind(platform.key_set_url.as_str())
        .bind(list(&deployments))
        .bind(list(&origins))
        .bind(time(platform.created_at))
        .execute(&mut *tx)
        .await
        .map_err(storage)?;
        crate::admin::record(&mut tx, audit).await?;
        tx.commit().await.map_err(storage)?;
        Ok(())
    }

    #[instrument(skip_all)]
    async fn lti_platforms(&self) -> Result<Vec<LtiPlatform>, StorageError> {
        sqlx::query_as::<_, LtiRow>(&format!(
            "SELECT {LTI_COLUMNS} FROM lti_platforms ORDER BY created_at, id"
        ))
        .fetch_all(self.reads())
        .await
        .map_err(storage)?
        .into_iter()
        .map(LtiRow::into_platform)
        .collect()
    }

    #[instrument(skip_all)]
    async fn lti_platforms_of(&self, issuer: &Issuer) -> Result<Vec<LtiPlatform>, StorageError> {
        sqlx::query_as::<_, LtiRow>(&format!(
            "SELECT {LTI_COLUMNS} FROM lti_platforms WHERE issuer = $1 ORDER BY created_at, id"
        ))
        .bind(issuer.as_str())
        .fetch_all(self.reads())
        .await
        .map_err(storage)?
        .into_iter()
        .map(LtiRow::into_platform)
        .collect()
    }

    #[instrument(skip_all)]
    async fn embedding_origins(
        &self,
        id: PlatformId,
    ) -> Result<Vec<EmbeddingOrigin>, StorageError> {
        let origins: Option<(List,)> = sqlx::query_as(
            "SELECT origins FROM launch_platforms WHERE id = $1 \
             UNION ALL SELECT origins FROM lti_platforms WHERE id = $1",
        )
        .bind(id.as_uuid())
        .fetch_optional(self.reads())
        .await
        .map_err(storage)?;
        origins.map_or(Ok(Vec::new()), |(o,)| parse_origins(o))
    }

    #[instrument(skip_all)]
    async fn delete_platform(
        &self,
        id: PlatformId,
        audit: &AdminAuditEntry,
    ) -> Result<bool, StorageError> {
        let mut tx = self.writes().begin().await.map_err(storage)?;
        let mut deleted = false;
        for statement in [
            "DELETE FROM launch_platforms WHERE id = $1",
            "DELETE FROM lti_platforms WHERE id = $1",
        ] {
            deleted |= sqlx::query(statement)
                .bind(id.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(storage)?
                .rows_affected()
                > 0;
        }
        if deleted {
            // The visitors it sent are let go with it.
            sqlx::query("DELETE FROM chat_sessions WHERE kind = 'launch' AND platform_id = $1")
                .bind(id.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(storage)?;
            crate::admin::record(&mut tx, audit).await?;
        }
        tx.commit().await.map_err(storage)?;
        Ok(deleted)
    }
}
