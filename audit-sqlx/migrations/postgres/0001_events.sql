-- audit-sqlx schema version 1. `__SCHEMA__` is replaced by the quoted schema name.

-- One row per event. `seq` is gap-free and ordered by the chain; the chain head row below is
-- the single point every writer locks, so concurrent processes still build one chain.
CREATE TABLE __SCHEMA__.audit_events (
    seq         bigint      NOT NULL,
    id          uuid        NOT NULL,
    occurred_at timestamptz NOT NULL,
    action      text        NOT NULL,
    category    text        NOT NULL,
    outcome     text        NOT NULL,
    reason      text,
    actor_kind  text,
    actor_id    text,
    entity_type text,
    entity_id   text,
    description text,
    ip          inet,
    user_agent  text,
    request_id  text,
    session_id  text,
    tenant      text,
    severity    text        NOT NULL,
    metadata    jsonb       NOT NULL,
    prev_hash   bytea       NOT NULL,
    hash        bytea       NOT NULL,
    CONSTRAINT audit_events_pkey PRIMARY KEY (seq),
    -- Also what makes a retried batch idempotent: stored ids are acknowledged, not re-stored.
    CONSTRAINT audit_events_id_key UNIQUE (id),
    CONSTRAINT audit_events_seq_positive CHECK (seq > 0),
    CONSTRAINT audit_events_hash_size CHECK (octet_length(hash) = 32 AND octet_length(prev_hash) = 32)
);

-- The query indexes: an actor's newest events, one entity's history, time ranges.
CREATE INDEX audit_events_actor_seq ON __SCHEMA__.audit_events (actor_id, seq);
CREATE INDEX audit_events_entity_seq ON __SCHEMA__.audit_events (entity_type, entity_id, seq);
CREATE INDEX audit_events_occurred_at ON __SCHEMA__.audit_events (occurred_at);

-- The chain head: exactly one row, locked FOR UPDATE by every write transaction.
CREATE TABLE __SCHEMA__.audit_chain_head (
    singleton boolean NOT NULL DEFAULT true,
    seq       bigint  NOT NULL,
    hash      bytea   NOT NULL,
    algorithm text,
    CONSTRAINT audit_chain_head_pkey PRIMARY KEY (singleton),
    CONSTRAINT audit_chain_head_one_row CHECK (singleton)
);
INSERT INTO __SCHEMA__.audit_chain_head (seq, hash) VALUES (0, decode(repeat('00', 32), 'hex'));

-- Where retention cut the chain: verification of what remains starts at the newest anchor.
CREATE TABLE __SCHEMA__.audit_anchors (
    seq       bigint      NOT NULL,
    hash      bytea       NOT NULL,
    purged_at timestamptz NOT NULL DEFAULT now(),
    purged_by text        NOT NULL DEFAULT current_user,
    CONSTRAINT audit_anchors_pkey PRIMARY KEY (seq)
);

-- Outbox: events written inside the caller's transaction, moved into the chain by the relay.
CREATE TABLE __SCHEMA__.audit_outbox (
    id         bigint      GENERATED ALWAYS AS IDENTITY,
    event      jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT audit_outbox_pkey PRIMARY KEY (id)
);

-- Append-only enforcement. UPDATE and TRUNCATE are always refused; DELETE only inside the
-- retention path, which sets `audit_sqlx.retention` for its own transaction. The setting is
-- not a secret: the privilege to DELETE at all is what the app role lacks (see the crate docs),
-- the trigger stops mistakes and scripts that forget which table they are in.
CREATE FUNCTION __SCHEMA__.audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('audit_sqlx.retention', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit log is append-only: % on %.% refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'old events are removed only through the retention path';
END
$fn$;

CREATE TRIGGER audit_events_no_update_delete
    BEFORE UPDATE OR DELETE ON __SCHEMA__.audit_events
    FOR EACH ROW EXECUTE FUNCTION __SCHEMA__.audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON __SCHEMA__.audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION __SCHEMA__.audit_events_append_only();

CREATE FUNCTION __SCHEMA__.audit_anchors_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'retention anchors are append-only: % on %.% refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;
CREATE TRIGGER audit_anchors_no_update_delete
    BEFORE UPDATE OR DELETE ON __SCHEMA__.audit_anchors
    FOR EACH ROW EXECUTE FUNCTION __SCHEMA__.audit_anchors_append_only();
CREATE TRIGGER audit_anchors_no_truncate
    BEFORE TRUNCATE ON __SCHEMA__.audit_anchors
    FOR EACH STATEMENT EXECUTE FUNCTION __SCHEMA__.audit_anchors_append_only();
