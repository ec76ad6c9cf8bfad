//! The producer side of the overflow lane: a recording caller appends its event to the lane
//! file while the queue is full under [`OverflowPolicy::Spool`](crate::OverflowPolicy::Spool)
//! (or past the overflow allowance of a current-thread caller).

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
    /// Writes an event to the overflow lane (the lock is held, which keeps lane order equal
    /// to ticket order). The event is prepared here so nothing unredacted reaches the disk.
    ///
    /// Problems are returned, to be reported once the lock is released: the error hook may
    /// record an event itself.
    #[must_use]
    pub(crate) fn spill(&self, state: &mut State, recorded: Recorded) -> Vec<Problem> {
        let mut problems = Vec::new();
        if state.lane.is_none() {
            let id = self.file_ids.fetch_add(1, Ordering::SeqCst);
            let Some(dir) = &self.spool_dir else {
                // `build` refuses Spool without a directory; keep the event if it fits.
                self.accept_or_drop(state, recorded, &mut problems);
                return problems;
            };
            match Lane::create(dir, id) {
                Ok(lane) => state.lane = Some(lane),
                Err(source) => {
                    problems.push(Problem::Error(PipelineError::Spool {
                        path: dir.clone(),
                        source,
                    }));
                    self.accept_or_drop(state, recorded, &mut problems);
                    return problems;
                }
            }
        }
        if state
            .lane
            .as_ref()
            .is_some_and(|lane| lane.memory.len() >= self.queue.capacity)
        {
            // The lane cannot write to its file (reported when the write failed) and holds
            // a queue's worth in memory already: taking more would make memory grow with
            // the flood. The queue is no way out either, as its events would overtake
            // older lane records. So this one is dropped, counted and reported.
            add(&self.counters.dropped, 1);
            problems.push(Problem::Error(PipelineError::QueueFull));
            return problems;
        }
        let (event, ctx) = recorded.into_settled();
        let event = match prepare::prepare(event, ctx.as_deref(), &self.redactor) {
            Ok(event) => event,
            Err(invalid) => {
                let stand_in = invalid.stand_in.clone();
                problems.push(Problem::Invalid(invalid));
                stand_in
            }
        };
        state.last_ticket += 1;
        let record = SpoolRecord {
            observed: false,
            ticket: Some(state.last_ticket),
            event,
        };
        if let Some(lane) = &mut state.lane
            && let Err(source) = lane.append(record)
        {
            let path = lane.path.clone();
            problems.push(Problem::Error(PipelineError::Spool { path, source }));
        }
        add(&self.counters.enqueued, 1);
        add(&self.counters.spooled, 1);
        problems
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
