//! The door: whether a new key may enter a full cache on its first insert.
//!
//! S3-FIFO gives every new key a short stay on probation. That is the right
//! call when new keys are often read again soon (a session, a request's
//! working set), and money thrown away when they are not: on a Zipf tail,
//! a loop or a scan nearly every newcomer leaves probation unread, and each
//! one cost an allocation, an eviction and a deferred free. With the door
//! closed, a new key is not stored on its first insert: its tag may go to
//! the ghost, and if the key comes back while the ghost remembers it, it is
//! admitted straight into main, as any key the ghost remembers. That is
//! S3-FIFO with a probation share of zero, and it costs a lookup instead of
//! an insert. (TinyLFU's doorkeeper and moka's admission make the same
//! trade; unlike them, this door opens again by itself when the workload
//! turns to recency.)
//!
//! Which turned-away keys are remembered, and which remembered keys are
//! let in, the door's sketch decides ([`crate::sketch`]): only keys it has
//! seen turned away before, so a key is stored on about its third insert
//! within the sketch's memory, and a scan's keys, seen once, leave the ghost
//! alone.
//!
//! What opens and closes the door is the **yield** of probation: the share
//! of entries that were read while on probation (and promoted), among all
//! that left it.
//! Every [`REVIEW_CAPACITIES`] capacities' worth of requests the door is
//! reviewed: it closes if the yield was under [`CLOSE_BELOW`] and opens if
//! it was at least [`OPEN_FROM`]. While the door is closed, one new key in
//! [`PROBE_EVERY`] (chosen by hash) is still put on probation, and the
//! probation target is divided by the same factor, so that the probes stay
//! on probation as many requests as newcomers did with the door open, and
//! the yield keeps being measured on the same scale. A sample runs until it
//! holds [`MIN_SAMPLE`] departures, over as many reviews as that takes, and
//! the door never closes on a review whose probation target was under
//! [`MIN_JUDGED_PROBATION`] entries per shard (the hill climber may shrink a
//! small shard's probation to one entry, which no newcomer survives long
//! enough to be read). While it is closed the climber holds the target.
//!
//! The door only ever turns away a new key from a **full** cache, and only
//! for the plain inserts (`insert`, `get_or_insert_with`): counters are
//! always stored, and so is anything inserted while there is room. Its
//! reviews are counted in lookups, so a cache that is only ever written
//! never closes it (nothing shows that its new keys go unread).
//! `CacheBuilder::always_admit` keeps it open for good.
//! Like the rest of the policy's state, it is relaxed atomics outside the
//! loom model (`sync::hint`): a thread that acts on a stale state makes one
//! slightly worse admission decision.

use crate::sync::hint::{AtomicBool, AtomicU64};
use crate::sync::Ordering;

/// Close the door when fewer than 1 in this many probation entries were
/// read before they left probation.
const CLOSE_BELOW: u64 = 64;
/// Open it again when at least 1 in this many were (a wide margin: a
/// larger probation yields more, and the door must not flap).
const OPEN_FROM: u64 = 8;
/// The door is reviewed once per this many capacities' worth of requests
/// (hits and misses), a shorter period than the hill climber's ten: many
/// real traces last only a few dozen capacities, and a door judged once
/// per ten of them closes late or never on a loop. Against reviewing once
/// per climber period, over the 16 traces (24 hash seeds, single thread):
/// mean hit ratio +0.1 / +0.2 / +0.0 points at 1 / 5 / 20% capacities, and
/// two fewer cells more than 3 points below the best peer. Every 2 lost
/// 0.1 at 20%; 4 and 5 measured as 3 (see docs/policy-experiments.md,
/// session 7).
pub(crate) const REVIEW_CAPACITIES: u64 = 3;
/// Fewest probation departures in a sample for the yield to count.
const MIN_SAMPLE: u64 = 64;
/// The door does not close on a yield measured while a shard's probation
/// target was under this many entries. The climber may shrink probation
/// that far in a small shard (1% of a 138-entry cache, or of one of the
/// 150-entry shards a cache of a thousand is split into, is one entry);
/// every newcomer is then evicted by the next, few are read in time
/// whatever the workload, and a door closed on that evidence could stay
/// closed on a recency trace.
pub(crate) const MIN_JUDGED_PROBATION: u64 = 2;
/// With the door closed, one new key in this many (by hash) is a probe
/// (1 in 8 measured the same hit ratios and cost 10% of cache-aside
/// throughput on the Zipf benchmark).
pub(crate) const PROBE_EVERY: u64 = 16;
/// The door's state.
pub(crate) struct Door {
    /// `false` when the cache was built with `always_admit`: the door then
    /// never closes.
    enabled: bool,
    closed: AtomicBool,
    /// Promotions and evictions from probation counted when the current
    /// sample began (at the last decision).
    start_promoted: AtomicU64,
    start_dropped: AtomicU64,
    /// Requests (hits and misses) between two reviews.
    period: u64,
    /// The request count at which the next review is due.
    next_review: AtomicU64,
}

impl Door {
    /// A door for a cache of `capacity` entries, open; `enabled: false`
    /// keeps it open for good.
    pub(crate) fn new(enabled: bool, capacity: usize) -> Self {
        let period = (capacity as u64).saturating_mul(REVIEW_CAPACITIES);
        Door {
            enabled,
            closed: AtomicBool::new(false),
            start_promoted: AtomicU64::new(0),
            start_dropped: AtomicU64::new(0),
            period,
            next_review: AtomicU64::new(period),
        }
    }

