//! The worker's side of the overflow lane: reading it back in bounded pieces after the
//! queue, backing off when a read fails, and removing the lane once it is delivered.

use std::collections::VecDeque;
use std::path::PathBuf;

use tokio::time::Instant;

use crate::error::PipelineError;
use crate::lane::file::{LANE_READ_BYTES, mark_lane_consumed, read_lane, remove_lane};
use crate::retry::{Jitter, RetryPolicy, later};
use crate::shared::Shared;
use crate::spool::record::SpoolRecord;

/// A record read from the lane, with the file offset just past its line (`None` for a record
/// that never reached the file).
pub(crate) type LaneRecord = (SpoolRecord, Option<u64>);

/// Reading position in the overflow lane.
#[derive(Default)]
struct LaneCursor {
    /// The lane file being read.
    path: Option<PathBuf>,
    /// Bytes read so far (always a line boundary).
    offset: u64,
    /// Lines read so far.
    lines: u64,
    /// Records read but not yet delivered, with the file offset just past each: at most
    /// one batch, whatever the size of the lane.
    buffer: VecDeque<LaneRecord>,
    /// The lane was closed; its file goes once the buffer is delivered.
    retired: bool,
    /// Reads of the file that failed in a row; the next one is tried at `retry_at`.
    failures: u32,
    retry_at: Option<Instant>,
    /// The file could not be read: it stays on disk (with its consumed marker) for the
    /// next start to replay, and counts as spooled up to this ticket.
    abandoned_through: Option<u64>,
}

/// What [`LaneReader::take`] got.
pub(crate) enum Taken {
    /// Records to deliver.
    Records(Vec<LaneRecord>),
    /// None now. `spooled_through`: a lane given up ended, and counts as spooled up to this
    /// ticket.
    Nothing { spooled_through: Option<u64> },
}

/// The worker's reader of the overflow lane.
#[derive(Default)]
pub(crate) struct LaneReader {
    /// The lane being read (reset when it is finished).
    lane: LaneCursor,
    /// Events left unread in lane files that could not be read; the next start replays
    /// them.
    abandoned: u64,
}

impl LaneReader {
    /// A read of the lane file failed and the next try is not due yet.
    pub(crate) fn backing_off(&self) -> bool {
        self.lane.retry_at.is_some_and(|at| Instant::now() < at)
    }

