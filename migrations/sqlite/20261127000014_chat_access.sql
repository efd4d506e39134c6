-- Who may use the hosted assistant's chat (issue 12): its sessions (an opaque cookie token,
-- stored as its SHA-256; no conversation is ever stored), opened with the admin password or
-- the team password, and the team password.
CREATE TABLE chat_sessions (
    token_hash BLOB PRIMARY KEY NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('admin', 'team', 'launch')),
    -- A team session: when the team password that admitted it was set. It opens the chat only
    -- while that password is the one in force (a rotation ends it, however the two race).
    team_password_set_at INTEGER CHECK ((kind = 'team') = (team_password_set_at IS NOT NULL)),
    -- A launched visitor: the platform that sent them (the session ends when it is removed)
    -- and the platform's id for them.
    platform_id BLOB,
    subject     TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    CHECK ((kind = 'launch') = (platform_id IS NOT NULL AND subject IS NOT NULL))
) STRICT;
CREATE INDEX chat_sessions_expires_at ON chat_sessions (expires_at);
CREATE INDEX chat_sessions_kind ON chat_sessions (kind);

CREATE TABLE team_password (
    id     INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    hash   TEXT NOT NULL,
    set_at INTEGER NOT NULL
) STRICT;
