-- Connected accounts and the single-use tokens of the connect flow (PostgreSQL).
-- Tokens are AES-256-GCM ciphertext (self-describing, bound to their row and column).

CREATE TABLE accounts (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider      text NOT NULL CHECK (provider IN ('gmail', 'slack', 'linear', 'zoho', 'mercury')),
    label         text NOT NULL,
    enabled       boolean NOT NULL DEFAULT true,
    status        text NOT NULL CHECK (status IN ('active', 'reauth_required', 'revoked')),
    access_token  bytea,
    refresh_token bytea,
    key_id        text NOT NULL,
    expires_at    timestamptz,
    scopes        text[] NOT NULL,
    metadata      jsonb NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    CONSTRAINT accounts_user_provider_label UNIQUE (user_id, provider, label)
);
CREATE INDEX accounts_key_id ON accounts (key_id);

CREATE TABLE onboarding_tokens (
    token_hash bytea PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider   text NOT NULL,
    label      text NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL
);
CREATE INDEX onboarding_tokens_user_id ON onboarding_tokens (user_id);
CREATE INDEX onboarding_tokens_expires_at ON onboarding_tokens (expires_at);

CREATE TABLE management_tokens (
    token_hash bytea PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX management_tokens_user_id ON management_tokens (user_id);
CREATE INDEX management_tokens_expires_at ON management_tokens (expires_at);

CREATE TABLE oauth_states (
    state_hash    bytea PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider      text NOT NULL,
    label         text NOT NULL,
    pkce_verifier bytea,
    redirect_uri  text NOT NULL,
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX oauth_states_user_id ON oauth_states (user_id);
CREATE INDEX oauth_states_expires_at ON oauth_states (expires_at);
