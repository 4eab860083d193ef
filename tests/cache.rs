//! Single-threaded semantics of the core `Cache`: basic operations, capacity,
//! eviction, TTL (on a mock clock), counters, bulk operations, iteration and
//! statistics.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Duration;

use clockcache::quanta::Clock;
use clockcache::{Cache, CacheError, CacheStats};

fn mock_cache<K, V>(cap: usize) -> (Cache<K, V>, std::sync::Arc<clockcache::quanta::Mock>)
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    let (clock, mock) = Clock::mock();
    (
        Cache::builder().max_capacity(cap).clock(clock).build(),
        mock,
    )
}

// Basic insert / get / overwrite / remove / contains_key / len.
#[test]
fn basic_operations() {
    let c: Cache<String, u32> = Cache::new(100);
    assert!(c.is_empty());
    assert_eq!(c.capacity(), 100);
    c.insert("a".into(), 1);
    c.insert("b".into(), 2);
    assert_eq!(c.get("a"), Some(1));
    assert_eq!(c.get("b"), Some(2));
    assert_eq!(c.get("c"), None);
    assert_eq!(c.len(), 2);
    c.insert("a".into(), 10);
    assert_eq!(c.get("a"), Some(10));
    assert_eq!(c.len(), 2);
    assert!(c.contains_key("b"));
    assert_eq!(c.remove("b"), Some(2));
    assert_eq!(c.remove("b"), None);
    assert!(!c.contains_key("b"));
    assert_eq!(c.len(), 1);
    assert_eq!(c.view("a", |v| v * 2), Some(20));
    let c2 = c.clone();
    c2.insert("z".into(), 26);
    assert_eq!(c.get("z"), Some(26), "clones share one store");
}

// A zero-capacity cache is valid and stores nothing.
#[test]
fn zero_capacity_stores_nothing() {
    let c: Cache<u32, i64> = Cache::new(0);
    c.insert(1, 1);
    assert_eq!(c.get(&1), None);
    assert!(!c.contains_key(&1));
    assert_eq!(c.len(), 0);
    assert_eq!(c.incr(1, 5, 10, None), Ok(15));
    assert_eq!(c.get(&1), None);
    assert_eq!(c.get_or_insert_with(2, || 7), 7);
    assert_eq!(c.get(&2), None);
    assert_eq!(c.iter().count(), 0);
    assert_eq!(c.retain(|_, _| false), 0);
    assert_eq!(c.purge_expired(), 0);
    c.clear();
    assert_eq!(c.stats().evictions, 0);
}

/// Inserts `n` distinct keys into a cache of capacity `n` and checks that
/// nothing was evicted and everything is readable.
fn assert_holds_exactly(n: usize) {
    let c: Cache<u64, u64> = Cache::new(n);
    for k in 0..n as u64 {
        c.insert(k, k + 1);
    }
    assert_eq!(
        c.stats().evictions,
        0,
        "capacity {n} evicted before it was full"
    );
    assert_eq!(c.len(), n);
    for k in 0..n as u64 {
        assert_eq!(c.get(&k), Some(k + 1), "capacity {n} lost key {k}");
    }
}

// Capacity is global: N distinct keys fit in a cache of capacity N, for
// every N from 1 to 1000 and a geometric sweep up to 100 000 (under Miri,
// where an insert takes milliseconds: every N up to 24, then doubling up to
// 300).
#[test]
fn no_eviction_before_full() {
    let (dense, top, factor) = if cfg!(miri) {
        (24, 300, 2.0)
    } else {
        (1000, 100_000, 1.17)
    };
    for n in 1..=dense {
        assert_holds_exactly(n);
    }
    let mut n = dense as f64;
    while n < top as f64 {
        assert_holds_exactly(n as usize);
        n *= factor;
    }
    assert_holds_exactly(top);
}

