-- The rate limits' token buckets (calls per API key and per user, page views per address),
-- each kept as the instant it is full again, shared by every instance on this database
-- (issue 13). UNLOGGED: a limit's state is worth no write-ahead log; after a crash the table is
-- empty and every bucket is full, which is what a restart means for a limit anyway. A row
-- without full_at is a key whose first take is being decided.
CREATE UNLOGGED TABLE rate_buckets (
    key     text PRIMARY KEY,
    full_at timestamptz
);
CREATE INDEX rate_buckets_full_at ON rate_buckets (full_at);
