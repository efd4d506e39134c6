-- Background jobs run by one instance at a time: a job takes its lease (until this time) with
-- one upsert that succeeds only when the lease is free or has ended.
CREATE TABLE job_leases (
    job         TEXT PRIMARY KEY,
    lease_until INTEGER NOT NULL
);

-- The accounts whose grant the background job keeps alive: by provider, least recently
-- refreshed first.
CREATE INDEX accounts_provider_updated_at ON accounts (provider, updated_at);
