//! Every key and value a cache takes ownership of (or clones) is dropped
//! exactly once: no leak, no double drop, whatever path removes it
//! (overwrite, remove, eviction, each kind of expiry, clear, retain,
//! invalidate_pattern, concurrent races, dropping the cache).
//!
//! Keys and values are [`TrackedKey`] / [`TrackedVal`]: each construction and
//! each `Clone` gets a fresh serial number registered as live, and `Drop`
//! unregisters it. A drop of a serial that is not live (a second drop of the
//! same object) is counted in `double_drops` instead of panicking, since
//! panicking inside the epoch collector would abort. Retired nodes are freed
//! by crossbeam-epoch's global collector, so each scenario drops the cache
//! and then pins and flushes until the counts settle.
//!
//! Run: `cargo test --release --test drops`

use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use clockcache::Cache;

/// Life-cycle counters of one scenario's tracked objects.
struct Counters {
    created: AtomicU64,
    dropped: AtomicU64,
    double_drops: AtomicU64,
    next_serial: AtomicU64,
    live: Mutex<HashSet<u64>>,
}

impl Counters {
    /// Fresh counters for one test. Leaked, so that a (buggy) late or double
    /// drop never touches freed memory through its `&'static` reference.
    fn new() -> &'static Counters {
        Box::leak(Box::new(Counters {
            created: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            double_drops: AtomicU64::new(0),
            next_serial: AtomicU64::new(0),
            live: Mutex::new(HashSet::new()),
        }))
    }

    fn birth(&self) -> u64 {
        let serial = self.next_serial.fetch_add(1, Ordering::Relaxed);
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(serial);
        self.created.fetch_add(1, Ordering::SeqCst);
        serial
    }

    fn death(&self, serial: u64) {
        let was_live = self
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&serial);
        if !was_live {
            self.double_drops.fetch_add(1, Ordering::SeqCst);
        }
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }

    fn created(&self) -> u64 {
        self.created.load(Ordering::SeqCst)
    }

    fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::SeqCst)
    }

    /// Objects currently alive.
    fn alive(&self) -> u64 {
        self.created() - self.dropped()
    }

    /// Forces the epoch collector to run retired destructors until every
    /// object is dropped, then checks the books. Call after the last cache
    /// handle is gone. The collector frees a bag only once every pinned
    /// thread has moved on (other tests pin too), so after a burst of fast
    /// rounds it keeps trying with short sleeps; both loops are bounded.
    fn assert_balanced(&self) {
        let settled = || {
            crossbeam_epoch::pin().flush();
            self.created() == self.dropped()
        };
        let mut fast = false;
        for _ in 0..100_000 {
            if settled() {
                fast = true;
                break;
            }
            thread::yield_now();
        }
        let after_fast = self.alive();
        if !fast {
            for _ in 0..2_000 {
                if settled() {
                    break;
                }
                thread::sleep(Duration::from_millis(1));
            }
        }
        assert_eq!(
            self.double_drops.load(Ordering::SeqCst),
            0,
            "objects dropped twice"
        );
        assert_eq!(
            self.created(),
            self.dropped(),
            "created != dropped: {} never dropped ({after_fast} after the fast flush rounds)",
            self.alive()
        );
    }
}

/// A tracked key; equality and hash are those of its id (so `&u64` looks it up).
struct TrackedKey {
    id: u64,
    serial: u64,
    c: &'static Counters,
}

impl TrackedKey {
    fn new(c: &'static Counters, id: u64) -> Self {
        TrackedKey {
            id,
            serial: c.birth(),
            c,
        }
    }
}

impl Clone for TrackedKey {
    fn clone(&self) -> Self {
        TrackedKey::new(self.c, self.id)
    }
}

impl Drop for TrackedKey {
    fn drop(&mut self) {
        self.c.death(self.serial);
    }
}

impl PartialEq for TrackedKey {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for TrackedKey {}

impl Hash for TrackedKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must hash exactly like `u64`, for `Borrow<u64>` lookups.
        self.id.hash(state);
    }
}

impl Borrow<u64> for TrackedKey {
    fn borrow(&self) -> &u64 {
        &self.id
    }
}

/// A tracked value; `Cache::get` clones it, and each clone counts as created.
struct TrackedVal {
    id: u64,
    serial: u64,
    c: &'static Counters,
}

