-- Who may use the hosted assistant's chat (issue 12): its sessions (an opaque cookie token,
-- stored as its SHA-256; no conversation is ever stored) and the team password.
CREATE TABLE chat_sessions (
    token_hash BLOB PRIMARY KEY NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('team')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX chat_sessions_expires_at ON chat_sessions (expires_at);
CREATE INDEX chat_sessions_kind ON chat_sessions (kind);

CREATE TABLE team_password (
    id     INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    hash   TEXT NOT NULL,
    set_at INTEGER NOT NULL
) STRICT;
