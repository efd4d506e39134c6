-- API keys made in the admin console (issue 12): the SHA-256 of the key, never the key; a
-- revoked key stays listed (when it was revoked) and opens nothing.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    key_hash     bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    last_used_at timestamptz
);