// The same holds with more shards than sensible and with one shard.
#[test]
fn no_eviction_before_full_any_shard_count() {
    // Smaller caches under Miri (an insert takes milliseconds there).
    let sizes: &[usize] = if cfg!(miri) {
        &[1, 5, 6, 7, 63, 64, 100]
    } else {
        &[1, 5, 6, 7, 63, 64, 500, 4099]
    };
    for shards in [1, 2, 7, 64, 1024] {
        for &n in sizes {
            let c: Cache<u64, u64> = Cache::builder().max_capacity(n).shards(shards).build();
            for k in 0..n as u64 {
                c.insert(k, k);
            }
            assert_eq!(c.stats().evictions, 0, "n={n} shards={shards}");
            assert_eq!((0..n as u64).filter(|k| c.contains_key(k)).count(), n);
        }
    }
}

/// A hasher that sends every key to the same bucket.
#[derive(Default)]
struct Constant;
impl Hasher for Constant {
    fn finish(&self) -> u64 {
        0x5555_5555_5555_5555
    }
    fn write(&mut self, _: &[u8]) {}
}

// With every key hashing alike, entries probe far past their home bucket;
// removals must not hide the entries that probed past them.
#[test]
fn degenerate_hasher_probes_and_removes_correctly() {
    // Shorter chains under Miri: every lookup walks the whole run there too.
    const N: u32 = if cfg!(miri) { 60 } else { 600 };
    const OVER: u32 = if cfg!(miri) { 240 } else { 2000 };
    let c: Cache<u32, u32, BuildHasherDefault<Constant>> = Cache::builder()
        .max_capacity(N as usize)
        .hasher(BuildHasherDefault::<Constant>::default())
        .build();
    for k in 0..N {
        c.insert(k, k);
    }
    assert_eq!(c.stats().evictions, 0);
    for k in (0..N).step_by(2) {
        assert_eq!(c.remove(&k), Some(k));
    }
    for k in 0..N {
        assert_eq!(
            c.get(&k),
            if k % 2 == 1 { Some(k) } else { None },
            "key {k}"
        );
    }
    for k in (0..N).step_by(2) {
        c.insert(k, k + 1);
    }
    for k in 0..N {
        assert_eq!(c.get(&k), Some(if k % 2 == 1 { k } else { k + 1 }));
    }
    // Over capacity: eviction still works through long probe chains.
    for k in N..OVER {
        c.insert(k, k);
        assert!(c.len() <= N as usize);
    }
    assert_eq!(c.iter().count(), c.len());
}

// Small capacities: never more than capacity entries, evictions counted,
// and the newest key always present.
#[test]
fn small_capacities_evict() {
    let n: u64 = if cfg!(miri) { 150 } else { 1000 };
    for cap in [1usize, 2, 10, 63] {
        let c: Cache<u64, u64> = Cache::new(cap);
        for k in 0..n {
            c.insert(k, k);
            assert!(c.len() <= cap, "cap {cap}: len {}", c.len());
            assert_eq!(c.get(&k), Some(k), "cap {cap}: newest key {k} missing");
        }
        assert_eq!(c.len(), cap);
        assert_eq!(c.stats().evictions, n - cap as u64);
        assert_eq!(c.iter().count(), cap);
    }
}

// CLOCK keeps a frequently used key over keys seen once.
#[test]
fn clock_keeps_hot_entries() {
    let c: Cache<u64, u64> = Cache::builder().max_capacity(100).shards(1).build();
    c.insert(u64::MAX, 0);
    let rounds: u64 = if cfg!(miri) { 500 } else { 10_000 };
    let mut hot_hits = 0;
    for k in 0..rounds {
        if c.get(&u64::MAX).is_some() {
            hot_hits += 1;
        } else {
            c.insert(u64::MAX, 0);
        }
        c.insert(k, k);
    }
    assert!(
        hot_hits > rounds - rounds / 100,
        "hot key kept only {hot_hits} times"
    );
}

// TTL: invisible once expired, with the mock clock.
#[test]
fn ttl_expiry_with_mock_clock() {
    let (c, mock) = mock_cache::<&'static str, u32>(10);
    c.insert_with_ttl("a", 1, Duration::from_millis(100));
    c.insert("b", 2);
    mock.increment(Duration::from_millis(99));
    assert_eq!(c.get("a"), Some(1));
    assert!(c.contains_key("a"));
    mock.increment(Duration::from_millis(1));
    assert_eq!(c.get("a"), None);
    assert!(!c.contains_key("a"));
    assert_eq!(c.get("b"), Some(2));
    assert_eq!(c.iter().map(|(k, _)| k).collect::<Vec<_>>(), vec!["b"]);
    assert_eq!(c.stats().expirations, 1);
    assert_eq!(c.len(), 1, "lazy get reclaimed the expired entry");
}

