//! Where a store's tables live (an optional database and a table prefix), and the SQL text
//! built from those names once, when a store is opened.

use std::fmt;
use std::sync::Arc;

use sqlx_core::sql_str::{AssertSqlSafe, SqlSafeStr, SqlStr};

use crate::fields::event_columns;
use crate::ident::NameRule;

/// The longest table suffix the store uses (`schema_migrations`) must fit MySQL's 64-byte
/// identifiers after the prefix.
const LONGEST_SUFFIX: usize = "schema_migrations".len();

pub(crate) const DATABASE_NAME: NameRule = NameRule {
    kind: "database name",
    max_len: 64,
    reserved_prefix: None,
};

pub(crate) const TABLE_PREFIX: NameRule = NameRule {
    kind: "table prefix",
    max_len: 64 - LONGEST_SUFFIX,
    reserved_prefix: None,
};

/// The database (when not the connection's own) and the table prefix of one store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Names {
    pub database: Option<Arc<str>>,
    pub prefix: Arc<str>,
}

impl Default for Names {
    fn default() -> Self {
        Self {
            database: None,
            prefix: "audit_".into(),
        }
    }
}

impl Names {
    /// `` `db`.`` or nothing: the qualifier of table and trigger names.
    pub fn qualifier(&self) -> String {
        match &self.database {
            Some(db) => format!("`{db}`."),
            None => String::new(),
        }
    }

    /// The quoted, qualified name of the store's table `suffix` (`events`, `chain_head`, ...).
    pub fn table(&self, suffix: &str) -> String {
        format!("{}`{}{suffix}`", self.qualifier(), self.prefix)
    }
}

impl fmt::Display for Names {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.database {
            Some(db) => write!(f, "tables {db}.{}*", self.prefix),
            None => write!(f, "tables {}*", self.prefix),
        }
    }
}

/// SQL text with the table names spliced in, built once per store.
#[derive(Debug, Clone)]
pub(crate) struct Sql {
    pub names: Names,
    pub events: String,
    pub anchors: String,
    pub migrations: String,
    pub outbox: String,
    pub tree: String,
    pub checkpoints: String,
    pub tree_head: String,
    pub lock_head: SqlStr,
    pub set_head: SqlStr,
    pub head: SqlStr,
    /// `INSERT INTO events (...) VALUES ` (the row groups follow).
    pub insert_prefix: String,
    pub max_seq: SqlStr,
    pub get: SqlStr,
    pub scan: SqlStr,
    pub hash_at: SqlStr,
    pub latest_anchor: SqlStr,
    pub outbox_insert: SqlStr,
    pub outbox_take: SqlStr,
    pub outbox_reject: SqlStr,
}

fn sql(text: String) -> SqlStr {
    AssertSqlSafe(text).into_sql_str()
}

impl Sql {
    pub fn new(names: Names) -> Self {
        let events = names.table("events");
        let head = names.table("chain_head");
        let tree_head = names.table("tree_head");
        let anchors = names.table("anchors");
        let outbox = names.table("outbox");
        let rejected = names.table("outbox_rejected");
        let columns = event_columns();
        Self {
            lock_head: sql(format!(
                "SELECT h.seq, h.hash, h.algorithm, t.frontier, t.checkpoint_size \
                 FROM {head} h JOIN {tree_head} t ON t.singleton = 1 \
                 WHERE h.singleton = 1 FOR UPDATE"
            )),
            set_head: sql(format!(
                "UPDATE {head} h JOIN {tree_head} t ON t.singleton = 1 \
                 SET h.seq = ?, h.hash = ?, h.algorithm = ?, t.frontier = COALESCE(?, t.frontier) \
                 WHERE h.singleton = 1"
            )),
            head: sql(format!("SELECT seq, hash FROM {head} WHERE singleton = 1")),
            insert_prefix: format!("INSERT INTO {events} ({columns}) VALUES "),
            max_seq: sql(format!("SELECT MAX(seq) FROM {events}")),
            get: sql(format!("SELECT {columns} FROM {events} WHERE seq = ?")),
            scan: sql(format!(
                "SELECT {columns} FROM {events} WHERE seq > ? AND seq <= ? \
                 ORDER BY seq LIMIT ?"
            )),
            hash_at: sql(format!("SELECT hash FROM {events} WHERE seq = ?")),
            latest_anchor: sql(format!(
                "SELECT seq, hash FROM {anchors} ORDER BY seq DESC LIMIT 1"
            )),
            outbox_insert: sql(format!("INSERT INTO {outbox} (event) VALUES (?)")),
            outbox_take: sql(format!(
                "SELECT id, event FROM {outbox} ORDER BY id LIMIT ?"
            )),
            outbox_reject: sql(format!(
                "INSERT INTO {rejected} (id, event, reason) VALUES (?, ?, ?)"
            )),
            migrations: names.table("schema_migrations"),
            tree: names.table("tree"),
            checkpoints: names.table("checkpoints"),
            tree_head,
            events,
            anchors,
            outbox,
            names,
        }
    }
}
