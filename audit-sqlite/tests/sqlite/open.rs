//! Opening files: fresh, reopened, foreign, corrupt, newer, with another key.

use crate::common::{db_path, events, raw, runtime};
use audit_core::{AuditStore, ChainHasher};
use audit_sqlite::{Error, SCHEMA_VERSION, SqliteOptions, SqliteStore};

#[test]
fn a_file_of_random_bytes_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    std::fs::write(
        &path,
        (0..8192u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, Error::NotADatabase { .. }), "{err:?}");
}

#[test]
fn a_text_file_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    std::fs::write(&path, "hello, this is not SQLite at all\n".repeat(200)).unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, Error::NotADatabase { .. }), "{err:?}");
}

#[test]
fn a_foreign_audit_events_table_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    raw(&path)
        .execute_batch("CREATE TABLE audit_events (id INTEGER PRIMARY KEY, what TEXT);")
        .unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, Error::Foreign { .. }), "{err:?}");
}

#[test]
fn a_meta_table_of_another_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    raw(&path)
        .execute_batch(
            "CREATE TABLE audit_meta (key TEXT PRIMARY KEY, value TEXT);
             INSERT INTO audit_meta VALUES ('format', 'something-else');",
        )
        .unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, Error::Foreign { .. }), "{err:?}");
}

#[test]
fn a_newer_schema_is_refused_with_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    drop(SqliteStore::open(&path).unwrap());
    raw(&path)
        .execute(
            "UPDATE audit_meta SET value = ?1 WHERE key = 'schema_version'",
            [(SCHEMA_VERSION + 1).to_string()],
        )
        .unwrap();
    match SqliteStore::open(&path) {
        Err(Error::SchemaTooNew { found, supported }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[test]
fn an_application_database_gains_the_audit_tables_and_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    raw(&path)
        .execute_batch(
            "CREATE TABLE bookings (id INTEGER PRIMARY KEY); INSERT INTO bookings VALUES (1);
             PRAGMA user_version = 41;",
        )
        .unwrap();
    drop(SqliteStore::open(&path).unwrap());
    let conn = raw(&path);
    let bookings: i64 = conn
        .query_row("SELECT count(*) FROM bookings", [], |r| r.get(0))
        .unwrap();
    let user_version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!((bookings, user_version), (1, 41));
}

#[test]
fn another_hmac_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let config = |key: &[u8]| SqliteOptions::new(&path).hasher(ChainHasher::hmac_sha256(key));
    drop(SqliteStore::open_with(config(b"right key")).unwrap());
    let err = SqliteStore::open_with(config(b"wrong key")).unwrap_err();
    assert!(matches!(err, Error::HasherMismatch { .. }), "{err:?}");
}

#[test]
fn plain_sha256_is_refused_on_an_hmac_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    drop(
        SqliteStore::open_with(SqliteOptions::new(&path).hasher(ChainHasher::hmac_sha256(b"k")))
            .unwrap(),
    );
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, Error::HasherMismatch { .. }), "{err:?}");
}

#[test]
fn reopening_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    runtime().block_on(async {
        let first = SqliteStore::open(&path).unwrap();
        first.append(&events(3, "A_ONE")).await.unwrap();
        drop(first);
        let again = SqliteStore::open(&path).unwrap();
        let positions = again.append(&events(2, "A_TWO")).await.unwrap();
        assert_eq!(positions[1].seq, 5);
        assert!(
            again
                .verify(Default::default(), None)
                .await
                .unwrap()
                .is_valid()
        );
    });
}

#[test]
fn a_dropped_trigger_is_re_created_when_the_store_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    runtime().block_on(async {
        let store = SqliteStore::open(&path).unwrap();
        store.append(&events(1, "A_ONE")).await.unwrap();
        drop(store);
    });
    raw(&path)
        .execute_batch("DROP TRIGGER audit_events_no_update;")
        .unwrap();
    drop(SqliteStore::open(&path).unwrap());
    let err = raw(&path)
        .execute("UPDATE audit_events SET action = 'X' WHERE seq = 1", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}

#[test]
fn a_store_works_without_an_async_runtime_for_reads() {
    let (store, _dir) = crate::common::fresh_store();
    runtime()
        .block_on(store.append(&events(2, "A_ONE")))
        .unwrap();
    // Polled by a runtime, but the blocking read also works when called from a plain thread.
    let n = store
        .for_each_blocking(&Default::default(), |_| Ok(()))
        .unwrap();
    assert_eq!(n, 2);
}
