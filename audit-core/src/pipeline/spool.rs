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
//! - `LOCK`: the id of the process using the directory (and, on Linux, of the boot it runs
//!   in); a second live process is refused, a lock left by a dead one is taken over.
//!
//! # Recovery
//!
//! On start, leftover `.tmp` segments are completed by renaming, leftover lanes become the
//! newest segments (a lane always holds the newest events), and everything is replayed in
//! order before new events. A line that cannot be parsed (a torn write) is skipped, counted
//! in [`Metrics::spool_corrupt`](crate::pipeline::Metrics::spool_corrupt) and reported; it
//! never stops the replay.
//!
//! [`OverflowPolicy::Spool`]: crate::pipeline::OverflowPolicy::Spool

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::event::AuditEvent;

const SEGMENT: &str = "spool-";
const LANE: &str = "lane-";
const REJECTED: &str = "rejected-";
const EXT: &str = ".jsonl";
const TMP: &str = ".jsonl.tmp";
const LOCK: &str = "LOCK";

/// One spooled event: prepared (context merged, redacted, validated) and ready for the sink.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SpoolRecord {
    /// Whether the pipeline's observers already saw it.
    pub(crate) observed: bool,
    /// The event's queue ticket (lane records only), for `flush`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ticket: Option<u64>,
    /// The event.
    pub(crate) event: AuditEvent,
}

/// A record with the file offset just past its line.
pub(crate) type Positioned = (SpoolRecord, u64);

/// A spool line that could not be read back.
#[derive(Debug)]
pub(crate) struct Corrupt {
    pub(crate) path: PathBuf,
    pub(crate) line: usize,
    pub(crate) message: String,
}

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
        };
        let Some(dir) = dir else { return Ok(spool) };
        fs::create_dir_all(dir)?;
        lock(dir)?;
        let mut segments = Vec::new();
        let mut lanes = Vec::new();
        let mut max_id = 0;
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if let Some(id) = parse_id(name, SEGMENT, TMP) {
                // A segment written but not yet renamed when the process died: keep it.
                let done = dir.join(segment_name(id));
                fs::rename(&path, &done)?;
                segments.push((id, done));
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
    pub(crate) fn read_front(&self) -> Option<io::Result<(Vec<SpoolRecord>, Vec<Corrupt>)>> {
        Some(match self.segments.front()? {
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

    /// Replaces the oldest segment's content with `records` (what is left after a partial
    /// replay).
    pub(crate) fn replace_front(&mut self, records: Vec<SpoolRecord>) -> io::Result<()> {
        let Some(front) = self.segments.front_mut() else {
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

impl Drop for Spool {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = fs::remove_file(dir.join(LOCK));
        }
    }
}

/// Claims the directory for this process: two processes replaying the same spool would
/// deliver it twice and interleave their orders. A lock left by a process that died is taken
/// over (on Linux, a lock is stale when its process is gone or was started before the last
/// reboot; elsewhere every lock left at start-up is assumed stale, since a clean shutdown
/// removes it).
///
/// The file holds the pid and, on Linux, the boot id: after a crash and a reboot the old pid
/// is often alive again as another process, which must not keep the spool locked (and
/// unreplayed) forever.
fn lock(dir: &Path) -> io::Result<()> {
    let path = dir.join(LOCK);
    let boot = boot_id();
    if let Ok(text) = fs::read_to_string(&path) {
        let mut lines = text.lines().map(str::trim);
        let pid = lines.next().and_then(|pid| pid.parse::<u32>().ok());
        let locked_boot = lines.next().filter(|id| !id.is_empty());
        let same_boot = match (locked_boot, boot.as_deref()) {
            (Some(locked), Some(now)) => locked == now,
            // A lock without a boot id (older format), or no way to tell: assume this boot.
            _ => true,
        };
        if let Some(pid) = pid
            && pid != std::process::id()
            && same_boot
            && process_alive(pid)
        {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("the spool directory is in use by process {pid}"),
            ));
        }
    }
    let holder = match boot {
        Some(boot) => format!("{}\n{boot}\n", std::process::id()),
        None => format!("{}\n", std::process::id()),
    };
    fs::write(&path, holder)
}

/// Where Linux publishes the id of the current boot.
const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

fn boot_id() -> Option<String> {
    let id = fs::read_to_string(BOOT_ID).ok()?;
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_owned())
}

fn process_alive(pid: u32) -> bool {
    cfg!(target_os = "linux") && Path::new(&format!("/proc/{pid}")).exists()
}

/// The overflow lane: recording threads append here while the queue is full under
/// [`OverflowPolicy::Spool`](crate::pipeline::OverflowPolicy::Spool). Guarded by the queue
/// lock.
#[derive(Debug)]
pub(crate) struct Lane {
    pub(crate) path: PathBuf,
    file: File,
    /// Bytes of whole lines written: the reader never reads past this.
    pub(crate) written: u64,
    /// Lines written (the reader's count of lines read tells how many are left).
    pub(crate) lines: u64,
    /// Records not (yet) in the file, in order after it: a write failed, and the file is
    /// tried again every [`LANE_RETRY_EVERY`] records, so a passing error (a full disk that
    /// an operator cleans) does not keep the rest of the flood in memory.
    pub(crate) memory: VecDeque<SpoolRecord>,
    /// A failed write may have left part of a line past `written`.
    torn: bool,
    line: Vec<u8>,
}

/// After a lane write error, how many records go to memory between two attempts to write
/// them to the file again.
const LANE_RETRY_EVERY: usize = 64;

impl Lane {
    pub(crate) fn create(dir: &Path, id: u64) -> io::Result<Self> {
        let path = dir.join(format!("{LANE}{id:020}{EXT}"));
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)?;
        sync_dir(dir);
        Ok(Self {
            path,
            file,
            written: 0,
            lines: 0,
            memory: VecDeque::new(),
            torn: false,
            line: Vec::new(),
        })
    }

    /// Appends a record. After a write error the lane continues in memory (the error is
    /// returned once per failed attempt to go back to the file).
    pub(crate) fn append(&mut self, record: SpoolRecord) -> io::Result<()> {
        self.memory.push_back(record);
        if self.memory.len() > 1 && !self.memory.len().is_multiple_of(LANE_RETRY_EVERY) {
            return Ok(());
        }
        self.write_memory()
    }

    /// Moves the records kept in memory to the file, oldest first, until one fails. Lane
    /// order holds: the reader takes memory records only once it has read the whole file.
    fn write_memory(&mut self) -> io::Result<()> {
        if self.torn {
            // Cut the partial line so the next one starts on a line boundary.
            self.file.set_len(self.written)?;
            self.torn = false;
        }
        while let Some(record) = self.memory.front() {
            self.line.clear();
            serde_json::to_writer(&mut self.line, record).map_err(io::Error::other)?;
            self.line.push(b'\n');
            if let Err(err) = self.file.write_all(&self.line) {
                self.torn = true;
                return Err(err);
            }
            self.written += self.line.len() as u64;
            self.lines += 1;
            self.memory.pop_front();
        }
        Ok(())
    }
}

