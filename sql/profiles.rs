// Shared by both SQL stores: `include!`d by crates/adapters-sqlite/src/profiles.rs and
// crates/adapters-postgres/src/profiles.rs, each with its own `crate::dialect`. See README.md.

use async_trait::async_trait;
use gptgate_domain::{AssistantProfile, ProfileVersion};
use gptgate_ports::{ProfileRepository, StorageError};
use sqlx::FromRow;
use time::OffsetDateTime;
use tracing::instrument;

use crate::dialect::{corrupt, from_list, from_time, list, storage, time, List, Store, Time};

#[derive(FromRow)]
struct ProfileRow {
    version: i32,
    name: String,
    instructions: String,
    model: String,
    temperature: f64,
    max_output_tokens: i32,
    starters: List,
    allowed_models: List,
    saved_at: Time,
}

impl ProfileRow {
    fn into_version(self) -> Result<ProfileVersion, StorageError> {
        Ok(ProfileVersion {
            version: u32::try_from(self.version).map_err(|_| corrupt("profile version"))?,
            profile: AssistantProfile {
                name: self.name,
                instructions: self.instructions,
                model: self.model,
                temperature: self.temperature as f32,
                max_output_tokens: u32::try_from(self.max_output_tokens)
                    .map_err(|_| corrupt("profile max output tokens"))?,
                starters: from_list(self.starters),
                allowed_models: from_list(self.allowed_models),
            },
            saved_at: from_time(self.saved_at)?,
        })
    }
}

const COLUMNS: &str = "version, name, instructions, model, temperature, max_output_tokens, \
     starters, allowed_models, saved_at";

#[async_trait]
impl ProfileRepository for Store {
    #[instrument(skip_all)]
    async fn save_profile_version(
        &self,
        profile: &AssistantProfile,
        at: OffsetDateTime,
    ) -> Result<ProfileVersion, StorageError> {
        sqlx::query_as::<_, ProfileRow>(&format!(
            "INSERT INTO assistant_profiles (name, instructions, model, temperature, \
             max_output_tokens, starters, allowed_models, saved_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
        ))
        .bind(&profile.name)
        .bind(&profile.instructions)
        .bind(&profile.model)
        .bind(f64::from(profile.temperature))
        .bind(i32::try_from(profile.max_output_tokens).unwrap_or(i32::MAX))
        .bind(list(&profile.starters))
        .bind(list(&profile.allowed_models))
        .bind(time(at))
        .fetch_one(self.writes())
        .await
        .map_err(storage)?
        .into_version()
    }

    #[instrument(skip_all)]
    async fn profile_versions(&self, limit: usize) -> Result<Vec<ProfileVersion>, StorageError> {
        sqlx::query_as::<_, ProfileRow>(&format!(
            "SELECT {COLUMNS} FROM assistant_profiles ORDER BY version DESC LIMIT $1"
        ))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.reads())
        .await
        .map_err(storage)?
        .into_iter()
        .map(ProfileRow::into_version)
        .collect()
    }

    #[instrument(skip_all)]
    async fn profile_version(&self, version: u32) -> Result<Option<ProfileVersion>, StorageError> {
        let Ok(version) = i32::try_from(version) else {
            return Ok(None);
        };
        sqlx::query_as::<_, ProfileRow>(&format!(
            "SELECT {COLUMNS} FROM assistant_profiles WHERE version = $1"
        ))
        .bind(version)
        .fetch_optional(self.reads())
        .await
        .map_err(storage)?
        .map(ProfileRow::into_version)
        .transpose()
    }

    #[instrument(skip_all)]
    async fn publish_profile_version(
        &self,
        version: u32,
        at: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        let Ok(version) = i32::try_from(version) else {
            return Ok(false);
        };
        // One statement: published only if the version exists.
        let done = sqlx::query(
            "INSERT INTO published_profile (id, version, published_at) \
             SELECT 1, version, $2 FROM assistant_profiles WHERE version = $1 \
             ON CONFLICT (id) DO UPDATE SET version = excluded.version, \
             published_at = excluded.published_at",
        )
        .bind(version)
        .bind(time(at))
        .execute(self.writes())
        .await
        .map_err(storage)?;
        Ok(done.rows_affected() > 0)
    }

    #[instrument(skip_all)]
    async fn published_profile(&self) -> Result<Option<ProfileVersion>, StorageError> {
        sqlx::query_as::<_, ProfileRow>(&format!(
            "SELECT {} FROM published_profile p JOIN assistant_profiles a \
             ON a.version = p.version WHERE p.id = 1",
            COLUMNS
                .split(", ")
                .map(|c| format!("a.{}", c.trim()))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .fetch_optional(self.reads())
        .await
        .map_err(storage)?
        .map(ProfileRow::into_version)
        .transpose()
    }
}