    /// When the next read is due, while backing off.
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        self.lane.retry_at.filter(|_| self.backing_off())
    }

    /// Failed reads of the current lane in a row.
    #[cfg(test)]
    pub(crate) fn failures(&self) -> u32 {
        self.lane.failures
    }

    /// Records read and not yet taken.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.lane.buffer.len()
    }

    /// Events left on disk in lanes that could not be read.
    pub(crate) fn abandoned(&self) -> u64 {
        self.abandoned
    }

    /// Takes up to `max` lane records, in order. A lane that is drained and closed is
    /// finished here, as [`delivered`](Self::delivered) finishes one.
    pub(crate) fn take(
        &mut self,
        shared: &Shared,
        max: usize,
        retry: &RetryPolicy,
        jitter: &mut Jitter,
    ) -> Taken {
        if self.lane.buffer.is_empty() && self.fill(shared, max, retry, jitter).is_none() {
            if self.lane.retired {
                return Taken::Nothing {
                    spooled_through: self.delivered(shared, None),
                };
            }
            return Taken::Nothing {
                spooled_through: None,
            };
        }
        let n = max.min(self.lane.buffer.len());
        let records: Vec<LaneRecord> = self.lane.buffer.drain(..n).collect();
        if self.lane.buffer.is_empty() {
            // Close a drained lane now rather than on the next turn, so that recording goes
            // back to the queue as soon as this (last) batch is delivered.
            self.close_if_read(shared);
        }
        Taken::Records(records)
    }

    /// Reads the next lane records (about one batch) into the buffer; `None` if older
    /// events are still queued, if a failed read is backing off, or if there were none
    /// (the lane, if any, is then closed so recording goes back to the queue; its file is
    /// removed once the last batch read from it is delivered).
    fn fill(
        &mut self,
        shared: &Shared,
        max: usize,
        retry: &RetryPolicy,
        jitter: &mut Jitter,
    ) -> Option<()> {
        if self.backing_off() {
            return None;
        }
        loop {
            let (path, written) = {
                let mut state = shared.queue.lock();
                // Events still queued are older than any lane record (nothing enters the
                // queue while a lane is open): they go first. The queue may have filled, and
                // a lane opened, since `next_batch` found it empty.
                if !state.items.is_empty() {
                    return None;
                }
                let lane = state.lane.as_mut()?;
                if self.lane.path.as_ref() != Some(&lane.path) {
                    self.lane.path = Some(lane.path.clone());
                    self.lane.offset = 0;
                    self.lane.lines = 0;
                }
                if self.lane.offset >= lane.written {
                    // The file is read: then the records a failed write left in memory.
                    let n = max.min(lane.memory.len());
                    self.lane
                        .buffer
                        .extend(lane.memory.drain(..n).map(|record| (record, None)));
                    if self.lane.buffer.is_empty() {
                        state.lane = None;
                        drop(state);
                        self.lane.retired = true;
                        shared.queue.wake_producers();
                        return None;
                    }
                    return Some(());
                }
                (lane.path.clone(), lane.written)
            };
            let read = read_lane(
                &path,
                self.lane.offset,
                written,
                self.lane.lines,
                max,
                LANE_READ_BYTES,
            );
            match read {
                Ok(read) => {
                    self.lane.offset = read.end;
                    self.lane.lines += read.lines;
                    self.lane.failures = 0;
                    self.lane.retry_at = None;
                    shared.report_corrupt(read.corrupt);
                    self.lane.buffer.extend(
                        read.records
                            .into_iter()
                            .map(|(record, end)| (record, Some(end))),
                    );
                    if !self.lane.buffer.is_empty() {
                        return Some(());
                    }
                    // Only unreadable lines so far: read on.
                }
                Err(source) => {
                    self.read_failed(shared, path, source, retry, jitter);
                    return None;
                }
            }
        }
    }

    /// Closes the lane if all of it has been read (nothing new since), without reading on.
    fn close_if_read(&mut self, shared: &Shared) {
        let mut state = shared.queue.lock();
        let read = state.items.is_empty()
            && state.lane.as_ref().is_some_and(|lane| {
                self.lane.path.as_ref() == Some(&lane.path)
                    && self.lane.offset >= lane.written
                    && lane.memory.is_empty()
            });
        if read {
            state.lane = None;
            drop(state);
            self.lane.retired = true;
            shared.queue.wake_producers();
        }
    }

    /// A read of the lane file failed. The offset stays where it is (nothing is skipped):
    /// the read is tried again with the retry policy's backoff. After its last attempt the
    /// lane is given up for this process and its file left on disk, where the next start
    /// replays what was not delivered (after the newer events delivered meanwhile).
    fn read_failed(
        &mut self,
        shared: &Shared,
        path: PathBuf,
        source: std::io::Error,
        retry: &RetryPolicy,
        jitter: &mut Jitter,
    ) {
        shared.report(PipelineError::Spool {
            path: path.clone(),
            source,
        });
        self.lane.failures = self.lane.failures.saturating_add(1);
        if self.lane.failures < retry.attempts() {
            let wait = retry.backoff(self.lane.failures, jitter);
            self.lane.retry_at = Some(later(wait));
            return;
        }
        let (memory, unread, through) = {
            let mut state = shared.queue.lock();
            let through = state.last_ticket;
            match state.lane.take_if(|lane| lane.path == path) {
                Some(lane) => (
                    lane.memory,
                    lane.lines.saturating_sub(self.lane.lines),
                    through,
                ),
                None => return,
            }
        };
        shared.queue.wake_producers();
        self.abandoned += unread;
        tracing::error!(
            file = %path.display(),
            events = unread,
            "audit overflow lane unreadable: left on disk for the next start to replay"
        );
        // Records that never reached the file are newer than it and still deliverable.
        self.lane
            .buffer
            .extend(memory.into_iter().map(|record| (record, None)));
        self.lane.retired = true;
        self.lane.failures = 0;
        self.lane.retry_at = None;
        self.lane.abandoned_through = Some(through);
    }

    /// After a lane batch is safe (committed, spooled or dead-lettered): remembers how far
    /// the lane is consumed, so a crash does not replay it twice, and removes a retired
    /// lane's files (unless it was given up: they wait for the next start). Returns, for a
    /// given-up lane that ended, the ticket up to which it counts as spooled.
    pub(crate) fn delivered(&mut self, shared: &Shared, lane_end: Option<u64>) -> Option<u64> {
        let path = self.lane.path.clone()?;
        let finished = self.lane.retired && self.lane.buffer.is_empty();
        let removing = finished && self.lane.abandoned_through.is_none();
        if let Some(end) = lane_end.filter(|_| !removing)
            && let Err(source) = mark_lane_consumed(&path, end)
        {
            shared.report(PipelineError::Spool {
                path: path.clone(),
                source,
            });
        }
        if finished {
            let abandoned_through = self.lane.abandoned_through;
            self.lane = LaneCursor::default();
            if abandoned_through.is_none()
                && let Err(source) = remove_lane(&path)
            {
                shared.report(PipelineError::Spool { path, source });
            }
            // What is left of an abandoned lane waits on disk: as spooled, for `flush`.
            return abandoned_through;
        }
        None
    }
}
