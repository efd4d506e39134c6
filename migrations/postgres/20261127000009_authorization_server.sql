-- gptgate as an OAuth 2.1 authorization server: registered clients, authorization codes and
-- refresh tokens (each stored by the SHA-256 of its value), and the grant a session was issued
-- from, so revoking a grant ends its access tokens too.

CREATE TABLE oauth_clients (
    id            uuid PRIMARY KEY,
    name          text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('chatgpt', 'web', 'public')),
    secret_hash   bytea, -- none for a public client
    redirect_uris text[] NOT NULL,
    created_at    timestamptz NOT NULL
);

CREATE TABLE oauth_codes (
    code_hash    bytea PRIMARY KEY,
    client_id    uuid NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri text NOT NULL,
    challenge    bytea,
    grant_id     uuid NOT NULL,
    audience     text NOT NULL CHECK (audience IN ('api', 'mcp')),
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    used_at      timestamptz
);
CREATE INDEX oauth_codes_client_id ON oauth_codes (client_id);
CREATE INDEX oauth_codes_user_id ON oauth_codes (user_id);
CREATE INDEX oauth_codes_expires_at ON oauth_codes (expires_at);

CREATE TABLE oauth_refresh_tokens (
    token_hash bytea PRIMARY KEY,
    grant_id   uuid NOT NULL,
    client_id  uuid NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    rotated_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX oauth_refresh_tokens_grant_id ON oauth_refresh_tokens (grant_id);
CREATE INDEX oauth_refresh_tokens_client_id ON oauth_refresh_tokens (client_id);
CREATE INDEX oauth_refresh_tokens_user_id ON oauth_refresh_tokens (user_id);
CREATE INDEX oauth_refresh_tokens_expires_at ON oauth_refresh_tokens (expires_at);

ALTER TABLE sessions ADD COLUMN client_id uuid REFERENCES oauth_clients (id) ON DELETE CASCADE;
ALTER TABLE sessions ADD COLUMN grant_id uuid;
CREATE INDEX sessions_client_id ON sessions (client_id);
CREATE INDEX sessions_grant_id ON sessions (grant_id);
