//! The options every backend's store has, written once: a macro that adds their builder
//! methods to a backend's options type (which holds fields of these names).

/// Adds `hasher`, `max_connections`, `acquire_timeout`, `migrate`, `checkpoints` and
/// `verify_parallelism` to an options type with fields `hasher: ChainHasher`,
/// `max_connections: u32`, `acquire_timeout: Duration`, `migrate: bool`, `checkpoints:
/// Option<CheckpointPolicy>` and `verify_parallelism: Parallelism`.
macro_rules! store_options {
    () => {
        /// Links the chain with this hasher (HMAC-SHA256 with a key the database never sees,
        /// so a database writer cannot forge the chain). A store keeps the algorithm of its
        /// first write.
        pub fn hasher(mut self, hasher: audit_core::ChainHasher) -> Self {
            self.hasher = hasher;
            self
        }

        /// Size of the store's own pool (default 4).
        pub fn max_connections(mut self, n: u32) -> Self {
            self.max_connections = n.max(1);
            self
        }

        /// How long to wait for a pooled connection (default 30 s).
        pub fn acquire_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.acquire_timeout = timeout;
            self
        }

        /// Whether connecting applies pending migrations (default true). Turn it off for an
        /// application role without `CREATE` rights; the store then only checks the schema
        /// version.
        pub fn migrate(mut self, migrate: bool) -> Self {
            self.migrate = migrate;
            self
        }

        /// Signs checkpoints of the log's Merkle tree as `policy` says: every N events inside
        /// the append that crosses the mark (under the head lock, so with many writers on
        /// many machines the tree and its checkpoints are one), every T seconds on a timer
        /// task of this store, and when the sink shuts down. Each writer process that signs
        /// needs the key; a process without a policy still extends the tree.
        pub fn checkpoints(mut self, policy: audit_core::tlog::CheckpointPolicy) -> Self {
            self.checkpoints = Some(policy);
            self
        }

        /// How many threads verification hashes on (default: one per core,
        /// [`Parallelism::available`](audit_core::chain::Parallelism::available)): each
        /// batch of rows is hashed on them while the next batch is fetched, and linked in
        /// order. [`Parallelism::sequential`](audit_core::chain::Parallelism::sequential)
        /// verifies on the store's runtime alone. The report is the same either way.
        pub fn verify_parallelism(mut self, parallelism: audit_core::chain::Parallelism) -> Self {
            self.verify_parallelism = parallelism;
            self
        }
    };
}
pub(crate) use store_options;
