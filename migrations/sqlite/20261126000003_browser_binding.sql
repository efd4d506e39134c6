-- Each connect flow is bound to the browser that started it: the SHA-256 of a nonce that only
-- that browser holds (in a cookie). Flows started before this change cannot be finished (they
-- have no nonce) and live 10 minutes at most, so they are dropped.
DELETE FROM oauth_states;
ALTER TABLE oauth_states ADD COLUMN browser_hash BLOB NOT NULL DEFAULT x'';

-- Key rotation now reads the key each sealed value names, not this column.
DROP INDEX accounts_key_id;
