//! How a store is opened: file, chain hasher and SQLite tuning.

use std::path::{Path, PathBuf};
use std::time::Duration;

use audit_core::ChainHasher;
use audit_core::chain::Parallelism;
use audit_core::tlog::CheckpointPolicy;

/// How hard SQLite works to make a commit survive a power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// `synchronous = FULL`: a committed batch survives a power loss (the default: an audit
    /// receipt means the event is on disk).
    #[default]
    Full,
    /// `synchronous = NORMAL`: a committed batch survives an application crash, but the last
    /// commits may be lost on a power loss or an OS crash. Faster on slow disks.
    Normal,
}

impl Durability {
    pub(crate) fn pragma(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
        }
    }
}

/// Options for [`SqliteStore::open_with`](crate::SqliteStore::open_with).
///
/// ```
/// use std::time::Duration;
/// use audit_core::ChainHasher;
/// use audit_sqlite::SqliteOptions;
///
/// let options = SqliteOptions::new("audit.db")
///     .hasher(ChainHasher::hmac_sha256(b"a 32-byte secret from your vault"))
///     .busy_timeout(Duration::from_secs(10))
///     .writer_cache_mib(128);
/// assert_eq!(options.path().to_str(), Some("audit.db"));
/// ```
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub(crate) path: PathBuf,
    pub(crate) hasher: ChainHasher,
    pub(crate) busy_timeout: Duration,
    pub(crate) durability: Durability,
    pub(crate) writer_cache_kib: u32,
    pub(crate) reader_cache_kib: u32,
    pub(crate) max_idle_readers: usize,
    pub(crate) checkpoints: Option<CheckpointPolicy>,
    pub(crate) verify_parallelism: Parallelism,
}

impl SqliteOptions {
    /// Defaults for the file at `path`: SHA-256 chain, 5 s busy timeout, full durability,
    /// a 64 MiB page cache for the writer and 16 MiB per reader.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
            hasher: ChainHasher::sha256(),
            busy_timeout: Duration::from_secs(5),
            durability: Durability::Full,
            writer_cache_kib: 64 * 1024,
            reader_cache_kib: 16 * 1024,
            max_idle_readers: 4,
            checkpoints: None,
            verify_parallelism: Parallelism::available(),
        }
    }

    /// Signs checkpoints of the log's Merkle tree as `policy` says (every N events in the
    /// append's transaction, every T seconds on a timer, and at shutdown), stores them in
    /// `audit_checkpoints` and hands them to the policy's publisher. Without it the store
    /// keeps the tree and answers proofs, but signs nothing.
    pub fn checkpoints(mut self, policy: CheckpointPolicy) -> Self {
        self.checkpoints = Some(policy);
        self
    }

    /// The chain hasher: [`ChainHasher::hmac_sha256`] with a secret key makes the chain
    /// unforgeable by anyone who can write the file but does not hold the key. A store
    /// remembers which hasher created it and refuses to open with another.
    pub fn hasher(mut self, hasher: ChainHasher) -> Self {
        self.hasher = hasher;
        self
    }

    /// How long a write waits for another process's write to finish before failing with a
    /// retryable error (default 5 s).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Commit durability (default [`Durability::Full`]).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Page cache of the writer connection in MiB (default 64). Index maintenance dominates
    /// the insert cost; a cache that holds the hot index pages keeps it in memory.
    pub fn writer_cache_mib(mut self, mib: u32) -> Self {
        self.writer_cache_kib = mib.saturating_mul(1024);
        self
    }

    /// Page cache of each reader connection in MiB (default 16).
    pub fn reader_cache_mib(mut self, mib: u32) -> Self {
        self.reader_cache_kib = mib.saturating_mul(1024);
        self
    }

    /// How many idle reader connections are kept open for reuse (default 4).
    pub fn max_idle_readers(mut self, count: usize) -> Self {
        self.max_idle_readers = count;
        self
    }

    /// How many threads verification reads, decodes and hashes on (default: one per core,
    /// [`Parallelism::available`]); [`Parallelism::sequential`] verifies on the calling
    /// thread alone. The report is the same either way.
    pub fn verify_parallelism(mut self, parallelism: Parallelism) -> Self {
        self.verify_parallelism = parallelism;
        self
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
