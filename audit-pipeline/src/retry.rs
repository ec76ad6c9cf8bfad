//! Retry with exponential backoff and jitter.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use tokio::time::Instant;

/// How the worker retries a batch after a retryable [`SinkError`](audit_core::SinkError).
///
/// Attempt `n` (from 1) is followed by a wait of `initial_backoff × 2^(n-1)`, capped at
/// `max_backoff`; with jitter, a random duration between half of that and all of it, so
/// many processes do not hammer a recovering database in lockstep. After `max_attempts`, or
/// once `max_elapsed` has passed since the first attempt (whichever comes first), the batch
/// is spooled and replayed later, with the same backoff between replay attempts. Each
/// attempt is itself bounded by the auditor's
/// [`write_timeout`](crate::AuditorBuilder::write_timeout), so a store that is down or hangs
/// diverts batches to the spool within about `max_elapsed` plus one `write_timeout`.
///
/// ```
/// use std::time::Duration;
/// use audit_pipeline::RetryPolicy;
///
/// let retry = RetryPolicy::default()
///     .max_attempts(3)
///     .initial_backoff(Duration::from_millis(10))
///     .max_backoff(Duration::from_secs(1));
/// assert_eq!(retry.backoff_ceiling(2), Duration::from_millis(20));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_elapsed: Duration,
    jitter: bool,
}

impl Default for RetryPolicy {
    /// 4 attempts within 2 s, 50 ms doubling up to 5 s between replays, with jitter.
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
            max_elapsed: Duration::from_secs(2),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// Write attempts per batch before spooling it (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The wait after the first failed attempt.
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// The longest wait between attempts (and between replay attempts).
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// How long the attempts at one batch may take before it is spooled (default 2 s). The
    /// attempt under way when it runs out finishes (within the write timeout) first.
    pub fn max_elapsed(mut self, budget: Duration) -> Self {
        self.max_elapsed = budget;
        self
    }

    /// The time budget of one batch's attempts.
    pub fn budget(&self) -> Duration {
        self.max_elapsed
    }

    /// Whether waits are randomised (default: yes).
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// The configured number of attempts.
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The longest wait after failed attempt `attempt` (from 1), before jitter.
    pub fn backoff_ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(20);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// The wait after failed attempt `attempt`, with jitter applied.
    pub(crate) fn backoff(&self, attempt: u32, rng: &mut Jitter) -> Duration {
        let ceiling = self.backoff_ceiling(attempt);
        if !self.jitter || ceiling.is_zero() {
            return ceiling;
        }
        let half = ceiling / 2;
        let spread = u64::try_from((ceiling - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(rng.next() % spread.max(1))
    }
}

/// A small xorshift generator: jitter needs spread, not cryptographic quality, and this
/// avoids a dependency. Seeded from the standard library's per-process random hasher keys.
#[derive(Debug)]
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new() -> Self {
        Self(RandomState::new().hash_one(std::process::id()) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// The longest wait the worker schedules; a configured `Duration::MAX` (a linger that only
/// a full batch or a flush ends, an unbounded backoff) means "that long", not an overflow.
const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// `by` from now, capped at [`FAR_FUTURE`] so the addition cannot overflow and panic.
pub(crate) fn later(by: Duration) -> Instant {
    Instant::now() + by.min(FAR_FUTURE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let r = RetryPolicy::default()
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(350))
            .jitter(false);
        let mut j = Jitter::new();
        assert_eq!(r.backoff(1, &mut j), Duration::from_millis(100));
        assert_eq!(r.backoff(2, &mut j), Duration::from_millis(200));
        assert_eq!(r.backoff(3, &mut j), Duration::from_millis(350));
        assert_eq!(r.backoff(60, &mut j), Duration::from_millis(350));
    }

    #[test]
    fn jitter_stays_between_half_and_full() {
        let r = RetryPolicy::default().initial_backoff(Duration::from_millis(100));
        let mut j = Jitter::new();
        for _ in 0..100 {
            let d = r.backoff(1, &mut j);
            assert!(d >= Duration::from_millis(50) && d <= Duration::from_millis(100));
        }
    }
}
