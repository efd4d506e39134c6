-- gptgate foundation schema (SQLite). Never edit a migration once released; add a new one.
-- Times are INTEGER microseconds since the Unix epoch (UTC), so they compare and sort exactly.
-- Ids are 16-byte UUID blobs.

CREATE TABLE users (
    id           BLOB PRIMARY KEY NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER
) STRICT;

CREATE TABLE user_identities (
    kind       TEXT NOT NULL CHECK (kind IN ('email', 'chatgpt', 'openai_ephemeral')),
    value      TEXT NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (kind, value)
) STRICT;
CREATE INDEX user_identities_user_id ON user_identities (user_id);

CREATE TABLE verification_codes (
    email                     TEXT PRIMARY KEY NOT NULL,
    code_hash                 BLOB,
    expires_at                INTEGER NOT NULL,
    attempts                  INTEGER NOT NULL,
    last_sent_at              INTEGER NOT NULL,
    send_window_started_at    INTEGER NOT NULL,
    sends_in_window           INTEGER NOT NULL,
    attempt_window_started_at INTEGER NOT NULL,
    attempts_in_window        INTEGER NOT NULL
) STRICT;
CREATE INDEX verification_codes_expires_at ON verification_codes (expires_at);

CREATE TABLE sessions (
    id         BLOB PRIMARY KEY NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE conversations (
    id          BLOB PRIMARY KEY NOT NULL,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    external_id TEXT,
    title       TEXT,
    summary     TEXT NOT NULL,
    messages    TEXT NOT NULL, -- JSON array of {role, content}
    raw_text    TEXT NOT NULL, -- JSON array of strings
    exercises   TEXT NOT NULL, -- JSON array of {name, score, notes?}
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (user_id, external_id)
) STRICT;
-- Serves the newest-first listing (and the user_id foreign key).
CREATE INDEX conversations_user_created ON conversations (user_id, created_at DESC, id DESC);
