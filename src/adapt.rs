//! Adapting the probation share to the workload: a hill climber.
//!
//! No fixed probation share serves every workload: recency-heavy traces want
//! a long probation (a new key must survive until its next use), loops and
//! scans a short one (so that the main part keeps what it has). Like
//! Caffeine's adaptive window, the climber samples the cache's hit ratio over
//! periods of ten capacities' worth of requests and moves the target share
//! in the direction that last improved it, with a step that decays while the
//! hit ratio is stable and is reset when it changes sharply (a new phase).
//!
//! It reads the hit and miss counts the cache keeps anyway (`Stats`), from
//! the eviction path, so the hit path pays nothing. All of its state is in
//! relaxed atomics; one thread per period wins the CAS that closes the period
//! and takes the step, so a step is never taken twice.

use crate::clock::SHARE_ONE;
use crate::sync::hint::{AtomicI32, AtomicU32, AtomicU64};
use crate::sync::Ordering;

/// A period lasts this many capacities' worth of requests (hits + misses).
const PERIOD_CAPACITIES: u64 = 10;
/// Fewest requests in a period (small caches would otherwise measure noise).
const MIN_PERIOD: u64 = 512;
/// First and restart step: 1/16 of the cache.
const STEP: i32 = (SHARE_ONE / 16) as i32;
/// Each step is this many 1/64ths of the previous one while the hit ratio is
/// stable (Caffeine uses 0.98).
const DECAY_64THS: i32 = 62;
/// A change of the hit ratio by this much (1/[`SHARE_ONE`]) restarts the
/// search with a full step.
const RESTART: i64 = (SHARE_ONE / 20) as i64;
/// Bounds of the probation target.
const MIN_TARGET: u32 = SHARE_ONE / 100;
const MAX_TARGET: u32 = SHARE_ONE / 4;
/// Where the target starts: a small probation, as in quick_cache (3%) and
/// Caffeine (1%), so that loops and scans are handled from the start.
pub(crate) const START_TARGET: u32 = SHARE_ONE * 3 / 100;

/// The climber's state.
pub(crate) struct Climber {
    /// Target probation share (read by the hand on every sweep).
    pub(crate) target: AtomicU32,
    step: AtomicI32,
    /// Hit ratio of the last period, in 1/[`SHARE_ONE`].
    last_ratio: AtomicU32,
    /// Requests and hits counted when the current period began.
    start_requests: AtomicU64,
    start_hits: AtomicU64,
    period: u64,
}

impl Climber {
    pub(crate) fn new(capacity: usize) -> Self {
        Climber {
            target: AtomicU32::new(START_TARGET),
            step: AtomicI32::new(STEP),
            last_ratio: AtomicU32::new(0),
            start_requests: AtomicU64::new(0),
            start_hits: AtomicU64::new(0),
            period: (capacity as u64)
                .saturating_mul(PERIOD_CAPACITIES)
                .max(MIN_PERIOD),
        }
    }

    /// Closes the current period if it is long enough (given the cache's
    /// running hit and miss counts) and moves the target, unless `hold`.
    /// Returns whether this call closed a period (then the caller ages the
    /// door's sketch).
    ///
    /// The cache holds the target while the door is closed: new keys then
    /// skip probation, so its share no longer moves the hit ratio, and a
    /// climber that kept stepping on a flat signal would drift to its bound
    /// (it keeps going while nothing gets worse). The door's probes would
    /// then sit on a probation far longer than newcomers did, and it would
    /// open again onto a probation a quarter of the cache.
    pub(crate) fn observe(&self, hits: u64, misses: u64, hold: bool) -> bool {
        let requests = hits.wrapping_add(misses);
        let start = self.start_requests.load(Ordering::Relaxed);
        let len = requests.wrapping_sub(start);
        if len < self.period || len > u64::MAX / 2 {
            return false;
        }
        if self
            .start_requests
            .compare_exchange(start, requests, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return false; // another thread closed this period
        }
        let period_hits = hits.wrapping_sub(self.start_hits.swap(hits, Ordering::Relaxed));
        let ratio =
            (u128::from(period_hits.min(len)) * u128::from(SHARE_ONE) / u128::from(len)) as u32;
        let last = self.last_ratio.swap(ratio, Ordering::Relaxed);
        if hold {
            return true;
        }
        let change = i64::from(ratio) - i64::from(last);
        let step = self.step.load(Ordering::Relaxed);
        // Keep going while it helps, turn around when it hurt.
        let moved = if change >= 0 { step } else { -step };
        let next_step = if change.abs() >= RESTART {
            STEP * moved.signum()
        } else {
            moved * DECAY_64THS / 64
        };
        self.step.store(next_step, Ordering::Relaxed);
        let target = i64::from(self.target.load(Ordering::Relaxed)) + i64::from(moved);
        self.target.store(
            target.clamp(i64::from(MIN_TARGET), i64::from(MAX_TARGET)) as u32,
            Ordering::Relaxed,
        );
        true
    }
}
