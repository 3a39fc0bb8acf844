-- Reminder delivery: one row per (checkpoint key, due date, stage, recipient),
-- unique, so a stage is never enqueued twice however often or however many
-- processes tick. The rendered message is stored, so a retry sends the same
-- bytes with the same Message-ID.

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    key             TEXT NOT NULL UNIQUE,
    checkpoint_key  TEXT NOT NULL,
    partnership_id  TEXT NOT NULL,
    kind            TEXT NOT NULL,
    stage           TEXT NOT NULL,
    due_date        TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    envelope_to     TEXT NOT NULL,
    send_on         TEXT NOT NULL,
    late            INTEGER NOT NULL,
    message_id      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    message         BLOB NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_until   INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);

CREATE INDEX outbox_ready ON outbox (status, next_attempt_at);
CREATE INDEX outbox_checkpoint ON outbox (checkpoint_key, status);

-- The calendar entry each recipient holds for a checkpoint: its SEQUENCE
-- rises whenever the date moves or the entry is cancelled.
CREATE TABLE invites (
    checkpoint_key TEXT NOT NULL,
    recipient      TEXT NOT NULL,
    sequence       INTEGER NOT NULL,
    due_date       TEXT NOT NULL,
    cancelled      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (checkpoint_key, recipient)
);

CREATE TABLE ticks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL,
    enqueued    INTEGER NOT NULL,
    sent        INTEGER NOT NULL,
    failed      INTEGER NOT NULL
);