/// Reads the events of a spool file (a segment, a lane or a `rejected-*.jsonl` dead-letter
/// file), for an operator inspecting or re-importing them. Unreadable lines are skipped;
/// their 1-based numbers are returned alongside.
///
/// ```
/// use audit_core::pipeline::spool::read_spool_file;
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("rejected-00000000000000000001.jsonl");
/// std::fs::write(&path, "{\"observed\":true,\"event\":{\"id\":\"0190b3a0-0000-7000-8000-000000000000\",\"occurred_at\":\"2026-01-01T00:00:00Z\",\"action\":\"A\",\"category\":\"business\",\"outcome\":\"success\",\"severity\":\"info\"}}\n{torn").unwrap();
/// let (events, skipped) = read_spool_file(&path).unwrap();
/// assert_eq!(events[0].action, "A");
/// assert_eq!(skipped, [2]);
/// ```
pub fn read_spool_file(path: &Path) -> io::Result<(Vec<AuditEvent>, Vec<usize>)> {
    let bytes = fs::read(path)?;
    let (records, corrupt) = parse_lines(&bytes, path);
    Ok((
        records.into_iter().map(|r| r.event).collect(),
        corrupt.into_iter().map(|c| c.line).collect(),
    ))
}

/// The most bytes of lane lines one [`read_lane`] call parses (at least one line is always
/// read): with `max_records` it bounds what the worker holds of a lane, however big the
/// lane grows during a flood.
pub(crate) const LANE_READ_BYTES: u64 = 1 << 20;

