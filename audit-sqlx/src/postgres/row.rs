//! Reading `audit_events` columns from a PostgreSQL row.

use std::net::IpAddr;

use audit_core::fields::{Field, FieldReader};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx_core::row::Row;
use sqlx_core::types::Json;
use sqlx_postgres::{PgRow, Postgres};
use uuid::Uuid;

use crate::fields::{ChainRow, column_of};

/// A row selected with [`event_columns`](crate::fields::event_columns).
pub(crate) struct PgColumns<'r>(pub &'r PgRow);

impl PgColumns<'_> {
    fn get<'r, T>(&'r self, column: usize) -> Result<T, String>
    where
        T: sqlx_core::decode::Decode<'r, Postgres> + sqlx_core::types::Type<Postgres>,
    {
        self.0.try_get(column).map_err(|err| err.to_string())
    }
}

impl FieldReader for PgColumns<'_> {
    type Error = String;

    fn id(&mut self, field: Field) -> Result<Uuid, String> {
        self.get(column_of(field))
    }

    fn time(&mut self, field: Field) -> Result<DateTime<Utc>, String> {
        self.get(column_of(field))
    }

    fn text(&mut self, field: Field) -> Result<Option<String>, String> {
        self.get(column_of(field))
    }

    fn ip(&mut self, field: Field) -> Result<Option<IpAddr>, String> {
        self.get(column_of(field))
    }

    fn json(&mut self, field: Field) -> Result<Value, String> {
        self.get::<Json<Value>>(column_of(field)).map(|Json(v)| v)
    }
}

impl ChainRow for PgColumns<'_> {
    fn seq(&self) -> Result<u64, String> {
        let raw: i64 = self.get(0)?;
        u64::try_from(raw).map_err(|_| format!("negative seq {raw}"))
    }

    fn bytes(&self, column: usize) -> Result<Vec<u8>, String> {
        self.get(column)
    }
}
