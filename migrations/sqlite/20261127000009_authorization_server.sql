-- gptgate as an OAuth 2.1 authorization server: registered clients, authorization codes and
-- refresh tokens (each stored by the SHA-256 of its value), and the grant a session was issued
-- from, so revoking a grant ends its access tokens too.

CREATE TABLE oauth_clients (
    id            BLOB PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('chatgpt', 'web', 'public')),
    secret_hash   BLOB, -- none for a public client
    redirect_uris TEXT NOT NULL, -- JSON array of strings
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE oauth_codes (
    code_hash    BLOB PRIMARY KEY NOT NULL,
    client_id    BLOB NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id      BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    challenge    BLOB,
    grant_id     BLOB NOT NULL,
    audience     TEXT NOT NULL CHECK (audience IN ('api', 'mcp')),
    expires_at   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    used_at      INTEGER
) STRICT;
CREATE INDEX oauth_codes_client_id ON oauth_codes (client_id);
CREATE INDEX oauth_codes_user_id ON oauth_codes (user_id);
CREATE INDEX oauth_codes_expires_at ON oauth_codes (expires_at);

CREATE TABLE oauth_refresh_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    grant_id   BLOB NOT NULL,
    client_id  BLOB NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    rotated_at INTEGER,
    revoked_at INTEGER
) STRICT;
CREATE INDEX oauth_refresh_tokens_grant_id ON oauth_refresh_tokens (grant_id);
CREATE INDEX oauth_refresh_tokens_client_id ON oauth_refresh_tokens (client_id);
CREATE INDEX oauth_refresh_tokens_user_id ON oauth_refresh_tokens (user_id);
CREATE INDEX oauth_refresh_tokens_expires_at ON oauth_refresh_tokens (expires_at);

ALTER TABLE sessions ADD COLUMN client_id BLOB REFERENCES oauth_clients (id) ON DELETE CASCADE;
ALTER TABLE sessions ADD COLUMN grant_id BLOB;
CREATE INDEX sessions_client_id ON sessions (client_id);
CREATE INDEX sessions_grant_id ON sessions (grant_id);
