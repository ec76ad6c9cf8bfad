//! Verification on every core: decode and hash in parallel, then link in order.
//!
//! The chain is sequential, but what makes verification expensive is not: decoding a stored
//! row and re-hashing it (canonical encoding, then SHA-256 or HMAC-SHA256) depends on that row
//! alone, because the hash is recomputed from the record's *stored* `prev_hash`. So
//! [`ChainVerifier::push_parallel`] reads rows in order on the calling thread, hands them in
//! chunks to worker threads that decode and hash them into [`HashedRecord`]s, and links the
//! results in order on the calling thread with the code [`ChainVerifier::push`] runs (seq
//! continuity, each `prev_hash` against the previous record's hash, anchors, checkpoints).
//! The report is the same, fault for fault and seq for seq, whatever the thread count.
//!
//! Memory stays bounded: at most two chunks per worker are in flight (read, not yet linked),
//! never the log. With one thread nothing is spawned and every row is decoded, hashed and
//! linked on the calling thread, as [`ChainVerifier::push`] does.
//!
//! ```
//! use audit_core::{AuditEvent, StoredEvent};
//! use audit_core::chain::{ChainAnchor, ChainHash, ChainHasher, Parallelism, verify, verify_parallel};
//!
//! let hasher = ChainHasher::sha256();
//! let mut prev = ChainHash::ZERO;
//! let records: Vec<StoredEvent> = (1..=1000)
//!     .map(|seq| {
//!         let event = AuditEvent::builder("USER_LOGIN").build();
//!         let hash = hasher.hash(&prev, &event);
//!         let record = StoredEvent { seq, prev_hash: prev, hash, event };
//!         prev = hash;
//!         record
//!     })
//!     .collect();
//! let parallelism = Parallelism::threads(4).chunk_size(100);
//! let report = verify_parallel(hasher.clone(), ChainAnchor::GENESIS, &records, None, parallelism);
//! assert!(report.is_valid());
//! assert_eq!(report.checked, 1000);
//! let sequential = verify(hasher, ChainAnchor::GENESIS, &records, None);
//! assert_eq!(report.head.map(|h| h.hash), sequential.head.map(|h| h.hash));
//! ```

use std::borrow::Borrow;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TryRecvError};
use std::sync::{Mutex, PoisonError};

use super::{ChainAnchor, ChainHasher, ChainVerifier, Checkpoint, HashedRecord, VerifyReport};
use crate::event::StoredEvent;

/// How many threads verification decodes and hashes on, and how many records each unit of
/// work holds.
///
/// The default is one thread per core ([`std::thread::available_parallelism`]); one thread
/// ([`Parallelism::sequential`]) spawns nothing.
///
/// ```
/// use audit_core::chain::Parallelism;
///
/// assert!(Parallelism::sequential().is_sequential());
/// assert_eq!(Parallelism::threads(0).thread_count(), 1);
/// let p = Parallelism::threads(8).chunk_size(512);
/// assert_eq!((p.thread_count(), p.records_per_chunk()), (8, 512));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Parallelism {
    threads: NonZeroUsize,
    chunk: NonZeroUsize,
}

impl Parallelism {
    /// Records per unit of work unless [`chunk_size`](Self::chunk_size) says otherwise: large
    /// enough that handing a chunk to a worker costs nothing beside hashing it (~1 ms of
    /// work), small enough that the chunks in flight hold a few MiB.
    pub const DEFAULT_CHUNK_SIZE: usize = 2048;

    /// One thread per core the process may use (1 when that cannot be known).
    pub fn available() -> Self {
        Self::threads(std::thread::available_parallelism().map_or(1, NonZeroUsize::get))
    }

    /// `threads` threads (0 is taken as 1).
    pub fn threads(threads: usize) -> Self {
        Self {
            threads: NonZeroUsize::new(threads).unwrap_or(NonZeroUsize::MIN),
            chunk: NonZeroUsize::new(Self::DEFAULT_CHUNK_SIZE).unwrap_or(NonZeroUsize::MIN),
        }
    }

    /// Everything on the calling thread.
    pub fn sequential() -> Self {
        Self::threads(1)
    }

    /// `records` records per unit of work (0 is taken as 1).
    pub fn chunk_size(mut self, records: usize) -> Self {
        self.chunk = NonZeroUsize::new(records).unwrap_or(NonZeroUsize::MIN);
        self
    }

