-- audit-sqlx schema version 6: tree rows and checkpoints beyond the chain head are refused,
-- as event rows are (version 3). `__SCHEMA__` is replaced by the quoted schema name.
--
-- The app role may INSERT into both tables (every write adds tree rows, some a checkpoint).
-- Without this, one row it inserted at the seq the next write takes would make every later
-- write fail on the primary key, and a checkpoint inserted at a size the log had not reached
-- would stand in for the one the writer signs there. The writer moves the head first, so its
-- own rows are always within it.
CREATE FUNCTION __SCHEMA__.audit_tree_within_head() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT max(seq) FROM inserted)
        > (SELECT seq FROM __SCHEMA__.audit_chain_head WHERE singleton) THEN
        RAISE EXCEPTION 'the Merkle tree grows through the chain head only: a tree row beyond the head was refused'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER audit_tree_within_head
    AFTER INSERT ON __SCHEMA__.audit_tree
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION __SCHEMA__.audit_tree_within_head();

CREATE FUNCTION __SCHEMA__.audit_checkpoints_within_head() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT max(tree_size) FROM inserted)
        > (SELECT seq FROM __SCHEMA__.audit_chain_head WHERE singleton) THEN
        RAISE EXCEPTION 'checkpoints are signed through the chain head only: a checkpoint beyond the head was refused'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER audit_checkpoints_within_head
    AFTER INSERT ON __SCHEMA__.audit_checkpoints
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION __SCHEMA__.audit_checkpoints_within_head();
