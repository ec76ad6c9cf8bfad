//! Where recorded events go: the [`Recorder`] trait, and [`Recorded`], an event as a
//! recording call hands it over.
//!
//! [`record`](crate::record()) and `#[audited]` functions never name a destination: they route
//! to the current recorder (see [`dispatch`](crate::dispatch)). The `Auditor` of the
//! `audit-pipeline` crate is the recorder of a real service; [`testing::capture`] is the one of
//! a test. Anything else that must see events as they are recorded (a bridge to another
//! pipeline, a synchronous test double) implements the trait.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use audit_core::{AuditEvent, dispatch};
//! use audit_core::recorder::{Recorded, Recorder};
//!
//! #[derive(Default)]
//! struct Collect(Mutex<Vec<String>>);
//!
//! impl Recorder for Collect {
//!     fn record(&self, recorded: Recorded) {
//!         let (event, _context) = recorded.into_settled();
//!         self.0.lock().unwrap().push(event.action.into_owned());
//!     }
//! }
//!
//! let collect = Arc::new(Collect::default());
//! let recorder: Arc<dyn Recorder> = collect.clone();
//! dispatch::sync_with_recorder(recorder, || {
//!     audit_core::record(AuditEvent::builder("REPORT_EXPORTED").build());
//! });
//! assert_eq!(*collect.0.lock().unwrap(), ["REPORT_EXPORTED"]);
//! ```
//!
//! [`testing::capture`]: crate::testing::capture

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use crate::context::Snapshot;
use crate::context::fields::AuditContext;
use crate::event::AuditEvent;

/// Takes recorded events: the `Auditor` pipeline, a test capture, or your own.
///
/// Called on the recording caller's thread, so an implementation must be quick, must never
/// panic and must never fail the caller: problems are its own to report.
pub trait Recorder: Send + Sync + 'static {
    /// Takes one event.
    fn record(&self, recorded: Recorded);

    /// Takes one event from async code, where waiting for room (backpressure) must not block
    /// the thread. The default calls [`record`](Self::record).
    fn record_async<'a>(
        &'a self,
        recorded: Recorded,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        self.record(recorded);
        Box::pin(std::future::ready(()))
    }
}

/// An event as a recording call hands it to a [`Recorder`]: the event, the context it was
/// recorded under (a [`Snapshot`]: completions made later do not reach it), and facts that
/// become metadata entries later, off the caller's path.
///
/// The deferred facts exist because inserting a metadata entry allocates twice (the key and a
/// map node), and memory allocated on the recording thread and freed on a worker thread is the
/// system allocator's slow path. A recorder with a worker settles events there
/// ([`settle`](Self::settle)); one that prepares events on the caller settles them first.
#[derive(Debug)]
pub struct Recorded {
    event: AuditEvent,
    context: Option<Snapshot>,
    deferred: Deferred,
}

/// Facts of a [`Recorded`] event that become metadata entries when it is settled.
#[derive(Debug, Default)]
pub struct Deferred {
    /// The duration of an `#[audited]` call: the `duration_us` entry.
    duration_us: Option<u64>,
}

impl Deferred {
    /// Moves the facts into `event`'s metadata (left out if the metadata is not an object,
    /// so that validation still reports that).
    pub fn settle_into(&mut self, event: &mut AuditEvent) {
        if let (Some(micros), Value::Object(map)) = (self.duration_us.take(), &mut event.metadata) {
            map.insert("duration_us".to_owned(), micros.into());
        }
    }
}

impl Recorded {
    /// An event with the context it was recorded under (`None`: no context), as that
    /// context stands now.
    pub fn new(event: AuditEvent, context: Option<Arc<AuditContext>>) -> Self {
        Self {
            event,
            context: context.map(Snapshot::of),
            deferred: Deferred::default(),
        }
    }

    /// Adds a call's duration in microseconds as a deferred fact (the `duration_us` entry
    /// that `#[audited]` records).
    pub fn with_duration_us(mut self, micros: u64) -> Self {
        self.deferred.duration_us = Some(micros);
        self
    }

    /// The event as recorded (deferred facts not yet in its metadata).
    pub fn event(&self) -> &AuditEvent {
        &self.event
    }

    /// The context it was recorded under.
    pub fn context(&self) -> Option<&Snapshot> {
        self.context.as_ref()
    }

    /// Moves the deferred facts into the event's metadata.
    pub fn settle(&mut self) {
        self.deferred.settle_into(&mut self.event);
    }

    /// The settled event and its context.
    pub fn into_settled(mut self) -> (AuditEvent, Option<Snapshot>) {
        self.settle();
        (self.event, self.context)
    }

    /// The event, its context and its deferred facts, to settle later (on a worker).
    pub fn into_parts(self) -> (AuditEvent, Option<Snapshot>, Deferred) {
        (self.event, self.context, self.deferred)
    }
}

/// A shared recorder is a recorder.
impl<R: Recorder + ?Sized> Recorder for Arc<R> {
    fn record(&self, recorded: Recorded) {
        (**self).record(recorded);
    }

    fn record_async<'a>(
        &'a self,
        recorded: Recorded,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        (**self).record_async(recorded)
    }
}
