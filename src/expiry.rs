//! Time and TTL deadlines: a coarse `quanta` clock read lazily, no timer.
//!
//! A deadline is a `u64` count of nanoseconds since the cache was built;
//! [`NEVER`] means "does not expire". Deadlines are computed with a precise
//! clock read on insert (only when the entry has a TTL) and checked on reads
//! against the coarse clock, which costs one relaxed load. Near a deadline the
//! check falls back to a precise read, so an entry is never returned more than
//! the coarse clock's lag after it expired, and a stalled or absent upkeep
//! thread cannot make an entry live forever: see [`TimeSource::is_expired`].

#[cfg(not(miri))]
use std::sync::OnceLock;
use std::time::Duration;

#[cfg(clockcache_loom)]
use crate::sync::{Arc, AtomicU64, Ordering};

/// The deadline of an entry that never expires.
pub(crate) const NEVER: u64 = u64::MAX;

/// How often clockcache's process-wide upkeep thread refreshes the coarse time.
#[cfg(not(miri))]
const UPKEEP_INTERVAL: Duration = Duration::from_millis(1);

/// Within this many nanoseconds of a deadline the coarse reading is not
/// trusted and the clock is read precisely. It bounds how far a stalled upkeep
/// thread may lag before expiry decisions could be late.
const COARSE_SLACK_NS: u64 = 10_000_000;

/// Whether this process runs an upkeep thread that clockcache started (and
/// never stops). Only one upkeep thread can exist per process; if somebody
/// else owns it we cannot know when they stop it (quanta then freezes the
/// coarse time), so we read the precise clock instead.
#[cfg(not(miri))]
fn owns_upkeep() -> bool {
    static OWNED: OnceLock<bool> = OnceLock::new();
    *OWNED.get_or_init(|| {
        match quanta::Upkeep::new_with_clock(UPKEEP_INTERVAL, system_clock().clone()).start() {
            Ok(handle) => {
                // The handle stops the thread when dropped; the coarse time
                // must keep moving for the whole process, so it is never dropped.
                std::mem::forget(handle);
                true
            }
            Err(_) => false,
        }
    })
}

/// The one system clock of the process: every cache built without an
/// explicit clock, and the upkeep thread, read clones of it, so coarse and
/// precise readings share one calibration and one time base.
#[cfg(not(miri))]
fn system_clock() -> &'static quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// A manual time source for loom models (loom cannot see quanta's atomics).
#[cfg(clockcache_loom)]
#[doc(hidden)]
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicU64>);

#[cfg(clockcache_loom)]
impl ManualClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }
    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(ttl_nanos(by), Ordering::SeqCst);
    }
}

enum Kind {
    /// Coarse reads (`Clock::recent`) with a precise fallback near deadlines.
    #[cfg_attr(miri, allow(dead_code))]
    Coarse(quanta::Clock),
    /// Every read is precise (`Clock::now`): user-supplied and mock clocks.
    Precise(quanta::Clock),
    /// Miri only, the default source: `std::time::Instant` readings since the
    /// held instant (when the cache was built). quanta's `Clock::new()` runs
    /// `cpuid` and `rdtsc`, inline assembly that Miri cannot execute, while
    /// Miri does emulate `Instant` (and `thread::sleep` advances it).
    #[cfg(miri)]
    Std(std::time::Instant),
    #[cfg(clockcache_loom)]
    Manual(ManualClock),
}

/// The cache's view of time.
pub(crate) struct TimeSource {
    kind: Kind,
    start: quanta::Instant,
}

/// A TTL in nanoseconds, saturating: huge TTLs become "never".
fn ttl_nanos(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_nanos()).unwrap_or(u64::MAX)
}

impl TimeSource {
    /// The default source: the system clock, read coarsely when clockcache
    /// owns the process's upkeep thread, precisely otherwise.
    #[cfg(not(miri))]
    pub(crate) fn system() -> Self {
        let clock = system_clock().clone();
        let coarse = owns_upkeep();
        let start = clock.now();
        let kind = if coarse {
            Kind::Coarse(clock)
        } else {
            Kind::Precise(clock)
        };
        TimeSource { kind, start }
    }

