// Shared by both SQL stores: `include!`d by crates/adapters-sqlite/src/housekeeping.rs and
// crates/adapters-postgres/src/housekeeping.rs, each with its own `crate::dialect`. See README.md.

use async_trait::async_trait;
use gptgate_ports::{Housekeeping, PurgeReport, StorageError};
use time::{Duration, OffsetDateTime};
use tracing::instrument;

use crate::dialect::{storage, time, Store, Time};

#[async_trait]
impl Housekeeping for Store {
    #[instrument(skip_all)]
    async fn purge(&self, before: OffsetDateTime) -> Result<PurgeReport, StorageError> {
        let windows_end = time(before - Duration::hours(1));
        let audit_kept_from = time(before - gptgate_domain::ADMIN_AUDIT_RETENTION);
        let before = time(before);
        let run = |sql: &'static str, binds: Vec<Time>| async move {
            let mut query = sqlx::query(sql);
            for b in binds {
                query = query.bind(b);
            }
            query
                .execute(self.writes())
                .await
                .map(|r| r.rows_affected())
                .map_err(storage)
        };
        Ok(PurgeReport {
            verification_codes: run(
                "DELETE FROM verification_codes WHERE expires_at < $1 AND last_sent_at < $2 \
                 AND attempt_window_started_at < $2",
                vec![before, windows_end],
            )
            .await?,
            sessions: run(
                "DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1",
                vec![before],
            )
            .await?,
            onboarding_tokens: run(
                "DELETE FROM onboarding_tokens WHERE expires_at < $1",
                vec![before],
            )
            .await?,
            management_tokens: run(
                "DELETE FROM management_tokens WHERE expires_at < $1",
                vec![before],
            )
            .await?,
            oauth_states: run(
                "DELETE FROM oauth_states WHERE expires_at < $1",
                vec![before],
            )
            .await?,
            export_links: run(
                "DELETE FROM export_links WHERE expires_at < $1",
                vec![before],
            )
            .await?,
            authorization_codes: run(
                "DELETE FROM oauth_codes WHERE expires_at < $1",
                vec![before],
            )
            .await?,
            refresh_tokens: run(
                "DELETE FROM oauth_refresh_tokens WHERE expires_at < $1 OR revoked_at < $1",
                vec![before],
            )
            .await?,
            // A grant goes once nothing refers to it any more: no code, no refresh token (a
            // replay must still find its grant), no session.
            grants: run(
                "DELETE FROM oauth_grants WHERE created_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM oauth_codes c WHERE c.grant_id = oauth_grants.id) \
                 AND NOT EXISTS (SELECT 1 FROM oauth_refresh_tokens t \
                                 WHERE t.grant_id = oauth_grants.id) \
                 AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.grant_id = oauth_grants.id)",
                vec![before],
            )
            .await?,
            // A client that registered itself and never started a grant (RFC 7591 leaves
            // cleaning up to the server): a day is enough to sign in.
            unused_clients: run(
                "DELETE FROM oauth_clients WHERE kind = 'public' AND created_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM oauth_grants g WHERE g.client_id = oauth_clients.id)",
                vec![before],
            )
            .await?,
            admin_sessions: run(
                "DELETE FROM admin_sessions WHERE expires_at < $1",
                vec![before],
            )
            .await?,
            admin_audit_entries: run(
                "DELETE FROM admin_audit WHERE at < $1",
                vec![audit_kept_from],
            )
            .await?,
            chat_sessions: run(
                "DELETE FROM chat_sessions WHERE expires_at < $1",
                vec![before],
            )
            .await?,
            used_ids: run("DELETE FROM used_ids WHERE expires_at < $1", vec![before]).await?,
            // A window lasts an hour at most; a row never given one is a take that failed.
            budget_windows: run(
                "DELETE FROM budget_windows WHERE started_at < $1 OR started_at IS NULL",
                vec![windows_end],
            )
            .await?,
            // A bucket full again holds nothing worth keeping.
            rate_buckets: run(
                "DELETE FROM rate_buckets WHERE full_at < $1 OR full_at IS NULL",
                vec![before],
            )
            .await?,
        })
    }

    #[instrument(skip_all)]
    async fn take_job_lease(
        &self,
        job: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, StorageError> {
        // One statement: the row is created, or taken over if its lease has ended; a lease
        // still held makes the WHERE false and nothing changes.
        let done = sqlx::query(
            "INSERT INTO job_leases (job, lease_until) VALUES ($1, $2) \
             ON CONFLICT (job) DO UPDATE SET lease_until = excluded.lease_until \
             WHERE job_leases.lease_until <= $3",
        )
        .bind(job)
        .bind(time(until))
        .bind(time(now))
        .execute(self.writes())
        .await
        .map_err(storage)?;
        Ok(done.rows_affected() > 0)
    }

    #[instrument(skip_all)]
    async fn delete_conversations_saved_before(
        &self,
        before: OffsetDateTime,
    ) -> Result<u64, StorageError> {
        let done = sqlx::query("DELETE FROM conversations WHERE updated_at < $1")
            .bind(time(before))
            .execute(self.writes())
            .await
            .map_err(storage)?;
        Ok(done.rows_affected())
    }
}
