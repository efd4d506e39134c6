-- Learning platforms registered for LTI 1.3 launches (issue 12): the issuer and the client id
-- the platform gave gptgate (one issuer may hold several registrations: Canvas's cloud has one
-- issuer for every school), where its authentication requests go, its public key set, the
-- deployments of the tool it may launch from, and the origins that may embed the chat.
CREATE TABLE lti_platforms (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    issuer      text NOT NULL,
    client_id   text NOT NULL,
    login_url   text NOT NULL,
    key_set_url text NOT NULL,
    deployments text[] NOT NULL,
    origins     text[] NOT NULL,
    created_at  timestamptz NOT NULL,
    UNIQUE (issuer, client_id)
);
