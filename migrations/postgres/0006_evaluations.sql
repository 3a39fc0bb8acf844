-- Incremental ticks: a tick evaluates a partnership again only when its
-- evaluation may be out of date (see `delivery::enqueue`).
--
-- `revision` rises with every write that can change a partnership's
-- reminders: its row, a new event (a retraction is one), a postponement. The
-- triggers raise it inside the writing transaction, whoever writes, so a
-- change is never missed, even one made while a tick runs: the tick stores
-- the revision it read, and a later one differs.
ALTER TABLE partnerships ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION partnerships_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.revision = OLD.revision THEN
        NEW.revision := OLD.revision + 1;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER partnerships_revision BEFORE UPDATE ON partnerships
    FOR EACH ROW EXECUTE FUNCTION partnerships_revision();

-- Once per statement: a batch of events raises each partnership once.
CREATE FUNCTION events_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE partnerships SET revision = revision + 1
        WHERE id IN (SELECT DISTINCT partnership_id FROM new_events);
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_revision AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION events_revision();

CREATE FUNCTION postponements_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE partnerships SET revision = revision + 1 WHERE id = OLD.partnership_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        UPDATE partnerships SET revision = revision + 1 WHERE id = NEW.partnership_id;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER postponements_revision AFTER INSERT OR UPDATE OR DELETE ON postponements
    FOR EACH ROW EXECUTE FUNCTION postponements_revision();

-- The last evaluation of each partnership: the revision and the rules
-- (a hash of the rule-relevant configuration and the program) it was made
-- with, the first day on which its reminders can change, and its checkpoints
-- counted by status and kind (JSON {"status/kind": n}) for /metrics.
CREATE TABLE evaluations (
    partnership_id TEXT PRIMARY KEY NOT NULL REFERENCES partnerships (id),
    revision       BIGINT NOT NULL,
    rules          TEXT NOT NULL,
    next_check     DATE NOT NULL,
    counts         TEXT NOT NULL
);

CREATE INDEX evaluations_next_check ON evaluations (next_check);

-- A tick reads the calendar entries of the partnerships it evaluates.
ALTER TABLE invites ADD COLUMN partnership_id TEXT;
UPDATE invites SET partnership_id = (
    SELECT o.partnership_id FROM outbox o WHERE o.checkpoint_key = invites.checkpoint_key LIMIT 1
);
CREATE INDEX invites_partnership ON invites (partnership_id);
