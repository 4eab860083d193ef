//! Hit, miss and life-cycle counters, striped per thread.

use crossbeam_utils::CachePadded;

use crate::sync::{thread_stripe, AtomicU64, Ordering};

/// A snapshot of a cache's counters, from [`Cache::stats`](crate::Cache::stats).
///
/// Each event is counted once as long as at most 64 threads use the cache
/// (beyond that, threads share counter stripes and rare increments may be
/// lost); a snapshot taken while other threads work is not an atomic cut
/// across counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups (`get`, `view`, `get_or_insert_with`) that found a live entry.
    pub hits: u64,
    /// Lookups that found nothing or only an expired entry.
    pub misses: u64,
    /// Entries added for keys that had no live entry.
    pub inserts: u64,
    /// Overwrites of a live entry (including counter updates).
    pub updates: u64,
    /// Entries removed by `remove`, `retain` or `invalidate_pattern`.
    pub removals: u64,
    /// Entries evicted to stay within capacity.
    pub evictions: u64,
    /// Expired entries reclaimed (on access, by the hand, by sweeping or by
    /// `purge_expired`).
    pub expirations: u64,
    /// New keys a full cache declined to store (see
    /// [`Cache::insert`](crate::Cache::insert): the admission door).
    pub rejections: u64,
}

impl CacheStats {
    /// `hits / (hits + misses)`, or 0 when nothing was looked up.
    ///
    /// ```
    /// let cache = clockcache::Cache::<u32, u32>::new(10);
    /// cache.insert(1, 1);
    /// cache.get(&1);
    /// cache.get(&2);
    /// assert_eq!(cache.stats().hit_ratio(), 0.5);
    /// ```
    pub fn hit_ratio(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Stat {
    Hit = 0,
    Miss,
    Insert,
    Update,
    Removal,
    Eviction,
    Expiration,
    Rejection,
}

const STATS: usize = 8;
const STRIPES: usize = 64;

/// Counters striped by thread, so that hits on different threads do not
/// write the same cache line.
pub(crate) struct Stats {
    stripes: Box<[CachePadded<[AtomicU64; STATS]>]>,
}

impl Stats {
    pub(crate) fn new() -> Self {
        Stats {
            stripes: (0..STRIPES)
                .map(|_| CachePadded::new(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
        }
    }

    /// Adds `n` to `stat` on the calling thread's stripe.
    ///
    /// A plain load and store, not a locked read-modify-write: a stripe
    /// belongs to one thread as long as at most [`STRIPES`] threads use the
    /// cache, so nothing is lost; beyond that, two threads sharing a stripe
    /// may occasionally drop an increment (the counters are statistics, and
    /// a `lock`ed add on every hit would cost more than the lookup's own
    /// synchronisation).
    #[inline]
    pub(crate) fn add(&self, stat: Stat, n: u64) {
        let c = &self.stripes[thread_stripe() % STRIPES][stat as usize];
        c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn incr(&self, stat: Stat) {
        self.add(stat, 1);
    }

    /// Hits and misses so far (what the policy's climber samples).
    pub(crate) fn requests(&self) -> (u64, u64) {
        let (mut hits, mut misses) = (0u64, 0u64);
        for s in self.stripes.iter() {
            hits = hits.wrapping_add(s[Stat::Hit as usize].load(Ordering::Relaxed));
            misses = misses.wrapping_add(s[Stat::Miss as usize].load(Ordering::Relaxed));
        }
        (hits, misses)
    }

    pub(crate) fn snapshot(&self) -> CacheStats {
        let mut t = [0u64; STATS];
        for s in self.stripes.iter() {
            for (acc, c) in t.iter_mut().zip(s.iter()) {
                *acc += c.load(Ordering::Relaxed);
            }
        }
        CacheStats {
            hits: t[Stat::Hit as usize],
            misses: t[Stat::Miss as usize],
            inserts: t[Stat::Insert as usize],
            updates: t[Stat::Update as usize],
            removals: t[Stat::Removal as usize],
            evictions: t[Stat::Eviction as usize],
            expirations: t[Stat::Expiration as usize],
            rejections: t[Stat::Rejection as usize],
        }
    }
}
