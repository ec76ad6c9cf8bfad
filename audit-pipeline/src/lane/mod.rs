//! The overflow lane: while the queue is full under
//! [`OverflowPolicy::Spool`](crate::OverflowPolicy::Spool) (or past a current-thread caller's
//! overflow allowance), recording callers append their events to a file instead, and the
//! worker reads them back, in order, once the queue is drained.
//!
//! - [`spill`]: the producer side, on the recording caller's thread;
//! - [`file`]: the lane file (appends, bounded reads, the "consumed up to" marker);
//! - [`cursor`]: the worker's reading position, its backoff and the lane's end.

pub(crate) mod cursor;
pub(crate) mod file;
mod spill;
