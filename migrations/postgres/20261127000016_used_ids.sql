-- Ids used once (a launch token's jti, an LTI launch's nonce), by issuer, kept until they
-- expire so a replay is recognised (issue 12).
CREATE TABLE used_ids (
    issuer     text NOT NULL,
    id         text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (issuer, id)
);
CREATE INDEX used_ids_expires_at ON used_ids (expires_at);