    /// The default source under Miri: precise `std::time::Instant` readings
    /// (see [`Kind::Std`]); there is no upkeep thread and no coarse clock.
    #[cfg(miri)]
    pub(crate) fn system() -> Self {
        // `start` is not read for `Kind::Std`; a mock clock supplies a
        // `quanta::Instant` without running quanta's clock detection.
        let (placeholder, _) = quanta::Clock::mock();
        TimeSource {
            kind: Kind::Std(std::time::Instant::now()),
            start: placeholder.now(),
        }
    }

    /// A user-supplied clock (for example `quanta::Clock::mock()`), read
    /// precisely on every check.
    pub(crate) fn from_clock(clock: quanta::Clock) -> Self {
        let start = clock.now();
        TimeSource {
            kind: Kind::Precise(clock),
            start,
        }
    }

    #[cfg(clockcache_loom)]
    pub(crate) fn manual(clock: ManualClock) -> Self {
        TimeSource {
            kind: Kind::Manual(clock),
            start: quanta::Instant::recent(),
        }
    }

    fn since_start(&self, t: quanta::Instant) -> u64 {
        ttl_nanos(t.saturating_duration_since(self.start))
    }

    /// Precise nanoseconds since the cache was built.
    pub(crate) fn now(&self) -> u64 {
        match &self.kind {
            Kind::Coarse(c) | Kind::Precise(c) => self.since_start(c.now()),
            #[cfg(miri)]
            Kind::Std(origin) => ttl_nanos(origin.elapsed()),
            #[cfg(clockcache_loom)]
            Kind::Manual(m) => m.0.load(Ordering::SeqCst),
        }
    }

    /// The deadline of an entry inserted now with time-to-live `ttl`.
    /// `Duration::ZERO` is already expired; a TTL too large to represent is
    /// [`NEVER`].
    pub(crate) fn deadline(&self, ttl: Duration) -> u64 {
        self.now().saturating_add(ttl_nanos(ttl))
    }

    /// Whether `deadline` has passed.
    ///
    /// Far from the deadline (more than `COARSE_SLACK_NS` ahead of the coarse
    /// reading) the entry is live unless the upkeep thread stalled for longer
    /// than that; close to it, or past it, the precise clock decides.
    #[inline]
    pub(crate) fn is_expired(&self, deadline: u64) -> bool {
        if deadline == NEVER {
            return false;
        }
        match &self.kind {
            Kind::Coarse(c) => {
                let recent = self.since_start(c.recent());
                if recent >= deadline {
                    // Rare (the entry is due): confirm with a precise read,
                    // so a coarse reading can never expire an entry early.
                    self.now() >= deadline
                } else if deadline - recent > COARSE_SLACK_NS {
                    false
                } else {
                    self.now() >= deadline
                }
            }
            _ => self.now() >= deadline,
        }
    }
}

#[cfg(all(test, not(clockcache_loom)))]
mod tests {
    use super::*;

    #[test]
    fn mock_clock_deadlines() {
        let (clock, mock) = quanta::Clock::mock();
        let t = TimeSource::from_clock(clock);
        let d = t.deadline(Duration::from_millis(5));
        assert!(!t.is_expired(d));
        mock.increment(Duration::from_millis(4));
        assert!(!t.is_expired(d));
        mock.increment(Duration::from_millis(1));
        assert!(t.is_expired(d));
    }

    #[test]
    fn zero_ttl_is_expired_and_huge_ttl_never() {
        let (clock, mock) = quanta::Clock::mock();
        let t = TimeSource::from_clock(clock);
        assert!(t.is_expired(t.deadline(Duration::ZERO)));
        assert_eq!(t.deadline(Duration::MAX), NEVER);
        mock.increment(Duration::from_secs(3600));
        assert_eq!(t.deadline(Duration::from_secs(u64::MAX / 2)), NEVER);
        assert!(!t.is_expired(NEVER));
    }

    #[test]
    fn system_clock_expires_in_real_time() {
        let t = TimeSource::system();
        let d = t.deadline(Duration::from_millis(20));
        assert!(!t.is_expired(d));
        std::thread::sleep(Duration::from_millis(25));
        assert!(t.is_expired(d));
    }
}