// Overwriting replaces value and TTL; ZERO expires at once; MAX never.
#[test]
fn ttl_overwrite_zero_and_huge() {
    let (c, mock) = mock_cache::<u32, u32>(10);
    c.insert_with_ttl(1, 1, Duration::from_secs(1));
    c.insert(1, 2); // no TTL now
    mock.increment(Duration::from_secs(2));
    assert_eq!(c.get(&1), Some(2));
    c.insert_with_ttl(1, 3, Duration::from_secs(1));
    mock.increment(Duration::from_millis(1500));
    assert_eq!(c.get(&1), None);

    c.insert_with_ttl(2, 2, Duration::ZERO);
    assert_eq!(c.get(&2), None);
    assert!(!c.contains_key(&2));

    c.insert_with_ttl(3, 3, Duration::MAX);
    c.insert_with_ttl(4, 4, Duration::from_secs(u64::MAX));
    mock.increment(Duration::from_secs(100 * 365 * 24 * 3600));
    assert_eq!(c.get(&3), Some(3));
    assert_eq!(c.get(&4), Some(4));
}

// The builder's default TTL applies to insert, get_or_insert_with and new counters.
#[test]
fn default_ttl_from_builder() {
    let (clock, mock) = Clock::mock();
    let c: Cache<u32, i64> = Cache::builder()
        .max_capacity(10)
        .time_to_live(Duration::from_secs(10))
        .clock(clock)
        .build();
    c.insert(1, 1);
    c.get_or_insert_with(2, || 2);
    c.incr(3, 1, 0, None).unwrap();
    c.insert_with_ttl(4, 4, Duration::from_secs(100));
    mock.increment(Duration::from_secs(10));
    assert_eq!(c.get(&1), None);
    assert_eq!(c.get(&2), None);
    assert_eq!(c.get(&3), None);
    assert_eq!(c.get(&4), Some(4));
}

// purge_expired reclaims all expired entries and reports how many.
#[test]
fn purge_expired_counts() {
    let (c, mock) = mock_cache::<u32, u32>(1000);
    for k in 0..500 {
        c.insert_with_ttl(k, k, Duration::from_secs(if k % 2 == 0 { 1 } else { 60 }));
    }
    assert_eq!(c.purge_expired(), 0);
    mock.increment(Duration::from_secs(2));
    assert_eq!(c.len(), 500, "nothing reclaimed yet");
    assert_eq!(c.purge_expired(), 250);
    assert_eq!(c.len(), 250);
    assert_eq!(c.iter().count(), 250);
}

// Steady writes reclaim dead entries without purge_expired.
#[test]
fn writes_sweep_expired_entries() {
    // A tenth of the size under Miri (an insert takes milliseconds there).
    let n: u32 = if cfg!(miri) { 500 } else { 5000 };
    let (c, mock) = mock_cache::<u32, u32>(2 * n as usize);
    for k in 0..n {
        c.insert_with_ttl(k, k, Duration::from_secs(1));
    }
    mock.increment(Duration::from_secs(2));
    for k in n..n + n * 4 / 5 {
        c.insert(k, k);
    }
    // 4n/5 inserts sweep 4n/5 bucket visits: more than the whole table
    // (2n * 5/4 slots in buckets of 6).
    assert_eq!(c.len(), (n * 4 / 5) as usize, "expired entries piled up");
    assert_eq!(c.stats().expirations, u64::from(n));
}

// A full cache evicts expired entries before live ones.
#[test]
fn expired_entries_are_first_victims() {
    let (c, mock) = mock_cache::<u32, u32>(100);
    for k in 0..50 {
        c.insert_with_ttl(k, k, Duration::from_secs(1));
    }
    for k in 50..100 {
        c.insert(k, k);
    }
    mock.increment(Duration::from_secs(5));
    for k in 100..140 {
        c.insert(k, k);
    }
    for k in 50..140 {
        assert_eq!(
            c.get(&k),
            Some(k),
            "live key {k} evicted while expired ones remained"
        );
    }
    assert_eq!(c.stats().evictions, 0);
}

