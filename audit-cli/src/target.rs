//! Which store a URL names, opened with the chain's hasher.
//!
//! Adding a backend is one variant here: parse its URL scheme in [`Location::parse`], open
//! it in [`Target::open`], and hand out its [`AuditStore`] and archive method.

use std::path::{Path, PathBuf};
use std::time::Duration;

use audit_core::archive::ArchiveReport;
use audit_core::query::{AuditQuery, Order};
use audit_core::{AuditStore, ChainHasher};
use audit_sqlite::{SqliteOptions, SqliteStore};
use audit_sqlx::{MySqlOptions, MySqlStore, PgOptions, PgStore};
use chrono::{DateTime, Utc};
use sqlx_core::connection::Connection;

use crate::error::{CliError, one_line};

/// Where the audit log lives, parsed from `--db` / `AUDIT_DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `sqlite:PATH` (also `sqlite://PATH`).
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`.
    Postgres(String),
    /// `mysql://…` or `mariadb://…` (MySQL and MariaDB).
    Mysql(String),
}

impl Location {
    /// Parses a store URL; an unknown or missing scheme is a usage error naming the forms.
    pub fn parse(url: &str) -> Result<Self, CliError> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(CliError::usage("`sqlite:` needs a path: sqlite:PATH"));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        if url.starts_with("mysql://") {
            return Ok(Self::Mysql(url.to_owned()));
        }
        if let Some(rest) = url.strip_prefix("mariadb://") {
            return Ok(Self::Mysql(format!("mysql://{rest}")));
        }
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
        let hint = if scheme.is_empty() {
            format!(" (for a SQLite file, write sqlite:{url})")
        } else {
            String::new()
        };
        Err(CliError::usage(format!(
            "unsupported store URL {:?}: use sqlite:PATH, postgres://user@host:port/db or \
             mysql://user:password@host:port/db{hint}",
            redact(url)
        )))
    }
}

/// A URL with any password replaced, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// An opened store and the hasher it was opened with.
pub struct Target {
    backend: Backend,
    hasher: ChainHasher,
}

enum Backend {
    Sqlite(SqliteStore),
    Postgres(PgStore),
    Mysql(MySqlStore),
}

impl Target {
    /// Opens the store at `url` (`schema` for PostgreSQL; for MySQL the URL's database holds
    /// the tables) with `hasher`. An SQLite file must
    /// exist (a typo must not create an empty log); a wrong key, a schema newer than this
    /// tool, or a file that is not an audit store fail with one line.
    pub async fn open(url: &str, schema: &str, hasher: ChainHasher) -> Result<Self, CliError> {
        match Location::parse(url)? {
            Location::Sqlite(path) => Ok(Self {
                backend: Backend::Sqlite(open_sqlite(&path, hasher.clone())?),
                hasher,
            }),
            Location::Postgres(url) => {
                probe(&url, audit_sqlx::sqlx_postgres::PgConnection::connect(&url)).await?;
                let options = PgOptions::new(url.clone())
                    .schema(schema)
                    .map_err(|err| CliError::usage(one_line(&err)))?
                    .hasher(hasher.clone())
                    .max_connections(2)
                    .acquire_timeout(Duration::from_secs(10))
                    .migrate(false);
                let store = PgStore::connect_with(options).await.map_err(|err| {
                    CliError::failure(format!("cannot open {}: {}", redact(&url), one_line(&err)))
                })?;
                let target = Self {
                    backend: Backend::Postgres(store),
                    hasher,
                };
                target.check_key().await?;
                Ok(target)
            }
            Location::Mysql(url) => {
                probe(&url, audit_sqlx::sqlx_mysql::MySqlConnection::connect(&url)).await?;
                let options = MySqlOptions::new(url.clone())
                    .hasher(hasher.clone())
                    .max_connections(2)
                    .acquire_timeout(Duration::from_secs(10))
                    .migrate(false);
                let store = MySqlStore::connect_with(options).await.map_err(|err| {
                    CliError::failure(format!("cannot open {}: {}", redact(&url), one_line(&err)))
                })?;
                let target = Self {
                    backend: Backend::Mysql(store),
                    hasher,
                };
                target.check_key().await?;
                Ok(target)
            }
        }
    }

    /// The read side.
    pub fn store(&self) -> &dyn AuditStore {
        match &self.backend {
            Backend::Sqlite(store) => store,
            Backend::Postgres(store) => store,
            Backend::Mysql(store) => store,
        }
    }

    /// The read side, shared (for the dashboard).
    pub fn shared_store(&self) -> std::sync::Arc<dyn AuditStore> {
        match &self.backend {
            Backend::Sqlite(store) => std::sync::Arc::new(store.clone()),
            Backend::Postgres(store) => std::sync::Arc::new(store.clone()),
            Backend::Mysql(store) => std::sync::Arc::new(store.clone()),
        }
    }

    /// The store as a sink, for what a command records into it (`serve` records its
    /// operator's views and exports).
    pub fn sink(&self) -> std::sync::Arc<dyn audit_core::AuditSink> {
        match &self.backend {
            Backend::Sqlite(store) => std::sync::Arc::new(store.clone()),
            Backend::Postgres(store) => std::sync::Arc::new(store.clone()),
            Backend::Mysql(store) => std::sync::Arc::new(store.clone()),
        }
    }

    /// The read side with the Merkle tree (proofs, checkpoints, bundles).
    pub fn log(&self) -> &dyn audit_core::tlog::TransparentStore {
        match &self.backend {
            Backend::Sqlite(store) => store,
            Backend::Postgres(store) => store,
            Backend::Mysql(store) => store,
        }
    }

