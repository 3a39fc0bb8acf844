-- RULES 15: evidence may name the checkpoint it is for (its key); events
-- recorded without one, and every event from before this column, follow the
-- default rules. Adding a column changes no row, so events stay append-only.
ALTER TABLE events ADD COLUMN checkpoint_key TEXT;
