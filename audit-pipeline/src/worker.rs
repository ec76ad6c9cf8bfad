//! The worker: takes batches off the queue (then the overflow lane), prepares them, writes
//! them to the sink with retry, spools what cannot be written and replays it in order.

use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

use audit_core::event::AuditEvent;
use audit_core::observer::EventObserver;
use audit_core::prepare::prepare;
use audit_core::sink::{BatchAck, Receipt, SinkError};

use crate::error::{PipelineError, RecordError};
use crate::lane::cursor::{LaneReader, Taken};
use crate::metrics::add;
use crate::queue::{AckSender, Control, Envelope};
use crate::retry::{Jitter, RetryPolicy, later};
use crate::shared::Shared;
use crate::sink_runner::{Call, SinkRunner};
use crate::spool::Spool;
use crate::spool::record::SpoolRecord;

/// Events ready for the sink, with the durable callers waiting on them.
struct Batch {
    events: Vec<AuditEvent>,
    acks: Vec<Option<AckSender>>,
    /// The highest queue ticket in the batch (0: none).
    last_ticket: u64,
    /// Whether the events come from the spool (counted as replayed once written).
    from_spool: bool,
    /// For a lane batch: the lane file offset just past its last record.
    lane_end: Option<u64>,
}

impl Batch {
    fn new(from_spool: bool) -> Self {
        Self {
            events: Vec::new(),
            acks: Vec::new(),
            last_ticket: 0,
            from_spool,
            lane_end: None,
        }
    }

    fn push(&mut self, event: AuditEvent, ack: Option<AckSender>) {
        self.events.push(event);
        self.acks.push(ack);
    }
}

pub(crate) struct Worker {
    shared: Arc<Shared>,
    sink: SinkRunner,
    spool: Spool,
    observers: Vec<Arc<dyn EventObserver>>,
    retry: RetryPolicy,
    jitter: Jitter,
    max_batch: usize,
    linger: Duration,
    /// Durable callers whose events wait in the spool.
    pending_acks: HashMap<Uuid, AckSender>,
    /// Every ticket up to this one is committed or spooled.
    done_through: u64,
    replay_failures: u32,
    /// When to try the spool again (`None`: now).
    next_replay: Option<Instant>,
    /// A replay write in flight on the sink's thread while the store is failing: the worker
    /// goes on spooling the queue meanwhile, so callers are not held up by the outage.
    probe: Option<Probe>,
    /// Replay one segment at a time (after the sink refused a multi-segment replay).
    replay_singly: bool,
    /// How many events the spool may hold in memory (no spool directory) before the worker
    /// stops taking from the queue, which then fills and applies its overflow policy.
    memory_spool_limit: u64,
    lane: LaneReader,
}

/// A replay of the oldest spool segment, in flight.
struct Probe {
    call: Call<BatchAck>,
    events: Arc<Vec<AuditEvent>>,
    /// How many of the oldest segments the events come from.
    segments: usize,
}

impl Worker {
    pub(crate) fn new(
        shared: Arc<Shared>,
        sink: SinkRunner,
        spool: Spool,
        observers: Vec<Arc<dyn EventObserver>>,
        retry: RetryPolicy,
        max_batch: usize,
        linger: Duration,
    ) -> Self {
        Self {
            shared,
            sink,
            spool,
            observers,
            retry,
            jitter: Jitter::new(),
            max_batch,
            linger,
            pending_acks: HashMap::new(),
            done_through: 0,
            replay_failures: 0,
            next_replay: None,
            probe: None,
            replay_singly: false,
            memory_spool_limit: 0,
            lane: LaneReader::default(),
        }
    }

    /// Bounds the in-memory spool (see [`Worker::memory_spool_limit`]).
    pub(crate) fn memory_spool_limit(mut self, events: u64) -> Self {
        self.memory_spool_limit = events;
        self
    }