    /// Whether new keys are turned away (probes excepted).
    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Whether the key with `hash` is a probe: let in while the door is
    /// closed. Uses hash bits that pick neither the bucket nor the tag.
    #[inline]
    pub(crate) fn is_probe(hash: u64) -> bool {
        (hash >> 24).is_multiple_of(PROBE_EVERY)
    }

    /// Whether a review is due after `requests` requests (hits and
    /// misses); `true` for the one caller that claims it. The first review
    /// comes after [`REVIEW_CAPACITIES`] capacities' worth of requests, and
    /// each next one as long after the last.
    pub(crate) fn review_due(&self, requests: u64) -> bool {
        let next = self.next_review.load(Ordering::Relaxed);
        requests >= next
            && self
                .next_review
                .compare_exchange(
                    next,
                    requests.saturating_add(self.period),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// Ends a sample: `promoted` and `dropped` are the running totals of
    /// entries that left probation promoted (read while there) or evicted;
    /// `may_close` is false when the probation was too short to judge by
    /// (see [`MIN_JUDGED_PROBATION`]). Called by the one thread that claimed
    /// the review ([`review_due`](Self::review_due)).
    ///
    /// The sample runs from the last decision, not from the last review:
    /// while fewer than [`MIN_SAMPLE`] entries have left probation, the next
    /// review adds to it. A closed door lets only one new key in
    /// [`PROBE_EVERY`] onto probation, so in a small cache the time between
    /// two reviews holds a few dozen probes; judging each alone, the door
    /// could never gather a sample to open again.
    pub(crate) fn review(&self, promoted: u64, dropped: u64, may_close: bool) {
        let p = promoted.wrapping_sub(self.start_promoted.load(Ordering::Relaxed));
        let d = dropped.wrapping_sub(self.start_dropped.load(Ordering::Relaxed));
        // A "negative" count is a snapshot older than the last decision's
        // (two reviews raced): nothing to judge.
        if p > u64::MAX / 2 || d > u64::MAX / 2 || p + d < MIN_SAMPLE {
            return;
        }
        self.start_promoted.store(promoted, Ordering::Relaxed);
        self.start_dropped.store(dropped, Ordering::Relaxed);
        let left = p + d;
        if p.saturating_mul(CLOSE_BELOW) < left && self.enabled && may_close {
            self.closed.store(true, Ordering::Relaxed);
        } else if p.saturating_mul(OPEN_FROM) >= left {
            self.closed.store(false, Ordering::Relaxed);
        }
    }
}

#[cfg(all(test, not(clockcache_loom)))]
mod tests {
    use super::*;

    #[test]
    fn closes_on_a_low_yield_and_opens_on_a_high_one() {
        let door = Door::new(true, 100);
        assert!(!door.is_closed(), "starts open");
        // 1 promotion in 100 departures: under 1/64.
        door.review(1, 99, true);
        assert!(door.is_closed());
        // 2, then 10 in 100 more: between the thresholds, no change.
        door.review(3, 197, true);
        assert!(door.is_closed());
        door.review(13, 287, true);
        assert!(door.is_closed());
        // 20 in 100 more: opens.
        door.review(33, 367, true);
        assert!(!door.is_closed());
        // Too few departures to judge: no change.
        door.review(33, 380, true);
        assert!(!door.is_closed());
    }

    #[test]
    fn small_samples_add_up_across_reviews() {
        let door = Door::new(true, 100);
        door.review(0, 100, true);
        assert!(door.is_closed());
        // A closed door sees few probes between reviews: 40 departures with 8
        // promotions, then 40 more with 8: neither alone is a sample, together
        // they are (16 of 80 read: opens).
        door.review(8, 132, true);
        assert!(door.is_closed(), "40 departures are too few to judge");
        door.review(16, 164, true);
        assert!(!door.is_closed(), "80 departures, 1 in 5 read");
    }

    #[test]
    fn a_stale_snapshot_is_ignored() {
        let door = Door::new(true, 100);
        door.review(50, 150, true);
        assert!(!door.is_closed());
        // A racing reviewer's older totals: no wrapped-around "huge" sample.
        door.review(40, 140, true);
        assert!(!door.is_closed());
        door.review(50, 1_000, true);
        assert!(door.is_closed());
    }

    #[test]
    fn a_probation_too_short_to_judge_does_not_close_it() {
        let door = Door::new(true, 100);
        door.review(0, 100, false);
        assert!(!door.is_closed());
        // The same evidence from a probation long enough closes it.
        door.review(0, 200, true);
        assert!(door.is_closed());
        // And a short probation's high yield may still open it.
        door.review(20, 280, false);
        assert!(!door.is_closed());
    }

    #[test]
    fn reviews_fall_due_every_few_capacities_once_each() {
        let door = Door::new(true, 100);
        let period = 100 * REVIEW_CAPACITIES;
        assert!(!door.review_due(period - 1), "not before the first period");
        assert!(door.review_due(period));
        assert!(!door.review_due(period), "claimed once");
        assert!(!door.review_due(period + 1));
        assert!(!door.review_due(2 * period - 1));
        assert!(door.review_due(2 * period + 7));
        assert!(!door.review_due(3 * period), "counted from the last claim");
        assert!(door.review_due(3 * period + 7));
        // A huge capacity does not overflow the schedule.
        let door = Door::new(true, usize::MAX);
        assert!(!door.review_due(u64::MAX / 2));
    }

    #[test]
    fn a_disabled_door_never_closes() {
        let door = Door::new(false, 100);
        door.review(0, 1_000, true);
        assert!(!door.is_closed());
    }

    #[test]
    fn about_one_key_in_sixteen_is_a_probe() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let probes = (0..80_000)
            .filter(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                Door::is_probe(state)
            })
            .count();
        assert!((4_500..5_500).contains(&probes), "{probes}");
    }
}
