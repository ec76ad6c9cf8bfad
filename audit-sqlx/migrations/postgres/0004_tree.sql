-- audit-sqlx schema version 4: the Merkle tree and signed checkpoints. `__SCHEMA__` is
-- replaced by the quoted schema name. The tree of the events already stored is built by the
-- migration runner (postgres::tree::build) in the same transaction.

-- One row of stored hashes per event (Go's tlog layout grouped by leaf), inserted in the
-- event's own transaction under the head lock.
CREATE TABLE __SCHEMA__.audit_tree (
    seq    bigint NOT NULL,
    hashes bytea  NOT NULL,
    CONSTRAINT audit_tree_pkey PRIMARY KEY (seq),
    CONSTRAINT audit_tree_seq_positive CHECK (seq > 0)
);

-- Signed checkpoints (C2SP tlog-checkpoint in a C2SP signed note), one per tree size.
CREATE TABLE __SCHEMA__.audit_checkpoints (
    tree_size bigint      NOT NULL,
    root      bytea       NOT NULL,
    note      text        NOT NULL,
    signed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audit_checkpoints_pkey PRIMARY KEY (tree_size)
);

-- The tree's right edge (the subtree hashes appends need; NULL when this log has no tree)
-- and the newest checkpoint's size, in the head row every writer already locks.
ALTER TABLE __SCHEMA__.audit_chain_head
    ADD COLUMN tree_frontier bytea,
    ADD COLUMN checkpoint_size bigint NOT NULL DEFAULT 0;

-- Both are append-only for every role; retention keeps them (old checkpoints stay provable).
CREATE TRIGGER audit_tree_no_update_delete
    BEFORE UPDATE OR DELETE ON __SCHEMA__.audit_tree
    FOR EACH ROW EXECUTE FUNCTION __SCHEMA__.audit_anchors_append_only();
CREATE TRIGGER audit_tree_no_truncate
    BEFORE TRUNCATE ON __SCHEMA__.audit_tree
    FOR EACH STATEMENT EXECUTE FUNCTION __SCHEMA__.audit_anchors_append_only();
CREATE TRIGGER audit_checkpoints_no_update_delete
    BEFORE UPDATE OR DELETE ON __SCHEMA__.audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION __SCHEMA__.audit_anchors_append_only();
CREATE TRIGGER audit_checkpoints_no_truncate
    BEFORE TRUNCATE ON __SCHEMA__.audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION __SCHEMA__.audit_anchors_append_only();
