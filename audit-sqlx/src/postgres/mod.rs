//! The PostgreSQL backend: [`PgStore`] and its options (the crate docs are its guide).

mod encode;
mod migrate;
mod outbox;
mod read;
mod retention;
mod row;
mod schema;
mod store;
mod tree;
mod write;

pub use migrate::SCHEMA_VERSION;
pub use schema::SchemaName;
pub use store::{PgOptions, PgStore};
pub use write::InsertMode;
