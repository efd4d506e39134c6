-- The usage budgets' current windows (sign-in emails per API key, wrong passwords and launches
-- per address, chat questions...), kept in the database so every instance on it counts
-- together (issue 13). A row without started_at is a key whose first window is being decided.
CREATE TABLE budget_windows (
    key        TEXT PRIMARY KEY NOT NULL,
    started_at INTEGER,
    used       INTEGER NOT NULL CHECK (used >= 0)
) STRICT;
CREATE INDEX budget_windows_started_at ON budget_windows (started_at);
