//! The bounded queue between recording threads and the worker, with its control messages.
//!
//! A `Mutex<VecDeque>` rather than a channel: `record` needs to check capacity, the overflow
//! lane and shutdown atomically, wait either on a thread (condvar) or in a future (notify),
//! and number events so that `flush` can wait for "everything recorded before me".

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, oneshot};

use crate::error::RecordError;
use crate::lane::file::Lane;
use audit_core::context::Snapshot;
use audit_core::event::AuditEvent;
use audit_core::recorder::{Deferred, Recorded};
use audit_core::sink::Receipt;

/// Resolves a `record_durable` call.
pub(crate) type AckSender = oneshot::Sender<Result<Receipt, RecordError>>;

/// A recorded event on its way to the worker.
#[derive(Debug)]
pub(crate) struct Envelope {
    pub(crate) ticket: u64,
    pub(crate) event: AuditEvent,
    pub(crate) ctx: Option<Snapshot>,
    pub(crate) ack: Option<AckSender>,
    /// Facts the worker moves into the metadata (see [`Recorded`]).
    deferred: Deferred,
}

impl Envelope {
    /// Moves the deferred facts into the event's metadata, on the worker.
    pub(crate) fn settle(&mut self) {
        self.deferred.settle_into(&mut self.event);
    }
}

/// Where the answer to a `flush` or `shutdown` goes: a future or a blocked thread.
#[derive(Debug)]
pub(crate) enum Reply {
    Async(oneshot::Sender<Result<(), RecordError>>),
    Blocking(std::sync::mpsc::SyncSender<Result<(), RecordError>>),
}

impl Reply {
    pub(crate) fn send(self, result: Result<(), RecordError>) {
        // The asker may have stopped waiting (a timeout, a dropped future): nothing to do.
        match self {
            Reply::Async(tx) => {
                let _ = tx.send(result);
            }
            Reply::Blocking(tx) => {
                let _ = tx.try_send(result);
            }
        }
    }
}

/// A request for the worker, answered out of band of the events.
#[derive(Debug)]
pub(crate) enum Control {
    /// Answer once every event with a ticket up to `through` is committed or spooled.
    /// `through` is set when the request is queued.
    Flush { through: u64, reply: Reply },
    /// Drain everything, flush and shut the sink down, then stop.
    Shutdown { reply: Option<Reply> },
}

/// What the lock protects.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) items: VecDeque<Envelope>,
    /// The last ticket handed out (tickets start at 1).
    pub(crate) last_ticket: u64,
    /// The overflow lane, while events spill to disk.
    pub(crate) lane: Option<Lane>,
    pub(crate) controls: Vec<Control>,
    /// Shutdown was requested: new events are refused.
    pub(crate) closing: bool,
    /// The worker has stopped.
    pub(crate) closed: bool,
}

impl State {
    /// Whether a new event may go into the queue now (and not into the lane).
    pub(crate) fn has_room(&self, capacity: usize) -> bool {
        self.lane.is_none() && self.items.len() < capacity
    }

    /// Queues an event, giving it the next ticket.
    pub(crate) fn push(&mut self, recorded: Recorded, ack: Option<AckSender>) {
        self.last_ticket += 1;
        let (event, ctx, deferred) = recorded.into_parts();
        self.items.push_back(Envelope {
            ticket: self.last_ticket,
            event,
            ctx,
            ack,
            deferred,
        });
    }
}

/// How often an idle worker looks at the queue while it naps.
const NAP: Duration = Duration::from_millis(1);
/// How many naps an idle worker takes before it sleeps until woken.
const NAPS: u32 = 20;

/// Marks the worker asleep for as long as it lives (also when the wait is cancelled, as by
/// a timeout around [`Queue::worker_wakeup`]).
struct Asleep<'a>(&'a AtomicBool);

impl<'a> Asleep<'a> {
    fn new(flag: &'a AtomicBool) -> Self {
        // SeqCst pairs with the load in `wake_worker`: either `record` sees this store and
        // wakes the worker, or the worker's check after it sees the event `record` pushed.
        flag.store(true, Ordering::SeqCst);
        Self(flag)
    }
}

