-- The hosted assistant's profiles (issue 12): every save is a new version; one is published.
CREATE TABLE assistant_profiles (
    version           INTEGER PRIMARY KEY AUTOINCREMENT,
    name              TEXT NOT NULL,
    instructions      TEXT NOT NULL,
    model             TEXT NOT NULL,
    temperature       REAL NOT NULL CHECK (temperature >= 0 AND temperature <= 2),
    max_output_tokens INTEGER NOT NULL CHECK (max_output_tokens > 0),
    starters          TEXT NOT NULL, -- JSON array of strings
    allowed_models    TEXT NOT NULL, -- JSON array of strings
    saved_at          INTEGER NOT NULL
) STRICT;

CREATE TABLE published_profile (
    id           INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    version      INTEGER NOT NULL REFERENCES assistant_profiles (version),
    published_at INTEGER NOT NULL
) STRICT;
