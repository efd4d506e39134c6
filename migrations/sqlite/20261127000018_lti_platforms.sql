-- Learning platforms registered for LTI 1.3 launches (issue 12): the issuer and the client id
-- the platform gave gptgate (one issuer may hold several registrations: Canvas's cloud has one
-- issuer for every school), where its authentication requests go, its public key set, the
-- deployments of the tool it may launch from, and the origins that may embed the chat.
CREATE TABLE lti_platforms (
    id          BLOB PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    issuer      TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    login_url   TEXT NOT NULL,
    key_set_url TEXT NOT NULL,
    deployments TEXT NOT NULL, -- JSON array of strings
    origins     TEXT NOT NULL, -- JSON array of strings
    created_at  INTEGER NOT NULL,
    UNIQUE (issuer, client_id)
) STRICT;