    pub(crate) async fn run(mut self) {
        let _exit = ExitGuard(Arc::clone(&self.shared));
        // A spool left by an earlier process goes first: it is older than anything queued.
        // One round now (each write bounded by the write timeout); if the store is down,
        // probes take over and new batches are spooled behind it.
        if !self.spool.is_empty() {
            self.replay().await;
        }
        loop {
            self.poll_probe().await;
            if self.spool_has_room()
                && let Some(batch) = self.next_batch().await
            {
                let (from_lane, lane_end) = (batch.from_spool, batch.lane_end);
                self.deliver(batch).await;
                if from_lane {
                    self.lane_delivered(lane_end);
                }
            }
            if self.replay_due() && self.probe.is_none() {
                self.start_probe();
            }
            if self.answer_controls().await {
                return;
            }
            if !self.has_queued_work() || !self.spool_has_room() {
                self.idle().await;
            }
        }
    }

    /// Whether the spool may take another batch: while its segments go to files, always;
    /// in memory (no directory, or a directory whose disk refuses the writes), up to the
    /// limit, after which the queue fills and the overflow policy applies.
    fn spool_has_room(&self) -> bool {
        self.spool.is_empty() || self.spool.in_memory() < self.memory_spool_limit
    }

    // ----- taking work -----

    fn has_queued_work(&self) -> bool {
        let state = self.shared.queue.lock();
        !state.items.is_empty() || (state.lane.is_some() && !self.lane.backing_off())
    }

