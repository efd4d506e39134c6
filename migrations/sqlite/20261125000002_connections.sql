-- Connected accounts and the single-use tokens of the connect flow (SQLite).
-- Tokens are AES-256-GCM ciphertext (self-describing, bound to their row and column).

CREATE TABLE accounts (
    id            BLOB PRIMARY KEY NOT NULL,
    user_id       BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider      TEXT NOT NULL CHECK (provider IN ('gmail', 'slack', 'linear', 'zoho', 'mercury')),
    label         TEXT NOT NULL,
    enabled       INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    status        TEXT NOT NULL CHECK (status IN ('active', 'reauth_required', 'revoked')),
    access_token  BLOB,
    refresh_token BLOB,
    key_id        TEXT NOT NULL,
    expires_at    INTEGER,
    scopes        TEXT NOT NULL, -- JSON array of strings
    metadata      TEXT NOT NULL, -- JSON object
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (user_id, provider, label)
) STRICT;
CREATE INDEX accounts_key_id ON accounts (key_id);

CREATE TABLE onboarding_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider   TEXT NOT NULL,
    label      TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX onboarding_tokens_user_id ON onboarding_tokens (user_id);
CREATE INDEX onboarding_tokens_expires_at ON onboarding_tokens (expires_at);

CREATE TABLE management_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX management_tokens_user_id ON management_tokens (user_id);
CREATE INDEX management_tokens_expires_at ON management_tokens (expires_at);

CREATE TABLE oauth_states (
    state_hash    BLOB PRIMARY KEY NOT NULL,
    user_id       BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider      TEXT NOT NULL,
    label         TEXT NOT NULL,
    pkce_verifier BLOB,
    redirect_uri  TEXT NOT NULL,
    expires_at    INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX oauth_states_user_id ON oauth_states (user_id);
CREATE INDEX oauth_states_expires_at ON oauth_states (expires_at);
