-- One mail a day per person. A reminder stage stays one outbox row per
-- (checkpoint key, due date, stage, recipient), the exactly-once ledger, but
-- is an item: a section of the day's mail, never sent alone. `bundle` names
-- the outbox row of the mail that carries it; that row is sent, and its
-- items are marked with it.
ALTER TABLE outbox ADD COLUMN item BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE outbox ADD COLUMN bundle TEXT;
-- An item's place in its mail (0 escalation … 4 for information), so a mail
-- of the day is ordered without reading every section.
ALTER TABLE outbox ADD COLUMN rank INTEGER NOT NULL DEFAULT 0;
CREATE INDEX outbox_bundle ON outbox (bundle);
CREATE INDEX outbox_items ON outbox (item, status, recipient);

-- What the calendar entry a person holds says (date, title, meeting), so an
-- invite goes again only when that changes. NULL for entries from before:
-- they count as unchanged while their date is.
ALTER TABLE invites ADD COLUMN fingerprint TEXT;
