//! A small workout of the cache's unsafe core (the zeroed bucket table,
//! epoch-protected node pointers, retirement, eviction, expiry, overflow
//! runs) sized for Miri:
//!
//! ```sh
//! MIRIFLAGS="-Zmiri-tree-borrows -Zmiri-ignore-leaks" \
//!   cargo +nightly miri test -p loom-tests --test miri_smoke
//! ```
//!
//! Every cache here runs on `quanta::Clock::mock()`: `Clock::new()` executes
//! `cpuid` (inline assembly), which Miri cannot run. It also runs (fast) in
//! normal builds.
#![cfg(not(clockcache_loom))]

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use clockcache::quanta::{Clock, Mock};
use clockcache::Cache;

fn mock_cache<K, V, S>(cap: usize, shards: usize, hasher: S) -> (Cache<K, V, S>, Arc<Mock>)
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: BuildHasher,
{
    let (clock, mock) = Clock::mock();
    let c = Cache::<K, V>::builder()
        .max_capacity(cap)
        .shards(shards)
        .clock(clock)
        .hasher(hasher)
        .build();
    (c, mock)
}

/// Every key hashes alike: one tag, two candidate buckets, an overflow run.
#[derive(Clone, Copy, Default)]
struct Colliding;
struct CollidingHasher;
impl Hasher for CollidingHasher {
    fn finish(&self) -> u64 {
        0x1234_5678_9abc_def1
    }
    fn write(&mut self, _: &[u8]) {}
}
impl BuildHasher for Colliding {
    type Hasher = CollidingHasher;
    fn build_hasher(&self) -> CollidingHasher {
        CollidingHasher
    }
}

#[test]
fn single_thread_life_cycle() {
    let (c, mock) = mock_cache::<String, Vec<u8>, _>(8, 2, ahash_free_state());
    for i in 0..12u8 {
        c.insert(format!("k{i}"), vec![i; 3]);
    }
    assert!(c.len() <= 8);
    c.insert("k11".into(), vec![0; 5]);
    assert_eq!(c.get("k11").map(|v| v.len()), Some(5));
    c.insert_with_ttl("t".into(), vec![1], Duration::from_millis(5));
    mock.increment(Duration::from_millis(6));
    assert_eq!(c.get("t"), None);
    assert!(c.remove("k11").is_some());
    assert_eq!(c.iter().count(), c.len());
    let removed = c.retain(|k, _| k.ends_with('1'));
    assert!(removed <= 8);
    assert_eq!(c.invalidate_pattern("k*"), c.iter().count());
    c.insert("z".into(), vec![9]);
    c.purge_expired();
    c.clear();
    assert_eq!(c.len(), 0);
    c.insert("again".into(), vec![1, 2]);
    drop(c);
}

#[test]
fn counters_and_get_or_insert() {
    let (c, _mock) = mock_cache::<u32, String, _>(4, 1, ahash_free_state());
    assert_eq!(c.incr(1, 5, 0, None), Ok(5));
    assert_eq!(c.decr(1, 2, 0, None), Ok(3));
    assert_eq!(c.get(&1).as_deref(), Some("3"));
    assert_eq!(c.get_or_insert_with(2, || "x".into()), "x");
    assert_eq!(c.get_or_insert_with(2, || "y".into()), "x");
    for k in 3..10 {
        c.incr(k, 1, 0, None).unwrap();
    }
    assert!(c.len() <= 4);
}

/// 13 colliding keys in a 4-bucket table: the last one is displaced into
/// the overflow run; removing from a candidate bucket and from the run.
#[test]
fn overflow_run() {
    let (c, _mock) = mock_cache::<u32, u32, _>(16, 1, Colliding);
    for k in 0..14 {
        c.insert(k, k);
    }
    for k in 0..14 {
        assert_eq!(c.get(&k), Some(k));
    }
    assert_eq!(c.remove(&0), Some(0));
    assert_eq!(c.remove(&13), Some(13));
    assert_eq!(c.get(&12), Some(12));
    c.insert(20, 20);
    assert_eq!(c.get(&20), Some(20));
    assert_eq!(c.iter().count(), c.len());
}

/// Two threads overwrite, read, remove and evict on a tiny cache.
#[test]
fn two_threads() {
    let (c, mock) = mock_cache::<u32, String, _>(3, 1, ahash_free_state());
    let c2 = c.clone();
    let t = thread::spawn(move || {
        for i in 0..20u64 {
            c2.insert((i % 5) as u32, i.to_string());
            if i % 4 == 0 {
                c2.remove(&((i % 3) as u32));
            }
        }
    });
    for i in 0..20u64 {
        if let Some(v) = c.get(&((i % 5) as u32)) {
            assert!(v.parse::<u64>().is_ok_and(|n| n < 20), "{v}");
        }
        if i == 10 {
            c.insert_with_ttl(9, "9".into(), Duration::from_millis(1));
            mock.increment(Duration::from_millis(2));
        }
        c.incr(7, 1, 0, None).unwrap();
    }
    t.join().unwrap();
    c.purge_expired();
    assert!(c.len() <= 3);
    assert_eq!(c.iter().count(), c.len());
}

/// A deterministic hasher (no process-random seed, so Miri runs repeat).
fn ahash_free_state() -> std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher> {
    Default::default()
}
