//! Regression test (real threads) for the eviction-debt livelock that the
//! loom model `remove_vs_evicting_insert` (loom-tests/tests/races.rs) and the
//! `concurrent` fuzz target found; fixed by bounding the repayment of excess
//! entries (`repay_excess` in src/cache.rs). Normal build (not loom):
//!
//! ```sh
//! cargo test --release --test regressions -- --nocapture
//! ```
//!
//! Capacity 1. One thread inserts keys that are already expired (TTL 0);
//! the other inserts new keys with `get_or_insert_with` (the input the fuzzer
//! minimised to: `a = [GetOrInsert(k5), GetOrInsert(k1), GetOrInsert(k0)]`,
//! `b = [InsertTtl(k3, 0), InsertTtl(k3, 0)]`), or removes while the other
//! inserts. When an entry is unlinked (expired, removed) but its
//! `occupancy.sub(1)` has not landed yet, an inserter whose own entry is the
//! only one left sees the cache full, finds nothing to evict, goes over
//! capacity, owed an eviction and then spun for ever in `add_new`'s
//! `while take_debt() { evict_or_owe(.., Some(own slot), ..) }` loop.
//!
//! A watchdog fails the test when one round takes longer than 10 s.
#![cfg(not(clockcache_loom))]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use clockcache::Cache;

/// Rounds per test; a few under Miri, which checks the two threads' accesses
/// for data races and UB but needs about a quarter of a second per round.
const ROUNDS: usize = if cfg!(miri) { 50 } else { 20_000 };

fn watchdog(progress: Arc<AtomicUsize>, what: &'static str) {
    thread::spawn(move || {
        let mut last = usize::MAX;
        let mut since = Instant::now();
        loop {
            thread::sleep(Duration::from_millis(500));
            let now = progress.load(Ordering::Relaxed);
            if now == usize::MAX {
                return;
            }
            if now != last {
                last = now;
                since = Instant::now();
            } else if since.elapsed() > Duration::from_secs(10) {
                eprintln!("{what}: round {now} made no progress for 10 s: livelock");
                std::process::exit(101);
            }
        }
    });
}

#[test]
fn expired_inserts_vs_get_or_insert_capacity_1() {
    let progress = Arc::new(AtomicUsize::new(0));
    watchdog(
        progress.clone(),
        "expired_inserts_vs_get_or_insert_capacity_1",
    );
    for round in 0..ROUNDS {
        progress.store(round, Ordering::Relaxed);
        let c: Cache<String, u64> = Cache::new(1);
        let b = Arc::new(Barrier::new(2));
        let (c2, b2) = (c.clone(), b.clone());
        let t = thread::spawn(move || {
            b2.wait();
            for _ in 0..2 {
                c2.insert_with_ttl("k3".to_string(), 0, Duration::ZERO);
            }
        });
        b.wait();
        for k in ["k5", "k1", "k0"] {
            c.get_or_insert_with(k.to_string(), || 1);
        }
        t.join().unwrap();
        assert!(
            c.len() <= 1,
            "round {round}: len {} over capacity 1",
            c.len()
        );
    }
    progress.store(usize::MAX, Ordering::Relaxed);
}

#[test]
fn remove_vs_evicting_insert_capacity_1() {
    let progress = Arc::new(AtomicUsize::new(0));
    watchdog(progress.clone(), "remove_vs_evicting_insert_capacity_1");
    for round in 0..ROUNDS {
        progress.store(round, Ordering::Relaxed);
        let c: Cache<u64, u64> = Cache::new(1);
        c.insert(1, 1);
        let b = Arc::new(Barrier::new(2));
        let (c2, b2) = (c.clone(), b.clone());
        let t = thread::spawn(move || {
            b2.wait();
            c2.remove(&1)
        });
        b.wait();
        c.insert(2, 2);
        t.join().unwrap();
        assert!(
            c.len() <= 1,
            "round {round}: len {} over capacity 1",
            c.len()
        );
    }
    progress.store(usize::MAX, Ordering::Relaxed);
}
