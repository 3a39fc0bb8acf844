-- The workspace's overview orders and filters every partnership in SQL by
-- what the last tick found (`evaluations`, written with its mails):
-- `overdue`, how many checkpoints were overdue, and `next_due`, the earliest
-- due date among the open ones ('9999-12-31' when none is open, so one index
-- orders both backends alike: SQLite sorts NULL first, PostgreSQL last).
-- Rows written before this migration are rewritten by the next tick: the
-- program's source is part of the rules hash, so an upgrade is a full pass.
ALTER TABLE evaluations ADD COLUMN overdue INTEGER NOT NULL DEFAULT 0;
ALTER TABLE evaluations ADD COLUMN next_due TEXT NOT NULL DEFAULT '9999-12-31';
-- The partnership's committee as evaluated, so the counts per committee
-- are summed from this table alone.
ALTER TABLE evaluations ADD COLUMN committee TEXT NOT NULL DEFAULT '';

-- Worst first: the most overdue, then the nearest due.
CREATE INDEX evaluations_worst ON evaluations (overdue DESC, next_due, partnership_id);

-- The overview's counts, per committee and status: checkpoints, and
-- partnerships with at least one such checkpoint. `status` also holds
-- "status/kind" and "any/kind" rows: the totals of the kind filters. Summed from `evaluations`
-- at the end of each tick (in the pass that sums them for /metrics), so a
-- page reads a few hundred rows instead of every partnership's counts.
CREATE TABLE overview_counts (
    committee    TEXT NOT NULL,
    status       TEXT NOT NULL,
    checkpoints  INTEGER NOT NULL,
    partnerships INTEGER NOT NULL,
    PRIMARY KEY (committee, status)
);
