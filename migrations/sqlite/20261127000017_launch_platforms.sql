-- Learning platforms registered to launch visitors into the chat with a signed token (issue
-- 12): the iss of their tokens, their key (the algorithm pinned with it; a shared secret
-- sealed with TOKEN_ENCRYPTION_KEY), and the origins that may embed the chat.
CREATE TABLE launch_platforms (
    id            BLOB PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    issuer        TEXT NOT NULL UNIQUE,
    key_kind      TEXT NOT NULL CHECK (key_kind IN ('eddsa', 'rs256', 'hs256')),
    public_pem    TEXT,
    sealed_secret BLOB,
    origins       TEXT NOT NULL, -- JSON array of strings
    created_at    INTEGER NOT NULL,
    CHECK ((key_kind = 'hs256') = (sealed_secret IS NOT NULL AND public_pem IS NULL))
) STRICT;
