//! What PostgreSQL decodes its own way: `bigint` seqs, `inet`, `jsonb`.

use std::net::IpAddr;

use serde_json::Value;
use sqlx_core::types::Json;
use sqlx_postgres::PgRow;

use crate::fields::{RowCodec, column};

impl RowCodec for PgRow {
    fn seq_at(&self, i: usize) -> Result<u64, String> {
        let raw: i64 = column(self, i)?;
        u64::try_from(raw).map_err(|_| format!("negative seq {raw}"))
    }

    fn ip_at(&self, i: usize) -> Result<Option<IpAddr>, String> {
        column(self, i)
    }

    fn json_at(&self, i: usize) -> Result<Value, String> {
        column::<_, Json<Value>>(self, i).map(|Json(v)| v)
    }
}
