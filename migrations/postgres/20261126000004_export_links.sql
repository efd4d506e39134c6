-- Download links for a user's data export, when it is too large for one answer: single use,
-- 10 minutes; only the SHA-256 of the link's token is stored.
CREATE TABLE export_links (
    token_hash bytea PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL
);
CREATE INDEX export_links_user_id ON export_links (user_id);
CREATE INDEX export_links_expires_at ON export_links (expires_at);
