-- audit-sqlx MySQL/MariaDB schema version 1.
--
-- Statements end with two dollar signs (as after the mysql client's DELIMITER command):
-- trigger bodies hold `;`. Placeholders, filled in by the migration runner:
--   {events} {chain_head} {anchors} {outbox} {outbox_rejected} {truncate_guard}
--       the tables, qualified with the configured database and named with the table prefix
--   {prefix}  the bare table prefix, for trigger and constraint names (their namespace is the
--             database, not the table)
--   {trigger_db}  the database qualifier for trigger names (empty or `db`.)
--   {text}    the collation of text columns: binary and NO PAD, so comparisons, grouping and
--             `LOCATE` treat text as Rust does (`'a'` differs from `'a '` and from `'A'`)
--   {json}    the metadata column type: a LONGTEXT holding the JSON text the chain hashed,
--             byte for byte (checked by JSON_VALID on MySQL; not on MariaDB, whose JSON_VALID
--             refuses the 32 levels of nesting the event model allows)
-- DDL commits implicitly in MySQL, so every statement can run again after a failure half-way.

-- One row per event. `seq` is gap-free and ordered by the chain; the chain head row below is
-- the single point every writer locks, so concurrent processes still build one chain.
-- InnoDB appends every secondary index entry with the primary key (`seq`), so each index
-- below also serves "newest first" for its filter without a sort.
CREATE TABLE IF NOT EXISTS {events} (
    seq         BIGINT UNSIGNED NOT NULL,
    id          BINARY(16)      NOT NULL,
    occurred_at DATETIME(6)     NOT NULL COMMENT 'UTC',
    action      VARCHAR(128) COLLATE {text} NOT NULL,
    category    VARCHAR(32)  COLLATE {text} NOT NULL,
    outcome     VARCHAR(32)  COLLATE {text} NOT NULL,
    reason      TEXT         COLLATE {text} NULL,
    actor_kind  VARCHAR(32)  COLLATE {text} NULL,
    actor_id    VARCHAR(256) COLLATE {text} NULL,
    entity_type VARCHAR(256) COLLATE {text} NULL,
    entity_id   VARCHAR(256) COLLATE {text} NULL,
    description TEXT         COLLATE {text} NULL,
    ip          VARBINARY(16)   NULL COMMENT '4 bytes (IPv4) or 16 (IPv6), network order',
    user_agent  VARCHAR(512) COLLATE {text} NULL,
    request_id  VARCHAR(256) COLLATE {text} NULL,
    session_id  VARCHAR(256) COLLATE {text} NULL,
    tenant      VARCHAR(256) COLLATE {text} NULL,
    severity    VARCHAR(32)  COLLATE {text} NOT NULL,
    metadata    {json}       NOT NULL,
    prev_hash   BINARY(32)      NOT NULL,
    hash        BINARY(32)      NOT NULL,
    PRIMARY KEY (seq),
    -- Also what makes a retried batch idempotent: stored ids are acknowledged, not re-stored.
    UNIQUE KEY events_id (id),
    KEY events_actor (actor_id),
    KEY events_entity (entity_type, entity_id),
    KEY events_time (occurred_at, action),
    KEY events_action (action),
    -- Sortable bytes: a CIDR filter can be one range scan `ip BETWEEN first AND last`.
    KEY events_ip (ip),
    KEY events_request (request_id),
    CONSTRAINT {prefix}events_seq_positive CHECK (seq > 0),
    CONSTRAINT {prefix}events_ip_size CHECK (ip IS NULL OR LENGTH(ip) IN (4, 16))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = {text}$$

-- The chain head: exactly one row, locked FOR UPDATE by every write transaction.
CREATE TABLE IF NOT EXISTS {chain_head} (
    singleton TINYINT         NOT NULL DEFAULT 1,
    seq       BIGINT UNSIGNED NOT NULL,
    hash      BINARY(32)      NOT NULL,
    algorithm VARCHAR(32) COLLATE {text} NULL,
    PRIMARY KEY (singleton),
    CONSTRAINT {prefix}chain_head_one_row CHECK (singleton = 1)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = {text}$$

INSERT IGNORE INTO {chain_head} (singleton, seq, hash) VALUES (1, 0, UNHEX(REPEAT('00', 32)))$$

-- Where retention cut the chain: verification of what remains starts at the newest anchor.
CREATE TABLE IF NOT EXISTS {anchors} (
    seq       BIGINT UNSIGNED NOT NULL,
    hash      BINARY(32)      NOT NULL,
    purged_at DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6) COMMENT 'UTC',
    purged_by VARCHAR(300) COLLATE {text} NOT NULL,
    PRIMARY KEY (seq)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = {text}$$

-- Outbox: events written inside the caller's transaction, moved into the chain by the relay.
-- The event is the library's own JSON; no JSON check, whose nesting limit would refuse an
-- event whose metadata is as deep as the events table accepts.
CREATE TABLE IF NOT EXISTS {outbox} (
    id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    event      LONGTEXT COLLATE {text} NOT NULL,
    created_at DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = {text}$$

-- Outbox rows the relay could not turn into events (written there by something other than
-- this library): kept here with the reason, so they neither block the relay nor get lost.
CREATE TABLE IF NOT EXISTS {outbox_rejected} (
    id          BIGINT UNSIGNED NOT NULL,
    event       LONGTEXT COLLATE {text} NOT NULL,
    reason      TEXT     COLLATE {text} NOT NULL,
    rejected_at DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = {text}$$

-- MySQL has no TRUNCATE or DROP triggers. A table that references the events and the
-- anchors (and stays empty) makes the server refuse `TRUNCATE` and `DROP TABLE` of both,
-- for every user, unless a session turns `foreign_key_checks` off; grants are what stop a
-- user that does (see the crate docs).
CREATE TABLE IF NOT EXISTS {truncate_guard} (
    event_seq  BIGINT UNSIGNED NULL,
    anchor_seq BIGINT UNSIGNED NULL,
    CONSTRAINT {prefix}guard_events FOREIGN KEY (event_seq) REFERENCES {events} (seq),
    CONSTRAINT {prefix}guard_anchors FOREIGN KEY (anchor_seq) REFERENCES {anchors} (seq),
    CONSTRAINT {prefix}guard_stays_empty CHECK (event_seq IS NULL AND anchor_seq IS NULL)
) ENGINE = InnoDB$$

-- Append-only enforcement. UPDATE is always refused; DELETE only inside the retention path,
-- which sets `@audit_sqlx_retention` on its own, unpooled connection. The variable is not a
-- secret: the privilege to DELETE at all is what the application user lacks (see the crate
-- docs); the trigger stops mistakes and scripts that forget which table they are in.
DROP TRIGGER IF EXISTS {trigger_db}{prefix}events_no_update$$
CREATE TRIGGER {trigger_db}{prefix}events_no_update BEFORE UPDATE ON {events} FOR EACH ROW
    SIGNAL SQLSTATE '45000'
        SET MESSAGE_TEXT = 'audit log is append-only: UPDATE refused'$$

DROP TRIGGER IF EXISTS {trigger_db}{prefix}events_no_delete$$
CREATE TRIGGER {trigger_db}{prefix}events_no_delete BEFORE DELETE ON {events} FOR EACH ROW
BEGIN
    IF COALESCE(@audit_sqlx_retention, '') <> 'on' THEN
        SIGNAL SQLSTATE '45000'
            SET MESSAGE_TEXT = 'audit log is append-only: DELETE refused (old events are removed only through the retention path)';
    END IF;
END$$

DROP TRIGGER IF EXISTS {trigger_db}{prefix}anchors_no_update$$
CREATE TRIGGER {trigger_db}{prefix}anchors_no_update BEFORE UPDATE ON {anchors} FOR EACH ROW
    SIGNAL SQLSTATE '45000'
        SET MESSAGE_TEXT = 'retention anchors are append-only: UPDATE refused'$$

DROP TRIGGER IF EXISTS {trigger_db}{prefix}anchors_no_delete$$
CREATE TRIGGER {trigger_db}{prefix}anchors_no_delete BEFORE DELETE ON {anchors} FOR EACH ROW
    SIGNAL SQLSTATE '45000'
        SET MESSAGE_TEXT = 'retention anchors are append-only: DELETE refused'$$
