-- Learning platforms registered to launch visitors into the chat with a signed token (issue
-- 12): the iss of their tokens, their key (the algorithm pinned with it; a shared secret
-- sealed with TOKEN_ENCRYPTION_KEY), and the origins that may embed the chat.
CREATE TABLE launch_platforms (
    id            uuid PRIMARY KEY,
    name          text NOT NULL,
    issuer        text NOT NULL UNIQUE,
    key_kind      text NOT NULL CHECK (key_kind IN ('eddsa', 'rs256', 'hs256')),
    public_pem    text,
    sealed_secret bytea,
    origins       text[] NOT NULL,
    created_at    timestamptz NOT NULL,
    CHECK ((key_kind = 'hs256') = (sealed_secret IS NOT NULL AND public_pem IS NULL))
);
