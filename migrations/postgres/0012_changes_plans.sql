-- Every change to a partnership's row or a committee's meeting plan, made by
-- an import, the workspace or a command: who, when, which field, old and new
-- value, through which channel. Like events, never changed or deleted.
CREATE TABLE changes (
    id         BIGSERIAL PRIMARY KEY,
    subject    TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    field      TEXT NOT NULL,
    old_value  TEXT NOT NULL,
    new_value  TEXT NOT NULL,
    changed_at BIGINT NOT NULL,
    changed_by TEXT NOT NULL,
    channel    TEXT NOT NULL
);

CREATE INDEX changes_subject ON changes (subject, subject_id, id);

CREATE FUNCTION changes_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'changes are append-only';
END;
$$;

CREATE TRIGGER changes_no_change BEFORE UPDATE OR DELETE ON changes
    FOR EACH ROW EXECUTE FUNCTION changes_append_only();

-- A committee's meeting plan once it is kept in the database: from the
-- first change made in the workspace, the database's plan replaces the
-- configuration's `meetings` and `submission_days` for that committee.
CREATE TABLE committee_plans (
    committee       TEXT PRIMARY KEY NOT NULL,
    submission_days INTEGER NOT NULL,
    since           BIGINT NOT NULL
);

CREATE TABLE committee_meetings (
    committee TEXT NOT NULL REFERENCES committee_plans (committee),
    meeting   DATE NOT NULL,
    PRIMARY KEY (committee, meeting)
);