    /// The read side with the Merkle tree, shared (for a tenant's view of it).
    pub fn shared_log(&self) -> std::sync::Arc<dyn audit_core::tlog::TransparentStore> {
        match &self.backend {
            Backend::Sqlite(store) => std::sync::Arc::new(store.clone()),
            Backend::Postgres(store) => std::sync::Arc::new(store.clone()),
            Backend::Mysql(store) => std::sync::Arc::new(store.clone()),
        }
    }

    /// The hasher the store was opened with.
    pub fn hasher(&self) -> &ChainHasher {
        &self.hasher
    }

    /// Archives the events before `before` into `path` and removes them from the store.
    pub async fn archive(
        &self,
        before: DateTime<Utc>,
        path: &Path,
    ) -> Result<ArchiveReport, CliError> {
        match &self.backend {
            Backend::Sqlite(store) => store.archive(before, path).await.map_err(|err| match err {
                audit_sqlite::Error::ChainBroken(fault) => refused(&fault),
                other => CliError::failure(one_line(&other)),
            }),
            Backend::Postgres(store) => store.archive(before, path).await.map_err(sql_refusal),
            Backend::Mysql(store) => store.archive(before, path).await.map_err(sql_refusal),
        }
    }

    /// The SQL servers keep no check value of the key, so probe it: when not one of the
    /// oldest and newest few records hashes to its stored value with this key, the key (or
    /// the algorithm) is wrong. (SQLite checks its stored check value when the file is
    /// opened.)
    async fn check_key(&self) -> Result<(), CliError> {
        let store = self.store();
        let hasher = &self.hasher;
        let mut probed = 0;
        for order in [Order::OldestFirst, Order::NewestFirst] {
            let page = store
                .query(&AuditQuery::new().order(order).limit(3))
                .await?;
            for record in &page.events {
                probed += 1;
                if hasher.hash(&record.prev_hash, &record.event) == record.hash {
                    return Ok(());
                }
            }
        }
        if probed == 0 {
            return Ok(());
        }
        Err(CliError::failure(format!(
            "wrong key: none of the {probed} oldest and newest records hashes to its stored \
             value with this {} key; give the chain's key with --key-file or AUDIT_HMAC_KEY \
             (or those records were all rewritten: `audit verify` with the right key tells)",
            hasher.algorithm().as_str()
        )))
    }
}

/// One direct connection, so that a refused connection, a failed login or a missing
/// database is reported at once and precisely (the pool retries such errors until its
/// acquire timeout and then reports only that).
async fn probe<C, E>(
    url: &str,
    connect: impl std::future::Future<Output = Result<C, E>>,
) -> Result<(), CliError>
where
    C: sqlx_core::connection::Connection,
    E: std::error::Error + 'static,
{
    let failed = |why: String| CliError::failure(format!("cannot open {}: {why}", redact(url)));
    match tokio::time::timeout(Duration::from_secs(10), connect).await {
        Err(_) => Err(failed("no answer within 10 s".into())),
        Ok(Err(err)) => Err(failed(one_line(&err))),
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            Ok(())
        }
    }
}

/// An archive of a SQL store refused because its range does not verify, or another failure.
fn sql_refusal(err: audit_sqlx::Error) -> CliError {
    match err {
        audit_sqlx::Error::Archive(audit_core::archive::ArchiveError::ChainBroken(fault)) => {
            refused(&fault)
        }
        other => CliError::failure(one_line(&other)),
    }
}

fn refused(fault: &audit_core::chain::ChainFault) -> CliError {
    CliError::fault(format!(
        "refusing to archive a range that does not verify: seq {}: {}: {}",
        fault.seq,
        audit_report::fault_name(fault.kind),
        fault.detail
    ))
}

fn open_sqlite(path: &Path, hasher: ChainHasher) -> Result<SqliteStore, CliError> {
    if !path.is_file() {
        return Err(CliError::failure(format!(
            "no such SQLite audit store: {} (the file does not exist)",
            path.display()
        )));
    }
    SqliteStore::open_with(SqliteOptions::new(path).hasher(hasher)).map_err(|err| match err {
        audit_sqlite::Error::HasherMismatch { .. } => CliError::failure(format!(
            "wrong key for {}: {}; give the chain's key with --key-file or AUDIT_HMAC_KEY",
            path.display(),
            one_line(&err)
        )),
        other => CliError::failure(format!("{}: {}", path.display(), one_line(&other))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_a_path() {
        assert_eq!(
            Location::parse("sqlite:audit.db").unwrap(),
            Location::Sqlite("audit.db".into())
        );
        assert_eq!(
            Location::parse("sqlite:///var/lib/audit.db").unwrap(),
            Location::Sqlite("/var/lib/audit.db".into())
        );
    }

    #[test]
    fn postgres_urls_pass_through() {
        for url in ["postgres://u@h/db", "postgresql://u@h:5433/db"] {
            assert_eq!(
                Location::parse(url).unwrap(),
                Location::Postgres(url.into())
            );
        }
    }

    #[test]
    fn mysql_and_mariadb_urls_name_a_mysql_server() {
        assert_eq!(
            Location::parse("mysql://u:p@h:3306/db").unwrap(),
            Location::Mysql("mysql://u:p@h:3306/db".into())
        );
        assert_eq!(
            Location::parse("mariadb://u:p@h/db").unwrap(),
            Location::Mysql("mysql://u:p@h/db".into())
        );
    }

    #[test]
    fn other_schemes_are_usage_errors_without_the_password() {
        let err = Location::parse("mongodb://user:secret@h/db").unwrap_err();
        assert_eq!(err.exit, crate::error::Exit::Usage);
        assert!(!err.message.contains("secret"), "{}", err.message);
        let bare = Location::parse("audit.db").unwrap_err();
        assert!(bare.message.contains("sqlite:audit.db"), "{}", bare.message);
    }
}
