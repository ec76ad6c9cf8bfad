//! The producer side of the overflow lane: a recording caller appends its event to the lane
//! file while the queue is full under [`OverflowPolicy::Spool`](crate::OverflowPolicy::Spool)
//! (or past the overflow allowance of a current-thread caller).

use std::sync::MutexGuard;
use std::sync::atomic::Ordering;

use audit_core::prepare;
use audit_core::recorder::Recorded;

use crate::error::PipelineError;
use crate::lane::file::Lane;
use crate::metrics::add;
use crate::queue::State;
use crate::report::Problem;
use crate::shared::Shared;
use crate::spool::record::SpoolRecord;

impl Shared {
    /// Writes an event to the overflow lane. The event is prepared (context, redaction,
    /// validation: nothing unredacted reaches the disk) and serialized with the queue lock
    /// released; the lock is taken again only to give it its ticket and append its line,
    /// which keeps lane order equal to ticket order.
    ///
    /// Takes the held lock and returns it (the caller releases it). Problems are returned,
    /// to be reported once the lock is released: the error hook may record an event itself.
    pub(crate) fn spill<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        recorded: Recorded,
    ) -> (MutexGuard<'a, State>, Vec<Problem>) {
        let mut problems = Vec::new();
        if !self.lane_ready(&mut state, &mut problems) {
            self.accept_or_drop(&mut state, recorded, &mut problems);
            return (state, problems);
        }
        if self.lane_memory_full(&state) {
            self.drop_in_lane(&mut problems);
            return (state, problems);
        }
        drop(state);

        let (event, ctx) = recorded.into_settled();
        let event = match prepare::prepare(event, ctx.as_ref(), &self.redactor) {
            Ok(event) => event,
            Err(invalid) => {
                let stand_in = invalid.stand_in.clone();
                problems.push(Problem::Invalid(invalid));
                stand_in
            }
        };
        let json = serde_json::to_vec(&event).unwrap_or_default();

        let mut state = self.queue.lock();
        if state.lane.is_none() && state.has_room(self.queue.capacity) {
            // The worker drained and closed the lane meanwhile: the queue is the way again.
            self.accept(&mut state, Recorded::new(event, None));
            return (state, problems);
        }
        if !self.lane_ready(&mut state, &mut problems) {
            self.accept_or_drop(&mut state, Recorded::new(event, None), &mut problems);
            return (state, problems);
        }
        if self.lane_memory_full(&state) {
            self.drop_in_lane(&mut problems);
            return (state, problems);
        }
        state.last_ticket += 1;
        let record = SpoolRecord {
            observed: false,
            ticket: Some(state.last_ticket),
            event,
        };
        if let Some(lane) = &mut state.lane {
            // `json` is empty only if serializing failed: the lane then serializes itself.
            let written = if json.is_empty() {
                lane.append(record)
            } else {
                lane.append_serialized(record, &json)
            };
            if let Err(source) = written {
                let path = lane.path.clone();
                problems.push(Problem::Error(PipelineError::Spool { path, source }));
            }
        }
        add(&self.counters.enqueued, 1);
        add(&self.counters.spooled, 1);
        (state, problems)
    }

    /// Opens the lane if none is open; `false` if there is none and cannot be one.
    fn lane_ready(&self, state: &mut State, problems: &mut Vec<Problem>) -> bool {
        if state.lane.is_some() {
            return true;
        }
        let Some(dir) = &self.spool_dir else {
            // `build` refuses Spool without a directory.
            return false;
        };
        let id = self.file_ids.fetch_add(1, Ordering::SeqCst);
        match Lane::create(dir, id) {
            Ok(lane) => {
                state.lane = Some(lane);
                true
            }
            Err(source) => {
                problems.push(Problem::Error(PipelineError::Spool {
                    path: dir.clone(),
                    source,
                }));
                false
            }
        }
    }

    /// Whether the lane, unable to write to its file (reported when the write failed),
    /// holds a queue's worth in memory already: taking more would make memory grow with the
    /// flood, and the queue is no way out either, as its events would overtake older lane
    /// records.
    fn lane_memory_full(&self, state: &State) -> bool {
        state
            .lane
            .as_ref()
            .is_some_and(|lane| lane.memory.len() >= self.queue.capacity)
    }

    /// Drops an event the full in-memory lane cannot take: counted and reported.
    fn drop_in_lane(&self, problems: &mut Vec<Problem>) {
        add(&self.counters.dropped, 1);
        problems.push(Problem::Error(PipelineError::QueueFull));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use async_trait::async_trait;
    use tokio::sync::Semaphore;

    use super::*;
    use crate::{Auditor, OverflowPolicy};
    use audit_core::event::AuditEvent;
    use audit_core::sink::{AuditSink, BatchAck, SinkError};

    /// Holds every write until the test releases it.
    struct Gate(Arc<Semaphore>);

    #[async_trait]
    impl AuditSink for Gate {
        async fn write(&self, _batch: &[AuditEvent]) -> Result<BatchAck, SinkError> {
            let _permit = self.0.acquire().await;
            Ok(BatchAck::unchained())
        }
    }

    fn event(n: u64) -> AuditEvent {
        AuditEvent::builder("FTMS_BOOKING_CREATED")
            .entity("booking", n.to_string())
            .build()
    }

    #[test]
    fn a_lane_that_cannot_write_to_disk_stops_growing_at_the_queue_capacity() {
        let spool = tempfile::tempdir().expect("temp dir");
        let gate = Arc::new(Semaphore::new(0));
        let auditor = Auditor::builder(Gate(gate.clone()))
            .queue_capacity(4)
            .max_batch_size(1)
            .overflow(OverflowPolicy::Spool)
            .spool_dir(spool.path())
            .build()
            .expect("auditor");
        // The worker takes one event into a write that waits; four fill the queue; the
        // next ones open the overflow lane.
        for n in 0..12 {
            auditor.record(event(n));
            std::thread::sleep(Duration::from_millis(2));
        }
        let before = auditor.metrics();
        assert!(before.spooled > 0, "no lane opened: {before:?}");
        // Writes to the lane's file fail from now on: what it takes stays in memory.
        {
            let mut state = auditor.shared().queue.lock();
            let lane = state.lane.as_mut().expect("an open lane");
            while lane.memory.len() < 4 {
                lane.memory.push_back(SpoolRecord {
                    observed: false,
                    ticket: None,
                    event: event(99),
                });
            }
        }
        for n in 12..40 {
            auditor.record(event(n));
        }
        let after = auditor.metrics();
        let held = auditor
            .shared()
            .queue
            .lock()
            .lane
            .as_ref()
            .map_or(0, |lane| lane.memory.len());
        assert_eq!(held, 4, "the lane kept growing in memory");
        assert_eq!(after.dropped - before.dropped, 28, "{after:?}");
        assert_eq!(after.spooled, before.spooled, "{after:?}");
        gate.add_permits(1_000);
        drop(auditor.shutdown_blocking());
    }
}