impl TrackedVal {
    fn new(c: &'static Counters, id: u64) -> Self {
        TrackedVal {
            id,
            serial: c.birth(),
            c,
        }
    }
}

impl Clone for TrackedVal {
    fn clone(&self) -> Self {
        TrackedVal::new(self.c, self.id)
    }
}

impl Drop for TrackedVal {
    fn drop(&mut self) {
        self.c.death(self.serial);
    }
}

impl fmt::Debug for TrackedVal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrackedVal({})", self.id)
    }
}

type TCache = Cache<TrackedKey, TrackedVal>;

/// Inserts `id -> value id` into `cache`.
fn put(cache: &TCache, c: &'static Counters, id: u64, value: u64) {
    cache.insert(TrackedKey::new(c, id), TrackedVal::new(c, value));
}

fn value_id(cache: &TCache, id: u64) -> Option<u64> {
    cache.get(&id).map(|v| v.id)
}

/// A cache on a mock clock, and the handle that moves it.
fn mock_cache(
    capacity: usize,
    shards: Option<usize>,
) -> (TCache, std::sync::Arc<clockcache::quanta::Mock>) {
    let (clock, mock) = clockcache::quanta::Clock::mock();
    let mut b = Cache::builder().max_capacity(capacity).clock(clock);
    if let Some(n) = shards {
        b = b.shards(n);
    }
    (b.build(), mock)
}

// Proves that overwritten keys and values (insert, insert_with_ttl,
// get_or_insert_with on a live key) are each dropped once.
#[test]
fn overwrite() {
    let c = Counters::new();
    let cache = TCache::new(100);
    for round in 0..10 {
        for id in 0..50 {
            if round % 2 == 0 {
                put(&cache, c, id, id * 1000 + round);
            } else {
                cache.insert_with_ttl(
                    TrackedKey::new(c, id),
                    TrackedVal::new(c, id * 1000 + round),
                    Duration::from_secs(3600),
                );
            }
        }
    }
    for id in 0..50 {
        assert_eq!(value_id(&cache, id), Some(id * 1000 + 9));
        // A live key: `init` is not called, the offered key is dropped.
        let v = cache.get_or_insert_with(TrackedKey::new(c, id), || unreachable!());
        assert_eq!(v.id, id * 1000 + 9);
    }
    // A missing key: inserted.
    let v = cache.get_or_insert_with(TrackedKey::new(c, 77), || TrackedVal::new(c, 7));
    assert_eq!(v.id, 7);
    drop(v);
    assert_eq!(cache.len(), 51);
    let stats = cache.stats();
    assert_eq!(stats.inserts, 51);
    assert_eq!(stats.updates, 450);
    drop(cache);
    c.assert_balanced();
}

/// Operations made through `Cache::pin`'s handle release their entries like
/// any other, but not while the handle keeps the thread pinned: a value
/// overwritten under the pin outlives every flush until the pin is dropped.
#[test]
fn overwrite_under_a_pin() {
    let c = Counters::new();
    let cache = TCache::new(100);
    put(&cache, c, 1, 10);
    let pinned = cache.pin();
    for v in 11..=20 {
        put(&pinned, c, 1, v);
    }
    assert_eq!(value_id(&pinned, 1), Some(20));
    // The current node (key 1, value 20) is in the cache; the ten nodes the
    // overwrites replaced (a key and a value each) are retired but must
    // stay alive: this thread has been pinned since before they were retired.
    for _ in 0..if cfg!(miri) { 20 } else { 1_000 } {
        crossbeam_epoch::pin().flush();
    }
    assert_eq!(c.alive(), 2 + 2 * 10, "retired entries freed under a pin");
    drop(pinned);
    assert_eq!(cache.stats().updates, 10);
    drop(cache);
    c.assert_balanced();
}

// Proves that removed entries (and the clones `remove` returns) are dropped once.
#[test]
fn remove() {
    let c = Counters::new();
    let cache = TCache::new(200);
    for id in 0..100 {
        put(&cache, c, id, id + 1);
    }
    for id in 0..150 {
        let removed = cache.remove(&id).map(|v| v.id);
        assert_eq!(removed, (id < 100).then_some(id + 1), "key {id}");
    }
    assert_eq!(cache.len(), 0);
    assert_eq!(cache.stats().removals, 100);
    for id in 0..10 {
        put(&cache, c, id, id);
    }
    drop(cache);
    c.assert_balanced();
}

