-- Reminder delivery: one row per (checkpoint key, due date, stage, recipient),
-- unique, so a stage is never enqueued twice however often or however many
-- processes tick. The rendered message is stored, so a retry sends the same
-- bytes with the same Message-ID.

CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    key             TEXT NOT NULL UNIQUE,
    checkpoint_key  TEXT NOT NULL,
    partnership_id  TEXT NOT NULL,
    kind            TEXT NOT NULL,
    stage           TEXT NOT NULL,
    due_date        DATE NOT NULL,
    recipient       TEXT NOT NULL,
    envelope_to     TEXT NOT NULL,
    send_on         DATE NOT NULL,
    late            BOOLEAN NOT NULL,
    message_id      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    message         BYTEA NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    claimed_until   TIMESTAMPTZ,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    sent_at         TIMESTAMPTZ
);

CREATE INDEX outbox_ready ON outbox (status, next_attempt_at);
CREATE INDEX outbox_checkpoint ON outbox (checkpoint_key, status);

-- The calendar entry each recipient holds for a checkpoint: its SEQUENCE
-- rises whenever the date moves or the entry is cancelled.
CREATE TABLE invites (
    checkpoint_key TEXT NOT NULL,
    recipient      TEXT NOT NULL,
    sequence       INTEGER NOT NULL,
    due_date       DATE NOT NULL,
    cancelled      BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (checkpoint_key, recipient)
);

CREATE TABLE ticks (
    id          BIGSERIAL PRIMARY KEY,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    enqueued    INTEGER NOT NULL,
    sent        INTEGER NOT NULL,
    failed      INTEGER NOT NULL
);
