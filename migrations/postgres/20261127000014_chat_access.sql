-- Who may use the hosted assistant's chat (issue 12): its sessions (an opaque cookie token,
-- stored as its SHA-256; no conversation is ever stored) and the team password.
CREATE TABLE chat_sessions (
    token_hash bytea PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('team')),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX chat_sessions_expires_at ON chat_sessions (expires_at);
CREATE INDEX chat_sessions_kind ON chat_sessions (kind);

CREATE TABLE team_password (
    id     smallint PRIMARY KEY CHECK (id = 1),
    hash   text NOT NULL,
    set_at timestamptz NOT NULL
);
