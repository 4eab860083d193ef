//! The public [`Cache`]: lookups, writes, counters and bulk operations over
//! the table, the CLOCK hands and the time source.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::time::Duration;

use crossbeam_utils::{Backoff, CachePadded};

use crate::builder::CacheBuilder;
use crate::clock::{self, Admit, Policy, Reason};
use crate::counter::{self, CounterValue};
use crate::door::{self, Door};
use crate::entry::{self, Entry};
use crate::error::CacheError;
use crate::expiry::{TimeSource, NEVER};
use crate::glob::Pattern;
use crate::iter::Iter;
use crate::occupancy::Occupancy;
use crate::pinned::Pinned;
use crate::shard::Shards;
use crate::stats::{CacheStats, Stat, Stats};
use crate::sync::{fence, Arc, AtomicBool, Guard, Ordering, Reclaimer, Shared};
use crate::table::{tag_of, Home, NewEntry, Rival, Slot, Table, SLOTS};

/// A concurrent, bounded, in-memory cache with CLOCK eviction and per-entry TTL.
///
/// `Cache` is a handle: [`Clone`] is cheap and every clone shares the same
/// store, so hand one to each thread (or share a `&Cache`). Lookups take no
/// lock; writes are CAS loops. See the crate documentation for the design.
///
/// ```
/// use clockcache::Cache;
/// use std::time::Duration;
///
/// let cache: Cache<String, u64> = Cache::new(1_000);
/// cache.insert("a".to_string(), 1);
/// cache.insert_with_ttl("b".to_string(), 2, Duration::from_secs(60));
/// assert_eq!(cache.get("a"), Some(1));
/// assert_eq!(cache.incr("hits".to_string(), 5, 0, None), Ok(5));
/// assert_eq!(cache.remove("a"), Some(1));
/// assert!(!cache.contains_key("a"));
/// ```
pub struct Cache<K, V, S = ahash::RandomState> {
    pub(crate) inner: Arc<Inner<K, V, S>>,
}

/// The shared state behind every clone of a [`Cache`].
pub(crate) struct Inner<K, V, S> {
    pub(crate) table: Table<K, V>,
    /// Eviction policy state (ghost, probation target).
    policy: Policy,
    shards: Shards,
    /// Committed entries, the count capacity decisions are made on.
    occupancy: CachePadded<Occupancy>,
    capacity: usize,
    hasher: S,
    pub(crate) time: TimeSource,
    default_ttl: Option<Duration>,
    stats: Stats,
    /// Set once an entry with a TTL was inserted: enables the write-side sweep.
    has_ttl: AtomicBool,
    pub(crate) reclaim: Reclaimer,
}

impl<K, V, S> Clone for Cache<K, V, S> {
    fn clone(&self) -> Self {
        Cache {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K, V, S> fmt::Debug for Cache<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("len", &self.inner.occupancy.len())
            .field("capacity", &self.inner.capacity)
            .finish_non_exhaustive()
    }
}

impl<K, V, S> Drop for Inner<K, V, S> {
    fn drop(&mut self) {
        // Every linked node is committed and counted (no insert can be in
        // flight once the last handle is gone), so an empty cache has nothing
        // to free.
        if self.occupancy.len() > 0 {
            self.table.free_all();
        }
    }
}

/// Hashes `key` through its `Hash` implementation.
///
/// Deliberately not `BuildHasher::hash_one`: a hasher may specialise
/// `hash_one` for some types (ahash does so on nightly compilers), and then a
/// key and the `Borrow`ed form it is looked up by (`TrackedKey` and `u64`,
/// `String` and `str`, ...) would hash differently although their `Hash`
/// implementations write the same bytes.
#[inline]
#[allow(clippy::manual_hash_one)] // on purpose: see above
fn hash_of<Q: Hash + ?Sized, S: BuildHasher>(hasher: &S, key: &Q) -> u64 {
    let mut h = hasher.build_hasher();
    key.hash(&mut h);
    h.finish()
}

/// Most evictions one insert makes to bring an over-full cache back within
/// capacity (see `Inner::repay_excess`).
const REPAY_PER_INSERT: usize = 4;

/// Buckets the write-side sweep inspects per insert once TTLs are in use.
const SWEEP_PER_INSERT: usize = 1;

/// Buckets processed under one epoch pin by whole-table walks, so a long
/// `retain` or `clear` does not hold back memory reclamation.
const BUCKETS_PER_PIN: usize = 64;

impl<K, V> Cache<K, V, ahash::RandomState>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    /// A cache holding at most `max_capacity` entries, with no default TTL.
    ///
    /// `max_capacity == 0` gives a cache that stores nothing.
    pub fn new(max_capacity: usize) -> Self {
        Self::builder().max_capacity(max_capacity).build()
    }

