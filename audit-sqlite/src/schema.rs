//! The schema, its versioned migrations, and the checks made when a file is opened.
//!
//! The version lives in the store's own `audit_meta` table, not in `PRAGMA user_version`,
//! because the file may be shared with the application's own tables and migrations.

use std::path::Path;

use audit_core::ChainHasher;
use audit_core::chain::{ChainAnchor, ChainHash};
use rusqlite::ffi::ErrorCode;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::error::{Error, Result};

/// The newest schema version this library writes and reads.
pub const SCHEMA_VERSION: u32 = 7;

/// How many consecutive seqs share a bucket of the lookup indexes: `seq >> 13`, 8192 events.
///
/// The indexes for actor, entity, IP and request id lead with the event's bucket. Their keys
/// are otherwise random across the whole log, so every commit dirtied about one leaf page
/// per event per index and wrote it to the WAL (measured with strace at ~500k events:
/// ~3 800 page writes per 1 000-event commit; 14k events/s at 1M). With the bucket first, a
/// commit only touches the current bucket's few dozen pages per index (~600 writes; 88k
/// events/s). A lookup seeks once per bucket that may hold its key (see `bucket_filter`),
/// newest bucket first, and stops when its page is full. 12 measured about as fast to
/// append and doubles the seeks; 14 was ~30 % slower to append.
pub(crate) const BUCKET_SHIFT: u32 = 13;

/// Written to `audit_meta` under `format`, to tell our tables from someone else's.
const FORMAT: &str = "audit-sqlite";

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [
    // 1: events, their indexes, append-only triggers, and the store's key-value metadata.
    r#"
    CREATE TABLE audit_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE audit_events (
        seq          INTEGER PRIMARY KEY NOT NULL,
        id           BLOB NOT NULL,
        occurred_at  INTEGER NOT NULL,
        action       TEXT NOT NULL,
        category     TEXT NOT NULL,
        outcome      TEXT NOT NULL,
        reason       TEXT,
        actor_kind   TEXT,
        actor_id     TEXT,
        entity_type  TEXT,
        entity_id    TEXT,
        description  TEXT,
        ip           BLOB,
        user_agent   TEXT,
        request_id   TEXT,
        session_id   TEXT,
        tenant       TEXT,
        severity     TEXT NOT NULL,
        metadata     TEXT NOT NULL,
        prev_hash    BLOB NOT NULL,
        hash         BLOB NOT NULL
    );
    CREATE UNIQUE INDEX audit_events_id ON audit_events (id);
    CREATE INDEX audit_events_actor ON audit_events (actor_id) WHERE actor_id IS NOT NULL;
    CREATE INDEX audit_events_entity ON audit_events (entity_id, entity_type)
        WHERE entity_id IS NOT NULL;
    CREATE INDEX audit_events_time ON audit_events (occurred_at, action);
    CREATE INDEX audit_events_action ON audit_events (action);
    CREATE INDEX audit_events_ip ON audit_events (ip) WHERE ip IS NOT NULL;
    CREATE INDEX audit_events_request ON audit_events (request_id) WHERE request_id IS NOT NULL;
    CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END;
    CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused'); END;
    "#,
    // 2: retention through one gated path, and the log of archivals.
    r#"
    CREATE TABLE audit_retention_gate (upto_seq INTEGER NOT NULL);
    CREATE TABLE audit_archives (
        archived_at  INTEGER NOT NULL,
        from_seq     INTEGER NOT NULL,
        to_seq       INTEGER NOT NULL,
        anchor_hash  BLOB NOT NULL,
        last_hash    BLOB NOT NULL,
        file_sha256  BLOB NOT NULL,
        file_name    TEXT NOT NULL
    );
    DROP TRIGGER audit_events_no_delete;
    "#,
    // (The gated triggers of version 2 are created by `arm_triggers`.)
    // 3: the lookup indexes lead with the seq bucket (see `BUCKET_SHIFT`), so appends write
    // a few pages per commit instead of one per event per index. Rebuilding them takes
    // about 4 s per million stored events, once, inside the opening transaction.
    r#"
    DROP INDEX audit_events_actor;
    DROP INDEX audit_events_entity;
    DROP INDEX audit_events_ip;
    DROP INDEX audit_events_request;
    CREATE INDEX audit_events_actor ON audit_events (seq >> 13, actor_id)
        WHERE actor_id IS NOT NULL;
    CREATE INDEX audit_events_entity ON audit_events (seq >> 13, entity_id, entity_type)
        WHERE entity_id IS NOT NULL;
    CREATE INDEX audit_events_ip ON audit_events (seq >> 13, ip) WHERE ip IS NOT NULL;
    CREATE INDEX audit_events_request ON audit_events (seq >> 13, request_id)
        WHERE request_id IS NOT NULL;
    "#,
    // 4: the retention gate is a function of the writer connection, not a table anyone
    // could insert into (see `retention_gate`); the new delete trigger is created by
    // `arm_triggers`.
    r#"
    DROP TRIGGER IF EXISTS audit_events_no_delete;
    DROP TABLE audit_retention_gate;
    "#,
    // 5: the Merkle tree (one row of stored hashes per event; runs of rows since 7) and the
    // signed checkpoints. The tree of the events already stored is built by `tree::build`
    // in the step to 7.
    r#"
    CREATE TABLE audit_tree (seq INTEGER PRIMARY KEY NOT NULL, hashes BLOB NOT NULL);
    CREATE TABLE audit_checkpoints (
        tree_size  INTEGER PRIMARY KEY NOT NULL,
        root       BLOB NOT NULL,
        note       TEXT NOT NULL,
        signed_at  INTEGER NOT NULL
    );
    "#,
    // 6: a Bloom filter per complete bucket and key kind (see `bucket_filter`). The filters
    // of the buckets already stored are written by `bucket_filter::seal_through` in the same
    // transaction.
    r#"
    CREATE TABLE audit_bucket_filters (
        kind    INTEGER NOT NULL,
        bucket  INTEGER NOT NULL,
        bits    BLOB NOT NULL,
        PRIMARY KEY (kind, bucket)
    );
    "#,
    // 7: the tree's stored hashes in runs of up to 256 events per row (see `tree`), a few
    // inserts per batch instead of one per event. `tree::convert_rows` copies the rows of
    // `audit_tree` in the same transaction and drops it.
    r#"
    CREATE TABLE audit_tree_runs (
        first_seq  INTEGER PRIMARY KEY NOT NULL,
        last_seq   INTEGER NOT NULL,
        hashes     BLOB NOT NULL
    );
    "#,
];

