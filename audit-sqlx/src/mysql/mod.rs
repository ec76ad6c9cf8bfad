//! The MySQL and MariaDB backend: [`MySqlStore`] and its options (the crate docs are its
//! guide).

mod db;
mod migrate;
mod names;
mod options;
mod outbox;
mod read;
mod retention;
mod row;
mod store;
mod write;

pub use migrate::SCHEMA_VERSION;
pub use options::MySqlOptions;
pub use store::MySqlStore;