    /// How many threads decode and hash.
    pub fn thread_count(self) -> usize {
        self.threads.get()
    }

    /// How many records each unit of work holds.
    pub fn records_per_chunk(self) -> usize {
        self.chunk.get()
    }

    /// Whether everything runs on the calling thread.
    pub fn is_sequential(self) -> bool {
        self.threads.get() == 1
    }
}

impl Default for Parallelism {
    fn default() -> Self {
        Self::available()
    }
}

/// A stored row after decoding: the record, or why it is not one.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadRecord<R = StoredEvent> {
    /// The row decoded into a record (`StoredEvent` or a reference to one).
    Decoded(R),
    /// The row no longer decodes into an event (it was changed behind the store's back):
    /// verification ends there as [`ChainVerifier::undecodable`] does.
    Undecodable {
        /// The row's seq.
        seq: u64,
        /// What could not be decoded.
        detail: String,
    },
}

/// How a worker's chunk ended before its last row.
enum End<E> {
    Undecodable { seq: u64, detail: String },
    Failed(E),
}

/// What a worker made of one chunk: its records hashed, in order, up to where it ended.
struct Hashed<E> {
    records: Vec<HashedRecord>,
    end: Option<End<E>>,
}

struct Job<C, E> {
    chunk: C,
    reply: SyncSender<Hashed<E>>,
}

/// Whether linking goes on.
enum Flow {
    Continue,
    Stop,
}

impl ChainVerifier {
    /// Verifies `rows` (in `seq` order) on `parallelism`'s threads: the rows are read here, in
    /// order, into chunks of [`Parallelism::records_per_chunk`]; `decode` turns each into a
    /// record on a worker thread, where it is also re-hashed; the hashed records are linked
    /// here, in order.
    ///
    /// The outcome is exactly that of this loop, which is what runs with one thread:
    ///
    /// ```text
    /// for row in rows {
    ///     match decode(row?)? {
    ///         ReadRecord::Decoded(r) => if self.push(r.borrow()).is_err() { break },
    ///         ReadRecord::Undecodable { seq, detail } => { self.undecodable(seq, detail); break }
    ///     }
    /// }
    /// ```
    ///
    /// so an error (from reading or from `decode`) is returned only when no fault comes before
    /// it, and nothing is read once a fault is known. Rows read ahead of a fault are
    /// discarded. Call [`finish`](Self::finish) afterwards.
    ///
    /// # Panics
    ///
    /// If `decode` panics, the panic is resumed here once every worker has stopped.
    pub fn push_parallel<T, R, E, D>(
        &mut self,
        parallelism: Parallelism,
        rows: impl IntoIterator<Item = Result<T, E>>,
        decode: D,
    ) -> Result<(), E>
    where
        T: Send,
        R: Borrow<StoredEvent> + Send,
        E: Send,
        D: Fn(T) -> Result<ReadRecord<R>, E> + Sync,
    {
        if parallelism.is_sequential() {
            if self.fault().is_none() {
                for row in rows {
                    if let Flow::Stop = self.link_one(decode(row?)?) {
                        break;
                    }
                }
            }
            return Ok(());
        }
        let (size, decode) = (parallelism.records_per_chunk(), &decode);
        let mut rows = rows.into_iter();
        let mut ended = false;
        let chunks = std::iter::from_fn(|| {
            if ended {
                return None;
            }
            let mut chunk = Vec::with_capacity(size);
            let mut failed = None;
            while chunk.len() < size {
                match rows.next() {
                    Some(Ok(row)) => chunk.push(row),
                    Some(Err(err)) => {
                        failed = Some(err);
                        break;
                    }
                    None => break,
                }
            }
            ended = failed.is_some() || chunk.len() < size;
            // A read error goes last in its chunk: it counts only if nothing before it ends
            // verification.
            (!chunk.is_empty() || failed.is_some())
                .then(|| chunk.into_iter().map(decode).chain(failed.map(Err)))
        });
        self.push_chunks(parallelism, chunks)
    }