/// Triggers of the current schema, re-created at open if someone dropped or redefined them.
const TRIGGERS: [(&str, &str); 10] = [
    (
        "audit_events_no_update",
        "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events \
         BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END",
    ),
    (
        "audit_events_no_delete",
        "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events \
         WHEN OLD.seq > audit_append_only_retention_gate() \
         BEGIN SELECT RAISE(ABORT, \
         'audit_events is append-only: DELETE refused (retention goes through SqliteStore::archive)'); \
         END",
    ),
    (
        "audit_archives_no_update",
        "CREATE TRIGGER audit_archives_no_update BEFORE UPDATE ON audit_archives \
         BEGIN SELECT RAISE(ABORT, 'audit_archives is append-only'); END",
    ),
    (
        "audit_archives_no_delete",
        "CREATE TRIGGER audit_archives_no_delete BEFORE DELETE ON audit_archives \
         BEGIN SELECT RAISE(ABORT, 'audit_archives is append-only'); END",
    ),
    // The tree and the checkpoints are kept when events are archived: old checkpoints stay
    // provable.
    (
        "audit_tree_runs_no_update",
        "CREATE TRIGGER audit_tree_runs_no_update BEFORE UPDATE ON audit_tree_runs \
         BEGIN SELECT RAISE(ABORT, 'audit_tree_runs is append-only'); END",
    ),
    (
        "audit_tree_runs_no_delete",
        "CREATE TRIGGER audit_tree_runs_no_delete BEFORE DELETE ON audit_tree_runs \
         BEGIN SELECT RAISE(ABORT, 'audit_tree_runs is append-only'); END",
    ),
    (
        "audit_checkpoints_no_update",
        "CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints \
         BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END",
    ),
    (
        "audit_checkpoints_no_delete",
        "CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints \
         BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END",
    ),
    // A filter only narrows lookups (a missing one makes its bucket sought), but one
    // rewritten to exclude a key would hide that key's events from them.
    (
        "audit_bucket_filters_no_update",
        "CREATE TRIGGER audit_bucket_filters_no_update BEFORE UPDATE ON audit_bucket_filters \
         BEGIN SELECT RAISE(ABORT, 'audit_bucket_filters is append-only'); END",
    ),
    (
        "audit_bucket_filters_no_delete",
        "CREATE TRIGGER audit_bucket_filters_no_delete BEFORE DELETE ON audit_bucket_filters \
         BEGIN SELECT RAISE(ABORT, 'audit_bucket_filters is append-only'); END",
    ),
];

const HASHER_CHECK_INPUT: &[u8] = b"audit-sqlite hasher check v1";

