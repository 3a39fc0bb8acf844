-- Incremental ticks: a tick evaluates a partnership again only when its
-- evaluation may be out of date (see `delivery::enqueue`).
--
-- `revision` rises with every write that can change a partnership's
-- reminders: its row, a new event (a retraction is one), a postponement. The
-- triggers raise it inside the writing transaction, whoever writes, so a
-- change is never missed, even one made while a tick runs: the tick stores
-- the revision it read, and a later one differs.
ALTER TABLE partnerships ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER partnerships_revision AFTER UPDATE ON partnerships
WHEN NEW.revision IS OLD.revision
BEGIN
    UPDATE partnerships SET revision = OLD.revision + 1 WHERE id = NEW.id;
END;

CREATE TRIGGER events_revision AFTER INSERT ON events
BEGIN
    UPDATE partnerships SET revision = revision + 1 WHERE id = NEW.partnership_id;
END;

CREATE TRIGGER postponements_added AFTER INSERT ON postponements
BEGIN
    UPDATE partnerships SET revision = revision + 1 WHERE id = NEW.partnership_id;
END;

CREATE TRIGGER postponements_changed AFTER UPDATE ON postponements
BEGIN
    UPDATE partnerships SET revision = revision + 1 WHERE id IN (OLD.partnership_id, NEW.partnership_id);
END;

CREATE TRIGGER postponements_removed AFTER DELETE ON postponements
BEGIN
    UPDATE partnerships SET revision = revision + 1 WHERE id = OLD.partnership_id;
END;

-- The last evaluation of each partnership: the revision and the rules
-- (a hash of the rule-relevant configuration and the program) it was made
-- with, the first day on which its reminders can change (YYYY-MM-DD), and
-- its checkpoints counted by status and kind (JSON {"status/kind": n}) for
-- /metrics.
CREATE TABLE evaluations (
    partnership_id TEXT PRIMARY KEY NOT NULL REFERENCES partnerships (id),
    revision       INTEGER NOT NULL,
    rules          TEXT NOT NULL,
    next_check     TEXT NOT NULL,
    counts         TEXT NOT NULL
);

CREATE INDEX evaluations_next_check ON evaluations (next_check);

-- A tick reads the calendar entries of the partnerships it evaluates.
ALTER TABLE invites ADD COLUMN partnership_id TEXT;
UPDATE invites SET partnership_id = (
    SELECT o.partnership_id FROM outbox o WHERE o.checkpoint_key = invites.checkpoint_key LIMIT 1
);
CREATE INDEX invites_partnership ON invites (partnership_id);
