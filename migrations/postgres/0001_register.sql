-- The partnership register and its append-only event history.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE partnerships (
    id                TEXT PRIMARY KEY,
    organisation      TEXT NOT NULL,
    committee         TEXT NOT NULL,
    officer_name      TEXT NOT NULL,
    officer_email     TEXT NOT NULL,
    deputy_email      TEXT,
    partner_email     TEXT,
    start_date        DATE NOT NULL,
    end_date          DATE,
    annual_amount_ore BIGINT,
    checkins_per_year INTEGER,
    notice_months     INTEGER,
    notes             TEXT NOT NULL DEFAULT '',
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);

CREATE INDEX partnerships_committee ON partnerships (committee);

CREATE TABLE events (
    id             BIGSERIAL PRIMARY KEY,
    partnership_id TEXT NOT NULL REFERENCES partnerships (id),
    kind           TEXT NOT NULL,
    occurred_on    DATE NOT NULL,
    data           TEXT NOT NULL,
    recorded_at    TIMESTAMPTZ NOT NULL,
    recorded_by    TEXT NOT NULL,
    channel        TEXT NOT NULL
);

CREATE INDEX events_partnership ON events (partnership_id, id);

-- Events are evidence for auditors: never changed, never deleted.
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only; record a retraction instead';
END;
$$;

CREATE TRIGGER events_no_change BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