impl Drop for Asleep<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// The queue, its wake-ups and its capacity.
///
/// Waking a parked thread costs the waker 6–12 µs on a virtual machine (a futex or eventfd
/// write and an inter-processor interrupt), several times what the rest of `record` costs.
/// So an idle worker first naps: it polls the queue every [`NAP`] for [`NAPS`] rounds, and
/// `record` does not wake a napping worker. Only a worker that has gone to sleep (no event
/// for about `NAP * NAPS`) is woken by `record`. Under steady traffic the caller never pays
/// for a wake-up; the price is at most [`NAP`] of added delivery latency and a timer tick
/// per [`NAP`] on the worker while traffic lasts. Flush and shutdown always wake at once.
#[derive(Debug)]
pub(crate) struct Queue {
    state: Mutex<State>,
    pub(crate) capacity: usize,
    /// Wakes threads blocked for room.
    room: Condvar,
    /// Wakes futures waiting for room.
    room_async: Notify,
    /// Wakes the worker.
    work: Notify,
    /// The worker waits for [`work`](Self::work) and no longer polls: it must be woken.
    worker_asleep: AtomicBool,
}

impl Queue {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            capacity: capacity.max(1),
            room: Condvar::new(),
            room_async: Notify::new(),
            work: Notify::new(),
            worker_asleep: AtomicBool::new(false),
        }
    }

    /// Locks the state. Most updates under the lock are a push or a pop; the overflow lane
    /// also prepares and appends an event under it (`Shared::spill`), which could at worst
    /// panic after taking a ticket and before writing the event. That leaves a skipped
    /// ticket, which nothing counts (tickets are only compared), so a poisoned lock is still
    /// consistent and is used as is.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells the worker there is new work: wakes it if it sleeps; a napping or busy worker
    /// finds the work on its own (see [`Queue`]).
    pub(crate) fn wake_worker(&self) {
        // SeqCst: see `Asleep::new`.
        if self.worker_asleep.load(Ordering::SeqCst) {
            self.work.notify_one();
        }
    }

    /// Wakes the worker whatever it is doing (flush and shutdown must not wait for a nap).
    fn wake_worker_now(&self) {
        self.work.notify_one();
    }

    /// Whether events wait in the queue. (Controls always wake the worker, and the overflow
    /// lane only opens while the queue is full, when the worker is busy, not waiting.)
    fn has_events(&self) -> bool {
        !self.lock().items.is_empty()
    }

    /// Waits until there may be work for the worker: naps first, then sleeps until woken
    /// (a permit left by an earlier wake returns at once).
    pub(crate) async fn worker_wakeup(&self) {
        for _ in 0..NAPS {
            if tokio::time::timeout(NAP, self.work.notified())
                .await
                .is_ok()
                || self.has_events()
            {
                return;
            }
        }
        let _asleep = Asleep::new(&self.worker_asleep);
        if !self.has_events() {
            self.work.notified().await;
        }
    }

    /// Wakes every producer waiting for room (also used on shutdown, so they can give up).
    pub(crate) fn wake_producers(&self) {
        self.room.notify_all();
        self.room_async.notify_waiters();
    }

    /// Blocks the thread until there is room or the queue is closing; returns the lock.
    pub(crate) fn wait_for_room_blocking(&self) -> MutexGuard<'_, State> {
        let mut state = self.lock();
        while !state.has_room(self.capacity) && !state.closing {
            state = self
                .room
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state
    }

    /// Waits (without blocking the thread) until there is room or the queue is closing,
    /// then runs `f` under the lock.
    pub(crate) async fn with_room<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut f = Some(f);
        loop {
            let notified = self.room_async.notified();
            tokio::pin!(notified);
            // Registered before checking, so a wake-up between the check and the await
            // is not missed.
            notified.as_mut().enable();
            {
                let mut state = self.lock();
                if (state.has_room(self.capacity) || state.closing)
                    && let Some(f) = f.take()
                {
                    return f(&mut state);
                }
            }
            notified.await;
        }
    }

    /// Takes up to `max` queued events (settled: see [`Envelope::settle`]) and wakes
    /// producers waiting for room.
    pub(crate) fn take(&self, max: usize, into: &mut Vec<Envelope>) -> usize {
        let before = into.len();
        let taken = {
            let mut state = self.lock();
            let n = max.min(state.items.len());
            into.extend(state.items.drain(..n));
            n
        };
        if taken > 0 {
            self.wake_producers();
        }
        into[before..].iter_mut().for_each(Envelope::settle);
        taken
    }

    /// Adds a control request and wakes the worker.
    pub(crate) fn control(&self, control: Control) -> Result<(), Control> {
        {
            let mut state = self.lock();
            if state.closed {
                return Err(control);
            }
            let mut control = control;
            match &mut control {
                Control::Shutdown { .. } => state.closing = true,
                Control::Flush { through, .. } => *through = state.last_ticket,
            }
            state.controls.push(control);
        }
        self.wake_producers();
        self.wake_worker_now();
        Ok(())
    }
}
