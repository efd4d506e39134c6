-- The admin console (issue 12): its sessions (an opaque cookie token, stored as its SHA-256,
-- 8 hours absolute) and the password set in the console, which replaces ADMIN_PASSWORD_HASH.
CREATE TABLE admin_sessions (
    token_hash BLOB PRIMARY KEY NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX admin_sessions_expires_at ON admin_sessions (expires_at);

CREATE TABLE admin_password (
    id         INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    hash       TEXT NOT NULL,
    changed_at INTEGER NOT NULL,
    -- ADMIN_PASSWORD_HASH when this was set: a different one in the environment later is the
    -- operator resetting a forgotten console password, and wins again.
    replaces   TEXT NOT NULL
) STRICT;

-- What admins did (sign-ins, wrong passwords, sign-outs, password changes): when, what, from
-- which address. Never a password, hash or token. Kept a year.
CREATE TABLE admin_audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    action  TEXT NOT NULL,
    address TEXT NOT NULL
) STRICT;
CREATE INDEX admin_audit_at ON admin_audit (at);

-- The operator's privacy settings: conversations kept so many days after their last save
-- (0 = until deleted), and zero retention (no conversation is saved at all).
CREATE TABLE privacy_settings (
    id             INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    retention_days INTEGER NOT NULL CHECK (retention_days >= 0),
    zero_retention INTEGER NOT NULL CHECK (zero_retention IN (0, 1)),
    changed_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX conversations_updated_at ON conversations (updated_at);