// Counters: defaults, TTL kept on existing counters, errors leave values alone.
#[test]
fn counters() {
    let (clock, mock) = Clock::mock();
    let c: Cache<&'static str, String> = Cache::builder().max_capacity(10).clock(clock).build();
    assert_eq!(c.incr("n", 5, 100, None), Ok(105));
    assert_eq!(c.decr("n", 10, 0, None), Ok(95));
    assert_eq!(c.get("n").as_deref(), Some("95"));

    // A fixed window: the TTL set at creation is not extended by later incrs.
    assert_eq!(c.incr("w", 1, 0, Some(Duration::from_secs(60))), Ok(1));
    mock.increment(Duration::from_secs(59));
    assert_eq!(c.incr("w", 1, 0, Some(Duration::from_secs(60))), Ok(2));
    assert_eq!(c.incr("w", 1, 0, None), Ok(3));
    mock.increment(Duration::from_secs(1));
    assert_eq!(c.get("w"), None);
    assert_eq!(
        c.incr("w", 1, 0, None),
        Ok(1),
        "expired counter restarts from default"
    );

    c.insert("s", "hello".into());
    assert_eq!(c.incr("s", 1, 0, None), Err(CacheError::NotAnInteger));
    assert_eq!(c.get("s").as_deref(), Some("hello"));

    c.insert("big", i64::MAX.to_string());
    assert_eq!(c.incr("big", 1, 0, None), Err(CacheError::Overflow));
    assert_eq!(c.get("big"), Some(i64::MAX.to_string()));
    assert_eq!(c.decr("x", i64::MIN, 0, None), Err(CacheError::Overflow));
    assert_eq!(c.get("x"), None);
    assert_eq!(c.decr("x", i64::MIN, -1, None), Ok(i64::MAX));
}

// Counters on integer and byte values, and unsigned underflow.
#[test]
fn counters_on_other_value_types() {
    let c: Cache<u8, Vec<u8>> = Cache::new(10);
    assert_eq!(c.incr(1, 42, 0, None), Ok(42));
    assert_eq!(c.get(&1), Some(b"42".to_vec()));
    c.insert(2, vec![0xff, 0xfe]);
    assert_eq!(c.incr(2, 1, 0, None), Err(CacheError::NotAnInteger));

    let u: Cache<u8, u32> = Cache::new(10);
    assert_eq!(u.decr(1, 1, 0, None), Err(CacheError::Overflow));
    assert_eq!(u.get(&1), None);
    u.insert(2, 7);
    assert_eq!(u.decr(2, 7, 0, None), Ok(0));
    assert_eq!(u.decr(2, 1, 0, None), Err(CacheError::Overflow));
    assert_eq!(u.get(&2), Some(0));
}

// get_or_insert_with runs init only when the key is absent.
#[test]
fn get_or_insert_with() {
    let c: Cache<u32, String> = Cache::new(10);
    let mut calls = 0;
    let v = c.get_or_insert_with(1, || {
        calls += 1;
        "one".into()
    });
    assert_eq!(v, "one");
    let v = c.get_or_insert_with(1, || {
        calls += 1;
        "uno".into()
    });
    assert_eq!(v, "one");
    assert_eq!(calls, 1);
}

// retain removes what the predicate rejects and reports the count.
#[test]
fn retain_and_clear() {
    let c: Cache<u32, u32> = Cache::new(1000);
    for k in 0..1000 {
        c.insert(k, k);
    }
    assert_eq!(c.retain(|k, _| k % 3 == 0), 666);
    assert_eq!(c.len(), 334);
    assert!(c.iter().all(|(k, v)| k % 3 == 0 && k == v));
    assert_eq!(c.stats().removals, 666);
    c.clear();
    assert!(c.is_empty());
    assert_eq!(c.iter().count(), 0);
    c.insert(5, 5);
    assert_eq!(c.get(&5), Some(5));
}