    /// Waits for new work, a due replay, a lane retry or the answer of a replay in flight.
    async fn idle(&mut self) {
        let wakeup = self.shared.queue.worker_wakeup();
        let replay_at =
            (!self.spool.is_empty() && self.probe.is_none()).then_some(self.next_replay);
        let lane_at = self.lane.retry_at();
        let until = match (replay_at, lane_at) {
            (Some(None), _) => return,
            (Some(Some(a)), Some(b)) => Some(a.min(b)),
            (Some(Some(at)), None) | (None, Some(at)) => Some(at),
            (None, None) => None,
        };
        let probe = async {
            match &mut self.probe {
                Some(probe) => probe.call.settled().await,
                None => std::future::pending().await,
            }
        };
        let timer = async {
            match until {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = wakeup => {}
            () = probe => {}
            () = timer => {}
        }
    }

    async fn next_batch(&mut self) -> Option<Batch> {
        let mut envelopes = Vec::new();
        self.shared.queue.take(self.max_batch, &mut envelopes);
        if envelopes.is_empty() {
            return self.next_lane_batch();
        }
        if envelopes.len() < self.max_batch && !self.linger.is_zero() {
            self.linger_for_more(&mut envelopes).await;
        }
        Some(self.prepare_envelopes(envelopes))
    }

    /// Waits up to the linger time for the batch to fill; a flush or shutdown cuts it short.
    async fn linger_for_more(&self, envelopes: &mut Vec<Envelope>) {
        let queue = &self.shared.queue;
        let deadline = later(self.linger);
        loop {
            queue.take(self.max_batch - envelopes.len(), envelopes);
            if envelopes.len() >= self.max_batch {
                return;
            }
            {
                let state = queue.lock();
                if !state.controls.is_empty() || state.closing {
                    return;
                }
            }
            if tokio::time::timeout_at(deadline, queue.worker_wakeup())
                .await
                .is_err()
            {
                return;
            }
        }
    }

    fn prepare_envelopes(&mut self, envelopes: Vec<Envelope>) -> Batch {
        let mut batch = Batch::new(false);
        for envelope in envelopes {
            batch.last_ticket = envelope.ticket;
            match prepare(envelope.event, envelope.ctx.as_ref(), &self.shared.redactor) {
                Ok(event) => self.push_observed(&mut batch, event, envelope.ack),
                Err(invalid) => {
                    self.shared.report_invalid(&invalid);
                    if let Some(ack) = envelope.ack {
                        let _ = ack.send(Err(RecordError::Invalid(invalid.error.clone())));
                    }
                    self.push_observed(&mut batch, invalid.stand_in, None);
                }
            }
        }
        batch
    }

    /// Adds a prepared event, then whatever the observers return for it.
    fn push_observed(&self, batch: &mut Batch, event: AuditEvent, ack: Option<AckSender>) {
        let follow_ups = self.observe(&event);
        batch.push(event, ack);
        for follow_up in follow_ups {
            match prepare(follow_up, None, &self.shared.redactor) {
                Ok(event) => batch.push(event, None),
                Err(invalid) => {
                    self.shared.report_invalid(&invalid);
                    batch.push(invalid.stand_in, None);
                }
            }
        }
    }

    fn observe(&self, event: &AuditEvent) -> Vec<AuditEvent> {
        let mut out = Vec::new();
        for observer in &self.observers {
            // An observer bug must not stop the pipeline.
            match std::panic::catch_unwind(AssertUnwindSafe(|| observer.observe(event))) {
                Ok(events) => out.extend(events),
                Err(_) => tracing::error!(event_id = %event.id, "an audit event observer panicked"),
            }
        }
        out
    }

    /// The next batch from the overflow lane, ending the lane once it is drained.
    fn next_lane_batch(&mut self) -> Option<Batch> {
        let records =
            match self
                .lane
                .take(&self.shared, self.max_batch, &self.retry, &mut self.jitter)
            {
                Taken::Records(records) => records,
                Taken::Nothing { spooled_through } => {
                    self.spooled_through(spooled_through);
                    return None;
                }
            };
        let mut batch = Batch::new(true);
        for (record, end) in records {
            batch.last_ticket = batch.last_ticket.max(record.ticket.unwrap_or(0));
            batch.lane_end = batch.lane_end.max(end);
            if record.observed {
                batch.push(record.event, None);
            } else {
                self.push_observed(&mut batch, record.event, None);
            }
        }
        Some(batch)
    }

    /// After a lane batch is safe: see [`LaneReader::delivered`].
    fn lane_delivered(&mut self, lane_end: Option<u64>) {
        let through = self.lane.delivered(&self.shared, lane_end);
        self.spooled_through(through);
    }

    /// Events up to `through` are safe on disk (a given-up lane): done, for `flush`.
    fn spooled_through(&mut self, through: Option<u64>) {
        if let Some(through) = through {
            self.done_through = self.done_through.max(through);
        }
    }

    // ----- writing -----

    async fn deliver(&mut self, batch: Batch) {
        let last_ticket = batch.last_ticket;
        if !self.spool.is_empty() {
            // Older events wait in the spool (replayed by probes, see `start_probe`): they
            // must reach the sink first.
            self.spool_batch(batch.events, batch.acks);
            self.done_through = self.done_through.max(last_ticket);
            return;
        }
        match self.write_with_retry(&batch.events).await {
            Ok(ack) => self.committed(&batch.events, batch.acks, &ack, batch.from_spool),
            Err((source, attempts)) if source.is_retryable() => {
                self.shared.report(PipelineError::SinkUnavailable {
                    attempts,
                    events: batch.events.len(),
                    source,
                });
                self.spool_batch(batch.events, batch.acks);
                self.schedule_replay();
            }
            Err((source, _)) => {
                if let Some((events, acks)) = self
                    .isolate(batch.events, batch.acks, source, batch.from_spool)
                    .await
                {
                    self.spool_batch(events, acks);
                    self.schedule_replay();
                }
            }
        }
        self.done_through = self.done_through.max(last_ticket);
    }

    /// Writes with retries, until the retry policy's attempts or its time budget are spent
    /// (then the batch is spooled).
    async fn write_with_retry(
        &mut self,
        events: &[AuditEvent],
    ) -> Result<BatchAck, (SinkError, u32)> {
        let started = Instant::now();
        let shared = Arc::new(events.to_vec());
        let mut attempt = 1;
        loop {
            match self.sink.write(Arc::clone(&shared)).await {
                Ok(ack) => return Ok(ack),
                Err(err)
                    if err.is_retryable()
                        && attempt < self.retry.attempts()
                        && started.elapsed() < self.retry.budget() =>
                {
                    add(&self.shared.counters.retried, 1);
                    let wait = self.retry.backoff(attempt, &mut self.jitter);
                    let left = self.retry.budget().saturating_sub(started.elapsed());
                    tokio::time::sleep(wait.min(left)).await;
                    attempt += 1;
                }
                Err(err) => return Err((err, attempt)),
            }
        }
    }

    /// After the sink rejected a whole batch, writes its events one at a time so only the
    /// refused ones become dead letters. Returns what is left if the sink became
    /// unavailable meanwhile.
    async fn isolate(
        &mut self,
        events: Vec<AuditEvent>,
        mut acks: Vec<Option<AckSender>>,
        rejection: SinkError,
        from_spool: bool,
    ) -> Option<(Vec<AuditEvent>, Vec<Option<AckSender>>)> {
        if events.len() == 1 {
            self.dead_letter(events, acks, rejection);
            return None;
        }
        let mut events = VecDeque::from(events);
        acks.resize_with(events.len(), || None);
        let mut acks = VecDeque::from(acks);
        while let Some(event) = events.pop_front() {
            let ack = acks.pop_front().flatten();
            match self.write_with_retry(std::slice::from_ref(&event)).await {
                Ok(written) => self.committed(&[event], vec![ack], &written, from_spool),
                Err((source, _)) if !source.is_retryable() => {
                    self.dead_letter(vec![event], vec![ack], source);
                }
                Err((source, attempts)) => {
                    events.push_front(event);
                    acks.push_front(ack);
                    self.shared.report(PipelineError::SinkUnavailable {
                        attempts,
                        events: events.len(),
                        source,
                    });
                    return Some((events.into(), acks.into()));
                }
            }
        }
        None
    }

    fn committed(
        &mut self,
        events: &[AuditEvent],
        acks: Vec<Option<AckSender>>,
        ack: &BatchAck,
        from_spool: bool,
    ) {
        add(&self.shared.counters.written, events.len());
        if from_spool {
            add(&self.shared.counters.replayed, events.len());
        }
        let mut acks = acks.into_iter();
        for (index, event) in events.iter().enumerate() {
            let waiting = acks.next().flatten().or_else(|| {
                // Only events that went through the spool can have a waiter parked here.
                (!self.pending_acks.is_empty())
                    .then(|| self.pending_acks.remove(&event.id))
                    .flatten()
            });
            if let Some(waiting) = waiting {
                let _ = waiting.send(Ok(Receipt {
                    id: event.id,
                    position: ack.position(index),
                }));
            }
        }
    }

    fn spool_batch(&mut self, events: Vec<AuditEvent>, acks: Vec<Option<AckSender>>) {
        for (event, ack) in events.iter().zip(acks) {
            if let Some(ack) = ack {
                self.pending_acks.insert(event.id, ack);
            }
        }
        add(&self.shared.counters.spooled, events.len());
        let records = events
            .into_iter()
            .map(|event| SpoolRecord {
                observed: true,
                ticket: None,
                event,
            })
            .collect();
        if let Err((path, source)) = self.spool.push(records) {
            self.shared.report(PipelineError::Spool { path, source });
        }
        self.shared.set_spool_pending(self.spool.pending());
    }

    fn dead_letter(
        &mut self,
        events: Vec<AuditEvent>,
        acks: Vec<Option<AckSender>>,
        source: SinkError,
    ) {
        let message = source.to_string();
        let records: Vec<SpoolRecord> = events
            .into_iter()
            .map(|event| SpoolRecord {
                observed: true,
                ticket: None,
                event,
            })
            .collect();
        add(&self.shared.counters.failed, records.len());
        match self.spool.dead_letter(&records) {
            Ok(Some(path)) => {
                tracing::error!(file = %path.display(), "audit events rejected by the sink kept as dead letters");
            }
            Ok(None) => log_as_json(&records, "rejected by the sink (no spool directory)"),
            Err(err) => {
                log_as_json(&records, "rejected by the sink (dead-letter file failed)");
                self.report_spool_error(err);
            }
        }
        let mut acks = acks.into_iter();
        for record in &records {
            let waiting = acks
                .next()
                .flatten()
                .or_else(|| self.pending_acks.remove(&record.event.id));
            if let Some(waiting) = waiting {
                let _ = waiting.send(Err(RecordError::Rejected {
                    message: message.clone(),
                }));
            }
        }
        self.shared.report(PipelineError::SinkRejected {
            events: records.len(),
            source,
        });
    }

    // ----- replay -----

    fn replay_due(&self) -> bool {
        !self.spool.is_empty() && self.next_replay.is_none_or(|at| Instant::now() >= at)
    }

    fn schedule_replay(&mut self) {
        self.replay_failures = self.replay_failures.saturating_add(1);
        let wait = self.retry.backoff(self.replay_failures, &mut self.jitter);
        self.next_replay = Some(later(wait));
    }

    /// The oldest spool segments' events, ready to replay in one write (up to a batch of
    /// them, so that many small segments spooled during an outage are caught up quickly),
    /// with the number of segments they come from. Unobserved events are shown to the
    /// observers first, once. `None` when the spool is empty or cannot be read (then a
    /// replay is scheduled).
    fn front_for_replay(&mut self) -> Option<(Arc<Vec<AuditEvent>>, usize)> {
        let most_segments = if self.replay_singly {
            1
        } else {
            self.spool.segment_count()
        };
        let mut events = Vec::new();
        let mut segments = 0;
        while segments < most_segments && (segments == 0 || events.len() < self.max_batch) {
            let Some(read) = self.spool.read_at(segments) else {
                break;
            };
            let (records, corrupt) = match read {
                Ok(read) => read,
                Err(source) => {
                    self.report_spool_error(source);
                    if segments > 0 {
                        break;
                    }
                    self.schedule_replay();
                    return None;
                }
            };
            self.shared.report_corrupt(corrupt);
            let mut batch = Batch::new(true);
            let mut observed_now = false;
            for record in records {
                if record.observed {
                    batch.push(record.event, None);
                } else {
                    observed_now = true;
                    self.push_observed(&mut batch, record.event, None);
                }
            }
            if observed_now {
                // Observers (alert rules) must count each event once, however many replay
                // attempts it takes: keep the segment as observed, with their follow-ups.
                self.replace_at(segments, batch.events.clone());
            }
            if batch.events.is_empty() && segments == 0 {
                self.pop_front();
                continue;
            }
            events.extend(batch.events);
            segments += 1;
        }
        if segments == 0 {
            self.replay_failures = 0;
            self.next_replay = None;
            return None;
        }
        Some((Arc::new(events), segments))
    }

    /// Handles the sink's answer to a replay of the oldest `segments`; returns whether to
    /// go on replaying now (they are done with, or are to be replayed one at a time) rather
    /// than after a backoff.
    async fn replayed(
        &mut self,
        events: Arc<Vec<AuditEvent>>,
        segments: usize,
        result: Result<BatchAck, SinkError>,
    ) -> bool {
        let events = Arc::try_unwrap(events).unwrap_or_else(|shared| (*shared).clone());
        let done = match result {
            Ok(ack) => {
                self.committed(&events, Vec::new(), &ack, true);
                true
            }
            Err(err) if err.is_retryable() => {
                tracing::debug!(error = %err, "audit spool replay failed; will retry");
                false
            }
            Err(_) if segments > 1 => {
                // A refusal of a multi-segment replay: replay them one at a time, so that
                // only the refused events of one segment are dead-lettered.
                self.replay_singly = true;
                self.next_replay = None;
                return true;
            }
            Err(rejection) => match self.isolate(events, Vec::new(), rejection, true).await {
                None => true,
                Some((rest, _)) => {
                    self.replace_front(rest);
                    false
                }
            },
        };
        if done {
            for _ in 0..segments {
                self.pop_front();
            }
            self.replay_singly = false;
            self.replay_failures = 0;
            self.next_replay = None;
        } else {
            self.shared.set_spool_pending(self.spool.pending());
            self.schedule_replay();
        }
        done
    }

    fn pop_front(&mut self) {
        if let Err(source) = self.spool.pop_front() {
            self.report_spool_error(source);
        }
        self.shared.set_spool_pending(self.spool.pending());
    }

    /// Starts replaying the oldest segment on the sink's thread, without waiting for it.
    fn start_probe(&mut self) {
        if let Some((events, segments)) = self.front_for_replay() {
            self.probe = Some(Probe {
                call: self.sink.start_write(Arc::clone(&events)),
                events,
                segments,
            });
        }
    }

    /// Takes the answer of the replay in flight, if it is there.
    async fn poll_probe(&mut self) {
        if !self.probe.as_ref().is_some_and(|p| p.call.is_ready()) {
            return;
        }
        if let Some(mut probe) = self.probe.take() {
            let result = probe.call.answer().await;
            self.replayed(probe.events, probe.segments, result).await;
        }
    }

    /// Replays segments, oldest first and waiting for each, until the spool is empty or the
    /// sink fails (at shutdown).
    async fn replay(&mut self) {
        if let Some(mut probe) = self.probe.take() {
            let result = probe.call.answer().await;
            if !self.replayed(probe.events, probe.segments, result).await {
                return;
            }
        }
        while let Some((events, segments)) = self.front_for_replay() {
            let result = self.sink.write(Arc::clone(&events)).await;
            if !self.replayed(events, segments, result).await {
                return;
            }
        }
    }

    /// Rewrites the oldest segment as `events`, all observed: what is left after a partial
    /// replay, or the segment with its observers' follow-ups once they have seen it.
    fn replace_front(&mut self, rest: Vec<AuditEvent>) {
        self.replace_at(0, rest);
    }

    /// Rewrites the `index`-th oldest segment as `events`, all observed.
    fn replace_at(&mut self, index: usize, rest: Vec<AuditEvent>) {
        let rest = rest
            .into_iter()
            .map(|event| SpoolRecord {
                observed: true,
                ticket: None,
                event,
            })
            .collect();
        if let Err(source) = self.spool.replace_at(index, rest) {
            self.report_spool_error(source);
        }
    }

    /// Reports a spool I/O error that has no file of its own to name (the directory is named).
    fn report_spool_error(&self, source: std::io::Error) {
        let path = self.spool.dir().map(Path::to_path_buf).unwrap_or_default();
        self.shared.report(PipelineError::Spool { path, source });
    }

    // ----- flush and shutdown -----

    /// Answers the flushes that are due, and a shutdown once everything is drained.
    /// Returns whether the worker must stop.
    async fn answer_controls(&mut self) -> bool {
        let (flushes, shutdowns) = {
            let mut state = self.shared.queue.lock();
            if state.controls.is_empty() {
                return false;
            }
            let drained = state.items.is_empty() && state.lane.is_none();
            let mut flushes = Vec::new();
            let mut shutdowns = Vec::new();
            let mut kept = Vec::new();
            for control in state.controls.drain(..) {
                match control {
                    Control::Flush { through, reply } if through <= self.done_through => {
                        flushes.push(reply);
                    }
                    Control::Shutdown { reply } if drained => shutdowns.push(reply),
                    other => kept.push(other),
                }
            }
            if !shutdowns.is_empty() {
                // Flushes still waiting are answered with the shutdown's result.
                for control in kept.drain(..) {
                    if let Control::Flush { reply, .. } = control {
                        flushes.push(reply);
                    }
                }
            }
            state.controls = kept;
            (flushes, shutdowns)
        };
        if shutdowns.is_empty() {
            if !flushes.is_empty() {
                // A replay under way or due may empty the spool: a flush waits for it (one
                // bounded round), not for a backoff that is still running.
                if self.probe.is_some() || self.replay_due() {
                    self.replay().await;
                }
                let result = self.flush_sink().await;
                flushes.into_iter().for_each(|r| r.send(result.clone()));
            }
            return false;
        }
        let result = self.finish().await;
        flushes.into_iter().for_each(|r| r.send(result.clone()));
        shutdowns
            .into_iter()
            .flatten()
            .for_each(|r| r.send(result.clone()));
        true
    }

    async fn flush_sink(&self) -> Result<(), RecordError> {
        let flushed = self.sink.flush().await;
        if !self.spool.is_empty() || self.lane.abandoned() > 0 {
            return Err(RecordError::Spooled {
                pending: self.spool.pending() + self.lane.abandoned(),
            });
        }
        flushed.map_err(|err| RecordError::Sink {
            message: err.to_string(),
        })
    }

    /// The last replay attempts, then the sink's flush and shutdown.
    async fn finish(&mut self) -> Result<(), RecordError> {
        let mut attempt = 0;
        while !self.spool.is_empty() && attempt < self.retry.attempts() {
            attempt += 1;
            self.replay().await;
            if !self.spool.is_empty() && attempt < self.retry.attempts() {
                tokio::time::sleep(self.retry.backoff(attempt, &mut self.jitter)).await;
            }
        }
        let unsaved: HashSet<Uuid> = self.spool.memory_events().map(|e| e.id).collect();
        for event in self.spool.memory_events() {
            let json = serde_json::to_string(event).unwrap_or_default();
            tracing::error!(event = %json, "unsaved audit event at shutdown");
        }
        if !unsaved.is_empty() {
            self.shared.report(PipelineError::Unsaved {
                events: unsaved.len(),
            });
        }
        let mut result = self.flush_sink().await;
        if !unsaved.is_empty() {
            // Not `Spooled`: nothing will replay these on the next start.
            result = Err(RecordError::Unsaved {
                events: unsaved.len() as u64,
            });
        }
        if let Err(err) = self.sink.shutdown().await {
            tracing::warn!(error = %err, "audit sink shutdown failed");
        }
        let pending = self.spool.pending();
        for (id, ack) in self.pending_acks.drain() {
            let _ = ack.send(Err(if unsaved.contains(&id) {
                RecordError::Unsaved {
                    events: unsaved.len() as u64,
                }
            } else {
                RecordError::Spooled { pending }
            }));
        }
        // The spool is written no more: the directory is free for the next auditor as soon
        // as the shutdown is answered, not when this thread gets round to ending.
        self.spool.unlock();
        result
    }
}

fn log_as_json(records: &[SpoolRecord], why: &str) {
    for record in records {
        let json = serde_json::to_string(&record.event).unwrap_or_default();
        tracing::error!(event = %json, "audit event {why}");
    }
}

/// Marks the pipeline closed when the worker stops, however it stops, so that nobody waits
/// for it forever.
struct ExitGuard(Arc<Shared>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let queue = &self.0.queue;
        let (controls, mut lost) = {
            let mut state = queue.lock();
            state.closing = true;
            state.closed = true;
            let lost: Vec<Envelope> = state.items.drain(..).collect();
            (std::mem::take(&mut state.controls), lost)
        };
        if !lost.is_empty() {
            // Only reachable if the worker itself panicked: keep the events in the log.
            for envelope in &mut lost {
                envelope.settle();
                let json = serde_json::to_string(&envelope.event).unwrap_or_default();
                tracing::error!(event = %json, "audit worker stopped with this event queued");
            }
        }
        for control in controls {
            match control {
                Control::Flush { reply, .. } | Control::Shutdown { reply: Some(reply) } => {
                    reply.send(Err(RecordError::Closed));
                }
                Control::Shutdown { reply: None } => {}
            }
        }
        queue.wake_producers();
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::sync::atomic::AtomicU64;

    use super::*;
    use crate::OverflowPolicy;
    use crate::lane::file::Lane;
    use audit_core::redact::Redactor;
    use audit_core::sinks::MemorySink;

    /// A worker over a lane of `n` spilled events `E0`, `E1`, … with no queued events.
    fn worker_with_lane(dir: &Path, n: usize, max_batch: usize) -> Worker {
        let spool = Spool::open(Some(dir)).unwrap();
        let shared = Arc::new(Shared::new(
            1,
            OverflowPolicy::Spool,
            Redactor::default(),
            None,
            Some(dir.to_path_buf()),
            0,
            Arc::new(AtomicU64::new(1_000)),
        ));
        let mut lane = Lane::create(dir, 999).unwrap();
        for i in 0..n {
            let event = AuditEvent::builder(format!("E{i}")).build();
            let ticket = i as u64 + 1;
            let record = SpoolRecord {
                observed: true,
                ticket: Some(ticket),
                event,
            };
            lane.append(record).unwrap();
        }
        {
            let mut state = shared.queue.lock();
            state.last_ticket = n as u64;
            state.lane = Some(lane);
        }
        Worker::new(
            shared,
            SinkRunner::start(
                Arc::new(MemorySink::new()),
                Duration::from_secs(5),
                "test-sink".into(),
            )
            .unwrap(),
            spool,
            Vec::new(),
            RetryPolicy::default(),
            max_batch,
            Duration::ZERO,
        )
    }

    /// Collects what the `tracing` subscriber of a test writes.
    #[derive(Clone, Default)]
    struct Logged(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Logged {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn events_dumped_when_the_worker_stops_keep_their_duration() {
        let shared = Arc::new(Shared::new(
            8,
            OverflowPolicy::Block,
            Redactor::default(),
            None,
            None,
            0,
            Arc::new(AtomicU64::new(1)),
        ));
        let recorded =
            audit_core::recorder::Recorded::new(AuditEvent::builder("A_CALL").build(), None)
                .with_duration_us(4242);
        shared.queue.lock().push(recorded, None);
        let logged = Logged::default();
        let writer = logged.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || drop(ExitGuard(Arc::clone(&shared))));
        let text = String::from_utf8(logged.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("A_CALL"), "not dumped: {text}");
        assert!(
            text.contains("4242"),
            "dumped without its duration_us: {text}"
        );
    }

    #[test]
    fn a_lane_file_cut_short_is_a_read_error_not_an_endless_loop() {
        let dir = tempfile::tempdir().unwrap();
        let mut worker = worker_with_lane(dir.path(), 10, 4);
        let path = worker
            .shared
            .queue
            .lock()
            .lane
            .as_ref()
            .unwrap()
            .path
            .clone();
        // Someone truncates the lane file (a disk being cleaned up) while it is open.
        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(0)
            .unwrap();
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let batch = worker.next_lane_batch().map(|b| b.events.len());
            let _ = done.send((batch, worker.lane.failures()));
        });
        let (batch, failures) = finished
            .recv_timeout(Duration::from_secs(10))
            .expect("reading a truncated lane never returned");
        assert_eq!(batch, None);
        assert_eq!(failures, 1, "the short read counts as a failed read");
    }

    #[test]
    fn the_worker_holds_at_most_a_batch_of_a_big_lane_and_reads_all_of_it_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (n, max_batch) = (1_000, 8);
        let mut worker = worker_with_lane(dir.path(), n, max_batch);
        let mut seen = Vec::new();
        while let Some(batch) = worker.next_lane_batch() {
            assert!(
                worker.lane.buffered() <= max_batch,
                "{} lane records held in memory",
                worker.lane.buffered()
            );
            assert!(batch.events.len() <= max_batch);
            seen.extend(batch.events.iter().map(|e| e.action.to_string()));
            worker.lane_delivered(batch.lane_end);
        }
        let expected: Vec<String> = (0..n).map(|i| format!("E{i}")).collect();
        assert_eq!(seen, expected);
        assert!(worker.shared.queue.lock().lane.is_none());
        let lanes = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name() != "LOCK")
            .count();
        assert_eq!(lanes, 0, "a drained lane's files are removed");
    }
}
