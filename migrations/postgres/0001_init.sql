-- Yuqing store, PostgreSQL dialect. Times are Unix milliseconds (BIGINT) in both dialects, so the
-- same queries serve both; JSON values are TEXT. migrations/sqlite holds the same versions.

CREATE TABLE sources (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    cursor       TEXT NOT NULL DEFAULT '{}',
    health       TEXT NOT NULL DEFAULT '{}',
    next_due_at  BIGINT NOT NULL,
    lease_owner  TEXT,
    lease_until  BIGINT,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX sources_due ON sources (next_due_at);

CREATE TABLE posts (
    id                   BIGSERIAL PRIMARY KEY,
    source_id            TEXT NOT NULL,
    item_id              TEXT NOT NULL,
    source_type          TEXT NOT NULL,
    url                  TEXT,
    title                TEXT NOT NULL,
    body                 TEXT NOT NULL,
    author               TEXT,
    author_verified_type BIGINT,
    lang                 TEXT,
    published_at         BIGINT,
    fetched_at           BIGINT NOT NULL,
    stored_at            BIGINT NOT NULL,
    content_hash         TEXT NOT NULL,
    simhash              BIGINT NOT NULL,
    band0                BIGINT NOT NULL,
    band1                BIGINT NOT NULL,
    band2                BIGINT NOT NULL,
    band3                BIGINT NOT NULL,
    raw_sha256           TEXT NOT NULL,
    engagement           TEXT NOT NULL DEFAULT '{}',
    reposts              BIGINT NOT NULL DEFAULT 0,
    duplicate_of         BIGINT REFERENCES posts (id),
    policy_document      BIGINT NOT NULL DEFAULT 0,
    purged_at            BIGINT
);
CREATE UNIQUE INDEX posts_content ON posts (content_hash);
CREATE INDEX posts_band0 ON posts (band0);
CREATE INDEX posts_band1 ON posts (band1);
CREATE INDEX posts_band2 ON posts (band2);
CREATE INDEX posts_band3 ON posts (band3);
CREATE INDEX posts_fetched ON posts (fetched_at);

-- Every (source, item) ever ingested, and the post that holds it (itself, or the original it
-- duplicates): ingesting the same batch twice changes nothing.
CREATE TABLE post_items (
    source_id  TEXT NOT NULL,
    item_id    TEXT NOT NULL,
    post_id    BIGINT NOT NULL REFERENCES posts (id),
    PRIMARY KEY (source_id, item_id)
);

CREATE TABLE evidence (
    post_id     BIGINT PRIMARY KEY REFERENCES posts (id),
    raw         BYTEA NOT NULL,
    sha256      TEXT NOT NULL,
    fetched_at  BIGINT NOT NULL
);

CREATE TABLE analyses (
    post_id      BIGINT NOT NULL REFERENCES posts (id),
    version      TEXT NOT NULL,
    result       TEXT NOT NULL,
    analyzed_at  BIGINT NOT NULL,
    PRIMARY KEY (post_id, version)
);
