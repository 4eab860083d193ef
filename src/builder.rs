//! [`CacheBuilder`]: capacity, default TTL, shards, hasher and clock.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::time::Duration;

use crate::cache::Cache;
use crate::clock::Policy;
use crate::expiry::TimeSource;
use crate::table::{Table, SLOTS};

/// Default capacity of a builder whose `max_capacity` was not set.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// The largest capacity a cache is built with; larger requests are clamped
/// (the table is allocated up front, about 14 bytes per unit of capacity).
pub const MAX_CAPACITY: usize = 1 << 28;

/// Table slots per unit of capacity, as a ratio: 5/4 keeps buckets at most
/// 80% full, so probe sequences stay short.
const SLOTS_PER_ENTRY: (usize, usize) = (5, 4);

/// Configures and builds a [`Cache`].
///
/// ```
/// use clockcache::Cache;
/// use std::time::Duration;
///
/// let (clock, mock) = clockcache::quanta::Clock::mock();
/// let cache: Cache<u64, String> = Cache::builder()
///     .max_capacity(1_000)
///     .time_to_live(Duration::from_secs(30))
///     .shards(8)
///     .clock(clock)
///     .build();
/// cache.insert(1, "one".into());
/// mock.increment(Duration::from_secs(31));
/// assert_eq!(cache.get(&1), None);
/// ```
pub struct CacheBuilder<K, V, S = ahash::RandomState> {
    max_capacity: usize,
    time_to_live: Option<Duration>,
    shards: Option<usize>,
    hasher: S,
    clock: Option<quanta::Clock>,
    always_admit: bool,
    #[cfg(clockcache_loom)]
    manual: Option<crate::expiry::ManualClock>,
    _types: PhantomData<fn(K, V)>,
}

impl<K, V, S> fmt::Debug for CacheBuilder<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("max_capacity", &self.max_capacity)
            .field("time_to_live", &self.time_to_live)
            .field("shards", &self.shards)
            .field("always_admit", &self.always_admit)
            .finish_non_exhaustive()
    }
}

impl<K, V> CacheBuilder<K, V, ahash::RandomState> {
    /// A builder with capacity [`DEFAULT_CAPACITY`], no TTL, a random
    /// `ahash` hasher, an automatic shard count and the system clock.
    pub fn new() -> Self {
        CacheBuilder {
            max_capacity: DEFAULT_CAPACITY,
            time_to_live: None,
            shards: None,
            hasher: ahash::RandomState::new(),
            clock: None,
            always_admit: false,
            #[cfg(clockcache_loom)]
            manual: None,
            _types: PhantomData,
        }
    }
}

impl<K, V> Default for CacheBuilder<K, V, ahash::RandomState> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V, S> CacheBuilder<K, V, S> {
    /// The most entries the cache holds (0: a cache that stores nothing;
    /// values above [`MAX_CAPACITY`] are clamped to it).
    pub fn max_capacity(mut self, max_capacity: usize) -> Self {
        self.max_capacity = max_capacity;
        self
    }

    /// Default time-to-live for `insert`, `get_or_insert_with` and new
    /// counters. `Duration::ZERO` makes such entries expire at once; huge
    /// values mean "never".
    pub fn time_to_live(mut self, ttl: Duration) -> Self {
        self.time_to_live = Some(ttl);
        self
    }