// invalidate_pattern follows fnmatch rules, including malformed patterns.
#[test]
fn invalidate_pattern() {
    let c: Cache<String, u32> = Cache::new(100);
    let keys = [
        "user:1",
        "user:22",
        "user:x",
        "session:1",
        "[odd",
        "a*b",
        "UsEr:1",
    ];
    let fill = || {
        for (i, k) in keys.iter().enumerate() {
            c.insert(k.to_string(), i as u32);
        }
    };
    fill();
    assert_eq!(c.invalidate_pattern("user:?"), 2);
    assert_eq!(c.invalidate_pattern("user:*"), 1);
    assert!(c.contains_key("UsEr:1"), "case-sensitive");
    assert_eq!(c.invalidate_pattern("[odd"), 1, "unclosed [ is literal");
    assert_eq!(c.invalidate_pattern("a[*]b"), 1);
    assert_eq!(c.invalidate_pattern("nothing"), 0);
    assert_eq!(c.invalidate_pattern(""), 0);
    assert_eq!(c.invalidate_pattern("[]"), 0);
    assert_eq!(c.invalidate_pattern("*"), 2);
    assert!(c.is_empty());
    fill();
    assert_eq!(c.invalidate_pattern("[!u]*"), 4);
    assert_eq!(c.invalidate_pattern("[a-z]*:[0-9]*"), 2);
    assert_eq!(c.len(), 1);
    assert!(c.contains_key("user:x"));
}

// iter yields every live entry exactly once.
#[test]
fn iter_yields_each_entry_once() {
    const N: u32 = if cfg!(miri) { 500 } else { 5000 };
    let c: Cache<u32, u32> = Cache::new(N as usize);
    for k in 0..N {
        c.insert(k, k * 2);
    }
    let mut seen = HashSet::new();
    for (k, v) in c.iter() {
        assert_eq!(v, k * 2);
        assert!(seen.insert(k), "key {k} yielded twice");
    }
    assert_eq!(seen.len(), N as usize);
}

// Statistics count each kind of event.
#[test]
fn stats_count_events() {
    let (c, mock) = mock_cache::<u32, u32>(2);
    c.insert(1, 1);
    c.insert(1, 2);
    c.insert_with_ttl(2, 2, Duration::from_secs(1));
    c.get(&1);
    c.get(&9);
    mock.increment(Duration::from_secs(1));
    c.get(&2);
    c.insert(3, 3);
    c.insert(4, 4);
    c.remove(&4);
    let s = c.stats();
    assert_eq!(
        s,
        CacheStats {
            hits: 1,
            misses: 2,
            inserts: 4,
            updates: 1,
            removals: 1,
            evictions: 1,
            expirations: 1,
            rejections: 0,
        }
    );
    assert_eq!(s.hit_ratio(), 1.0 / 3.0);
}

// Absurd capacities are clamped, not a panic or an abort.
#[test]
#[cfg_attr(miri, ignore)] // Miri writes all of the 3.6 GB table it allocates
fn huge_capacity_is_clamped() {
    let c: Cache<u64, u64> = Cache::new(usize::MAX);
    assert!(c.capacity() > 0 && c.capacity() <= clockcache::MAX_CAPACITY);
    c.insert(1, 1);
    assert_eq!(c.get(&1), Some(1));
}

/// A key type looked up through `Borrow<u64>`.
#[derive(Debug)]
struct Wrapped {
    id: u64,
    _note: &'static str,
}
impl PartialEq for Wrapped {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for Wrapped {}
impl std::hash::Hash for Wrapped {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}
impl std::borrow::Borrow<u64> for Wrapped {
    fn borrow(&self) -> &u64 {
        &self.id
    }
}

// Lookups through a `Borrow`ed type find the entry (regression: ahash
// specialises `hash_one` for primitives on nightly, so hashing must go
// through the `Hash` impl for key and borrowed form alike).
#[test]
fn lookups_through_borrow_match_the_key_hash() {
    let c: Cache<Wrapped, u64> = Cache::new(100);
    for id in 0..50 {
        c.insert(Wrapped { id, _note: "k" }, id * 2);
    }
    for id in 0..50u64 {
        assert_eq!(c.get(&id), Some(id * 2), "key {id}");
        assert!(c.contains_key(&id));
    }
    assert_eq!(c.remove(&7u64), Some(14));
}
