-- "Jag behöver mer tid": a checkpoint's own reminders wait until `until_date`
-- (never past its escalation). At most one per checkpoint, so the primary key
-- is the checkpoint key; the digest lists them.
CREATE TABLE postponements (
    checkpoint_key TEXT PRIMARY KEY NOT NULL,
    partnership_id TEXT NOT NULL REFERENCES partnerships (id),
    due_date       DATE NOT NULL,
    until_date     DATE NOT NULL,
    recorded_at    TIMESTAMPTZ NOT NULL,
    recorded_by    TEXT NOT NULL
);
