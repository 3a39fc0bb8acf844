-- The rendered messages in a table of their own. Claiming a row and marking it
-- sent then rewrite a narrow row, not one that carries its message (several
-- kilobytes): a quarter of the cost per mail.

CREATE TABLE outbox_messages (
    outbox_id BIGINT PRIMARY KEY REFERENCES outbox (id),
    message   BYTEA NOT NULL
);

INSERT INTO outbox_messages (outbox_id, message) SELECT id, message FROM outbox;

ALTER TABLE outbox DROP COLUMN message;
