-- Cases, their clocks and firings, and the append-only audit log.
-- Same version in migrations/sqlite and migrations/postgres. Times are Unix milliseconds.

-- A case: the domain `CaseRecord` as JSON in `record`, with the columns queries and the
-- publication gate need. `version` rises with every write (optimistic concurrency).
CREATE TABLE cases (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    kind               TEXT NOT NULL,
    state              TEXT NOT NULL,
    title              TEXT NOT NULL,
    event_id           BIGINT REFERENCES events (id),
    lead_department    TEXT NOT NULL,
    co_departments     TEXT NOT NULL DEFAULT '[]',
    origin             TEXT,
    level              TEXT,
    grade              TEXT,
    incident_at        BIGINT,
    detected_at        BIGINT,
    document_at        BIGINT,
    document_url       TEXT,
    document_post      BIGINT REFERENCES posts (id),
    superior_due_at    BIGINT,
    opened_at          BIGINT NOT NULL,
    opened_by          TEXT NOT NULL,
    acked_at           BIGINT,
    published_at       BIGINT,
    closed_at          BIGINT,
    watch_until        BIGINT,
    watch_heat         REAL,
    merged_into        BIGINT,
    draft_revision     BIGINT,
    approved_revision  BIGINT,
    checked_revision   BIGINT,
    record             TEXT NOT NULL,
    version            BIGINT NOT NULL DEFAULT 1,
    updated_at         BIGINT NOT NULL,
    -- 先审查、后公开: a published case carries an approved review and a passed publication check,
    -- both of the current draft revision (a NULL passes a CHECK: hence the IS NOT NULLs). The domain
    -- type enforces it; so does the table.
    CONSTRAINT cases_review_gate CHECK (
        state <> 'published'
        OR (draft_revision IS NOT NULL AND approved_revision IS NOT NULL AND checked_revision IS NOT NULL
            AND approved_revision = draft_revision AND checked_revision = draft_revision)
    )
);
CREATE INDEX cases_state ON cases (state, lead_department);
CREATE INDEX cases_event ON cases (event_id);
-- The policy-interpretation tracker opens one case per policy document, whichever process sees it.
CREATE UNIQUE INDEX cases_document_post ON cases (document_post) WHERE document_post IS NOT NULL;
-- Cases opened by policy for an event's warning level: one per event, whichever process opens it.
CREATE UNIQUE INDEX cases_auto_event ON cases (event_id) WHERE origin = '预警自动立案';

-- A named clock of a case: started at, due at, warnings; the next firing the ticker waits for.
CREATE TABLE case_clocks (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id       BIGINT NOT NULL REFERENCES cases (id),
    clock         TEXT NOT NULL,
    name          TEXT NOT NULL,
    limit_text    TEXT NOT NULL,
    started_at    BIGINT NOT NULL,
    due_at        BIGINT NOT NULL,
    warnings      TEXT NOT NULL DEFAULT '[]',
    next_fire_at  BIGINT,
    next_fire     TEXT,
    stopped_at    BIGINT,
    stop_reason   TEXT,
    breached_at   BIGINT,
    extended      BIGINT NOT NULL DEFAULT 0,
    escalate      BIGINT NOT NULL DEFAULT 1,
    count_breach  BIGINT NOT NULL DEFAULT 1,
    UNIQUE (case_id, clock)
);
CREATE INDEX case_clocks_due ON case_clocks (next_fire_at) WHERE next_fire_at IS NOT NULL;

-- Each firing (`warning:1`, `warning:2`, `breach`) of a clock, claimed once: the unique key is
-- what makes two tickers, or a ticker restarted mid-pass, fire nothing twice.
CREATE TABLE clock_firings (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    clock_id  BIGINT NOT NULL REFERENCES case_clocks (id),
    firing    TEXT NOT NULL,
    due_at    BIGINT NOT NULL,
    fired_at  BIGINT NOT NULL,
    worker    TEXT NOT NULL,
    UNIQUE (clock_id, firing)
);

-- Every case transition, sign-off, clock event and manual action. Each row holds the SHA-256 of
-- the previous row's hash and its own content; rows cannot be updated or deleted.
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    at         BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    case_id    BIGINT,
    detail     TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE
);
CREATE INDEX audit_log_case ON audit_log (case_id, seq);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be updated');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be deleted');
END;

-- Outbox rows of case reminders name their case and clock.
ALTER TABLE deliveries ADD COLUMN case_id BIGINT;
