-- The usage budgets' current windows (sign-in emails per API key, wrong passwords and launches
-- per address, chat questions...), kept in the database so every instance on it counts
-- together (issue 13). A row without started_at is a key whose first window is being decided.
CREATE TABLE budget_windows (
    key        text PRIMARY KEY,
    started_at timestamptz,
    used       bigint NOT NULL CHECK (used >= 0)
);
CREATE INDEX budget_windows_started_at ON budget_windows (started_at);