    /// Number of eviction shards (each has its own CLOCK hand). By default
    /// four per available CPU, fewer for small caches (each shard gets at
    /// least 32 buckets of 6 slots); clamped to the number of table buckets.
    /// It never limits how many entries one shard can hold.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards);
        self
    }

    /// The hasher (any `BuildHasher`; the default is a random `ahash`).
    pub fn hasher<S2>(self, hasher: S2) -> CacheBuilder<K, V, S2> {
        CacheBuilder {
            max_capacity: self.max_capacity,
            time_to_live: self.time_to_live,
            shards: self.shards,
            hasher,
            clock: self.clock,
            always_admit: self.always_admit,
            #[cfg(clockcache_loom)]
            manual: self.manual,
            _types: PhantomData,
        }
    }

    /// The clock used for TTLs, for example `quanta::Clock::mock()` in
    /// tests. A clock given here is read precisely on every TTL check; the
    /// default uses a coarse, cheaper reading.
    pub fn clock(mut self, clock: quanta::Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Store every insert, even a new key's first one when the cache is full
    /// and new keys are rarely read again (default `false`).
    ///
    /// By default a full cache may turn a new key away on its first insert
    /// while almost none of the recent new keys were read again before
    /// eviction (see [`Cache::insert`]): that saves an allocation and an
    /// eviction per miss and keeps better entries. Set this when an insert
    /// must be readable right away, as when the cache stands in for a store
    /// that always keeps the latest write (the async
    /// [`MemoryCacheBackend`](crate::backend::MemoryCacheBackend) does).
    ///
    /// ```
    /// let cache: clockcache::Cache<u64, u64> = clockcache::Cache::builder()
    ///     .max_capacity(100)
    ///     .always_admit(true)
    ///     .build();
    /// for k in 0..100_000 {
    ///     cache.insert(k, k);
    ///     assert_eq!(cache.get(&k), Some(k));
    /// }
    /// assert_eq!(cache.stats().rejections, 0);
    /// ```
    pub fn always_admit(mut self, always: bool) -> Self {
        self.always_admit = always;
        self
    }

    /// Loom models drive time by hand.
    #[cfg(clockcache_loom)]
    #[doc(hidden)]
    pub fn manual_clock(mut self, clock: crate::expiry::ManualClock) -> Self {
        self.manual = Some(clock);
        self
    }

    /// Builds the cache, allocating its whole table.
    ///
    /// If the table for the requested capacity cannot be allocated, the
    /// capacity is halved until it can (see [`Cache::capacity`]).
    pub fn build(self) -> Cache<K, V, S>
    where
        K: Hash + Eq + Send + Sync + 'static,
        V: Send + Sync + 'static,
        S: BuildHasher,
    {
        let mut capacity = self.max_capacity.min(MAX_CAPACITY);
        let (table, policy) = loop {
            let buckets = buckets_for(capacity);
            match Table::try_new(buckets).zip(Policy::try_new(
                buckets,
                capacity,
                !self.always_admit,
            )) {
                Some(parts) => break parts,
                None => capacity /= 2,
            }
        };
        let shards = self.shards.unwrap_or_else(|| default_shards(table.len()));
        #[cfg(clockcache_loom)]
        if let Some(m) = self.manual {
            let time = TimeSource::manual(m);
            return Cache::from_parts(
                capacity,
                table,
                policy,
                shards,
                self.hasher,
                time,
                self.time_to_live,
            );
        }
        let time = match self.clock {
            Some(clock) => TimeSource::from_clock(clock),
            None => TimeSource::system(),
        };
        Cache::from_parts(
            capacity,
            table,
            policy,
            shards,
            self.hasher,
            time,
            self.time_to_live,
        )
    }
}

/// Buckets for a capacity: `ceil(capacity * 5/4 / SLOTS)`, and none for 0.
fn buckets_for(capacity: usize) -> usize {
    let (num, den) = SLOTS_PER_ENTRY;
    (capacity * num).div_ceil(den * SLOTS)
}

/// Four shards per CPU, but no shard smaller than [`MIN_SHARD_BUCKETS`]
/// buckets: a hand needs a long enough ring to approximate CLOCK, and a
/// small cache has little write contention to spread.
fn default_shards(buckets: usize) -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    (cpus * 4).min(buckets / MIN_SHARD_BUCKETS).max(1)
}

/// Smallest shard (in buckets) the default shard count creates.
const MIN_SHARD_BUCKETS: usize = 32;

#[cfg(all(test, not(clockcache_loom)))]
mod tests {
    use super::*;

    #[test]
    fn table_has_room_for_capacity_plus_slack() {
        for cap in [1, 2, 5, 6, 7, 63, 1000, 1 << 20] {
            let slots = buckets_for(cap) * SLOTS;
            assert!(slots * 4 >= cap * 5, "cap {cap}: {slots} slots");
            assert!(slots >= SLOTS);
        }
        assert_eq!(buckets_for(0), 0);
    }
}
