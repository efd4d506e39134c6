-- gptgate foundation schema (PostgreSQL). Never edit a migration once released; add a new one.

CREATE TABLE users (
    id           uuid PRIMARY KEY,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz
);

CREATE TABLE user_identities (
    kind       text NOT NULL CHECK (kind IN ('email', 'chatgpt', 'openai_ephemeral')),
    value      text NOT NULL,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX user_identities_user_id ON user_identities (user_id);

CREATE TABLE verification_codes (
    email                     text PRIMARY KEY,
    code_hash                 bytea,
    expires_at                timestamptz NOT NULL,
    attempts                  bigint NOT NULL,
    last_sent_at              timestamptz NOT NULL,
    send_window_started_at    timestamptz NOT NULL,
    sends_in_window           bigint NOT NULL,
    attempt_window_started_at timestamptz NOT NULL,
    attempts_in_window        bigint NOT NULL
);
CREATE INDEX verification_codes_expires_at ON verification_codes (expires_at);

CREATE TABLE sessions (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE conversations (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    external_id text,
    title       text,
    summary     text NOT NULL,
    messages    jsonb NOT NULL,
    raw_text    jsonb NOT NULL,
    exercises   jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT conversations_user_external_id UNIQUE (user_id, external_id)
);
-- Serves the newest-first listing (and the user_id foreign key).
CREATE INDEX conversations_user_created ON conversations (user_id, created_at DESC, id DESC);
