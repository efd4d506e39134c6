-- Code records are updated optimistically: read, decide, then write only if the row is still the
-- version that was read (compare-and-set). A write that lost the race reads again and decides
-- again. No lock is held while the decision is made.
ALTER TABLE verification_codes ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