    /// A builder for a cache with a default TTL, a custom hasher, a shard
    /// count or a (mock) clock.
    pub fn builder() -> CacheBuilder<K, V> {
        CacheBuilder::new()
    }
}

impl<K, V, S> Cache<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher,
{
    pub(crate) fn from_parts(
        capacity: usize,
        buckets: Table<K, V>,
        policy: Policy,
        shards: usize,
        hasher: S,
        time: TimeSource,
        default_ttl: Option<Duration>,
    ) -> Self {
        let shards = Shards::new(buckets.len(), shards);
        Cache {
            inner: Arc::new(Inner {
                table: buckets,
                policy,
                shards,
                occupancy: CachePadded::new(Occupancy::new(capacity)),
                capacity,
                hasher,
                time,
                default_ttl,
                stats: Stats::new(),
                has_ttl: AtomicBool::new(false),
                reclaim: Reclaimer::new(),
            }),
        }
    }

    /// Pins the calling thread to the epoch for a batch of operations:
    /// the returned handle dereferences to this cache, and operations made
    /// through it skip their own pin (a full fence on x86). Drop it as soon
    /// as the batch is done: see [`Pinned`] for why, and for figures.
    pub fn pin(&self) -> Pinned<'_, K, V, S> {
        Pinned::new(self, self.inner.reclaim.pin())
    }

    /// Returns a clone of the value for `key`, if it is present and not
    /// expired, and marks the entry as recently used.
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        self.view(key, V::clone)
    }

    /// Calls `f` on the value for `key` without cloning it, and returns what
    /// `f` returns. Counts as a hit or miss and marks the entry like
    /// [`get`](Self::get). `f` runs while the calling thread is pinned to the
    /// epoch: keep it short.
    ///
    /// ```
    /// let cache = clockcache::Cache::<u32, Vec<u8>>::new(10);
    /// cache.insert(1, vec![0; 1024]);
    /// assert_eq!(cache.view(&1, |v| v.len()), Some(1024));
    /// ```
    #[inline]
    pub fn view<Q, R>(&self, key: &Q, f: impl FnOnce(&V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let inner = &*self.inner;
        if inner.capacity == 0 {
            inner.stats.incr(Stat::Miss);
            return None;
        }
        let hash = hash_of(&inner.hasher, key);
        let guard = inner.reclaim.pin();
        if let Some((slot, p)) = inner.table.find(hash, key, &guard) {
            // SAFETY: `find` returns a non-null node loaded under `guard`.
            let e = unsafe { p.deref() };
            if !inner.time.is_expired(e.deadline) {
                clock::on_hit(&inner.table.bucket(slot.bucket).freq[slot.index]);
                inner.stats.incr(Stat::Hit);
                return Some(f(&e.value));
            }
            inner.unlink(slot, p, Reason::Expired, &guard);
        }
        inner.stats.incr(Stat::Miss);
        None
    }

    /// Whether `key` has a live (present, unexpired) entry. Does not count as
    /// a hit or miss and does not mark the entry.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let inner = &*self.inner;
        if inner.capacity == 0 {
            return false;
        }
        let guard = inner.reclaim.pin();
        match inner.table.find(hash_of(&inner.hasher, key), key, &guard) {
            // SAFETY: `find` returns a non-null node loaded under `guard`.
            Some((_, p)) => !inner.time.is_expired(unsafe { p.deref() }.deadline),
            None => false,
        }
    }

    /// Inserts or overwrites `key` with the cache's default TTL (none unless
    /// the builder set one). Overwriting replaces both value and TTL.
    ///
    /// **Admission.** While the cache has room, every insert is stored. Once
    /// it is full, a new key may be turned away on its first insert (like
    /// moka's TinyLFU admission): when recent new keys were almost never read
    /// again before eviction (a Zipf tail, a loop, a scan), storing one more
    /// would only evict a better entry, so the key is counted instead, and
    /// a key that keeps being inserted is stored on about its third insert
    /// (its second turn-away is remembered, its next insert stored). The cache
    /// measures this and stops turning keys away as
    /// soon as new keys start being read again. Overwrites of existing keys
    /// and counters ([`incr`](Self::incr)) are always stored; turned-away
    /// inserts are counted in [`CacheStats::rejections`].
    pub fn insert(&self, key: K, value: V) {
        let deadline = self.inner.default_deadline();
        self.inner.put(key, value, deadline);
    }

    /// Inserts or overwrites `key` with its own time-to-live.
    ///
    /// `Duration::ZERO` expires at once (the insert is then invisible); a TTL
    /// too large to represent (such as `Duration::MAX`) never expires.
    pub fn insert_with_ttl(&self, key: K, value: V, ttl: Duration) {
        let deadline = self.inner.time.deadline(ttl);
        self.inner.put(key, value, deadline);
    }

    /// Removes `key` and returns its value if it was live.
    pub fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        self.inner.take(key, |v| v.clone())
    }

    /// Returns the value for `key`, inserting `init()` (with the default TTL)
    /// if there is no live entry. `init` runs at most once, outside any epoch
    /// pin; if another thread inserts the key meanwhile, its value wins and
    /// is returned. (This is not single-flight: concurrent callers may each
    /// run `init`; the async backend offers single-flight loading.) A full
    /// cache may decline to store the new value, as [`insert`](Self::insert)
    /// explains; it is returned all the same.
    pub fn get_or_insert_with(&self, key: K, init: impl FnOnce() -> V) -> V
    where
        V: Clone,
    {
        if let Some(v) = self.get(&key) {
            return v;
        }
        let value = init();
        let inner = &*self.inner;
        if inner.capacity == 0 {
            return value;
        }
        inner.put_if_absent(key, value, inner.default_deadline())
    }

    /// Atomically adds `delta` to the integer counter at `key` and returns
    /// the new value.
    ///
    /// A missing or expired key starts from `default` (the result is
    /// `default + delta`) and is created with `ttl`, or the default TTL when
    /// `ttl` is `None`. On an existing counter `ttl` is ignored and the
    /// expiry is kept, as Redis `INCR` keeps a key's TTL (so a fixed-window
    /// rate limiter does not slide). A stored value that is not an integer
    /// gives [`CacheError::NotAnInteger`], a result out of range gives
    /// [`CacheError::Overflow`]; neither changes the stored value. In a cache
    /// of capacity 0 the result is computed but not stored.
    ///
    /// ```
    /// use clockcache::{Cache, CacheError};
    /// let cache: Cache<&'static str, String> = Cache::new(10);
    /// assert_eq!(cache.incr("n", 1, 10, None), Ok(11));
    /// assert_eq!(cache.get("n").as_deref(), Some("11"));
    /// cache.insert("s", "abc".to_string());
    /// assert_eq!(cache.incr("s", 1, 0, None), Err(CacheError::NotAnInteger));
    /// ```
    pub fn incr(
        &self,
        key: K,
        delta: i64,
        default: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, CacheError>
    where
        K: Clone,
        V: CounterValue,
    {
        self.inner
            .update_counter(key, ttl, |cur| counter::add(cur, default, delta))
    }

    /// Atomically subtracts `delta` from the counter at `key`; see [`incr`](Self::incr).
    pub fn decr(
        &self,
        key: K,
        delta: i64,
        default: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, CacheError>
    where
        K: Clone,
        V: CounterValue,
    {
        self.inner
            .update_counter(key, ttl, |cur| counter::sub(cur, default, delta))
    }

    /// Keeps only the entries for which `keep` returns `true` and returns how
    /// many were removed. Expired entries are reclaimed on the way without
    /// being offered to `keep` (and are not counted). Entries inserted
    /// concurrently may or may not be visited.
    pub fn retain(&self, mut keep: impl FnMut(&K, &V) -> bool) -> usize {
        let inner = &*self.inner;
        let mut removed = 0;
        inner.walk(|slot, p, guard| {
            // SAFETY: `walk` passes committed, non-null nodes loaded under `guard`.
            let e = unsafe { p.deref() };
            if inner.time.is_expired(e.deadline) {
                inner.unlink(slot, p, Reason::Expired, guard);
            } else if !keep(&e.key, &e.value) && inner.unlink_removed(slot, p, guard) {
                removed += 1;
            }
        });
        removed
    }

    /// Removes every key matching the glob `pattern` (Python
    /// `fnmatch.fnmatchcase` rules: `*`, `?`, `[seq]`, `[!seq]`; no escape
    /// character; an unclosed `[` is literal) and returns how many were
    /// removed. A pattern without wildcards is a single exact removal;
    /// anything else walks the whole table.
    ///
    /// ```
    /// let cache = clockcache::Cache::<String, u32>::new(100);
    /// for k in ["user:1", "user:2", "session:1"] {
    ///     cache.insert(k.to_string(), 0);
    /// }
    /// assert_eq!(cache.invalidate_pattern("user:*"), 2);
    /// assert_eq!(cache.len(), 1);
    /// ```
    pub fn invalidate_pattern(&self, pattern: &str) -> usize
    where
        K: Borrow<str>,
    {
        let pattern = Pattern::new(pattern);
        if let Some(literal) = pattern.literal() {
            return usize::from(self.inner.take(literal, |_| ()).is_some());
        }
        self.retain(|k, _| !pattern.matches(k.borrow()))
    }

    /// Reclaims every expired entry now and returns how many there were.
    /// (Expired entries are invisible anyway; this frees their memory.)
    pub fn purge_expired(&self) -> usize {
        let inner = &*self.inner;
        let mut n = 0;
        for start in (0..inner.table.len()).step_by(BUCKETS_PER_PIN) {
            let guard = inner.reclaim.pin();
            for b in start..(start + BUCKETS_PER_PIN).min(inner.table.len()) {
                n += clock::expire_bucket(&inner.table, b, &inner.time, &guard, &mut |s, p| {
                    inner.unlink(s, p, Reason::Expired, &guard)
                });
            }
        }
        n
    }

    /// Removes every entry. Inserts that run concurrently may survive.
    pub fn clear(&self) {
        let inner = &*self.inner;
        inner.walk(|slot, p, guard| {
            if inner.table.unlink(slot, p, || inner.home_of(p), guard) {
                inner.retire(p, guard);
                inner.occupancy.sub(1);
            }
        });
    }

    /// A weakly consistent iterator over clones of the live entries: it never
    /// yields an expired entry or a key twice... unless the key was removed
    /// and re-inserted during the walk; entries changed during the walk may
    /// or may not be seen. It takes no lock and does not mark entries.
    pub fn iter(&self) -> Iter<K, V, S>
    where
        K: Clone,
        V: Clone,
    {
        Iter::new(Arc::clone(&self.inner))
    }

    /// The number of entries, counting expired ones not yet reclaimed and
    /// inserts in flight. At rest it is at most [`capacity`](Self::capacity).
    pub fn len(&self) -> usize {
        self.inner.occupancy.len()
    }

    /// Whether [`len`](Self::len) is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The maximum number of entries (`max_capacity` from construction).
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// A snapshot of the hit, miss and life-cycle counters.
    pub fn stats(&self) -> CacheStats {
        self.inner.stats.snapshot()
    }
}

/// What happened when a new key was offered to the table.
enum Added<'g, K, V> {
    Inserted,
    /// Another thread's committed copy is there (possibly expired).
    Exists(Slot, Shared<'g, Entry<K, V>>),
}

impl<K, V, S> Inner<K, V, S>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher,
{
    fn default_deadline(&self) -> u64 {
        match self.default_ttl {
            Some(ttl) => self.time.deadline(ttl),
            None => NEVER,
        }
    }

    /// The candidate buckets of a linked node (for displaced entries only).
    fn home_of(&self, p: Shared<'_, Entry<K, V>>) -> Home {
        // SAFETY: every caller holds the guard `p` was loaded under.
        self.table
            .home(hash_of(&self.hasher, &unsafe { p.deref() }.key))
    }

    /// Hands an unlinked node to the epoch collector.
    fn retire(&self, p: Shared<'_, Entry<K, V>>, guard: &Guard) {
        // SAFETY: `p` was just unlinked by this thread's successful CAS (or
        // was published pending and aborted by this thread), so no new reader
        // can load it and nobody else retires it; readers that loaded it
        // earlier are pinned, and destruction waits for them.
        unsafe { entry::retire(p, guard) };
        self.reclaim.retired(guard);
    }

    /// Unlinks a committed node for eviction or expiry; returns whether this
    /// thread's CAS won (and the accounting was done).
    pub(crate) fn unlink(
        &self,
        slot: Slot,
        p: Shared<'_, Entry<K, V>>,
        reason: Reason,
        guard: &Guard,
    ) -> bool {
        if !self.table.unlink(slot, p, || self.home_of(p), guard) {
            return false;
        }
        self.retire(p, guard);
        self.occupancy.sub(1);
        self.stats.incr(match reason {
            Reason::Capacity => Stat::Eviction,
            Reason::Expired => Stat::Expiration,
        });
        true
    }

    /// Unlinks a committed node on the user's request.
    fn unlink_removed(&self, slot: Slot, p: Shared<'_, Entry<K, V>>, guard: &Guard) -> bool {
        if !self.table.unlink(slot, p, || self.home_of(p), guard) {
            return false;
        }
        self.retire(p, guard);
        self.occupancy.sub(1);
        self.stats.incr(Stat::Removal);
        true
    }

    /// Removes `key` if live, returning `f(value)`.
    fn take<Q, R>(&self, key: &Q, f: impl FnOnce(&V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.capacity == 0 {
            return None;
        }
        let hash = hash_of(&self.hasher, key);
        let guard = self.reclaim.pin();
        loop {
            let (slot, p) = self.table.find(hash, key, &guard)?;
            // SAFETY: `find` returns a non-null node loaded under `guard`.
            let e = unsafe { p.deref() };
            if self.time.is_expired(e.deadline) {
                self.unlink(slot, p, Reason::Expired, &guard);
                return None;
            }
            if self.unlink_removed(slot, p, &guard) {
                return Some(f(&e.value));
            }
            // Overwritten or removed meanwhile: look again.
        }
    }

    /// Unlinks and retires a committed node without touching `len` or the
    /// stats; returns whether this thread's CAS won.
    fn unlink_quiet(&self, slot: Slot, p: Shared<'_, Entry<K, V>>, guard: &Guard) -> bool {
        let won = self.table.unlink(slot, p, || self.home_of(p), guard);
        if won {
            self.retire(p, guard);
        }
        won
    }

    fn count_eviction(&self, reason: Reason) {
        self.stats.incr(match reason {
            Reason::Capacity => Stat::Eviction,
            Reason::Expired => Stat::Expiration,
        });
    }

    /// Evicts one entry, starting with the hand of shard `first`. Returns
    /// whether it did (the caller settles `len`'s share: see `add_new`).
    fn evict_one(&self, first: usize, spare: Option<Slot>, guard: &Guard) -> bool {
        let n = self.shards.len();
        for k in 0..n {
            let shard = self.shards.get((first + k) % n);
            let reason = clock::sweep(
                &self.table,
                &self.policy,
                shard,
                spare,
                &self.time,
                guard,
                |slot, p| self.unlink_quiet(slot, p, guard),
            );
            if let Some(reason) = reason {
                self.count_eviction(reason);
                if shard.tick() {
                    let (hits, misses) = self.stats.requests();
                    // The door is judged on the current probation target
                    // (read before the climber moves it), and holds the
                    // climber while closed (see `Climber::observe`).
                    let hold = self.policy.door.is_closed();
                    let target = u64::from(self.policy.climber.target.load(Ordering::Relaxed));
                    if self.policy.door.review_due(hits.wrapping_add(misses)) {
                        let (promoted, dropped) = self.shards.departures();
                        // A full-size shard's queue (each shard has its own).
                        let shard_capacity = self.shards.get(0).capacity as u64;
                        let probation = (shard_capacity * target) >> 16;
                        self.policy.door.review(
                            promoted,
                            dropped,
                            probation >= door::MIN_JUDGED_PROBATION,
                        );
                    }
                    if self.policy.climber.observe(hits, misses, hold) {
                        self.policy.sketch.age();
                    }
                }
                return true;
            }
        }
        false
    }

    /// Offers the node `node` for a key with no committed entry (as far as
    /// the caller saw). Publishes it pending, fences, and resolves races with
    /// other inserters of the same key (see `Table::scan_rivals`). Keeps the
    /// cache within capacity by evicting first when it is full.
    fn add_new<'g>(
        &self,
        hash: u64,
        node: Shared<'g, Entry<K, V>>,
        guard: &'g Guard,
    ) -> Added<'g, K, V> {
        let table = &self.table;
        let home = table.home(hash);
        let shard = self.shards.of_bucket(home.first);
        let tag = tag_of(hash);
        // SAFETY: the caller owns `node` (allocated, not retired).
        let e = unsafe { node.deref() };
        let ttl = e.has_ttl();
        self.policy.ghost.prefetch(home);
        if self.policy.door.is_closed() {
            // Probes and remembered keys count too: a key the door let in
            // and that comes back after its eviction has been seen.
            let _ = self.policy.sketch.count(hash);
        }
        let backoff = Backoff::new();
        loop {
            // Evictions made to free room for this entry; their `len`
            // decrements are settled below.
            let (slot, credits) = self.make_room(hash, &e.key, NewEntry { tag, ttl }, shard, guard);
            // A key evicted from probation not long ago skips probation, and
            // so do the keys that fill the cache.
            let admit = if self.policy.ghost.contains(home, tag) {
                Admit::Remembered
            } else if credits == 0 && !self.occupancy.is_full() {
                Admit::Filling
            } else {
                Admit::Probation
            };
            let stamp = clock::initial(
                &self.policy,
                self.shards.get(self.shards.of_bucket(slot.bucket)),
                admit,
            );
            table.publish(slot, node, stamp);
            // Pairs with the same fence in a rival inserter: at least one of
            // two concurrent inserters of a key sees the other's publication.
            fence(Ordering::SeqCst);
            let rival = table.scan_rivals(hash, &e.key, slot, guard);
            let committed = matches!(rival, Rival::None) && table.commit(slot, node, guard);
            if !committed {
                table.abort(slot, home, guard);
                self.occupancy.sub(credits);
                if let Rival::Committed(s, p) = rival {
                    return Added::Exists(s, p);
                }
                backoff.snooze();
                continue;
            }
            self.stats.incr(Stat::Insert);
            self.account_insert(credits, shard, slot, guard);
            if admit == Admit::Probation {
                clock::enqueue(&self.shards, slot, tag);
            }
            self.repay_excess(shard, slot, guard);
            if ttl && !self.has_ttl.load(Ordering::Relaxed) {
                self.has_ttl.store(true, Ordering::Relaxed);
            }
            if self.has_ttl.load(Ordering::Relaxed) {
                self.sweep_expired(shard, guard);
            }
            return Added::Inserted;
        }
    }

    /// Counts a committed new entry and keeps the cache within capacity.
    ///
    /// Evicting only now, after the commit, is what makes "N distinct keys
    /// never evict in a cache of capacity N" hold even when threads race to
    /// insert the same key: a losing copy never commits, so it never evicts.
    /// (The exception is an insert whose two candidate buckets were full: it
    /// had to evict before claiming, and `credits` counts those evictions.)
    /// In a full cache the eviction pays for the new entry and `len` is not
    /// written at all, so concurrent inserters do not bounce its cache line.
    fn account_insert(&self, credits: usize, shard: usize, slot: Slot, guard: &Guard) {
        if credits > 0 {
            // The first eviction pays for this entry: `len` need not move.
            self.occupancy.sub(credits - 1);
        } else if !(self.occupancy.is_full() && self.evict_one(shard, Some(slot), guard))
            && self.occupancy.add()
        {
            self.evict_for(shard, Some(slot), guard);
        }
    }

    /// Evicts one entry for an insert that went over capacity. If there is
    /// nothing to evict right now (every other entry pending in another
    /// thread), the cache stays over capacity until `repay_excess` of a later
    /// insert brings it back.
    fn evict_for(&self, shard: usize, spare: Option<Slot>, guard: &Guard) {
        if self.evict_one(shard, spare, guard) {
            self.occupancy.sub(1);
        }
    }

    /// Brings the cache back within capacity if earlier inserts left it over
    /// (their eviction found no victim). Bounded: it gives up as soon as an
    /// eviction fails, so it never spins on an excess that only exists while
    /// a concurrent unlink has not yet been counted.
    fn repay_excess(&self, shard: usize, spare: Slot, guard: &Guard) {
        for _ in 0..REPAY_PER_INSERT {
            if !self.occupancy.is_over() || !self.evict_one(shard, Some(spare), guard) {
                return;
            }
            self.occupancy.sub(1);
        }
    }

    /// Claims a slot for a new key with candidate buckets `home`. Returns
    /// the slot and how many entries were evicted to make it (their `len`
    /// decrements are left to the caller).
    ///
    /// - A candidate bucket has room: claim it (any eviction for capacity
    ///   happens after the commit, by the hand: see `account_insert`).
    /// - Both candidates are full and so is the cache: evict between them
    ///   (`clock::evict_local`) and claim the freed slot.
    /// - Both are full but the cache is not: never evict early; claim a slot
    ///   further on (`Table::claim_far`).
    fn make_room(
        &self,
        hash: u64,
        key: &K,
        new: NewEntry,
        shard: usize,
        guard: &Guard,
    ) -> (Slot, usize) {
        let home = self.table.home(hash);
        let backoff = Backoff::new();
        let mut credits = 0;
        loop {
            // An eviction already made for this insert has paid for it.
            let full = credits == 0 && self.occupancy.is_full();
            if let Some(slot) = self.table.claim_near(home, new) {
                return (slot, credits);
            }
            // Evict between the candidates only if no other thread is
            // inserting this key there (its copy would make ours redundant,
            // and the eviction premature); otherwise go further and let the
            // rival scan sort it out.
            if full && !self.table.maybe_rival(hash, key, guard) {
                if let Some(reason) = clock::evict_local(
                    &self.table,
                    &self.policy,
                    &self.shards,
                    home,
                    &self.time,
                    guard,
                    |s, p| self.unlink_quiet(s, p, guard),
                ) {
                    self.count_eviction(reason);
                    credits += 1;
                    continue;
                }
            }
            if let Some(slot) = self.table.claim_far(home, new) {
                return (slot, credits);
            }
            // Every slot is taken (more inserts in flight than spare slots).
            if self.evict_one(shard, None, guard) {
                credits += 1;
            }
            backoff.snooze();
        }
    }

    /// The write-side amortised expiry sweep.
    fn sweep_expired(&self, shard: usize, guard: &Guard) {
        clock::sweep_expired(
            &self.table,
            self.shards.get(shard),
            SWEEP_PER_INSERT,
            &self.time,
            guard,
            |s, p| self.unlink(s, p, Reason::Expired, guard),
        );
    }

    /// Counts an overwrite of `old` (live or expired).
    fn count_overwrite(&self, old: Shared<'_, Entry<K, V>>) {
        // SAFETY: `old` was loaded under the caller's guard.
        if self.time.is_expired(unsafe { old.deref() }.deadline) {
            self.stats.incr(Stat::Expiration);
            self.stats.incr(Stat::Insert);
        } else {
            self.stats.incr(Stat::Update);
        }
    }

    /// Whether the admission door would turn away a new key with `hash`:
    /// the cache is full, the door is closed, the key is not a probe, and
    /// the ghost does not remember it or the sketch has not seen it (a ghost
    /// tag's chance match is not enough; see [`crate::sketch`]). Only the
    /// ghost word of the key's first candidate bucket is read (half the
    /// false matches of a lookup in both, and one cache line less).
    #[inline]
    fn door_closed_to(&self, hash: u64) -> bool {
        self.policy.door.is_closed()
            && self.occupancy.is_full()
            && !Door::is_probe(hash)
            && !(self
                .policy
                .ghost
                .contains_in(self.table.home(hash).first, tag_of(hash))
                && self.policy.sketch.seen(hash))
    }

    /// Turns away a new key. The sketch counts it, and if the sketch had
    /// seen it before, the ghost word of its first candidate bucket
    /// remembers it, so that its next insert gets in.
    fn turn_away(&self, hash: u64) {
        if self.policy.sketch.count(hash) {
            self.policy
                .ghost
                .record(self.table.home(hash).first, tag_of(hash));
        }
        self.stats.incr(Stat::Rejection);
    }

    /// Insert-or-overwrite.
    fn put(&self, key: K, value: V, deadline: u64) {
        if self.capacity == 0 {
            return;
        }
        let hash = hash_of(&self.hasher, &key);
        // A key the door turns away needs neither a node nor a pin when no
        // slot on its path carries its tag: then it has no entry to update.
        // The tags are read first: they are the lines `find` reads next, and
        // an overwrite (a tag on the path) then never touches the ghost or
        // the sketch (docs/policy-experiments.md, session 8).
        if !self.table.tag_on_path(hash) && self.door_closed_to(hash) {
            self.turn_away(hash);
            return;
        }
        let guard = self.reclaim.pin();
        // A tag on the path may be another key's: look the key up.
        let mut found = self.table.find(hash, &key, &guard);
        if found.is_none() && self.door_closed_to(hash) {
            self.turn_away(hash);
            return;
        }
        let node = Entry::alloc(key, value, deadline);
        // SAFETY: `node` is ours until linked; linked nodes are freed only
        // through `retire`, after `guard` is dropped.
        let e = unsafe { node.deref() };
        loop {
            match found
                .take()
                .or_else(|| self.table.find(hash, &e.key, &guard))
            {
                Some((slot, old)) => {
                    if self.table.replace(slot, old, node, e.has_ttl(), &guard) {
                        self.count_overwrite(old);
                        self.retire(old, &guard);
                        return;
                    }
                }
                None => {
                    if let Added::Inserted = self.add_new(hash, node, &guard) {
                        return;
                    }
                }
            }
        }
    }

    /// Insert unless a live entry exists; returns the value that ends up cached.
    fn put_if_absent(&self, key: K, value: V, deadline: u64) -> V
    where
        V: Clone,
    {
        let hash = hash_of(&self.hasher, &key);
        let guard = self.reclaim.pin();
        let mut first = self.table.find(hash, &key, &guard);
        if first.is_none() && self.door_closed_to(hash) {
            self.turn_away(hash);
            return value;
        }
        let node = Entry::alloc(key, value, deadline);
        // SAFETY: as in `put`.
        let e = unsafe { node.deref() };
        let mut published = false;
        loop {
            let found = match first
                .take()
                .or_else(|| self.table.find(hash, &e.key, &guard))
            {
                Some(found) => Some(found),
                None => match self.add_new(hash, node, &guard) {
                    Added::Inserted => return e.value.clone(),
                    Added::Exists(slot, p) => {
                        published = true;
                        Some((slot, p))
                    }
                },
            };
            let Some((slot, old)) = found else { continue };
            // SAFETY: loaded under `guard`.
            let current = unsafe { old.deref() };
            if !self.time.is_expired(current.deadline) {
                let v = current.value.clone();
                self.discard(node, published, &guard);
                return v;
            }
            if self.table.replace(slot, old, node, e.has_ttl(), &guard) {
                self.count_overwrite(old);
                self.retire(old, &guard);
                return e.value.clone();
            }
        }
    }

    /// Frees a node that never got committed. If it was ever published
    /// (pending), scanners may still be reading its key, so it goes through
    /// the collector.
    fn discard(&self, node: Shared<'_, Entry<K, V>>, published: bool, guard: &Guard) {
        if published {
            self.retire(node, guard);
        } else {
            // SAFETY: never published, so no other thread has seen it.
            unsafe { entry::free(node) };
        }
    }

    /// The read-modify-write loop behind `incr` and `decr`.
    fn update_counter(
        &self,
        mut key: K,
        ttl: Option<Duration>,
        op: impl Fn(Option<i64>) -> Result<i64, CacheError>,
    ) -> Result<i64, CacheError>
    where
        K: Clone,
        V: CounterValue,
    {
        if self.capacity == 0 {
            return op(None);
        }
        let hash = hash_of(&self.hasher, &key);
        let guard = self.reclaim.pin();
        let backoff = Backoff::new();
        loop {
            let found = self.table.find(hash, &key, &guard);
            // SAFETY: `find` returns non-null nodes loaded under `guard`.
            let live = found.filter(|(_, p)| !self.time.is_expired(unsafe { p.deref() }.deadline));
            let (n, deadline) = match live {
                Some((_, p)) => {
                    // SAFETY: as above.
                    let e = unsafe { p.deref() };
                    (op(Some(e.value.to_counter()?))?, e.deadline)
                }
                None => {
                    let deadline = match ttl {
                        Some(ttl) => self.time.deadline(ttl),
                        None => self.default_deadline(),
                    };
                    (op(None)?, deadline)
                }
            };
            let value = V::from_counter(n)?;
            let node = Entry::alloc(key, value, deadline);
            // SAFETY: ours until linked.
            let has_ttl = unsafe { node.deref() }.has_ttl();
            let done = match found {
                Some((slot, old)) => {
                    let ok = self.table.replace(slot, old, node, has_ttl, &guard);
                    if ok {
                        self.count_overwrite(old);
                        self.retire(old, &guard);
                    }
                    ok
                }
                None => match self.add_new(hash, node, &guard) {
                    Added::Inserted => true,
                    Added::Exists(..) => {
                        // Published while pending: scanners may read its key.
                        // SAFETY: loaded under `guard`, not yet retired.
                        key = unsafe { node.deref() }.key.clone();
                        self.retire(node, &guard);
                        backoff.spin();
                        continue;
                    }
                },
            };
            if done {
                return Ok(n);
            }
            // Lost a CAS: take the key back out of the never-published node.
            // SAFETY: the node was never linked, so this thread owns it.
            key = unsafe { entry::into_key(node) };
            backoff.spin();
        }
    }

    /// Calls `f` on every committed node, pinning per batch of buckets.
    pub(crate) fn walk(&self, mut f: impl FnMut(Slot, Shared<'_, Entry<K, V>>, &Guard)) {
        for start in (0..self.table.len()).step_by(BUCKETS_PER_PIN) {
            let guard = self.reclaim.pin();
            for b in start..(start + BUCKETS_PER_PIN).min(self.table.len()) {
                let bucket = self.table.bucket(b);
                let ctrl = bucket.ctrl();
                for i in 0..SLOTS {
                    if !crate::table::is_occupied(ctrl, i) {
                        continue;
                    }
                    let p = bucket.load(i, &guard);
                    if p.tag() == 0 && !p.is_null() {
                        f(
                            Slot {
                                bucket: b,
                                index: i,
                            },
                            p,
                            &guard,
                        );
                    }
                }
            }
        }
    }
}