/// What one [`read_lane`] call got.
#[derive(Debug, Default)]
pub(crate) struct LaneRead {
    pub(crate) records: Vec<Positioned>,
    pub(crate) corrupt: Vec<Corrupt>,
    /// The offset just past the last line read (readable or not): where to resume.
    pub(crate) end: u64,
    /// Lines read.
    pub(crate) lines: u64,
}

/// Reads whole lines of a lane file from offset `from`, stopping at `to` (a line boundary),
/// after `max_records` records or once `max_bytes` are read, whichever comes first. Each
/// record comes with the file offset just past its line; unreadable lines are numbered from
/// `lines_before` (the lines before `from`).
pub(crate) fn read_lane(
    path: &Path,
    from: u64,
    to: u64,
    lines_before: u64,
    max_records: usize,
    max_bytes: u64,
) -> io::Result<LaneRead> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(from))?;
    let window = to.saturating_sub(from);
    let buffer = window.min(max_bytes).clamp(1, 64 * 1024) as usize;
    let mut reader = BufReader::with_capacity(buffer, file.take(window));
    let mut read = LaneRead {
        end: from,
        ..LaneRead::default()
    };
    let mut line = Vec::new();
    while read.records.len() < max_records.max(1) && read.end - from < max_bytes {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            if read.end == from && from < to {
                // Nothing where lines were written (the file was cut short): an error, or
                // the caller would come back to the same offset forever.
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the lane file is shorter than what was written to it",
                ));
            }
            break;
        }
        read.end += n as u64;
        read.lines += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<SpoolRecord>(&line) {
            Ok(record) => read.records.push((record, read.end)),
            Err(err) => read.corrupt.push(Corrupt {
                path: path.to_path_buf(),
                line: usize::try_from(lines_before + read.lines).unwrap_or(usize::MAX),
                message: err.to_string(),
            }),
        }
    }
    Ok(read)
}

/// Remembers that a lane is delivered up to `offset`, so recovery after a crash skips what
/// is already in the sink or in a segment. Not fsync'd: losing it on a power cut only means
/// replaying some events twice.
pub(crate) fn mark_lane_consumed(lane: &Path, offset: u64) -> io::Result<()> {
    let marker = consumed_marker(lane);
    let mut tmp = marker.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, offset.to_string())?;
    fs::rename(&tmp, &marker)
}

/// Removes a drained lane and its marker.
pub(crate) fn remove_lane(lane: &Path) -> io::Result<()> {
    match fs::remove_file(consumed_marker(lane)) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
        _ => {}
    }
    fs::remove_file(lane)
}

fn consumed_marker(lane: &Path) -> PathBuf {
    let mut marker = lane.as_os_str().to_owned();
    marker.push(".consumed");
    PathBuf::from(marker)
}

/// How far a crashed process had delivered a lane (0 without a readable marker).
fn lane_consumed(lane: &Path) -> u64 {
    fs::read_to_string(consumed_marker(lane))
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0)
}

fn segment_name(id: u64) -> String {
    format!("{SEGMENT}{id:020}{EXT}")
}

fn parse_id(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    name.strip_prefix(prefix)?
        .strip_suffix(suffix)?
        .parse()
        .ok()
}

fn parse_lines(bytes: &[u8], path: &Path) -> (Vec<SpoolRecord>, Vec<Corrupt>) {
    let (records, corrupt) = parse_lines_at(bytes, path);
    (records.into_iter().map(|(r, _)| r).collect(), corrupt)
}

/// Parses JSON lines; each record comes with the offset just past its line.
fn parse_lines_at(bytes: &[u8], path: &Path) -> (Vec<Positioned>, Vec<Corrupt>) {
    let mut records = Vec::new();
    let mut corrupt = Vec::new();
    let mut start = 0;
    let mut number = 0;
    while start < bytes.len() {
        number += 1;
        let (line, end, last) = match bytes[start..].iter().position(|&b| b == b'\n') {
            Some(i) => (&bytes[start..start + i], start + i + 1, false),
            None => (&bytes[start..], bytes.len(), true),
        };
        start = end;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<SpoolRecord>(line) {
            Ok(record) => records.push((record, end as u64)),
            Err(err) => corrupt.push(Corrupt {
                path: path.to_path_buf(),
                line: number,
                message: if last {
                    format!("torn last line (the writer stopped mid-line): {err}")
                } else {
                    err.to_string()
                },
            }),
        }
    }
    (records, corrupt)
}