    /// [`push_parallel`](Self::push_parallel) for a reader that builds its own chunks (one
    /// buffer for many rows, say): each chunk is iterated on a worker thread, where decoding
    /// its rows should happen (lazily, as the iterator is advanced); the records are hashed
    /// there too and linked here, chunk after chunk, in order. Make chunks of about
    /// [`Parallelism::records_per_chunk`] records.
    ///
    /// The outcome is that of pushing every item of every chunk in order, as
    /// [`push_parallel`](Self::push_parallel) describes: an `Err` item is returned only when
    /// no fault comes before it. At most two chunks per thread are read ahead of linking;
    /// none is read once a fault is known. With one thread, every chunk is read and iterated
    /// here.
    ///
    /// # Panics
    ///
    /// If iterating a chunk panics, the panic is resumed here once every worker has stopped.
    pub fn push_chunks<C, R, E>(
        &mut self,
        parallelism: Parallelism,
        chunks: impl IntoIterator<Item = C>,
    ) -> Result<(), E>
    where
        C: IntoIterator<Item = Result<ReadRecord<R>, E>> + Send,
        R: Borrow<StoredEvent>,
        E: Send,
    {
        if self.fault().is_some() {
            return Ok(());
        }
        if parallelism.is_sequential() {
            for chunk in chunks {
                for item in chunk {
                    if let Flow::Stop = self.link_one(item?) {
                        return Ok(());
                    }
                }
            }
            return Ok(());
        }
        let hasher = self.hasher().clone();
        let stop = AtomicBool::new(false);
        let (jobs, queue) = mpsc::channel::<Job<C, E>>();
        let queue = Mutex::new(queue);
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..parallelism.thread_count())
                .map(|_| scope.spawn(|| work(&queue, &hasher, &stop)))
                .collect();
            let result = self.dispatch(parallelism, chunks.into_iter(), &jobs);
            // Chunks still queued are skipped: their results would be discarded.
            stop.store(true, Ordering::Relaxed);
            drop(jobs);
            for worker in workers {
                if let Err(panic) = worker.join() {
                    std::panic::resume_unwind(panic);
                }
            }
            result
        })
    }

    /// Pushes one read record here, on the calling thread.
    fn link_one<R: Borrow<StoredEvent>>(&mut self, read: ReadRecord<R>) -> Flow {
        match read {
            ReadRecord::Decoded(record) if self.push(record.borrow()).is_ok() => Flow::Continue,
            ReadRecord::Decoded(_) => Flow::Stop,
            ReadRecord::Undecodable { seq, detail } => {
                self.undecodable(seq, detail);
                Flow::Stop
            }
        }
    }

    /// Hands chunks out as they are read, and links their results in read order.
    fn dispatch<C, E>(
        &mut self,
        parallelism: Parallelism,
        mut chunks: impl Iterator<Item = C>,
        jobs: &Sender<Job<C, E>>,
    ) -> Result<(), E> {
        let max_in_flight = 2 * parallelism.thread_count();
        let mut in_flight: VecDeque<Receiver<Hashed<E>>> = VecDeque::with_capacity(max_in_flight);
        let mut reading = true;
        while reading || !in_flight.is_empty() {
            if reading {
                match chunks.next() {
                    Some(chunk) => {
                        let (reply, result) = mpsc::sync_channel(1);
                        if jobs.send(Job { chunk, reply }).is_err() {
                            // Every worker is gone: one panicked, and the scope resumes it.
                            return Ok(());
                        }
                        in_flight.push_back(result);
                    }
                    None => reading = false,
                }
            }
            // Link whatever is ready; wait for the oldest chunk when enough are in flight
            // or there is nothing left to read.
            while let Some(result) = in_flight.pop_front() {
                let hashed = if !reading || in_flight.len() + 1 >= max_in_flight {
                    result.recv().ok()
                } else {
                    match result.try_recv() {
                        Ok(hashed) => Some(hashed),
                        Err(TryRecvError::Empty) => {
                            in_flight.push_front(result);
                            break;
                        }
                        Err(TryRecvError::Disconnected) => None,
                    }
                };
                // No result: the worker panicked on this chunk, and the scope resumes it.
                let Some(hashed) = hashed else { return Ok(()) };
                if let Flow::Stop = self.link_chunk(hashed)? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn link_chunk<E>(&mut self, hashed: Hashed<E>) -> Result<Flow, E> {
        for record in hashed.records {
            if self.push_hashed(record).is_err() {
                return Ok(Flow::Stop);
            }
        }
        match hashed.end {
            None => Ok(Flow::Continue),
            Some(End::Undecodable { seq, detail }) => {
                self.undecodable(seq, detail);
                Ok(Flow::Stop)
            }
            Some(End::Failed(err)) => Err(err),
        }
    }
}

/// A worker: takes chunks off the queue until it is closed.
fn work<C, R, E>(queue: &Mutex<Receiver<Job<C, E>>>, hasher: &ChainHasher, stop: &AtomicBool)
where
    C: IntoIterator<Item = Result<ReadRecord<R>, E>>,
    R: Borrow<StoredEvent>,
{
    let mut scratch = Vec::with_capacity(512);
    loop {
        // The lock is held only while waiting for a chunk, never while hashing one.
        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = job else { return };
        if stop.load(Ordering::Relaxed) {
            continue;
        }
        // The receiver is gone when linking stopped early; the result is not needed then.
        let _ = job.reply.send(hash_chunk(job.chunk, hasher, &mut scratch));
    }
}

/// Decodes and hashes one chunk, up to its first row that does not decode.
fn hash_chunk<C, R, E>(chunk: C, hasher: &ChainHasher, scratch: &mut Vec<u8>) -> Hashed<E>
where
    C: IntoIterator<Item = Result<ReadRecord<R>, E>>,
    R: Borrow<StoredEvent>,
{
    let items = chunk.into_iter();
    let mut records = Vec::with_capacity(items.size_hint().0);
    for item in items {
        let end = match item {
            Ok(ReadRecord::Decoded(record)) => {
                records.push(HashedRecord::new(hasher, record.borrow(), scratch));
                continue;
            }
            Ok(ReadRecord::Undecodable { seq, detail }) => End::Undecodable { seq, detail },
            Err(err) => End::Failed(err),
        };
        return Hashed {
            records,
            end: Some(end),
        };
    }
    Hashed { records, end: None }
}

/// [`verify`](super::verify) on `parallelism`'s threads: the same report for the same
/// records.
pub fn verify_parallel<'a>(
    hasher: ChainHasher,
    anchor: ChainAnchor,
    records: impl IntoIterator<Item = &'a StoredEvent>,
    checkpoint: Option<&Checkpoint>,
    parallelism: Parallelism,
) -> VerifyReport {
    let mut verifier = ChainVerifier::from_anchor(hasher, anchor).with_checkpoint(checkpoint);
    let Ok(()) = verifier.push_parallel(
        parallelism,
        records.into_iter().map(Ok::<_, Infallible>),
        |record| Ok(ReadRecord::Decoded(record)),
    );
    verifier.finish(checkpoint)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::super::test_chain::*;
    use super::super::{ChainFault, ChainHash, FaultKind, verify};
    use super::*;

    /// A small deterministic generator (xorshift), so a failing case reproduces.
    struct Gen(u64);

    impl Gen {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n.max(1) as u64) as usize
        }
    }

    /// One random tampering of `records`, the way a writer behind the store's back would do
    /// it; returns what was done.
    fn tamper(g: &mut Gen, records: &mut Vec<StoredEvent>) -> String {
        let len = records.len();
        let i = g.below(len);
        let first = records.first().map_or(1, |r| r.seq);
        let renumber_from = |records: &mut Vec<StoredEvent>| {
            for (k, r) in records.iter_mut().enumerate() {
                r.seq = first + k as u64;
            }
        };
        match g.below(12) {
            0 => {
                records[i].event.description = Some("nothing to see".into());
                format!("modified {i}")
            }
            1 => {
                records[i].prev_hash = ChainHash([g.below(256) as u8; 32]);
                format!("prev_hash of {i}")
            }
            2 => {
                records[i].hash = ChainHash([g.below(256) as u8; 32]);
                format!("hash of {i}")
            }
            3 => {
                records.remove(i);
                format!("removed {i}")
            }
            4 => {
                records.remove(i);
                renumber_from(records);
                format!("removed {i}, renumbered")
            }
            5 => {
                let prev = if i == 0 {
                    records[0].prev_hash
                } else {
                    records[i - 1].hash
                };
                records.insert(i, forged(0, prev, 1_000 + i as u64));
                renumber_from(records);
                format!("forged at {i}, renumbered")
            }
            6 => {
                let twin = forged(records[i].seq, records[i].prev_hash, 2_000 + i as u64);
                records.insert(i + g.below(2), twin);
                format!("twin of {i}")
            }
            7 => {
                records.insert(i + 1, records[i].clone());
                renumber_from(records);
                format!("copied {i}, renumbered")
            }
            8 => {
                let j = g.below(len);
                records.swap(i, j);
                if g.below(2) == 0 {
                    renumber_from(records);
                }
                format!("swapped {i} and {j}")
            }
            9 => {
                records[i].seq = records[i]
                    .seq
                    .saturating_add(g.below(5) as u64)
                    .saturating_sub(2);
                format!("seq of {i}")
            }
            10 => {
                // A copy under a new id, chained like the original: a fork.
                let mut copy = records[i].clone();
                copy.event.id = uuid::Uuid::now_v7();
                copy.hash = ChainHasher::sha256().hash(&copy.prev_hash, &copy.event);
                records.insert(i + g.below(2), copy);
                renumber_from(records);
                format!("fork at {i}")
            }
            _ => {
                // Rewritten and rehashed with plain SHA-256, as anyone can.
                let r = &mut records[i];
                r.event.action = "REWRITTEN".into();
                r.hash = ChainHasher::sha256().hash(&r.prev_hash, &r.event);
                format!("rewritten {i}")
            }
        }
    }

    #[test]
    fn random_tamperings_give_the_same_report_on_every_thread_count() {
        let mut g = Gen(0x9e37_79b9_7f4a_7c15);
        let mut faults = 0;
        for case in 0..400 {
            let hasher = g.below(2) == 0;
            let hasher = if hasher {
                ChainHasher::sha256()
            } else {
                ChainHasher::hmac_sha256(b"test key")
            };
            let full = chain(&hasher, 1 + g.below(150) as u64);
            let start = g.below(full.len() / 2 + 1);
            let anchor = match start {
                0 => ChainAnchor::GENESIS,
                s => ChainAnchor {
                    seq: full[s - 1].seq,
                    hash: full[s - 1].hash,
                },
            };
            let checkpoint = (g.below(2) == 0).then(|| checkpoint_of(&full[g.below(full.len())]));
            let mut records = full[start..].to_vec();
            let mut done = Vec::new();
            for _ in 0..g.below(3) {
                if !records.is_empty() {
                    done.push(tamper(&mut g, &mut records));
                }
            }
            let sequential = verify(hasher.clone(), anchor, &records, checkpoint.as_ref());
            faults += usize::from(sequential.fault.is_some());
            for threads in [2, 3, 4] {
                let parallelism = Parallelism::threads(threads).chunk_size(1 + g.below(17));
                let parallel = verify_parallel(
                    hasher.clone(),
                    anchor,
                    &records,
                    checkpoint.as_ref(),
                    parallelism,
                );
                assert_eq!(
                    comparable(&parallel),
                    comparable(&sequential),
                    "case {case}: {done:?}, {parallelism:?}"
                );
            }
        }
        assert!(faults > 150, "the tamperings are found: {faults} of 400");
    }

    /// What a store's row turns into: a record, a row that does not decode, or an error.
    #[derive(Clone)]
    #[allow(clippy::large_enum_variant)]
    enum Row {
        Record(StoredEvent),
        Undecodable(u64),
        DecodeFails,
        ReadFails,
    }

    fn decode(row: Row) -> Result<ReadRecord, String> {
        match row {
            Row::Record(record) => Ok(ReadRecord::Decoded(record)),
            Row::Undecodable(seq) => Ok(ReadRecord::Undecodable {
                seq,
                detail: format!("row {seq} is garbage"),
            }),
            Row::DecodeFails => Err("decode failed".into()),
            Row::ReadFails => unreachable!("never decoded"),
        }
    }

    fn read(row: &Row) -> Result<Row, String> {
        match row {
            Row::ReadFails => Err("read failed".into()),
            other => Ok(other.clone()),
        }
    }

    /// The loop `push_parallel` is documented to behave like.
    fn reference(
        hasher: &ChainHasher,
        rows: &[Row],
    ) -> (Result<(), String>, Option<ChainFault>, u64) {
        let mut verifier = ChainVerifier::new(hasher.clone());
        let result = (|| {
            for row in rows {
                match decode(read(row)?)? {
                    ReadRecord::Decoded(r) => {
                        if verifier.push(&r).is_err() {
                            break;
                        }
                    }
                    ReadRecord::Undecodable { seq, detail } => {
                        verifier.undecodable(seq, detail);
                        break;
                    }
                }
            }
            Ok(())
        })();
        let report = verifier.finish(None);
        (result, report.fault, report.checked)
    }

    #[test]
    fn undecodable_rows_and_errors_end_verification_where_the_sequential_loop_does() {
        let hasher = ChainHasher::sha256();
        let mut g = Gen(42);
        for case in 0..300 {
            let mut records = chain(&hasher, 1 + g.below(60) as u64);
            if g.below(2) == 0 {
                tamper(&mut g, &mut records);
            }
            let mut rows: Vec<Row> = records.into_iter().map(Row::Record).collect();
            for _ in 0..g.below(3) {
                if rows.is_empty() {
                    break;
                }
                let at = g.below(rows.len());
                rows[at] = match g.below(3) {
                    0 => Row::Undecodable(at as u64 + 1),
                    1 => Row::DecodeFails,
                    _ => Row::ReadFails,
                };
            }
            let expected = reference(&hasher, &rows);
            for threads in [1, 2, 4] {
                let parallelism = Parallelism::threads(threads).chunk_size(1 + g.below(9));
                let mut verifier = ChainVerifier::new(hasher.clone());
                let result = verifier.push_parallel(parallelism, rows.iter().map(read), decode);
                let report = verifier.finish(None);
                assert_eq!(
                    (result, report.fault, report.checked),
                    expected,
                    "case {case}, {parallelism:?}"
                );
            }
        }
    }

    #[test]
    fn rows_are_read_at_most_a_few_chunks_ahead_of_a_fault() {
        let hasher = ChainHasher::sha256();
        let mut records = chain(&hasher, 10_000);
        records[100].event.action = "CHANGED".into();
        let read = AtomicUsize::new(0);
        let parallelism = Parallelism::threads(2).chunk_size(10);
        let mut verifier = ChainVerifier::new(hasher);
        let rows = records.iter().map(|r| {
            read.fetch_add(1, Ordering::Relaxed);
            Ok::<_, Infallible>(r)
        });
        let Ok(()) = verifier.push_parallel(parallelism, rows, |r| Ok(ReadRecord::Decoded(r)));
        let fault = verifier.finish(None).fault.expect("a fault");
        assert_eq!((fault.seq, fault.kind), (101, FaultKind::Modified));
        // Two chunks in flight per thread, plus the one being read.
        let read = read.load(Ordering::Relaxed);
        assert!(read <= 110 + 5 * 10, "{read} rows read");
    }

    #[test]
    fn nothing_is_read_once_a_fault_is_known() {
        let hasher = ChainHasher::sha256();
        let records = chain(&hasher, 5);
        let mut verifier = ChainVerifier::new(hasher);
        verifier.undecodable(1, "garbage");
        let rows = records
            .iter()
            .map(|_| -> Result<&StoredEvent, &str> { Err("read") });
        let result = verifier.push_parallel(Parallelism::threads(2), rows, |r| {
            Ok(ReadRecord::Decoded(r))
        });
        assert_eq!(result, Ok(()));
        assert_eq!(verifier.finish(None).fault.map(|f| f.seq), Some(1));
    }

    #[test]
    #[should_panic(expected = "a decoder bug")]
    fn a_panic_while_decoding_reaches_the_caller() {
        let hasher = ChainHasher::sha256();
        let records = chain(&hasher, 50);
        let mut verifier = ChainVerifier::new(hasher);
        let _ = verifier.push_parallel(
            Parallelism::threads(2).chunk_size(4),
            records.iter().map(Ok::<_, Infallible>),
            |r| {
                assert!(r.seq != 30, "a decoder bug");
                Ok(ReadRecord::Decoded(r))
            },
        );
    }

    #[test]
    fn the_default_uses_every_core() {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        assert_eq!(Parallelism::default().thread_count(), cores);
        assert_eq!(
            Parallelism::default().records_per_chunk(),
            Parallelism::DEFAULT_CHUNK_SIZE
        );
    }
}