// Proves that evicted entries are dropped once.
#[test]
fn eviction() {
    let c = Counters::new();
    let cache = TCache::new(10);
    let n = if cfg!(miri) { 300 } else { 1000 };
    for id in 0..n {
        put(&cache, c, id, id);
        if id % 3 == 0 {
            let _ = cache.get(&id);
        }
    }
    let stats = cache.stats();
    assert!(cache.len() <= 10, "len {}", cache.len());
    assert_eq!(stats.inserts, n);
    assert_eq!(stats.evictions + cache.len() as u64, n, "{stats:?}");
    drop(cache);
    c.assert_balanced();
}

// Proves that entries that expire and are reclaimed lazily by `get` (and by
// `remove`) are dropped once.
#[test]
fn expiry_lazy_get() {
    let c = Counters::new();
    let (cache, mock) = mock_cache(1000, None);
    for id in 0..100 {
        cache.insert_with_ttl(
            TrackedKey::new(c, id),
            TrackedVal::new(c, id),
            Duration::from_millis(10),
        );
        put(&cache, c, 1000 + id, id);
    }
    mock.increment(Duration::from_millis(20));
    for id in 0..90 {
        assert!(!cache.contains_key(&id));
        assert_eq!(value_id(&cache, id), None, "key {id} outlived its TTL");
    }
    for id in 90..100 {
        assert_eq!(cache.remove(&id).map(|v| v.id), None);
    }
    let stats = cache.stats();
    assert_eq!(stats.expirations, 100, "{stats:?}");
    assert_eq!(stats.removals, 0, "{stats:?}");
    assert_eq!(cache.len(), 100);
    drop(cache);
    c.assert_balanced();
}

// Proves that entries reclaimed by `purge_expired` are dropped once.
#[test]
fn expiry_purge_expired() {
    let c = Counters::new();
    let (cache, mock) = mock_cache(1000, None);
    for id in 0..200 {
        let ttl = Duration::from_millis(if id < 100 { 10 } else { 100 });
        cache.insert_with_ttl(TrackedKey::new(c, id), TrackedVal::new(c, id), ttl);
    }
    mock.increment(Duration::from_millis(20));
    assert_eq!(cache.purge_expired(), 100);
    assert_eq!(cache.len(), 100);
    assert_eq!(cache.purge_expired(), 0);
    mock.increment(Duration::from_millis(100));
    assert_eq!(cache.purge_expired(), 100);
    assert_eq!(cache.len(), 0);
    drop(cache);
    c.assert_balanced();
}

// Proves that entries reclaimed by the write-side sweep (a bucket per insert
// once TTLs are in use) are dropped once.
#[test]
fn expiry_write_side_sweep() {
    let c = Counters::new();
    // One shard, so the sweep cursor visits every bucket in turn; room for
    // all inserts, so neither the hand nor a lookup reclaims anything.
    // (A smaller table under Miri, so that a lap of the sweep is shorter.)
    let (capacity, expiring, most) = if cfg!(miri) {
        (300, 30, 240)
    } else {
        (1000, 100, 800)
    };
    let (cache, mock) = mock_cache(capacity, Some(1));
    for id in 0..expiring {
        cache.insert_with_ttl(
            TrackedKey::new(c, id),
            TrackedVal::new(c, id),
            Duration::from_millis(10),
        );
    }
    mock.increment(Duration::from_millis(20));
    let mut inserted = 0;
    while inserted < most && cache.stats().expirations < expiring {
        put(&cache, c, 1000 + inserted, inserted);
        inserted += 1;
    }
    let stats = cache.stats();
    assert_eq!(
        stats.expirations, expiring,
        "{stats:?} after {inserted} inserts"
    );
    assert_eq!(stats.evictions, 0, "{stats:?}");
    assert_eq!(cache.len(), inserted as usize);
    drop(cache);
    c.assert_balanced();
}

