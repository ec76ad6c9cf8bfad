//! The audit-core conformance suite against PgStore, each check on a fresh schema, with tamper
//! hooks that edit rows the way an attacker with owner rights would (triggers disabled).

use crate::common::*;
use async_trait::async_trait;
use audit_conformance::{self as conformance, Backend, Tamper};
use audit_core::sink::BoxError;
use audit_core::{AuditEvent, ChainHasher};
use sqlx_core::connection::Connection;
use sqlx_core::executor::Executor;
use sqlx_core::query::query;
use sqlx_core::raw_sql::raw_sql;
use sqlx_core::sql_str::AssertSqlSafe;
use sqlx_core::types::Json;
use sqlx_postgres::{PgConnection, Postgres};

struct PgTamper {
    url: String,
    schema: String,
}

impl PgTamper {
    /// Runs `sql` with the append-only triggers disabled, in one transaction.
    async fn untriggered(&self, sql: String) -> Result<(), BoxError> {
        let t = format!("{}.audit_events", self.schema);
        let mut conn = PgConnection::connect(&self.url).await?;
        conn.execute(raw_sql(AssertSqlSafe(format!(
            "BEGIN; ALTER TABLE {t} DISABLE TRIGGER USER; {sql}; \
             ALTER TABLE {t} ENABLE TRIGGER USER; COMMIT;"
        ))))
        .await?;
        Ok(())
    }
}

#[async_trait]
impl Tamper for PgTamper {
    async fn modify_description(&self, seq: u64, description: &str) -> Result<(), BoxError> {
        let quoted = description.replace('\'', "''");
        self.untriggered(format!(
            "UPDATE {}.audit_events SET description = '{quoted}' WHERE seq = {seq}",
            self.schema
        ))
        .await
    }

    async fn delete(&self, seq: u64) -> Result<(), BoxError> {
        self.untriggered(format!(
            "DELETE FROM {}.audit_events WHERE seq = {seq}",
            self.schema
        ))
        .await
    }

    async fn swap(&self, a: u64, b: u64) -> Result<(), BoxError> {
        let cols = "id, occurred_at, action, category, outcome, reason, actor_kind, actor_id, \
                    entity_type, entity_id, description, ip, user_agent, request_id, \
                    session_id, tenant, severity, metadata, prev_hash, hash";
        let t = format!("{}.audit_events", self.schema);
        // Copy both rows aside and park their ids first: `id` is unique, so a direct exchange
        // would collide half-way through the statement.
        self.untriggered(format!(
            "CREATE TEMP TABLE swap_rows ON COMMIT DROP AS \
                 SELECT * FROM {t} WHERE seq IN ({a}, {b}); \
             UPDATE {t} SET id = gen_random_uuid() WHERE seq IN ({a}, {b}); \
             UPDATE {t} AS x SET ({cols}) = (SELECT {cols} FROM swap_rows AS o \
             WHERE o.seq = CASE WHEN x.seq = {a} THEN {b} ELSE {a} END) \
             WHERE x.seq IN ({a}, {b})"
        ))
        .await
    }

    async fn truncate_after(&self, seq: u64) -> Result<(), BoxError> {
        self.untriggered(format!(
            "DELETE FROM {}.audit_events WHERE seq > {seq}",
            self.schema
        ))
        .await
    }

    async fn insert_forged(&self, after_seq: u64, event: &AuditEvent) -> Result<(), BoxError> {
        let t = format!("{}.audit_events", self.schema);
        // Make room: move later records up by one, highest first (seq is the primary key).
        self.untriggered(format!(
            "DO $$ DECLARE r record; BEGIN \
             FOR r IN SELECT seq FROM {t} WHERE seq > {after_seq} ORDER BY seq DESC LOOP \
             UPDATE {t} SET seq = seq + 1 WHERE seq = r.seq; END LOOP; END $$"
        ))
        .await?;
        let mut conn = PgConnection::connect(&self.url).await?;
        let prev: Vec<u8> = sqlx_core::query_scalar::query_scalar::<Postgres, Vec<u8>>(
            AssertSqlSafe(format!("SELECT hash FROM {t} WHERE seq = $1")),
        )
        .bind(after_seq as i64)
        .fetch_one(&mut conn)
        .await?;
        let prev = audit_core::chain::ChainHash::from_slice(&prev)?;
        let hash = ChainHasher::sha256().hash(&prev, event);
        let e = event;
        query::<Postgres>(AssertSqlSafe(format!(
            "INSERT INTO {t} (seq, id, occurred_at, action, category, outcome, reason, \
             actor_kind, actor_id, entity_type, entity_id, description, ip, user_agent, \
             request_id, session_id, tenant, severity, metadata, prev_hash, hash) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18, $19, $20, $21)"
        )))
        .bind(after_seq as i64 + 1)
        .bind(e.id)
        .bind(e.occurred_at)
        .bind(e.action.to_string())
        .bind(e.category.as_str())
        .bind(e.outcome.as_str())
        .bind(e.reason.clone())
        .bind(e.actor.as_ref().map(|a| a.kind.as_str()))
        .bind(e.actor.as_ref().map(|a| a.id.clone()))
        .bind(e.entity_type.as_ref().map(|s| s.to_string()))
        .bind(e.entity_id.clone())
        .bind(e.description.clone())
        .bind(e.ip)
        .bind(e.user_agent.clone())
        .bind(e.request_id.clone())
        .bind(e.session_id.clone())
        .bind(e.tenant.clone())
        .bind(e.severity.as_str())
        .bind(Json(&e.metadata))
        .bind(prev.as_bytes().to_vec())
        .bind(hash.as_bytes().to_vec())
        .execute(&mut conn)
        .await?;
        Ok(())
    }

    fn supports_insert(&self) -> bool {
        true
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_store_passes_the_conformance_suite() {
    let url = require_pg!();
    conformance::run(|| {
        let url = url.clone();
        async move {
            let store = fresh_store(&url, "conf").await;
            let tamper = PgTamper {
                url: url.clone(),
                schema: store.schema().as_str().to_string(),
            };
            Backend::new(store.clone(), store).with_tamper(tamper)
        }
    })
    .await;
}