/// Counts lines a buffer at a time (a recovered lane can be as big as the flood was).
fn count_lines(path: &Path) -> io::Result<u64> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut lines = 0;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(lines);
        }
        lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        let n = chunk.len();
        reader.consume(n);
    }
}

/// Writes `records` to `path` through a fsync'd temporary file and a rename.
fn write_atomically(path: &Path, records: &[SpoolRecord]) -> io::Result<()> {
    let mut bytes = Vec::with_capacity(records.len() * 512);
    for record in records {
        serde_json::to_writer(&mut bytes, record).map_err(io::Error::other)?;
        bytes.push(b'\n');
    }
    write_bytes_atomically(path, &bytes)
}

fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        sync_dir(dir);
    }
    Ok(())
}

/// Makes a directory entry (a new or renamed file) durable. Best effort: not every platform
/// can open a directory for syncing.
fn sync_dir(dir: &Path) {
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(action: &'static str) -> SpoolRecord {
        SpoolRecord {
            observed: true,
            ticket: None,
            event: AuditEvent::builder(action).build(),
        }
    }

    #[test]
    fn torn_last_line_is_skipped_and_reported() {
        let mut bytes = Vec::new();
        serde_json::to_writer(&mut bytes, &record("A")).unwrap();
        bytes.extend_from_slice(b"\n{\"observed\":true,\"ev");
        let (records, corrupt) = parse_lines(&bytes, Path::new("x"));
        assert_eq!(records.len(), 1);
        assert_eq!(corrupt.len(), 1);
        assert_eq!(corrupt[0].line, 2);
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
    fn a_directory_locked_by_a_live_process_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        // PID 1 is always alive on Linux.
        fs::write(dir.path().join(LOCK), "1").unwrap();
        let opened = Spool::open(Some(dir.path()));
        if cfg!(target_os = "linux") {
            assert!(opened.is_err());
        }
        fs::write(dir.path().join(LOCK), u32::MAX.to_string()).unwrap();
        let spool = Spool::open(Some(dir.path())).unwrap();
        drop(spool);
        assert!(!dir.path().join(LOCK).exists());
    }

    #[test]
    fn a_lock_from_before_a_reboot_is_stale_even_if_its_pid_is_alive_again() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        // After a crash and a reboot the old pid (here 1, always alive) may belong to
        // another process: the lock's boot id tells it is not ours.
        let other_boot = "00000000-0000-0000-0000-000000000000";
        fs::write(dir.path().join(LOCK), format!("1\n{other_boot}\n")).unwrap();
        drop(Spool::open(Some(dir.path())).unwrap());
        let this_boot = fs::read_to_string(BOOT_ID).unwrap();
        fs::write(dir.path().join(LOCK), format!("1\n{}\n", this_boot.trim())).unwrap();
        assert!(Spool::open(Some(dir.path())).is_err());
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

    fn lane_with(dir: &Path, actions: &[&'static str]) -> Lane {
        let mut lane = Lane::create(dir, 7).unwrap();
        for action in actions {
            lane.append(record(action)).unwrap();
        }
        lane
    }

    #[test]
    fn lane_reads_stop_at_max_records_and_resume_exactly_where_they_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let actions: Vec<&'static str> = vec!["A", "B", "C", "D", "E"];
        let lane = lane_with(dir.path(), &actions);
        let (mut offset, mut lines, mut seen) = (0, 0, Vec::new());
        while offset < lane.written {
            let read = read_lane(&lane.path, offset, lane.written, lines, 2, u64::MAX).unwrap();
            assert!(read.records.len() <= 2);
            assert_eq!(read.records.last().unwrap().1, read.end);
            seen.extend(read.records.into_iter().map(|(r, _)| r.event.action));
            (offset, lines) = (read.end, lines + read.lines);
        }
        assert_eq!(seen, actions);
        assert_eq!(lines, lane.lines);
    }

    #[test]
    fn lane_reads_stop_at_max_bytes_but_always_take_a_line() {
        let dir = tempfile::tempdir().unwrap();
        let lane = lane_with(dir.path(), &["A", "B", "C"]);
        let read = read_lane(&lane.path, 0, lane.written, 0, 100, 1).unwrap();
        assert_eq!(read.records.len(), 1);
        assert_eq!(read.lines, 1);
        let all = read_lane(&lane.path, read.end, lane.written, 1, 100, u64::MAX).unwrap();
        assert_eq!(all.records.len(), 2);
        assert_eq!(all.end, lane.written);
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