// Proves that expired entries taken by the CLOCK hand when a full cache
// makes room are dropped once.
#[test]
fn expiry_by_the_hand() {
    let c = Counters::new();
    let (cache, mock) = mock_cache(60, None);
    for id in 0..60 {
        cache.insert_with_ttl(
            TrackedKey::new(c, id),
            TrackedVal::new(c, id),
            Duration::from_millis(10),
        );
    }
    assert_eq!(cache.len(), 60);
    mock.increment(Duration::from_millis(20));
    for id in 100..160 {
        put(&cache, c, id, id);
    }
    let stats = cache.stats();
    assert!(stats.expirations > 0, "{stats:?}");
    // The hand may also take a new, unused entry it meets before an expired
    // one, and the write-side sweep may then reclaim more expired entries,
    // so the cache can end below capacity; the books still balance.
    assert!(cache.len() <= 60);
    assert_eq!(
        stats.inserts - stats.expirations - stats.evictions,
        cache.len() as u64,
        "{stats:?}"
    );
    drop(cache);
    c.assert_balanced();
}

// Proves that overwriting an expired entry (counted as expiry + insert)
// drops the old entry once.
#[test]
fn expiry_by_overwrite() {
    let c = Counters::new();
    let (cache, mock) = mock_cache(1000, None);
    for id in 0..100 {
        cache.insert_with_ttl(
            TrackedKey::new(c, id),
            TrackedVal::new(c, id),
            Duration::from_millis(10),
        );
    }
    mock.increment(Duration::from_millis(20));
    for id in 0..100 {
        put(&cache, c, id, id + 500);
    }
    for id in 0..100 {
        assert_eq!(value_id(&cache, id), Some(id + 500));
    }
    let stats = cache.stats();
    assert_eq!(stats.expirations, 100, "{stats:?}");
    assert_eq!(stats.inserts, 200, "{stats:?}");
    assert_eq!(cache.len(), 100);
    drop(cache);
    c.assert_balanced();
}

// Proves that `clear` drops every entry once, and the cache stays usable.
#[test]
fn clear() {
    let c = Counters::new();
    let cache = TCache::new(200);
    for id in 0..100 {
        put(&cache, c, id, id);
    }
    cache.clear();
    assert_eq!(cache.len(), 0);
    assert_eq!(cache.iter().count(), 0);
    for id in 0..20 {
        put(&cache, c, id, id);
    }
    assert_eq!(cache.len(), 20);
    drop(cache);
    c.assert_balanced();
}

// Proves that entries removed by `retain` (and expired ones it reclaims on
// the way) are dropped once.
#[test]
fn retain() {
    let c = Counters::new();
    let (cache, mock) = mock_cache(500, None);
    for id in 0..100 {
        put(&cache, c, id, id);
    }
    for id in 100..120 {
        cache.insert_with_ttl(
            TrackedKey::new(c, id),
            TrackedVal::new(c, id),
            Duration::from_millis(10),
        );
    }
    mock.increment(Duration::from_millis(20));
    let removed = cache.retain(|k, v| {
        assert!(k.id < 100, "retain offered expired key {}", k.id);
        assert_eq!(k.id, v.id);
        k.id % 2 == 0
    });
    assert_eq!(removed, 50);
    assert_eq!(cache.len(), 50);
    let stats = cache.stats();
    assert_eq!((stats.removals, stats.expirations), (50, 20), "{stats:?}");
    drop(cache);
    c.assert_balanced();
}

// Proves that values removed by `invalidate_pattern` (glob walk and literal
// fast path) are dropped once.
#[test]
fn invalidate_pattern() {
    let c = Counters::new();
    let cache: Cache<String, TrackedVal> = Cache::new(500);
    for id in 0..50 {
        cache.insert(format!("user:{id}"), TrackedVal::new(c, id));
        cache.insert(format!("session:{id}"), TrackedVal::new(c, id));
    }
    assert_eq!(cache.invalidate_pattern("user:*"), 50);
    assert_eq!(cache.invalidate_pattern("session:7"), 1);
    assert_eq!(cache.invalidate_pattern("session:7"), 0);
    assert_eq!(cache.invalidate_pattern("session:1?"), 10);
    assert_eq!(cache.len(), 39);
    assert_eq!(cache.get("session:3").map(|v| v.id), Some(3));
    drop(cache);
    c.assert_balanced();
}

