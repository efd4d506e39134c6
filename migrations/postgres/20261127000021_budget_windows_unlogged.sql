-- The usage budgets' windows, like the rate limits' buckets, are worth no write-ahead log: every
-- sign-in email spends from one row per API key, and a logged row stays locked until its commit
-- is flushed to disk, so one key's sends queued behind each other's fsync (about 2,800 a second
-- on a 2-core machine, whatever else the server did). Unlogged, a commit that touched only this
-- table is not flushed (issue 13). After a crash of PostgreSQL, or a failover to a replica, the
-- table is empty: every budget starts a new window (the sign-in emails of each API key, the
-- admin and chat password guesses of each address and of everyone), as a restart does on SQLite.
ALTER TABLE budget_windows SET UNLOGGED;
