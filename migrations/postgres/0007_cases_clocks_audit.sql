-- Cases, their clocks and firings, and the append-only audit log.
-- Same version in migrations/sqlite and migrations/postgres. Times are Unix milliseconds.

CREATE TABLE cases (
    id                 BIGSERIAL PRIMARY KEY,
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
    watch_heat         DOUBLE PRECISION,
    merged_into        BIGINT,
    draft_revision     BIGINT,
    approved_revision  BIGINT,
    checked_revision   BIGINT,
    record             TEXT NOT NULL,
    version            BIGINT NOT NULL DEFAULT 1,
    updated_at         BIGINT NOT NULL,
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

CREATE TABLE case_clocks (
    id            BIGSERIAL PRIMARY KEY,
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

CREATE TABLE clock_firings (
    id        BIGSERIAL PRIMARY KEY,
    clock_id  BIGINT NOT NULL REFERENCES case_clocks (id),
    firing    TEXT NOT NULL,
    due_at    BIGINT NOT NULL,
    fired_at  BIGINT NOT NULL,
    worker    TEXT NOT NULL,
    UNIQUE (clock_id, firing)
);

CREATE TABLE audit_log (
    seq        BIGSERIAL PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    case_id    BIGINT,
    detail     TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE
);
CREATE INDEX audit_log_case ON audit_log (case_id, seq);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: rows cannot be %', lower(TG_OP) || 'd';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

ALTER TABLE deliveries ADD COLUMN case_id BIGINT;
