//! The spool: events the sink could not take yet, kept in order on disk (or in memory
//! without a spool directory) and replayed before anything newer.
//!
//! # Files
//!
//! A spool directory holds JSON Lines files, one record per line,
//! `{"observed":true,"event":{…}}` (the event as prepared for the sink, and whether the
//! pipeline's observers already saw it):
//!
//! - `spool-<id>.jsonl`: one batch the worker could not write. Written to a `.tmp` file,
//!   fsync'd, then renamed, so a segment is whole or absent. Replayed oldest `id` first and
//!   deleted once the sink committed it (a crash in between replays it again: delivery is
//!   at least once, and event ids tell duplicates apart).
//! - `lane-<id>.jsonl`: the overflow lane of [`OverflowPolicy::Spool`], appended to by
//!   recording threads. A crash can leave a torn last line there.
//! - `rejected-<id>.jsonl`: dead letters, batches the sink refused permanently. Never
//!   replayed automatically: an operator inspects and re-imports them ([`read_spool_file`]).
//!
//! - `LOCK`: held with an OS file lock by the process using the directory (and naming its
//!   pid for people); a second auditor on the directory is refused while the first runs. The
//!   OS releases the lock when the process ends, however it ends.
//!
//! # Recovery
//!
//! On start, a leftover `.tmp` of a new segment is completed by renaming (a `.tmp` beside a
//! complete segment, the remains of a rewrite, is dropped and the whole segment replayed), leftover lanes become the
//! newest segments (a lane always holds the newest events), and everything is replayed in
//! order before new events. A line that cannot be parsed (a torn write) is skipped, counted
//! in [`Metrics::spool_corrupt`](crate::Metrics::spool_corrupt) and reported; it
//! never stops the replay.
//!
//! [`OverflowPolicy::Spool`]: crate::OverflowPolicy::Spool

mod lock;
pub(crate) mod record;

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use audit_core::event::AuditEvent;

use crate::lane::file::{LANE_READ_BYTES, consumed_marker, lane_consumed, mark_lane_consumed};
use lock::{DirLock, lock};
pub use record::read_spool_file;
use record::{
    Corrupt, EXT, LANE, REJECTED, SEGMENT, SpoolRecord, TMP, count_lines, parse_id, parse_lines,
    segment_name, sync_dir, write_atomically, write_bytes_atomically,
};

#[derive(Debug)]
enum Segment {
    File { path: PathBuf, events: u64 },
    Memory(Vec<SpoolRecord>),
}

/// The ordered spool the worker owns.
#[derive(Debug)]
pub(crate) struct Spool {
    dir: Option<PathBuf>,
    segments: VecDeque<Segment>,
    ids: Arc<AtomicU64>,
    pending: u64,
    /// Held while the spool is open (directory spools only).
    lock: Option<DirLock>,
}

