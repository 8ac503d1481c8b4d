-- API tokens (push ingestion). Only a SHA-256 of each token is stored; the token itself is shown
-- once, when it is made. Same version in migrations/sqlite and migrations/postgres.
CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    scope       TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
