-- A browser session opened by signing in on the page (an emailed code) rather than by opening
-- a management link: only such a session may grant an app access on the OAuth consent page.
ALTER TABLE management_tokens ADD COLUMN signed_in boolean NOT NULL DEFAULT false;
