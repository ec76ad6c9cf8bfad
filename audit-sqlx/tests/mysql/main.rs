//! MySqlStore against a real MariaDB (or MySQL) server, one test binary: start one with
//! `scripts/mariadb.sh run -- cargo test -p audit-sqlx --features mysql --test mysql`, which
//! sets `MYSQL_URL`. Without it the tests skip with a loud message, unless `CI` is set, where
//! they fail. Each test works in a database of its own.
#![cfg(feature = "mysql")]

#[path = "../support/mod.rs"]
mod support;

mod common;

mod append_only;
mod archive;
mod ci_guard;
mod conformance;
mod export;
mod grants;
mod hostile;
mod multiprocess;
mod outbox;
mod store;
mod tlog;
mod tree_guards;
