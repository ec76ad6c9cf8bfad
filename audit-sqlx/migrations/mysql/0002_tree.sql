-- audit-sqlx MySQL/MariaDB schema version 2: the Merkle tree and signed checkpoints.
-- Statements and placeholders as in 0001_events.sql, plus {tree} {checkpoints} {tree_head}.
-- The tree of the events already stored is built by the migration runner
-- (mysql::tree::build) in one transaction after these statements.

-- One row of stored hashes per event (Go's tlog layout grouped by leaf), inserted in the
-- event's own transaction under the head lock. At most 64 hashes of 32 bytes.
CREATE TABLE IF NOT EXISTS {tree} (
    seq    BIGINT UNSIGNED NOT NULL,
    hashes VARBINARY(2048) NOT NULL,
    PRIMARY KEY (seq),
    CONSTRAINT {prefix}tree_seq_positive CHECK (seq > 0)
) ENGINE = InnoDB$$

-- Signed checkpoints (C2SP tlog-checkpoint in a C2SP signed note), one per tree size.
CREATE TABLE IF NOT EXISTS {checkpoints} (
    tree_size BIGINT UNSIGNED NOT NULL,
    root      BINARY(32)      NOT NULL,
    note      TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    signed_at DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6) COMMENT 'UTC',
    PRIMARY KEY (tree_size)
) ENGINE = InnoDB$$

-- The tree's right edge (the subtree hashes appends need; NULL when this log has no tree)
-- and the newest checkpoint's size: one row, locked with the chain head by every writer.
CREATE TABLE IF NOT EXISTS {tree_head} (
    singleton       TINYINT         NOT NULL DEFAULT 1,
    frontier        VARBINARY(2048) NULL,
    checkpoint_size BIGINT UNSIGNED NOT NULL DEFAULT 0,
    PRIMARY KEY (singleton),
    CONSTRAINT {prefix}tree_head_one_row CHECK (singleton = 1)
) ENGINE = InnoDB$$

INSERT IGNORE INTO {tree_head} (singleton, frontier) VALUES (1, NULL)$$

-- Tree rows and checkpoints are append-only; retention keeps them (old checkpoints stay
-- provable).
DROP TRIGGER IF EXISTS {trigger_db}{prefix}tree_no_update$$
CREATE TRIGGER {trigger_db}{prefix}tree_no_update BEFORE UPDATE ON {tree} FOR EACH ROW
    SIGNAL SQLSTATE '45000'
        SET MESSAGE_TEXT = 'the Merkle tree is append-only: UPDATE refused'$$

DROP TRIGGER IF EXISTS {trigger_db}{prefix}tree_no_delete$$
CREATE TRIGGER {trigger_db}{prefix}tree_no_delete BEFORE DELETE ON {tree} FOR EACH ROW
    SIGNAL SQLSTATE '45000'
        SET MESSAGE_TEXT = 'the Merkle tree is append-only: DELETE refused'$$

DROP TRIGGER IF EXISTS {trigger_db}{prefix}checkpoints_no_update$$
CREATE TRIGGER {trigger_db}{prefix}checkpoints_no_update BEFORE UPDATE ON {checkpoints} FOR EACH ROW
    SIGNAL SQLSTATE '45000'
        SET MESSAGE_TEXT = 'signed checkpoints are append-only: UPDATE refused'$$

DROP TRIGGER IF EXISTS {trigger_db}{prefix}checkpoints_no_delete$$
CREATE TRIGGER {trigger_db}{prefix}checkpoints_no_delete BEFORE DELETE ON {checkpoints} FOR EACH ROW
    SIGNAL SQLSTATE '45000'
        SET MESSAGE_TEXT = 'signed checkpoints are append-only: DELETE refused'$$
