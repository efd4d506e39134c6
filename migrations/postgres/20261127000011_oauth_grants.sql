-- A grant of gptgate's OAuth server: what one authorization code started. Its refresh tokens
-- and access tokens are issued only while it is not revoked (checked in the same statement
-- that inserts them), so a revocation racing an exchange or a refresh leaves nothing alive;
-- its creation time bounds how long refreshing can go on; its audience is the face (the GPT API
-- or the MCP endpoint) its tokens are for (RFC 8707).
CREATE TABLE oauth_grants (
    id         uuid PRIMARY KEY,
    client_id  uuid NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    audience   text NOT NULL CHECK (audience IN ('api', 'mcp')),
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX oauth_grants_client_id ON oauth_grants (client_id);
CREATE INDEX oauth_grants_user_id ON oauth_grants (user_id);
