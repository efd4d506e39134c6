-- Ids used once (a launch token's jti, an LTI launch's nonce), by issuer, kept until they
-- expire so a replay is recognised (issue 12).
CREATE TABLE used_ids (
    issuer     TEXT NOT NULL,
    id         TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, id)
) STRICT;
CREATE INDEX used_ids_expires_at ON used_ids (expires_at);
