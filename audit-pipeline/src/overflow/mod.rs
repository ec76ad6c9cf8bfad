//! What `record` does when the queue is full: the policy, and the ways a caller waits for
//! room, overflows a little, spills to the lane or drops (counted).

use std::panic::AssertUnwindSafe;
use std::sync::MutexGuard;
use std::sync::atomic::Ordering;

use audit_core::recorder::Recorded;

use crate::error::PipelineError;
use crate::metrics::add;
use crate::queue::{Queue, State};
use crate::report::Problem;
use crate::shared::Shared;

pub(crate) mod policy;

pub use policy::OverflowPolicy;

impl Shared {
    /// What `record` does with an event that found the queue full (the lock is held).
    pub(crate) fn submit_full(&self, state: MutexGuard<'_, State>, recorded: Recorded) {
        let queue = &self.queue;
        match self.overflow {
            OverflowPolicy::DropNewest => {
                drop(state);
                self.drop_event(PipelineError::QueueFull);
            }
            OverflowPolicy::Spool => {
                let (state, problems) = self.spill(state, recorded);
                drop(state);
                queue.wake_worker();
                self.report_problems(problems);
            }
            OverflowPolicy::Block => {
                let mut state = match how_to_wait() {
                    Wait::Thread => {
                        drop(state);
                        queue.wait_for_room_blocking()
                    }
                    Wait::InPlace => {
                        drop(state);
                        // `None`: tokio refused `block_in_place` on this thread.
                        wait_in_place(queue).unwrap_or_else(|| queue.lock())
                    }
                    Wait::No => state,
                };
                if state.closing {
                    drop(state);
                    return self.drop_event(PipelineError::Closed);
                }
                if state.has_room(queue.capacity) {
                    self.accept(&mut state, recorded);
                    drop(state);
                    return queue.wake_worker();
                }
                // A current-thread runtime: bounded overflow, then the lane or a drop.
                let (state, problems) = self.overflow_without_waiting(state, recorded);
                drop(state);
                queue.wake_worker();
                self.report_problems(problems);
            }
        }
    }

    /// Handles an event that finds the queue full when the caller must not wait (a
    /// current-thread runtime under [`OverflowPolicy::Block`]); the lock is held.
    ///
    /// The queue takes it while it holds fewer than capacity + `max_overflow` events and no
    /// overflow lane is open (a lane's events are older and must be written first); past
    /// that it goes to the overflow lane if there is a spool directory, and is dropped
    /// otherwise.
    fn overflow_without_waiting<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        recorded: Recorded,
    ) -> (MutexGuard<'a, State>, Vec<Problem>) {
        if state.lane.is_none() && state.items.len() < self.ceiling() {
            self.accept_over_capacity(&mut state, recorded);
            return (state, vec![Problem::OverCapacity]);
        }
        if self.spool_dir.is_some() {
            return self.spill(state, recorded);
        }
        let mut problems = Vec::new();
        self.accept_or_drop(&mut state, recorded, &mut problems);
        (state, problems)
    }

    /// The most events the queue ever holds: its capacity plus `max_overflow`.
    fn ceiling(&self) -> usize {
        self.queue.capacity.saturating_add(self.max_overflow)
    }

    /// Accepts an event past capacity if the queue is below its ceiling, and otherwise
    /// drops it (counted now, reported once the lock is released).
    pub(crate) fn accept_or_drop(
        &self,
        state: &mut State,
        recorded: Recorded,
        problems: &mut Vec<Problem>,
    ) {
        if state.items.len() < self.ceiling() {
            self.accept_over_capacity(state, recorded);
            problems.push(Problem::OverCapacity);
        } else {
            add(&self.counters.dropped, 1);
            problems.push(Problem::Error(PipelineError::QueueFull));
        }
    }

    /// Accepts an event past the queue's capacity (the lock is held); the caller warns
    /// with [`warn_over_capacity`](Self::warn_over_capacity) once the lock is released.
    fn accept_over_capacity(&self, state: &mut State, recorded: Recorded) {
        self.accept(state, recorded);
        add(&self.counters.over_capacity, 1);
    }

    pub(crate) fn warn_over_capacity(&self) {
        if !self.warned_over.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "audit queue full: accepting events past its capacity (up to max_overflow) \
                 rather than blocking a current-thread async executor; use \
                 Auditor::record_async in async code for backpressure"
            );
        }
    }
}

/// How `record` may wait for room under [`OverflowPolicy::Block`] on the current thread.
enum Wait {
    /// No tokio runtime: block the thread on the condvar.
    Thread,
    /// A multi-thread runtime: block inside `block_in_place`, which hands this worker's
    /// other tasks to another thread, so the runtime keeps running them and their I/O.
    InPlace,
    /// A current-thread runtime: blocking would stop every task on it (possibly the very
    /// one the sink needs), so `record` must not wait.
    No,
}

fn how_to_wait() -> Wait {
    match tokio::runtime::Handle::try_current() {
        Err(_) => Wait::Thread,
        Ok(handle) => match handle.runtime_flavor() {
            tokio::runtime::RuntimeFlavor::MultiThread => Wait::InPlace,
            // Current-thread, and any flavor tokio adds later: never risk a panic.
            _ => Wait::No,
        },
    }
}

/// Waits for room inside `block_in_place`; `None` if tokio refuses it here.
///
/// The handle can say "multi-thread" on a thread where `block_in_place` still panics (a
/// multi-thread runtime entered with `Handle::enter` from inside a current-thread runtime or
/// a `LocalSet`). It panics before running the closure, so nothing is lost: `record` then
/// takes the current-thread path. `record` must never unwind into its caller.
fn wait_in_place(queue: &Queue) -> Option<MutexGuard<'_, State>> {
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        tokio::task::block_in_place(|| queue.wait_for_room_blocking())
    }))
    .ok()
}