/// Maps the errors SQLite gives for a file that is not a database to [`Error::NotADatabase`].
pub(crate) fn open_error(path: &Path, err: rusqlite::Error) -> Error {
    match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => Error::NotADatabase {
            path: path.to_path_buf(),
            source: err,
        },
        _ => Error::from(err),
    }
}

/// Brings the file to [`SCHEMA_VERSION`] (or refuses it), checks the hasher, and re-arms
/// the append-only triggers. Runs in one `BEGIN IMMEDIATE` transaction, so concurrent
/// openers in other processes serialise.
pub(crate) fn prepare(conn: &mut Connection, path: &Path, hasher: &ChainHasher) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| open_error(path, e))?;
    let found = schema_version(&tx, path)?;
    if found > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    migrate(&tx, found, SCHEMA_VERSION)?;
    check_hasher(&tx, hasher)?;
    // A trigger missing from a current schema was dropped by hand: worth a warning.
    arm_triggers(&tx, found == SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

/// The schema version of the file: 0 for a file without our tables.
fn schema_version(conn: &Connection, path: &Path) -> Result<u32> {
    let table_exists = |name: &str| -> Result<bool> {
        conn.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [name],
            |row| row.get::<_, i64>(0),
        )
        .map(|n| n > 0)
        .map_err(|e| open_error(path, e))
    };
    let foreign = |detail: String| Error::Foreign {
        path: path.to_path_buf(),
        detail,
    };
    if !table_exists("audit_meta")? {
        if table_exists("audit_events")? {
            return Err(foreign(
                "it has an `audit_events` table but no `audit_meta` table".into(),
            ));
        }
        return Ok(0);
    }
    let format = meta_get(conn, "format")
        .map_err(|e| foreign(format!("its `audit_meta` table cannot be read ({e})")))?;
    if format.as_deref() != Some(FORMAT) {
        return Err(foreign(format!(
            "its `audit_meta` format is {format:?}, expected {FORMAT:?}"
        )));
    }
    let version = meta_get(conn, "schema_version")?
        .ok_or_else(|| foreign("its schema version is missing".into()))?;
    version
        .parse()
        .map_err(|_| foreign(format!("its schema version {version:?} is not a number")))
}

/// Applies the migrations from `from` up to `to`.
pub(crate) fn migrate(conn: &Connection, from: u32, to: u32) -> Result<()> {
    for version in from..to {
        let sql = MIGRATIONS
            .get(version as usize)
            .ok_or_else(|| Error::InvalidRequest(format!("no migration from version {version}")))?;
        conn.execute_batch(sql)?;
        if version == 6 {
            crate::tree::convert_rows(conn)?;
            // A file from before the tree has an empty one to build.
            if from <= 4 {
                crate::tree::build(conn)?;
            }
        }
        if version == 5 {
            let last: Option<i64> =
                conn.query_row("SELECT max(seq) FROM audit_events", [], |row| row.get(0))?;
            if let Some(last) = last.and_then(|s| u64::try_from(s).ok()) {
                crate::bucket_filter::seal_through(conn, last)?;
            }
        }
        if version == 0 {
            meta_set(conn, "format", FORMAT)?;
        }
        meta_set(conn, "schema_version", &(version + 1).to_string())?;
        if from > 0 {
            tracing::info!(
                from = version,
                to = version + 1,
                "audit-sqlite schema upgraded"
            );
        }
    }
    Ok(())
}

fn check_hasher(conn: &Connection, hasher: &ChainHasher) -> Result<()> {
    let configured = hasher.algorithm().as_str();
    let check = hasher.hash_bytes(HASHER_CHECK_INPUT).to_hex();
    match (
        meta_get(conn, "chain_algorithm")?,
        meta_get(conn, "hasher_check")?,
    ) {
        (Some(stored), Some(stored_check)) => {
            if stored != configured || stored_check != check {
                let stored = if stored == configured {
                    format!("{stored} with another key")
                } else {
                    stored
                };
                return Err(Error::HasherMismatch {
                    stored,
                    configured: configured.to_owned(),
                });
            }
        }
        _ => {
            meta_set(conn, "chain_algorithm", configured)?;
            meta_set(conn, "hasher_check", &check)?;
        }
    }
    Ok(())
}

fn arm_triggers(conn: &Connection, warn: bool) -> Result<()> {
    for (name, sql) in TRIGGERS {
        let present: Option<String> = conn
            .query_row(
                "SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND name = ?1",
                [name],
                |row| row.get(0),
            )
            .optional()?;
        if present.as_deref() == Some(sql) {
            continue;
        }
        if present.is_some() {
            // Same name, another definition (a weakened trigger): replace it.
            conn.execute_batch(&format!("DROP TRIGGER {name}"))?;
        }
        conn.execute_batch(sql)?;
        if warn {
            tracing::warn!(
                trigger = name,
                redefined = present.is_some(),
                "audit-sqlite re-created a missing or altered append-only trigger"
            );
        }
    }
    Ok(())
}