/// Four threads insert, overwrite, remove, get, race `get_or_insert_with`,
/// expire (mock clock), retain and evict on a cache of `capacity` over 128
/// keys; then every object must be dropped exactly once.
fn multi_threaded_scenario(capacity: usize) {
    const T: u64 = 4;
    // Few operations under Miri, which interleaves the threads on one core
    // (checking every access for data races) at a few dozen operations a
    // second.
    const OPS: u64 = if cfg!(miri) { 150 } else { 20_000 };
    const KEYS: u64 = 128;
    let c = Counters::new();
    let (cache, mock) = mock_cache(capacity, None);
    thread::scope(|s| {
        for t in 0..T {
            let (cache, mock) = (&cache, &mock);
            s.spawn(move || {
                let mut x = t.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                for i in 0..OPS {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let id = x % KEYS;
                    match (x >> 32) % 100 {
                        0..=34 => put(cache, c, id, id),
                        35..=49 => cache.insert_with_ttl(
                            TrackedKey::new(c, id),
                            TrackedVal::new(c, id),
                            Duration::from_micros(100 + (x >> 40) % 500),
                        ),
                        50..=69 => {
                            if let Some(v) = cache.get(&id) {
                                assert_eq!(v.id, id);
                            }
                        }
                        70..=79 => {
                            if let Some(v) = cache.remove(&id) {
                                assert_eq!(v.id, id);
                            }
                        }
                        80..=94 => {
                            let v = cache.get_or_insert_with(TrackedKey::new(c, id), || {
                                TrackedVal::new(c, id)
                            });
                            assert_eq!(v.id, id);
                        }
                        95..=97 => {
                            let _ = cache.view(&id, |v| v.id) == Some(id);
                        }
                        98 => {
                            cache.retain(|k, v| k.id == v.id && (k.id + i) % 5 != 0);
                        }
                        _ => {
                            mock.increment(Duration::from_micros(200));
                            cache.purge_expired();
                        }
                    }
                }
            });
        }
    });
    assert!(cache.stats().evictions > 0);
    drop(cache);
    c.assert_balanced();
}

// Proves that under concurrent inserts, overwrites, removes, gets,
// get_or_insert_with races, TTL expiry, retain and eviction on a small cache,
// every key and value is still dropped exactly once.
#[test]
fn multi_threaded() {
    multi_threaded_scenario(32);
}

// Same on a cache of capacity 4 (a single bucket): constant eviction races
// and inserters finding every slot taken.
#[test]
fn multi_threaded_tiny_cache() {
    multi_threaded_scenario(4);
}

// Proves that dropping a clone leaves the entries alone, that the last
// handle (here an iterator) frees every linked entry at once, exactly once.
#[test]
fn drop_cache_holding_entries() {
    let c = Counters::new();
    let cache = TCache::new(100);
    for id in 0..50 {
        put(&cache, c, id, id);
    }
    // Nothing was overwritten or removed: all 100 objects are linked.
    assert_eq!(c.alive(), 100);
    let clone = cache.clone();
    assert_eq!(value_id(&clone, 3), Some(3));
    drop(clone);
    assert_eq!(c.alive(), 100, "dropping a clone dropped entries");
    assert_eq!(value_id(&cache, 4), Some(4));

    // An iterator keeps the store alive after the cache handle is gone.
    let mut iter = cache.iter();
    drop(cache);
    assert_eq!(c.alive(), 100);
    let (k, v) = iter.next().expect("an entry");
    assert_eq!(k.id, v.id);
    drop((k, v));
    assert_eq!(c.alive(), 100);
    drop(iter);
    // Linked entries are freed by the last handle itself, not by the
    // epoch collector.
    assert_eq!(c.alive(), 0, "entries still alive after the last handle");
    c.assert_balanced();
}

// Proves that a zero-capacity cache drops everything it is given at once.
#[test]
fn zero_capacity() {
    let c = Counters::new();
    let cache = TCache::new(0);
    for id in 0..10 {
        put(&cache, c, id, id);
        let v = cache.get_or_insert_with(TrackedKey::new(c, id), || TrackedVal::new(c, id));
        assert_eq!(v.id, id);
        drop(v);
        assert_eq!(value_id(&cache, id), None);
        assert_eq!(c.alive(), 0);
    }
    assert_eq!(cache.len(), 0);
    drop(cache);
    c.assert_balanced();
}
