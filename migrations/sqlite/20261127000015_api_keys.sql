-- API keys made in the admin console (issue 12): the SHA-256 of the key, never the key; a
-- revoked key stays listed (when it was revoked) and opens nothing.
CREATE TABLE api_keys (
    id           BLOB PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    key_hash     BLOB NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    last_used_at INTEGER
) STRICT;