pub(crate) fn meta_get(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT value FROM audit_meta WHERE key = ?1",
        [key],
        |row| row.get(0),
    )
    .optional()
}

pub(crate) fn meta_set(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO audit_meta (key, value) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )
    .map(|_| ())
}

/// Where the live chain starts: genesis, or the last archived event.
pub(crate) fn anchor(conn: &Connection) -> Result<ChainAnchor> {
    let seq = meta_get(conn, "anchor_seq")?;
    let hash = meta_get(conn, "anchor_hash")?;
    match (seq, hash) {
        (Some(seq), Some(hash)) => {
            let seq = seq
                .parse()
                .map_err(|_| Error::corrupt_record(0, format!("bad anchor seq {seq:?}")))?;
            let hash: ChainHash = hash
                .parse()
                .map_err(|_| Error::corrupt_record(seq, "bad anchor hash"))?;
            Ok(ChainAnchor { seq, hash })
        }
        _ => Ok(ChainAnchor::GENESIS),
    }
}

/// Moves the live chain's anchor (archival only).
pub(crate) fn set_anchor(conn: &Connection, anchor: ChainAnchor) -> Result<()> {
    meta_set(conn, "anchor_seq", &anchor.seq.to_string())?;
    meta_set(conn, "anchor_hash", &anchor.hash.to_hex())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(conn: &Connection) -> Option<String> {
        meta_get(conn, "schema_version").ok().flatten()
    }

    #[test]
    fn a_version_1_file_is_upgraded_to_the_current_schema() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("v1.db");
        let mut conn = Connection::open(&path)?;
        migrate(&conn, 0, 1)?;
        assert_eq!(version(&conn).as_deref(), Some("1"));
        prepare(&mut conn, &path, &ChainHasher::sha256())?;
        assert_eq!(version(&conn), Some(SCHEMA_VERSION.to_string()));
        let gate_in_trigger: String = conn.query_row(
            "SELECT sql FROM sqlite_schema WHERE name = 'audit_events_no_delete'",
            [],
            |row| row.get(0),
        )?;
        assert!(gate_in_trigger.contains(crate::retention_gate::FUNCTION));
        Ok(())
    }

    #[test]
    fn a_version_3_file_loses_its_gate_table_to_the_gate_function() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("v3.db");
        let mut conn = Connection::open(&path)?;
        migrate(&conn, 0, 3)?;
        arm_v3_gate_trigger(&conn)?;
        prepare(&mut conn, &path, &ChainHasher::sha256())?;
        let tables: i64 = conn.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'audit_retention_gate'",
            [],
            |row| row.get(0),
        )?;
        assert_eq!(tables, 0);
        let trigger: String = conn.query_row(
            "SELECT sql FROM sqlite_schema WHERE name = 'audit_events_no_delete'",
            [],
            |row| row.get(0),
        )?;
        assert!(
            trigger.contains(crate::retention_gate::FUNCTION),
            "{trigger}"
        );
        Ok(())
    }

    /// The delete trigger a schema-3 file has (what today's main writes).
    fn arm_v3_gate_trigger(conn: &Connection) -> Result<()> {
        conn.execute_batch(
            "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events \
             WHEN NOT EXISTS (SELECT 1 FROM audit_retention_gate WHERE OLD.seq <= upto_seq) \
             BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )?;
        Ok(())
    }

    #[test]
    fn a_version_2_file_gets_bucketed_lookup_indexes() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("v2.db");
        let mut conn = Connection::open(&path)?;
        migrate(&conn, 0, 2)?;
        prepare(&mut conn, &path, &ChainHasher::sha256())?;
        for index in [
            "audit_events_actor",
            "audit_events_entity",
            "audit_events_ip",
            "audit_events_request",
        ] {
            let sql: String = conn.query_row(
                "SELECT sql FROM sqlite_schema WHERE type = 'index' AND name = ?1",
                [index],
                |row| row.get(0),
            )?;
            assert!(
                sql.contains(&format!("seq >> {BUCKET_SHIFT}")),
                "{index}: {sql}"
            );
        }
        Ok(())
    }

    #[test]
    fn opening_twice_keeps_the_version() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("twice.db");
        let mut conn = Connection::open(&path)?;
        prepare(&mut conn, &path, &ChainHasher::sha256())?;
        prepare(&mut conn, &path, &ChainHasher::sha256())?;
        assert_eq!(version(&conn), Some(SCHEMA_VERSION.to_string()));
        Ok(())
    }
}
