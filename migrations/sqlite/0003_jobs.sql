-- The service's scheduled jobs: the last local-time slot each one completed,
-- so a restart, a DST change or a second process never runs a slot twice,
-- and a slot missed while the service was down runs once when it is back.

CREATE TABLE jobs (
    name             TEXT PRIMARY KEY,
    last_slot        INTEGER NOT NULL,
    finished_at      INTEGER NOT NULL,
    duration_ms      INTEGER NOT NULL
);
