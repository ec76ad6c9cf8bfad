-- audit-sqlx MySQL/MariaDB schema version 3: the Merkle tree's tables get the protection the
-- events table has, and checkpoints beyond the chain head are refused. Statements and
-- placeholders as in 0001_events.sql, plus {tree} {checkpoints} {tree_head} {tree_guard}.

-- As {truncate_guard} does for the events and anchors: an empty table referencing the tree
-- rows, the checkpoints and the tree head makes the server refuse `TRUNCATE` and
-- `DROP TABLE` of them for every user, unless a session turns `foreign_key_checks` off;
-- grants are what stop a user that does (see the crate docs). The referenced columns are
-- never updated (the tree head's frontier is, its key is not), so writers pay nothing.
CREATE TABLE IF NOT EXISTS {tree_guard} (
    tree_seq        BIGINT UNSIGNED NULL,
    checkpoint_size BIGINT UNSIGNED NULL,
    tree_head       TINYINT         NULL,
    CONSTRAINT {prefix}tree_guard_tree FOREIGN KEY (tree_seq) REFERENCES {tree} (seq),
    CONSTRAINT {prefix}tree_guard_checkpoints
        FOREIGN KEY (checkpoint_size) REFERENCES {checkpoints} (tree_size),
    CONSTRAINT {prefix}tree_guard_tree_head FOREIGN KEY (tree_head) REFERENCES {tree_head} (singleton),
    CONSTRAINT {prefix}tree_guard_stays_empty
        CHECK (tree_seq IS NULL AND checkpoint_size IS NULL AND tree_head IS NULL)
) ENGINE = InnoDB$$

-- The tree head row is moved by every writer (so UPDATE stays), but never removed: without
-- it no write can extend the tree.
DROP TRIGGER IF EXISTS {trigger_db}{prefix}tree_head_no_delete$$
CREATE TRIGGER {trigger_db}{prefix}tree_head_no_delete BEFORE DELETE ON {tree_head} FOR EACH ROW
    SIGNAL SQLSTATE '45000'
        SET MESSAGE_TEXT = 'the Merkle tree head is kept: DELETE refused'$$

-- Checkpoints beyond the chain head are refused. The application user may INSERT into the
-- table (the writer stores what it signs); without this, a checkpoint it inserted at a size
-- the log had not reached would stand in for the one the writer signs there. Checkpoints are
-- rare, so the check per row costs nothing measurable. (Tree rows get no such trigger: one
-- per event, it cost more than the insert; the writer steps over a forged tree row instead,
-- see mysql::tree::insert_rows.)
DROP TRIGGER IF EXISTS {trigger_db}{prefix}checkpoints_within_head$$
CREATE TRIGGER {trigger_db}{prefix}checkpoints_within_head BEFORE INSERT ON {checkpoints} FOR EACH ROW
BEGIN
    IF NEW.tree_size > (SELECT seq FROM {chain_head} WHERE singleton = 1) THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT = 'checkpoints are signed through the chain head only: a checkpoint beyond the head was refused';
    END IF;
END$$
