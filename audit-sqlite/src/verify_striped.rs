//! Verification read by several connections at once: the chain in stripes of `seq`.
//!
//! On a file, reading the rows costs more than hashing them (at 10M events one thread steps
//! and copies out every column at about 0.67M rows/s; decoding and hashing add half as
//! much again), so one reading thread caps what hashing threads can gain. Here each of
//! `n` threads has its own connection on the same snapshot ([`crate::snapshot`]) and takes
//! every `n`-th stripe of [`Parallelism::records_per_chunk`] seqs: stripe `s` is the rows
//! with `after + s·size < seq <= after + (s+1)·size`, read with one range statement,
//! decoded and hashed on that thread. The calling thread links the stripes in order.
//! Together the stripes are exactly the rows one `ORDER BY seq` statement would give, in
//! the same order, so the report is the one-thread report.
//!
//! A dense log fills every stripe. A stripe that is not full (seqs missing, or the end of
//! the log) is not linked here: its seqs and everything after them are read by the calling
//! thread in one statement, as without stripes. So a forged row far beyond the head never
//! turns into millions of empty stripes, and whatever is irregular is handled by the one
//! reading path.

use std::sync::mpsc::{self, Receiver, SyncSender};

use audit_core::ChainHasher;
use audit_core::chain::{ChainVerifier, HashedRecord, Parallelism, ReadRecord};
use rusqlite::Connection;

use crate::codec::{self, seq_param};
use crate::error::{Error, Result};

/// How far the stripes got.
pub(crate) enum Striped {
    /// Every row up to the end was linked, or linking stopped at a fault.
    Done,
    /// Stripes were linked through this seq; the rows after it are still to be read.
    ResumeAfter(u64),
}

/// The rows of one stripe, decoded and hashed, up to the first that ended it early.
struct Stripe {
    records: Vec<HashedRecord>,
    end: Option<End>,
}

enum End {
    /// A row that no longer decodes: changed behind the store's back.
    Undecodable { seq: u64, detail: String },
    /// Reading failed.
    Failed(Error),
}

/// Links the rows `after < seq <= end` stripe by stripe, read on `readers`: one thread
/// each, every connection inside a read transaction on the calling thread's snapshot.
pub(crate) fn link(
    verifier: &mut ChainVerifier,
    readers: Vec<Connection>,
    hasher: &ChainHasher,
    after: u64,
    end: u64,
    parallelism: Parallelism,
) -> Result<Striped> {
    let size = parallelism.records_per_chunk() as u64;
    let threads = readers.len() as u64;
    if threads == 0 || end <= after {
        return Ok(Striped::ResumeAfter(after));
    }
    let stripes = (end - after).div_ceil(size);
    std::thread::scope(|scope| {
        let mut results: Vec<Receiver<Stripe>> = Vec::with_capacity(readers.len());
        for (first, conn) in readers.into_iter().enumerate() {
            // One stripe waiting to be linked and one being read, per thread.
            let (send, receive) = mpsc::sync_channel(1);
            results.push(receive);
            let plan = Plan {
                after,
                end,
                size,
                first: first as u64,
                step: threads,
                stripes,
            };
            scope.spawn(move || read_stripes(&conn, hasher, plan, &send));
        }
        for s in 0..stripes {
            let lo = after + s * size;
            let hi = (lo + size).min(end);
            // A reader gone without its stripe panicked; the scope resumes the panic.
            let Ok(stripe) = results[(s % threads) as usize].recv() else {
                return Ok(Striped::Done);
            };
            match stripe.end {
                None if stripe.records.len() as u64 != hi - lo => {
                    return Ok(Striped::ResumeAfter(lo));
                }
                _ => {}
            }
            for record in stripe.records {
                if verifier.push_hashed(record).is_err() {
                    return Ok(Striped::Done);
                }
            }
            match stripe.end {
                None => {}
                Some(End::Undecodable { seq, detail }) => {
                    verifier.undecodable(seq, detail);
                    return Ok(Striped::Done);
                }
                Some(End::Failed(err)) => return Err(err),
            }
        }
        // Dropping `results` on return stops readers still ahead of the linking.
        Ok(Striped::Done)
    })
}

/// Which stripes one reader takes: `first`, `first + step`, … below `stripes`.
#[derive(Clone, Copy)]
struct Plan {
    after: u64,
    end: u64,
    size: u64,
    first: u64,
    step: u64,
    stripes: u64,
}

fn read_stripes(conn: &Connection, hasher: &ChainHasher, plan: Plan, out: &SyncSender<Stripe>) {
    let statement = conn.prepare(&format!(
        "SELECT {} FROM audit_events WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
        codec::columns()
    ));
    let mut statement = match statement {
        Ok(statement) => statement,
        Err(err) => {
            let _ = out.send(Stripe {
                records: Vec::new(),
                end: Some(End::Failed(err.into())),
            });
            return;
        }
    };
    let mut scratch = Vec::with_capacity(512);
    let mut s = plan.first;
    while s < plan.stripes {
        let lo = plan.after + s * plan.size;
        let hi = (lo + plan.size).min(plan.end);
        let stripe = read_stripe(&mut statement, hasher, lo, hi, &mut scratch);
        let ended = stripe.end.is_some();
        // The linking stopped (a fault, or a stripe it reads itself): nothing more is needed.
        if out.send(stripe).is_err() || ended {
            return;
        }
        s += plan.step;
    }
}

