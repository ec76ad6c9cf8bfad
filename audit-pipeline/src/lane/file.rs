//! The overflow lane's file: appended to by recording threads, read back by the worker, and
//! marked as consumed so that a crash does not replay what was delivered.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::spool::record::{Corrupt, EXT, LANE, Positioned, SpoolRecord, sync_dir};

/// The overflow lane: recording threads append here while the queue is full under
/// [`OverflowPolicy::Spool`](crate::OverflowPolicy::Spool). Guarded by the queue
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

    /// Appends a record whose event the caller serialized already (`event_json`), so the
    /// lock held meanwhile covers one `write`, not the serialization.
    pub(crate) fn append_serialized(
        &mut self,
        record: SpoolRecord,
        event_json: &[u8],
    ) -> io::Result<()> {
        if !self.memory.is_empty() || self.torn {
            return self.append(record);
        }
        self.line.clear();
        // The same JSON as serializing the record (field order does not matter to serde).
        self.line.extend_from_slice(b"{\"observed\":");
        self.line
            .extend_from_slice(if record.observed { b"true" } else { b"false" });
        if let Some(ticket) = record.ticket {
            self.line.extend_from_slice(b",\"ticket\":");
            self.line.extend_from_slice(ticket.to_string().as_bytes());
        }
        self.line.extend_from_slice(b",\"event\":");
        self.line.extend_from_slice(event_json);
        self.line.extend_from_slice(b"}\n");
        if let Err(err) = self.file.write_all(&self.line) {
            self.torn = true;
            self.memory.push_back(record);
            return Err(err);
        }
        self.written += self.line.len() as u64;
        self.lines += 1;
        Ok(())
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

pub(crate) fn consumed_marker(lane: &Path) -> PathBuf {
    let mut marker = lane.as_os_str().to_owned();
    marker.push(".consumed");
    PathBuf::from(marker)
}

/// How far a crashed process had delivered a lane (0 without a readable marker).
pub(crate) fn lane_consumed(lane: &Path) -> u64 {
    fs::read_to_string(consumed_marker(lane))
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_core::event::AuditEvent;

    fn record(action: &'static str) -> SpoolRecord {
        SpoolRecord {
            observed: true,
            ticket: None,
            event: AuditEvent::builder(action).build(),
        }
    }

    fn lane_with(dir: &Path, actions: &[&'static str]) -> Lane {
        let mut lane = Lane::create(dir, 7).unwrap();
        for action in actions {
            lane.append(record(action)).unwrap();
        }
        lane
    }

    #[test]
    fn a_pre_serialized_record_reads_back_as_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut lane = Lane::create(dir.path(), 3).unwrap();
        let mut record = record("PRE");
        record.ticket = Some(42);
        record.observed = false;
        let json = serde_json::to_vec(&record.event).unwrap();
        lane.append_serialized(record.clone(), &json).unwrap();
        let read = read_lane(&lane.path, 0, lane.written, 0, 10, u64::MAX).unwrap();
        let (back, _) = &read.records[0];
        assert_eq!((back.ticket, back.observed), (Some(42), false));
        assert_eq!(back.event, record.event);
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
}
