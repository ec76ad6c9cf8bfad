//! [`JsonLinesSink`]: an append-only file with one JSON event per line.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::event::AuditEvent;
use crate::sink::{AuditSink, BatchAck, SinkError};

/// When a [`JsonLinesSink`] forces its writes to stable storage (`fsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FsyncPolicy {
    /// After every event: the slowest and safest.
    Always,
    /// Once per batch, before `write` returns (the default): a committed batch survives a
    /// power cut.
    #[default]
    EveryBatch,
    /// When a batch is written and the last fsync is older than the interval, and on flush
    /// and shutdown: a power cut can lose what was written since the last fsync.
    Interval(Duration),
    /// Only on flush and shutdown; the operating system writes back when it likes. Survives
    /// a crash of the process, not of the machine.
    Never,
}

/// What [`JsonLinesSink::read`] found in a file.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct JsonLinesContents {
    /// The events of every readable line, in file order.
    pub events: Vec<AuditEvent>,
    /// The 1-based numbers of the lines that are not an event.
    pub unreadable_lines: Vec<usize>,
}

/// Appends events to a file as JSON Lines: one [`AuditEvent`] object per line, in order.
///
/// A batch is committed whole or not at all: if writing fails halfway, the file is cut back
/// to where the batch began. The file is only ever appended to. I/O is blocking, which is
/// what the pipeline's dedicated worker thread (the `Auditor` of `audit-pipeline`) is for.
///
/// ```
/// use audit_core::{AuditEvent, AuditSink, sinks::{FsyncPolicy, JsonLinesSink}};
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("audit.jsonl");
/// let sink = JsonLinesSink::open(&path).unwrap().fsync(FsyncPolicy::EveryBatch);
/// // The pipeline's worker calls `write` with each batch.
/// futures::executor::block_on(sink.write(&[AuditEvent::builder("USER_LOGIN").build()]))
///     .unwrap();
///
/// let contents = JsonLinesSink::read(&path).unwrap();
/// assert_eq!(contents.events[0].action, "USER_LOGIN");
/// assert!(contents.unreadable_lines.is_empty());
/// ```
#[derive(Debug)]
pub struct JsonLinesSink {
    path: PathBuf,
    policy: FsyncPolicy,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    file: File,
    /// The file's length after the last committed batch.
    len: u64,
    last_sync: Instant,
    dirty: bool,
    buffer: Vec<u8>,
}