fn read_stripe(
    statement: &mut rusqlite::Statement<'_>,
    hasher: &ChainHasher,
    lo: u64,
    hi: u64,
    scratch: &mut Vec<u8>,
) -> Stripe {
    let mut records = Vec::with_capacity((hi - lo) as usize);
    let end = (|| {
        let mut rows = match statement.query([seq_param(lo), seq_param(hi)]) {
            Ok(rows) => rows,
            Err(err) => return Some(End::Failed(err.into())),
        };
        loop {
            let row = match rows.next() {
                Ok(Some(row)) => row,
                Ok(None) => return None,
                Err(err) => return Some(End::Failed(err.into())),
            };
            match codec::read_record(codec::decode(row)) {
                Ok(ReadRecord::Decoded(record)) => {
                    records.push(HashedRecord::new(hasher, &record, scratch));
                }
                Ok(ReadRecord::Undecodable { seq, detail }) => {
                    return Some(End::Undecodable { seq, detail });
                }
                Err(other) => return Some(End::Failed(other)),
            }
        }
    })();
    Stripe { records, end }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_core::chain::{ChainAnchor, ChainVerifier};
    use audit_core::{Actor, AuditEvent};

    const EVENTS: u64 = 1_000;

    /// A file of `EVENTS` events (SHA-256 chain) and its path.
    async fn file() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("audit.db");
        let store = crate::SqliteStore::open(&path).expect("open");
        let events: Vec<AuditEvent> = (0..EVENTS)
            .map(|i| {
                AuditEvent::builder("LOGIN")
                    .actor(Actor::user(format!("user-{}", i % 7)))
                    .build()
            })
            .collect();
        store.append(&events).await.expect("append");
        drop(store);
        (dir, path)
    }

    fn readers(path: &std::path::Path, n: usize) -> Vec<Connection> {
        (0..n)
            .map(|_| {
                let conn = Connection::open(path).expect("open");
                crate::snapshot::begin_read(&conn).expect("read");
                conn
            })
            .collect()
    }

    fn sequential(path: &std::path::Path) -> audit_core::chain::VerifyReport {
        let conn = Connection::open(path).expect("open");
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {} FROM audit_events ORDER BY seq",
                codec::columns()
            ))
            .expect("prepare");
        let mut rows = stmt.query([]).expect("query");
        let mut verifier = ChainVerifier::from_anchor(ChainHasher::sha256(), ChainAnchor::GENESIS);
        while let Some(row) = rows.next().expect("row") {
            if verifier.push(&codec::decode(row).expect("decode")).is_err() {
                break;
            }
        }
        verifier.finish(None)
    }

    fn striped(path: &std::path::Path, threads: usize, size: usize) -> (Striped, ChainVerifier) {
        let hasher = ChainHasher::sha256();
        let mut verifier = ChainVerifier::from_anchor(hasher.clone(), ChainAnchor::GENESIS);
        let parallelism = Parallelism::threads(threads).chunk_size(size);
        let striped = link(
            &mut verifier,
            readers(path, threads),
            &hasher,
            0,
            EVENTS,
            parallelism,
        )
        .expect("link");
        (striped, verifier)
    }

    #[tokio::test]
    async fn stripes_of_a_dense_log_link_every_row_to_the_sequential_report() {
        let (_dir, path) = file().await;
        for (threads, size) in [(1, 1000), (2, 7), (3, 64), (4, 1)] {
            let (striped, verifier) = striped(&path, threads, size);
            assert!(
                matches!(striped, Striped::Done),
                "{threads} threads of {size}"
            );
            let report = verifier.finish(None);
            assert_eq!(report.checked, EVENTS);
            let head = |r: &audit_core::chain::VerifyReport| r.head.map(|h| (h.seq, h.hash));
            assert_eq!(head(&report), head(&sequential(&path)));
            assert!(report.is_valid());
        }
    }

    #[tokio::test]
    async fn a_stripe_with_a_seq_missing_is_left_to_the_one_statement_read() {
        let (_dir, path) = file().await;
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch("DROP TRIGGER audit_events_no_delete")
            .expect("drop");
        conn.execute("DELETE FROM audit_events WHERE seq = 500", [])
            .expect("delete");
        let (striped, verifier) = striped(&path, 2, 64);
        // Stripes of 64 seqs: rows 1..=448 are linked, the stripe 449..=512 is not.
        assert!(matches!(striped, Striped::ResumeAfter(448)));
        assert_eq!(verifier.finish(None).checked, 448);
    }

    #[tokio::test]
    async fn a_modified_row_stops_the_stripes_at_its_seq() {
        let (_dir, path) = file().await;
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch("DROP TRIGGER audit_events_no_update")
            .expect("drop");
        conn.execute(
            "UPDATE audit_events SET actor_id = 'mallory' WHERE seq = 700",
            [],
        )
        .expect("update");
        let (striped, verifier) = striped(&path, 2, 16);
        assert!(matches!(striped, Striped::Done));
        let report = verifier.finish(None);
        assert_eq!(report.fault, sequential(&path).fault);
        assert_eq!(report.fault.map(|f| f.seq), Some(700));
    }
}
