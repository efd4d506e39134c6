-- One token refresh at a time per account, across server instances: a refresh takes a lease
-- (until this time) with one conditional UPDATE, and releases it with the write of its result.
-- No transaction stays open during the call to the provider.
ALTER TABLE accounts ADD COLUMN refresh_lease_until INTEGER;
