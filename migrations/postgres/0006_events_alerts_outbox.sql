
-- Events (related posts as one story), alerts (one event at one receiver) and the delivery outbox.
-- Same version in migrations/sqlite and migrations/postgres. Times are Unix milliseconds.

CREATE TABLE events (
    id           BIGSERIAL PRIMARY KEY,
    title        TEXT NOT NULL,
    title_post   BIGINT,
    title_score  DOUBLE PRECISION NOT NULL DEFAULT 0,
    first_at     BIGINT NOT NULL,
    last_at      BIGINT NOT NULL,
    posts        BIGINT NOT NULL DEFAULT 0,
    heat         DOUBLE PRECISION NOT NULL DEFAULT 0,
    level        TEXT,
    rumour       BIGINT NOT NULL DEFAULT 0,
    local        BIGINT NOT NULL DEFAULT 0,
    departments  TEXT NOT NULL DEFAULT '[]',
    topics       TEXT NOT NULL DEFAULT '[]',
    townships    TEXT NOT NULL DEFAULT '[]',
    keywords     TEXT NOT NULL DEFAULT '[]',
    stats        TEXT NOT NULL DEFAULT '{}',
    manual       TEXT,
    status       TEXT NOT NULL DEFAULT 'open',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX events_last ON events (last_at);
CREATE INDEX events_heat ON events (heat);

-- A post belongs to at most one event.
CREATE TABLE event_posts (
    post_id    BIGINT PRIMARY KEY REFERENCES posts (id),
    event_id   BIGINT NOT NULL REFERENCES events (id),
    via        TEXT NOT NULL,
    score      DOUBLE PRECISION NOT NULL,
    joined_at  BIGINT NOT NULL
);
CREATE INDEX event_posts_event ON event_posts (event_id, post_id);

-- The level-change log.
CREATE TABLE event_levels (
    id          BIGSERIAL PRIMARY KEY,
    event_id    BIGINT NOT NULL REFERENCES events (id),
    at          BIGINT NOT NULL,
    from_level  TEXT,
    to_level    TEXT,
    heat        DOUBLE PRECISION NOT NULL,
    reason      TEXT NOT NULL
);
CREATE INDEX event_levels_event ON event_levels (event_id, id);

-- Posts per hour per department/township, the baselines of spike detection.
CREATE TABLE activity (
    key    TEXT NOT NULL,
    hour   BIGINT NOT NULL,
    count  BIGINT NOT NULL,
    PRIMARY KEY (key, hour)
);

-- Singleton workers (`events`, `telegram`): a lease and a checkpoint.
CREATE TABLE workers (
    name         TEXT PRIMARY KEY,
    checkpoint   BIGINT NOT NULL DEFAULT 0,
    lease_owner  TEXT,
    lease_until  BIGINT
);

CREATE TABLE alerts (
    id                    BIGSERIAL PRIMARY KEY,
    event_id              BIGINT NOT NULL REFERENCES events (id),
    receiver              TEXT NOT NULL,
    department            TEXT,
    route                 TEXT NOT NULL,
    note                  TEXT,
    level                 TEXT NOT NULL,
    notified_level        TEXT,
    muted                 TEXT,
    muted_count           BIGINT NOT NULL DEFAULT 0,
    group_wait_secs       BIGINT NOT NULL,
    group_interval_secs   BIGINT NOT NULL,
    repeat_interval_secs  BIGINT NOT NULL,
    created_at            BIGINT NOT NULL,
    first_notified_at     BIGINT,
    last_notified_at      BIGINT,
    notices               BIGINT NOT NULL DEFAULT 0,
    new_posts             BIGINT NOT NULL DEFAULT 0,
    escalation_step       BIGINT NOT NULL DEFAULT 0,
    acked_at              BIGINT,
    acked_by              TEXT,
    resolved_at           BIGINT,
    next_check_at         BIGINT,
    UNIQUE (event_id, receiver)
);
CREATE INDEX alerts_due ON alerts (next_check_at);

-- The outbox: an alert's messages, saved in the transaction that decided them, sent at least
-- once by whichever worker claims them, deduplicated downstream by the idempotency key.
CREATE TABLE deliveries (
    id               BIGSERIAL PRIMARY KEY,
    alert_id         BIGINT NOT NULL REFERENCES alerts (id),
    idempotency_key  TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL,
    official         TEXT,
    channel          TEXT NOT NULL,
    to_addr          TEXT,
    message          TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    not_before       BIGINT NOT NULL,
    lease_owner      TEXT,
    lease_until      BIGINT,
    sent_at          BIGINT,
    failed_at        BIGINT,
    last_error       TEXT,
    remote_id        TEXT
);
CREATE INDEX deliveries_due ON deliveries (not_before) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX deliveries_alert ON deliveries (alert_id);

CREATE TABLE silences (
    id          BIGSERIAL PRIMARY KEY,
    matchers    TEXT NOT NULL,
    event_id    BIGINT,
    receiver    TEXT,
    creator     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    starts_at   BIGINT NOT NULL,
    ends_at     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Telegram: one-time codes an official sends to the bot, and the chats they linked.
CREATE TABLE link_codes (
    code        TEXT PRIMARY KEY,
    official    TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE TABLE official_chats (
    official   TEXT PRIMARY KEY,
    chat_id    TEXT NOT NULL UNIQUE,
    linked_at  BIGINT NOT NULL
);
