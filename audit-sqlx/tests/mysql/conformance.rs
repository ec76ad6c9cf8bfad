//! The audit-core conformance suite against MySqlStore, each check in a fresh database, with
//! tamper hooks that edit rows the way a user with the owner's rights would (triggers
//! dropped and put back).

use async_trait::async_trait;
use audit_conformance::{self as conformance, Backend, Tamper};
use audit_core::sink::BoxError;
use audit_core::{AuditEvent, ChainHasher};
use audit_sqlx::MySqlStore;
use sqlx_core::query::query;
use sqlx_core::query_scalar::query_scalar;
use sqlx_core::sql_str::AssertSqlSafe;
use sqlx_mysql::MySql;

use crate::common::*;

const COLUMNS: &str = "id, occurred_at, action, category, outcome, reason, actor_kind, actor_id, \
     entity_type, entity_id, description, ip, user_agent, request_id, session_id, tenant, \
     severity, metadata, prev_hash, hash";

struct MySqlTamper {
    url: String,
    store: MySqlStore,
}

impl MySqlTamper {
    async fn untriggered(&self, sql: String) -> Result<(), BoxError> {
        Ok(untriggered(&self.url, &self.store, &sql).await?)
    }

    fn events(&self) -> String {
        table(&self.store, "events")
    }
}

#[async_trait]
impl Tamper for MySqlTamper {
    async fn modify_description(&self, seq: u64, description: &str) -> Result<(), BoxError> {
        let hex: String = description.bytes().map(|b| format!("{b:02x}")).collect();
        self.untriggered(format!(
            "UPDATE {} SET description = CONVERT(X'{hex}' USING utf8mb4) WHERE seq = {seq}",
            self.events()
        ))
        .await
    }

    async fn delete(&self, seq: u64) -> Result<(), BoxError> {
        self.untriggered(format!("DELETE FROM {} WHERE seq = {seq}", self.events()))
            .await
    }

    async fn swap(&self, a: u64, b: u64) -> Result<(), BoxError> {
        let t = self.events();
        let set: Vec<String> = COLUMNS
            .split(", ")
            .map(|c| format!("e.{c} = o.{c}"))
            .collect();
        // Copy both rows aside and park their ids first: `id` is unique.
        self.untriggered(format!(
            "CREATE TEMPORARY TABLE swap_rows AS SELECT * FROM {t} WHERE seq IN ({a}, {b}); \
             UPDATE {t} SET id = UNHEX(REPLACE(UUID(), '-', '')) WHERE seq IN ({a}, {b}); \
             UPDATE {t} AS e JOIN swap_rows AS o ON o.seq = IF(e.seq = {a}, {b}, {a}) \
             SET {} WHERE e.seq IN ({a}, {b}); \
             DROP TEMPORARY TABLE swap_rows",
            set.join(", ")
        ))
        .await
    }

    async fn truncate_after(&self, seq: u64) -> Result<(), BoxError> {
        self.untriggered(format!("DELETE FROM {} WHERE seq > {seq}", self.events()))
            .await
    }

    async fn insert_forged(&self, after_seq: u64, event: &AuditEvent) -> Result<(), BoxError> {
        let t = self.events();
        // Make room: later records move up by one, highest first (seq is the primary key).
        self.untriggered(format!(
            "UPDATE {t} SET seq = seq + 1 WHERE seq > {after_seq} ORDER BY seq DESC"
        ))
        .await?;
        insert_row(&self.url, &t, after_seq + 1, event, None).await
    }

    fn supports_insert(&self) -> bool {
        true
    }
}

/// Inserts `event` at `seq` as a forger would: linked to the stored hash of `seq - 1` (or to
/// `prev` when given) with a plain SHA-256 hash, through `url`'s user.
pub async fn insert_row(
    url: &str,
    events_table: &str,
    seq: u64,
    event: &AuditEvent,
    prev: Option<audit_core::chain::ChainHash>,
) -> Result<(), BoxError> {
    let mut conn = connect(url).await;
    let prev = match prev {
        Some(prev) => prev,
        None => {
            let bytes: Vec<u8> = query_scalar::<MySql, Vec<u8>>(AssertSqlSafe(format!(
                "SELECT hash FROM {events_table} WHERE seq = ?"
            )))
            .bind(seq - 1)
            .fetch_one(&mut conn)
            .await?;
            audit_core::chain::ChainHash::from_slice(&bytes)?
        }
    };
    let hash = ChainHasher::sha256().hash(&prev, event);
    let e = event;
    let ip = e.ip.map(|ip| match ip {
        std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
        std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
    });
    query::<MySql>(AssertSqlSafe(format!(
        "INSERT INTO {events_table} (seq, {COLUMNS}) VALUES \
         (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )))
    .bind(seq)
    .bind(e.id)
    .bind(e.occurred_at.naive_utc())
    .bind(e.action.to_string())
    .bind(e.category.as_str())
    .bind(e.outcome.as_str())
    .bind(e.reason.clone())
    .bind(e.actor.as_ref().map(|a| a.kind.as_str()))
    .bind(e.actor.as_ref().map(|a| a.id.clone()))
    .bind(e.entity_type.as_ref().map(|s| s.to_string()))
    .bind(e.entity_id.clone())
    .bind(e.description.clone())
    .bind(ip)
    .bind(e.user_agent.clone())
    .bind(e.request_id.clone())
    .bind(e.session_id.clone())
    .bind(e.tenant.clone())
    .bind(e.severity.as_str())
    .bind(serde_json::to_string(&e.metadata)?)
    .bind(prev.as_bytes().to_vec())
    .bind(hash.as_bytes().to_vec())
    .execute(&mut conn)
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_store_passes_the_conformance_suite() {
    let url = require_mysql!();
    conformance::run(|| {
        let url = url.clone();
        async move {
            let store = fresh_store(&url, "conf").await;
            let tamper = MySqlTamper {
                url: url.clone(),
                store: store.clone(),
            };
            Backend::new(store.clone(), store).with_tamper(tamper)
        }
    })
    .await;
}
