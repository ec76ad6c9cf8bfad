//! The schema name and the SQL text built from it once, when a store is opened.

use std::sync::Arc;

use sqlx_core::sql_str::{AssertSqlSafe, SqlSafeStr, SqlStr};

use crate::error::Result;
use audit_core::fields::{Field, FieldKind};

use crate::fields::event_columns;
use crate::ident::NameRule;

/// The PostgreSQL type of a field's column (and of its `UNNEST` array's elements).
pub(crate) fn column_type(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Id => "uuid",
        FieldKind::Time => "timestamptz",
        FieldKind::Ip => "inet",
        FieldKind::Json => "jsonb",
        FieldKind::Text { .. } => "text",
    }
}

/// `$1::bigint[], $2::uuid[], …`: the `UNNEST` arguments for every column.
fn unnest_params() -> String {
    let types = std::iter::once("bigint")
        .chain(Field::ALL.iter().map(|f| column_type(f.kind())))
        .chain(["bytea", "bytea"]);
    types
        .enumerate()
        .map(|(i, ty)| format!("${}::{ty}[]", i + 1))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A validated PostgreSQL schema name: only `[a-z_][a-z0-9_]{0,62}`, not starting with `pg_`,
/// so it can be spliced into SQL text without quoting surprises (schema names cannot be bind
/// parameters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SchemaName(Arc<str>);

const SCHEMA_NAME: NameRule = NameRule {
    kind: "schema name",
    max_len: 63,
    reserved_prefix: Some("pg_"),
};

impl SchemaName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<Self> {
        SCHEMA_NAME.check(name).map(Self)
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as a quoted SQL identifier.
    pub(crate) fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

impl Default for SchemaName {
    fn default() -> Self {
        Self("audit".into())
    }
}

impl std::fmt::Display for SchemaName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// SQL text with the schema spliced in, built once per store.
#[derive(Debug, Clone)]
pub(crate) struct Sql {
    pub schema: SchemaName,
    pub events: String,
    pub lock_head: SqlStr,
    pub set_head: SqlStr,
    pub copy_in: SqlStr,
    pub insert_unnest: SqlStr,
    pub get: SqlStr,
    pub find_ids: SqlStr,
    pub max_seq: SqlStr,
    pub head: SqlStr,
    pub scan: SqlStr,
    pub latest_anchor: SqlStr,
    pub hash_at: SqlStr,
    pub outbox_insert: SqlStr,
    /// [`outbox_insert`](Self::outbox_insert) and the relay's wake-up in one statement with
    /// one text parameter, for a service whose connection is another driver's.
    pub outbox_insert_text: String,
    pub outbox_take: SqlStr,
    pub outbox_reject: SqlStr,
    pub outbox_delete: SqlStr,
    pub outbox_notify: SqlStr,
}

fn sql(text: String) -> SqlStr {
    AssertSqlSafe(text).into_sql_str()
}

impl Sql {
    pub fn new(schema: SchemaName) -> Self {
        let s = schema.quoted();
        let events = format!("{s}.audit_events");
        let columns = event_columns();
        Self {
            lock_head: sql(format!(
                "SELECT seq, hash, algorithm, tree_frontier, checkpoint_size \
                 FROM {s}.audit_chain_head WHERE singleton FOR UPDATE"
            )),
            set_head: sql(format!(
                "UPDATE {s}.audit_chain_head SET seq = $1, hash = $2, algorithm = $3, \
                 tree_frontier = coalesce($4, tree_frontier) WHERE singleton"
            )),
            copy_in: sql(format!(
                "COPY {events} ({columns}) FROM STDIN (FORMAT binary)"
            )),
            insert_unnest: sql(format!(
                "INSERT INTO {events} ({columns}) SELECT * FROM UNNEST({params})",
                params = unnest_params()
            )),
            get: sql(format!("SELECT {columns} FROM {events} WHERE seq = $1")),
            max_seq: sql(format!("SELECT max(seq) FROM {events}")),
            find_ids: sql(format!(
                "SELECT id, seq, hash FROM {events} WHERE id = ANY($1)"
            )),
            head: sql(format!(
                "SELECT seq, hash FROM {s}.audit_chain_head WHERE singleton"
            )),
            scan: sql(format!(
                "SELECT {columns} FROM {events} WHERE seq > $1 AND seq <= $2 \
                 ORDER BY seq LIMIT $3"
            )),
            latest_anchor: sql(format!(
                "SELECT seq, hash FROM {s}.audit_anchors ORDER BY seq DESC LIMIT 1"
            )),
            hash_at: sql(format!("SELECT hash FROM {events} WHERE seq = $1")),
            outbox_insert: sql(format!("INSERT INTO {s}.audit_outbox (event) VALUES ($1)")),
            outbox_insert_text: format!(
                "WITH queued AS (INSERT INTO {s}.audit_outbox (event) VALUES (CAST($1 AS jsonb)) \
                 RETURNING id) SELECT pg_notify('{}', '') FROM queued",
                notify_channel(&schema)
            ),
            // As text: a row that is not an event is moved aside, not a decoding error.
            outbox_take: sql(format!(
                "SELECT id, event::text FROM {s}.audit_outbox ORDER BY id LIMIT $1"
            )),
            outbox_reject: sql(format!(
                "INSERT INTO {s}.audit_outbox_rejected (id, event, reason) VALUES ($1, $2, $3)"
            )),
            outbox_delete: sql(format!("DELETE FROM {s}.audit_outbox WHERE id = ANY($1)")),
            outbox_notify: sql(format!(
                "SELECT pg_notify('{}', '')",
                notify_channel(&schema)
            )),
            events,
            schema,
        }
    }
}

/// The LISTEN/NOTIFY channel the outbox uses to wake its relay.
pub(crate) fn notify_channel(schema: &SchemaName) -> String {
    format!("{}_audit_outbox", schema.as_str())
}