impl JsonLinesSink {
    /// Opens (creating if needed) the file for appending.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref().to_path_buf();
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        let mut len = file.metadata()?.len();
        if len > 0 {
            // A crash mid-line (with a lax fsync policy) leaves a torn last line. Nothing is
            // ever removed from an audit file, so end it instead of gluing the next event
            // onto it: the torn line stays visible and every new line stays readable.
            let mut last = [0u8];
            file.seek(SeekFrom::Start(len - 1))?;
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
                file.sync_data()?;
                len += 1;
            }
        }
        Ok(Self {
            path,
            policy: FsyncPolicy::default(),
            state: Mutex::new(State {
                file,
                len,
                last_sync: Instant::now(),
                dirty: false,
                buffer: Vec::new(),
            }),
        })
    }

    /// Sets when writes are forced to disk (default [`FsyncPolicy::EveryBatch`]).
    pub fn fsync(mut self, policy: FsyncPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads a JSON Lines audit file back, line by line.
    ///
    /// A line that is not an event (torn by a crash under a lax [`FsyncPolicy`], or edited)
    /// does not hide the rest of the file: it is skipped and its number reported in
    /// [`JsonLinesContents::unreadable_lines`]. Only an I/O error fails the call.
    pub fn read(path: impl AsRef<Path>) -> io::Result<JsonLinesContents> {
        let reader = BufReader::new(File::open(path)?);
        let mut contents = JsonLinesContents::default();
        for (index, line) in reader.split(b'\n').enumerate() {
            let line = line?;
            if line.trim_ascii().is_empty() {
                continue;
            }
            match serde_json::from_slice(&line) {
                Ok(event) => contents.events.push(event),
                Err(_) => contents.unreadable_lines.push(index + 1),
            }
        }
        Ok(contents)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn append(&self, batch: &[AuditEvent]) -> Result<(), SinkError> {
        let mut state = self.state();
        let state = &mut *state;
        state.buffer.clear();
        let mut line_ends = Vec::with_capacity(batch.len());
        for event in batch {
            serde_json::to_writer(&mut state.buffer, event)
                .map_err(|err| SinkError::rejected("event cannot be encoded as JSON", err))?;
            state.buffer.push(b'\n');
            line_ends.push(state.buffer.len());
        }
        let written = if self.policy == FsyncPolicy::Always {
            let mut start = 0;
            line_ends.iter().try_for_each(|&end| {
                state.file.write_all(&state.buffer[start..end])?;
                start = end;
                state.file.sync_data()
            })
        } else {
            state.file.write_all(&state.buffer)
        };
        if let Err(err) = written {
            // All or nothing: cut off whatever part of the batch made it to the file.
            let _ = state.file.set_len(state.len);
            return Err(SinkError::Io(err));
        }
        let sync = match self.policy {
            FsyncPolicy::Always | FsyncPolicy::Never => false,
            FsyncPolicy::EveryBatch => true,
            FsyncPolicy::Interval(every) => state.last_sync.elapsed() >= every,
        };
        if sync && let Err(err) = state.file.sync_data() {
            let _ = state.file.set_len(state.len);
            return Err(SinkError::Io(err));
        }
        if sync || self.policy == FsyncPolicy::Always {
            state.last_sync = Instant::now();
            state.dirty = false;
        } else {
            state.dirty = true;
        }
        state.len += state.buffer.len() as u64;
        Ok(())
    }

    fn sync(&self) -> Result<(), SinkError> {
        let mut state = self.state();
        if state.dirty {
            state.file.sync_data()?;
            state.dirty = false;
            state.last_sync = Instant::now();
        }
        Ok(())
    }
}

#[async_trait]
impl AuditSink for JsonLinesSink {
    async fn write(&self, batch: &[AuditEvent]) -> Result<BatchAck, SinkError> {
        self.append(batch)?;
        Ok(BatchAck::unchained())
    }

    async fn flush(&self) -> Result<(), SinkError> {
        self.sync()
    }

    async fn shutdown(&self) -> Result<(), SinkError> {
        self.sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    #[test]
    fn appends_one_line_per_event_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        for policy in [FsyncPolicy::Always, FsyncPolicy::Never] {
            let sink = JsonLinesSink::open(&path).unwrap().fsync(policy);
            let batch = [
                AuditEvent::builder("A").build(),
                AuditEvent::builder("B").build(),
            ];
            block_on(sink.write(&batch)).unwrap();
            block_on(sink.shutdown()).unwrap();
        }
        let actions: Vec<_> = JsonLinesSink::read(&path)
            .unwrap()
            .events
            .into_iter()
            .map(|e| e.action.into_owned())
            .collect();
        assert_eq!(actions, ["A", "B", "A", "B"]);
    }

    #[test]
    fn reading_skips_a_torn_line_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("torn.jsonl");
        let sink = JsonLinesSink::open(&path).unwrap();
        block_on(sink.write(&[AuditEvent::builder("A").build()])).unwrap();
        drop(sink);
        // A crash mid-line, then a restart that appends again.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"id\":\"01")
            .unwrap();
        assert_eq!(JsonLinesSink::read(&path).unwrap().unreadable_lines, [2]);
        let sink = JsonLinesSink::open(&path).unwrap();
        block_on(sink.write(&[AuditEvent::builder("B").build()])).unwrap();
        let contents = JsonLinesSink::read(&path).unwrap();
        let actions: Vec<_> = contents.events.iter().map(|e| e.action.as_ref()).collect();
        assert_eq!(actions, ["A", "B"]);
        assert_eq!(contents.unreadable_lines, [2]);
    }

    #[test]
    fn reopening_after_a_torn_line_keeps_new_lines_separate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("torn.jsonl");
        std::fs::write(&path, b"{\"id\":").unwrap();
        let sink = JsonLinesSink::open(&path).unwrap();
        block_on(sink.write(&[AuditEvent::builder("A").build()])).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines[0], "{\"id\":");
        let event: AuditEvent = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(event.action, "A");
    }

    #[test]
    fn interval_policy_leaves_unsynced_data_for_flush() {
        let dir = tempfile::tempdir().unwrap();
        let sink = JsonLinesSink::open(dir.path().join("b.jsonl"))
            .unwrap()
            .fsync(FsyncPolicy::Interval(Duration::from_secs(3600)));
        block_on(sink.write(&[AuditEvent::builder("A").build()])).unwrap();
        assert!(sink.state().dirty);
        block_on(sink.flush()).unwrap();
        assert!(!sink.state().dirty);
    }
}