impl Spool {
    /// Opens (creating if needed) the spool directory and queues what a previous process
    /// left behind. Without a directory the spool lives in memory.
    pub(crate) fn open(dir: Option<&Path>) -> io::Result<Self> {
        let mut spool = Self {
            dir: dir.map(Path::to_path_buf),
            segments: VecDeque::new(),
            ids: Arc::new(AtomicU64::new(1)),
            pending: 0,
            lock: None,
        };
        let Some(dir) = dir else { return Ok(spool) };
        fs::create_dir_all(dir)?;
        spool.lock = Some(lock(dir)?);
        let mut segments = Vec::new();
        let mut temporaries = Vec::new();
        let mut lanes = Vec::new();
        let mut max_id = 0;
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if let Some(id) = parse_id(name, SEGMENT, TMP) {
                temporaries.push((id, path));
                max_id = max_id.max(id);
            } else if let Some(id) = parse_id(name, SEGMENT, EXT) {
                segments.push((id, path));
                max_id = max_id.max(id);
            } else if let Some(id) = parse_id(name, LANE, EXT) {
                lanes.push((id, path));
                max_id = max_id.max(id);
            } else if let Some(id) = parse_id(name, REJECTED, EXT) {
                max_id = max_id.max(id);
            }
        }
        for (id, tmp) in temporaries {
            let done = dir.join(segment_name(id));
            if segments.iter().any(|(other, _)| *other == id) {
                // The process died while rewriting a whole segment (`replace_front`): the
                // segment is complete and the rewrite maybe torn. Replay the whole segment
                // (its delivered part again: at least once) and drop the rewrite.
                fs::remove_file(&tmp)?;
            } else {
                // A new segment written but not yet renamed: keep what it holds.
                fs::rename(&tmp, &done)?;
                segments.push((id, done));
            }
        }
        segments.sort();
        lanes.sort();
        spool.ids.store(max_id + 1, Ordering::SeqCst);
        for (_, path) in segments {
            spool.adopt(path)?;
        }
        for (_, lane) in lanes {
            spool.adopt_lane(dir, &lane)?;
        }
        sync_dir(dir);
        Ok(spool)
    }

    /// Turns the part of a lane that a crashed process had not delivered into segments of
    /// about [`LANE_READ_BYTES`] each, oldest first, so that replaying a lane as big as the
    /// flood that made it never holds all of it (nor hands it to the sink as one batch).
    /// The marker follows each segment written: a crash midway resumes, not repeats.
    fn adopt_lane(&mut self, dir: &Path, lane: &Path) -> io::Result<()> {
        let mut offset = lane_consumed(lane);
        let mut file = File::open(lane)?;
        file.seek(SeekFrom::Start(offset))?;
        let mut reader = BufReader::new(file);
        let mut chunk = Vec::new();
        loop {
            // A torn last line (no newline) is kept: replay reports it as corrupt.
            let n = reader.read_until(b'\n', &mut chunk)?;
            if !chunk.is_empty() && (n == 0 || chunk.len() as u64 >= LANE_READ_BYTES) {
                let path = dir.join(segment_name(self.next_id()));
                write_bytes_atomically(&path, &chunk)?;
                offset += chunk.len() as u64;
                chunk.clear();
                mark_lane_consumed(lane, offset)?;
                self.adopt(path)?;
            }
            if n == 0 {
                break;
            }
        }
        fs::remove_file(lane)?;
        let _ = fs::remove_file(consumed_marker(lane));
        Ok(())
    }

    fn adopt(&mut self, path: PathBuf) -> io::Result<()> {
        let events = count_lines(&path)?;
        self.pending += events;
        self.segments.push_back(Segment::File { path, events });
        Ok(())
    }

    /// The id counter shared with the overflow lane, so file names sort by creation.
    pub(crate) fn ids(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.ids)
    }

    fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::SeqCst)
    }

    /// The spool directory, if any.
    pub(crate) fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// How many events wait in memory segments: all of them without a directory, and those
    /// whose segment file could not be written (a full or vanished disk).
    pub(crate) fn in_memory(&self) -> u64 {
        self.segments
            .iter()
            .map(|segment| match segment {
                Segment::Memory(records) => records.len() as u64,
                Segment::File { .. } => 0,
            })
            .sum()
    }

    /// Releases the directory's lock (at shutdown, once nothing more is written to it).
    pub(crate) fn unlock(&mut self) {
        self.lock = None;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Events waiting (approximate for recovered files: their line count).
    pub(crate) fn pending(&self) -> u64 {
        self.pending
    }

    /// Appends a batch as the newest segment. If the file cannot be written, the batch is
    /// kept in memory (still in order) and the error is returned for reporting.
    pub(crate) fn push(&mut self, records: Vec<SpoolRecord>) -> Result<(), (PathBuf, io::Error)> {
        self.pending += records.len() as u64;
        let Some(dir) = self.dir.clone() else {
            self.segments.push_back(Segment::Memory(records));
            return Ok(());
        };
        let path = dir.join(segment_name(self.next_id()));
        match write_atomically(&path, &records) {
            Ok(()) => {
                let events = records.len() as u64;
                self.segments.push_back(Segment::File { path, events });
                Ok(())
            }
            Err(err) => {
                self.segments.push_back(Segment::Memory(records));
                Err((path, err))
            }
        }
    }

    /// Reads the oldest segment: its readable records and its unreadable lines.
    #[cfg(test)]
    pub(crate) fn read_front(&self) -> Option<io::Result<(Vec<SpoolRecord>, Vec<Corrupt>)>> {
        self.read_at(0)
    }

    /// How many segments wait.
    pub(crate) fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Reads the `index`-th oldest segment.
    pub(crate) fn read_at(
        &self,
        index: usize,
    ) -> Option<io::Result<(Vec<SpoolRecord>, Vec<Corrupt>)>> {
        Some(match self.segments.get(index)? {
            Segment::Memory(records) => Ok((records.clone(), Vec::new())),
            Segment::File { path, .. } => fs::read(path).map(|bytes| parse_lines(&bytes, path)),
        })
    }

    /// Forgets the oldest segment (its events were committed or dead-lettered).
    pub(crate) fn pop_front(&mut self) -> io::Result<()> {
        let Some(segment) = self.segments.pop_front() else {
            return Ok(());
        };
        match segment {
            Segment::Memory(records) => self.pending -= records.len() as u64,
            Segment::File { path, events } => {
                self.pending = self.pending.saturating_sub(events);
                fs::remove_file(&path)?;
            }
        }
        Ok(())
    }

    /// Replaces the `index`-th oldest segment's content with `records`.
    pub(crate) fn replace_at(&mut self, index: usize, records: Vec<SpoolRecord>) -> io::Result<()> {
        let Some(front) = self.segments.get_mut(index) else {
            return Ok(());
        };
        match front {
            Segment::Memory(old) => {
                self.pending -= (old.len() - records.len().min(old.len())) as u64;
                *old = records;
            }
            Segment::File { path, events } => {
                write_atomically(path, &records)?;
                self.pending = self.pending.saturating_sub(*events) + records.len() as u64;
                *events = records.len() as u64;
            }
        }
        Ok(())
    }

    /// Keeps events the sink refused for good in a `rejected-<id>.jsonl` file. Returns the
    /// file, or `None` without a spool directory.
    pub(crate) fn dead_letter(&self, records: &[SpoolRecord]) -> io::Result<Option<PathBuf>> {
        let Some(dir) = &self.dir else {
            return Ok(None);
        };
        let path = dir.join(format!("{REJECTED}{:020}{EXT}", self.next_id()));
        write_atomically(&path, records)?;
        Ok(Some(path))
    }

    /// The events of memory segments, which a process exit would lose.
    pub(crate) fn memory_events(&self) -> impl Iterator<Item = &AuditEvent> {
        self.segments.iter().flat_map(|s| {
            match s {
                Segment::Memory(records) => records.as_slice(),
                Segment::File { .. } => &[],
            }
            .iter()
            .map(|r| &r.event)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lane::file::{Lane, read_lane};

    fn record(action: &'static str) -> SpoolRecord {
        SpoolRecord {
            observed: true,
            ticket: None,
            event: AuditEvent::builder(action).build(),
        }
    }

    #[test]
    fn segments_replay_oldest_first_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(Some(dir.path())).unwrap();
        spool.push(vec![record("A"), record("B")]).unwrap();
        spool.push(vec![record("C")]).unwrap();
        drop(spool);
        let mut spool = Spool::open(Some(dir.path())).unwrap();
        assert_eq!(spool.pending(), 3);
        let mut seen = Vec::new();
        while let Some(read) = spool.read_front() {
            let (records, _) = read.unwrap();
            seen.extend(records.into_iter().map(|r| r.event.action.into_owned()));
            spool.pop_front().unwrap();
        }
        assert_eq!(seen, ["A", "B", "C"]);
        assert_eq!(spool.pending(), 0);
    }

    #[test]
    fn a_second_spool_on_the_same_directory_is_refused_while_the_first_is_open() {
        let dir = tempfile::tempdir().unwrap();
        let first = Spool::open(Some(dir.path())).unwrap();
        assert!(Spool::open(Some(dir.path())).is_err());
        drop(first);
        assert!(Spool::open(Some(dir.path())).is_ok());
    }

    #[test]
    fn a_crash_while_rewriting_a_segment_replays_the_whole_segment_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(Some(dir.path())).unwrap();
        spool
            .push(vec![record("A"), record("B"), record("C")])
            .unwrap();
        spool.push(vec![record("D")]).unwrap();
        let Some(Segment::File { path, .. }) = spool.segments.front() else {
            panic!("a file segment");
        };
        // The rewrite of the front segment (after A was delivered) died mid-write.
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        fs::write(&tmp, "{\"observed\":true,\"ev").unwrap();
        drop(spool);
        let mut spool = Spool::open(Some(dir.path())).unwrap();
        assert_eq!(spool.segments.len(), 2, "each segment registered once");
        let mut seen = Vec::new();
        while let Some(read) = spool.read_front() {
            let (records, corrupt) = read.unwrap();
            assert!(corrupt.is_empty(), "the torn rewrite was not used");
            seen.extend(records.into_iter().map(|r| r.event.action.into_owned()));
            spool.pop_front().unwrap();
        }
        assert_eq!(seen, ["A", "B", "C", "D"]);
    }

    #[test]
    fn leftover_lane_becomes_the_newest_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(Some(dir.path())).unwrap();
        spool.push(vec![record("OLD")]).unwrap();
        let mut lane = Lane::create(dir.path(), spool.next_id()).unwrap();
        lane.append(record("LANE")).unwrap();
        drop((spool, lane));
        let spool = Spool::open(Some(dir.path())).unwrap();
        assert_eq!(spool.segments.len(), 2);
        let (first, _) = spool.read_front().unwrap().unwrap();
        assert_eq!(first[0].event.action, "OLD");
    }

    #[test]
    fn a_big_leftover_lane_is_split_into_bounded_segments_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(Some(dir.path())).unwrap();
        let n = 6_000;
        let mut lane = Lane::create(dir.path(), spool.next_id()).unwrap();
        for i in 0..n {
            let event = AuditEvent::builder(format!("E{i}")).build();
            let record = SpoolRecord {
                observed: true,
                ticket: None,
                event,
            };
            lane.append(record).unwrap();
        }
        assert!(
            lane.written > LANE_READ_BYTES,
            "the lane spans several segments"
        );
        // The crashed process had delivered the first 10.
        let tenth = read_lane(&lane.path, 0, lane.written, 0, 10, u64::MAX).unwrap();
        mark_lane_consumed(&lane.path, tenth.end).unwrap();
        drop((spool, lane));
        let mut spool = Spool::open(Some(dir.path())).unwrap();
        assert!(spool.segments.len() > 1);
        assert_eq!(spool.pending(), n - 10);
        let mut seen = Vec::new();
        while let Some(read) = spool.read_front() {
            let (records, corrupt) = read.unwrap();
            assert!(corrupt.is_empty());
            seen.extend(records.into_iter().map(|r| r.event.action.into_owned()));
            spool.pop_front().unwrap();
        }
        let expected: Vec<String> = (10..n).map(|i| format!("E{i}")).collect();
        assert_eq!(seen, expected);
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the lock is left");
    }
}
