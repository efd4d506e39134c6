-- When the account's grant was last renewed (connected, or its tokens refreshed): what the
-- keep-alive job goes by. Turning an account off or on, or re-sealing its tokens under a new
-- key, updates `updated_at` but renews nothing.
ALTER TABLE accounts ADD COLUMN refreshed_at timestamptz;
UPDATE accounts SET refreshed_at = updated_at;
DROP INDEX accounts_provider_updated_at;
CREATE INDEX accounts_provider_refreshed_at ON accounts (provider, refreshed_at);
