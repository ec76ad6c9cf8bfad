//! Reading `audit_events` columns from a PostgreSQL row.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx_core::row::Row;
use sqlx_core::types::Json;
use sqlx_postgres::PgRow;
use uuid::Uuid;

use crate::fields::FieldSource;

fn get<'r, T>(row: &'r PgRow, i: usize) -> Result<T, String>
where
    T: sqlx_core::decode::Decode<'r, sqlx_postgres::Postgres>
        + sqlx_core::types::Type<sqlx_postgres::Postgres>,
{
    row.try_get(i).map_err(|err| err.to_string())
}

impl FieldSource for PgRow {
    fn seq(&self, i: usize) -> Result<u64, String> {
        let raw: i64 = get(self, i)?;
        u64::try_from(raw).map_err(|_| format!("negative seq {raw}"))
    }

    fn id(&self, i: usize) -> Result<Uuid, String> {
        get(self, i)
    }

    fn time(&self, i: usize) -> Result<DateTime<Utc>, String> {
        get(self, i)
    }

    fn text(&self, i: usize) -> Result<Option<String>, String> {
        get(self, i)
    }

    fn ip(&self, i: usize) -> Result<Option<IpAddr>, String> {
        get(self, i)
    }

    fn json(&self, i: usize) -> Result<Value, String> {
        get::<Json<Value>>(self, i).map(|Json(v)| v)
    }

    fn bytes(&self, i: usize) -> Result<Vec<u8>, String> {
        get(self, i)
    }
}
