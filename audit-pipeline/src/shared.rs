//! What the recording side and the worker share: the queue, the counters and the settings
//! both sides read.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use audit_core::recorder::Recorded;
use audit_core::redact::Redactor;

use crate::error::ErrorHook;
use crate::metrics::{Counters, add};
use crate::overflow::policy::OverflowPolicy;
use crate::queue::{Queue, State};

/// What the recording side and the worker share.
pub(crate) struct Shared {
    pub(crate) queue: Queue,
    pub(crate) counters: Counters,
    pub(crate) overflow: OverflowPolicy,
    pub(crate) redactor: Redactor,
    pub(crate) on_error: Option<ErrorHook>,
    pub(crate) spool_dir: Option<PathBuf>,
    /// How far past its capacity the queue may grow when `record` cannot wait
    /// ([`AuditorBuilder::max_overflow`]).
    pub(crate) max_overflow: usize,
    /// File ids shared with the spool, so lane and segment names sort by creation.
    pub(crate) file_ids: Arc<AtomicU64>,
    pub(crate) warned_drop: AtomicBool,
    pub(crate) warned_over: AtomicBool,
    pub(crate) warned_loss: AtomicBool,
    /// The worker's thread: waiting for the worker there would wait forever.
    pub(crate) worker_thread: std::sync::OnceLock<std::thread::ThreadId>,
    /// The worker's thread, joined at shutdown so that a stopped auditor has no thread left.
    pub(crate) worker_join: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Shared {
    pub(crate) fn new(
        capacity: usize,
        overflow: OverflowPolicy,
        redactor: Redactor,
        on_error: Option<ErrorHook>,
        spool_dir: Option<PathBuf>,
        max_overflow: usize,
        file_ids: Arc<AtomicU64>,
    ) -> Self {
        Self {
            queue: Queue::new(capacity),
            max_overflow,
            counters: Counters::default(),
            overflow,
            redactor,
            on_error,
            spool_dir,
            file_ids,
            warned_drop: AtomicBool::new(false),
            warned_over: AtomicBool::new(false),
            warned_loss: AtomicBool::new(false),
            worker_thread: std::sync::OnceLock::new(),
            worker_join: std::sync::Mutex::new(None),
        }
    }

    pub(crate) fn set_spool_pending(&self, pending: u64) {
        self.counters
            .spool_pending
            .store(pending, Ordering::Relaxed);
    }

    /// Accepts an event into the queue (the lock is held by the caller).
    pub(crate) fn accept(&self, state: &mut State, recorded: Recorded) {
        state.push(recorded, None);
        add(&self.counters.enqueued, 1);
    }
}
