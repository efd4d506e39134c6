-- The rate limits' token buckets (calls per API key and per user, page views per address),
-- each kept as the instant it is full again (issue 13). A row without full_at is a key whose
-- first take is being decided.
CREATE TABLE rate_buckets (
    key     TEXT PRIMARY KEY NOT NULL,
    full_at INTEGER
) STRICT;
CREATE INDEX rate_buckets_full_at ON rate_buckets (full_at);
