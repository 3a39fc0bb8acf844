-- The partnership register and its append-only event history.
-- Dates are YYYY-MM-DD text; instants are unix seconds (integers), so they
-- compare correctly and never depend on SQLite's own clock.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE partnerships (
    id                TEXT PRIMARY KEY NOT NULL,
    organisation      TEXT NOT NULL,
    committee         TEXT NOT NULL,
    officer_name      TEXT NOT NULL,
    officer_email     TEXT NOT NULL,
    deputy_email      TEXT,
    partner_email     TEXT,
    start_date        TEXT NOT NULL,
    end_date          TEXT,
    annual_amount_ore INTEGER,
    checkins_per_year INTEGER,
    notice_months     INTEGER,
    notes             TEXT NOT NULL DEFAULT '',
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);

CREATE INDEX partnerships_committee ON partnerships (committee);

CREATE TABLE events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    partnership_id TEXT NOT NULL REFERENCES partnerships (id),
    kind           TEXT NOT NULL,
    occurred_on    TEXT NOT NULL,
    data           TEXT NOT NULL,
    recorded_at    INTEGER NOT NULL,
    recorded_by    TEXT NOT NULL,
    channel        TEXT NOT NULL
);

CREATE INDEX events_partnership ON events (partnership_id, id);

-- Events are evidence for auditors: never changed, never deleted.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only; record a retraction instead');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only; record a retraction instead');
END;
