//! The store's own connections. Every database access of the MySQL backend goes through
//! [`Db`], so how connections are made and on which runtime they live is decided here alone.

use sqlx_core::connection::{ConnectOptions, Connection};
use sqlx_core::executor::Executor;
use sqlx_core::pool::PoolConnection;
use sqlx_core::raw_sql::raw_sql;
use sqlx_core::sql_str::AssertSqlSafe;
use sqlx_core::transaction::Transaction;
use sqlx_mysql::{MySql, MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions};

use super::options::MySqlOptions;
use crate::error::Result;

/// The pool, and how to open a connection outside it.
#[derive(Debug)]
pub(crate) struct Db {
    pool: MySqlPool,
    connect: MySqlConnectOptions,
    session: String,
}

/// What every session of the store sets before its first statement: `READ COMMITTED`, so a
/// write transaction that waited for the head lock reads what committed meanwhile (the
/// outbox rows, the stored ids) rather than a snapshot from before; strict mode, so a value
/// a column cannot hold is an error and never silently changed; and the lock and idle
/// timeouts (the idle one exists only in MariaDB, hence the executable comment).
fn session_setup(options: &MySqlOptions) -> String {
    let lock = options.lock_wait_timeout.as_secs().max(1);
    let idle = options.idle_in_transaction_timeout.as_secs().max(1);
    format!(
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED; \
         SET SESSION sql_mode = CONCAT(@@sql_mode, ',STRICT_ALL_TABLES'), \
         innodb_lock_wait_timeout = {lock} /*M!100300 , idle_transaction_timeout = {idle} */"
    )
}

impl Db {
    /// Opens the pool; every connection runs [`session_setup`] once.
    pub async fn open(options: &MySqlOptions) -> Result<Self> {
        let connect: MySqlConnectOptions = options.url.parse()?;
        let session = session_setup(options);
        let setup = session.clone();
        let pool = MySqlPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .after_connect(move |conn, _meta| {
                let setup = setup.clone();
                Box::pin(async move {
                    conn.execute(raw_sql(AssertSqlSafe(setup))).await?;
                    Ok(())
                })
            })
            .connect_with(connect.clone())
            .await?;
        Ok(Self {
            pool,
            connect,
            session,
        })
    }

    /// A transaction on a pooled connection.
    pub async fn begin(&self) -> Result<Transaction<'static, MySql>> {
        Ok(self.pool.begin().await?)
    }

    /// A pooled connection.
    pub async fn acquire(&self) -> Result<PoolConnection<MySql>> {
        Ok(self.pool.acquire().await?)
    }

    /// A connection of its own, never returned to the pool: for sessions that change state a
    /// pooled connection must not carry on (the retention marker, migration locks).
    pub async fn detached(&self) -> Result<MySqlConnection> {
        let mut conn = self.connect.connect().await?;
        conn.execute(raw_sql(AssertSqlSafe(self.session.clone())))
            .await?;
        Ok(conn)
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Closes a [`Db::detached`] connection (errors closing it do not matter: it is dropped).
pub(crate) async fn close_detached(conn: MySqlConnection) {
    let _ = conn.close().await;
}
