//! Behaviour of the eviction policy that plain CLOCK or LRU would not show:
//! scan resistance (S3-FIFO's probation) and loop resistance (fill-phase
//! admission to main). Single-threaded, small, deterministic up to the hash
//! seed; the bounds leave wide margins.

use clockcache::Cache;

// The replay harness's key generators (`zipf`), shared with the benches.
#[path = "../benches/common/hit_ratio.rs"]
mod hit_ratio;

/// A hot set that was used survives a long scan of keys seen once.
#[test]
fn a_scan_does_not_flush_the_hot_set() {
    let cap = 1_000u64;
    let c: Cache<u64, u64> = Cache::new(cap as usize);
    for k in 0..cap {
        c.insert(k, k);
    }
    for _ in 0..2 {
        for k in 0..cap {
            assert!(c.get(&k).is_some());
        }
    }
    // Ten capacities of keys that are never asked for again.
    for k in 1_000_000..1_000_000 + 10 * cap {
        if c.get(&k).is_none() {
            c.insert(k, k);
        }
    }
    // LRU and plain CLOCK keep none of them (each scan key is newer than
    // every hot key); clockcache keeps about three quarters: some hot keys
    // are evicted between a new key's two candidate buckets, or to make room
    // for the probes and the keys the ghost admits while the door is closed.
    let kept = (0..cap).filter(|k| c.contains_key(k)).count() as u64;
    println!("{kept} of {cap} hot keys kept");
    assert!(
        kept >= cap / 2,
        "only {kept} of {cap} hot keys survived the scan"
    );
    assert!(c.len() <= cap as usize);
}

/// A loop over more keys than fit: LRU (and plain CLOCK) hit nothing, because
/// each key is evicted just before it comes back; clockcache keeps the keys
/// that filled it and hits those on every pass.
#[test]
fn a_loop_larger_than_the_cache_still_hits() {
    let cap = 1_000u64;
    let c: Cache<u64, u64> = Cache::new(cap as usize);
    let (mut hits, mut requests) = (0u64, 0u64);
    for _ in 0..20 {
        for k in 0..cap * 3 / 2 {
            requests += 1;
            if c.get(&k).is_some() {
                hits += 1;
            } else {
                c.insert(k, k);
            }
        }
    }
    // The ceiling is 1000 / 1500 per pass (OPT); LRU gets 0.
    assert!(
        hits * 100 >= requests * 40,
        "loop hit ratio {hits}/{requests} is below 40%"
    );
}

/// Keys evicted from probation that come back soon are admitted as hot.
///
/// A working set of half the capacity is revisited in passes, with one key
/// never seen again after every two of its keys. Between two visits of a
/// working-set key come 250 new keys, far more than probation holds, so
/// each key is evicted from probation unread on its first visit; only the
/// ghost's memory of it lets the second visit admit it to main, where it
/// stays. Without the ghost no pass would hit (and plain CLOCK or LRU would
/// keep it only by luck).
#[test]
fn returning_keys_are_remembered() {
    let cap = 1_000u64;
    let c: Cache<u64, u64> = Cache::new(cap as usize);
    // Fill with keys that are never used again.
    for k in 0..cap {
        c.insert(k, k);
    }
    let ws: Vec<u64> = (10_000..10_000 + cap / 2).collect();
    let mut fresh = 1_000_000u64;
    let mut last_pass_hits = 0;
    for _ in 0..6 {
        last_pass_hits = 0;
        for (i, &k) in ws.iter().enumerate() {
            if c.get(&k).is_some() {
                last_pass_hits += 1;
            } else {
                c.insert(k, k);
            }
            if i % 2 == 1 {
                fresh += 1;
                if c.get(&fresh).is_none() {
                    c.insert(fresh, fresh);
                }
            }
        }
    }
    // Observed 427–500 of 500 over 60 hash seeds (a few keys share a
    // bucket pair with hotter ones and lose the local eviction); 0 without
    // the ghost.
    assert!(
        last_pass_hits * 4 >= ws.len() * 3,
        "only {last_pass_hits} of {} working-set keys hit on the last pass",
        ws.len()
    );
}

/// Fills a cache of capacity `cap` and then inserts `n` fresh keys that are
/// never read: probation yields nothing, so the admission door closes.
fn flood(c: &Cache<u64, u64>, cap: u64, n: u64) {
    for k in 0..cap {
        c.insert(k, k);
    }
    for k in 1_000_000..1_000_000 + n {
        if c.get(&k).is_none() {
            c.insert(k, k);
        }
    }
}

/// Once new keys stop being read again, a full cache turns a new key away
/// on its first insert and stores it when it keeps coming back (on its
/// third insert: the door's sketch counts the first turn-away, the ghost
/// remembers the second); counters and
/// overwrites are always stored.
#[test]
fn the_door_closes_on_one_hit_wonders_and_admits_returning_keys() {
    let cap = 1_000u64;
    let c: Cache<u64, u64> = Cache::new(cap as usize);
    flood(&c, cap, 50 * cap);
    let s = c.stats();
    assert!(
        s.rejections > 10 * cap,
        "the door never closed: {s:?} (one-hit wonders kept being stored)"
    );
    assert!(c.len() <= cap as usize);
    // A fresh key that is turned away is stored when it comes back.
    let turned_away = (2_000_000..2_001_000u64)
        .find(|&k| {
            c.insert(k, k);
            !c.contains_key(&k)
        })
        .expect("no fresh key was turned away with the door closed");
    // The sketch counted that turn-away, so the next one is remembered in
    // the ghost and the insert after it is stored: by the second insert
    // from here at the latest (the first, if another key had already set
    // this key's counters). The bound leaves one insert to spare, for a
    // halving of the sketch between two inserts.
    let tries = (1..=10)
        .find(|_| {
            c.insert(turned_away, 7);
            c.get(&turned_away).is_some()
        })
        .expect("a key that kept coming back was turned away 10 times");
    assert!(tries <= 3, "stored only after {tries} more inserts");
    assert_eq!(c.get(&turned_away), Some(7));
    // Counters are never turned away, nor overwrites of existing entries.
    for k in 3_000_000..3_000_100u64 {
        assert_eq!(c.incr(k, 1, 10, None), Ok(11));
        assert_eq!(c.get(&k), Some(11), "counter {k} was not stored");
    }
    let resident = (1_000_000..1_000_000 + 50 * cap)
        .find(|k| c.contains_key(k))
        .expect("some flooded key is cached");
    c.insert(resident, 42);
    assert_eq!(c.get(&resident), Some(42), "an overwrite was turned away");
}

/// When new keys are read soon after they are inserted (sessions, a
/// request's working set), the door stays open: every new key is stored.
#[test]
fn the_door_stays_open_while_new_keys_are_read_again() {
    let cap = 1_000u64;
    let c: Cache<u64, u64> = Cache::new(cap as usize);
    for k in 0..50 * cap {
        if c.get(&k).is_none() {
            c.insert(k, k);
        }
        // Each key is read again 50 requests later, as in the corda trace.
        if k >= 50 {
            c.get(&(k - 50));
        }
    }
    let s = c.stats();
    assert_eq!(s.rejections, 0, "{s:?}");
    assert!(s.hit_ratio() > 0.45, "{s:?}");
    // After a phase of one-hit wonders closes it, recency opens it again.
    flood(&c, 0, 50 * cap);
    assert!(c.stats().rejections > 0);
    let before = c.stats().rejections;
    for k in 10_000_000..10_000_000 + 50 * cap {
        if c.get(&k).is_none() {
            c.insert(k, k);
        }
        if k >= 10_000_050 {
            c.get(&(k - 50));
        }
    }
    let late = (10_000_000 + 49 * cap..10_000_000 + 50 * cap)
        .filter(|k| c.contains_key(k))
        .count();
    assert!(
        late as u64 > cap * 9 / 10,
        "only {late} of the last {cap} new keys are cached ({} turned away since the flood)",
        c.stats().rejections - before
    );
}

/// A long random workload on a small cache with many keys (the door closes
/// and opens along the way): the door only ever turns away keys that have
/// no entry, never an overwrite, and a cached value is always the last one
/// written for its key.
#[test]
fn the_door_never_loses_an_overwrite_or_a_stale_value_shows() {
    use std::collections::HashMap;
    let c: Cache<u64, u64> = Cache::new(500);
    let mut last: HashMap<u64, u64> = HashMap::new();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut rng = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut rejected, mut overwrites) = (0u64, 0u64);
    for i in 0..300_000u64 {
        let r = rng();
        // Phases: a wide key space (one-hit wonders, the door closes), then
        // a narrow one that is read again soon (it opens).
        let keys = if (i / 50_000) % 2 == 0 { 100_000 } else { 800 };
        let k = r % keys;
        match (r >> 40) % 4 {
            0..=1 => {
                if let Some(v) = c.get(&k) {
                    assert_eq!(Some(&v), last.get(&k), "stale value for {k}");
                }
            }
            2 => {
                let existed = c.contains_key(&k);
                let before = c.stats().rejections;
                c.insert(k, i);
                last.insert(k, i);
                if c.stats().rejections > before {
                    assert!(!existed, "the door turned away an overwrite of {k}");
                    assert!(!c.contains_key(&k), "a turned-away key {k} is cached");
                    rejected += 1;
                } else if existed {
                    overwrites += 1;
                    assert_eq!(c.get(&k), Some(i), "an overwrite of {k} was lost");
                }
            }
            _ => {
                if c.remove(&k).is_some() {
                    assert!(last.contains_key(&k));
                }
            }
        }
        assert!(c.len() <= 500);
    }
    assert!(
        rejected > 1_000,
        "the door never closed ({rejected} rejections)"
    );
    assert!(overwrites > 1_000);
}

/// Get, and insert on a miss; returns the misses.
fn cache_aside(c: &Cache<u64, u64>, keys: &[u64]) -> u64 {
    let mut misses = 0;
    for &k in keys {
        if c.get(&k).is_none() {
            misses += 1;
            c.insert(k, k);
        }
    }
    misses
}

/// On a Zipf workload the door closes (the tail's new keys are almost never
/// read on probation), and a long read-only phase must not reopen it.
///
/// A regression: while the door was closed, the probation share kept
/// growing (the hill climber saw no change in the hit ratio and kept going)
/// to a quarter of the cache, so the probes stayed queued far longer than
/// newcomers had; during a read-only phase nothing leaves probation, the
/// queued probes got read, and the next review opened the door, which then
/// stayed open (newcomers on a probation that large are read just often
/// enough). The cache then stored every miss: a lower hit ratio, and half
/// the cache-aside throughput in the comparison benchmark, which runs a
/// read-only mix before the others. Before the fix (commit 0bea4b4) this
/// failed on its first seed: 42% of the misses turned away, not about 80%.
#[test]
fn a_read_only_phase_does_not_reopen_the_door() {
    let cap = 100_000;
    let warm = hit_ratio::zipf(1_000_000, 0.99, 40 * cap, 42);
    let later = hit_ratio::zipf(1_000_000, 0.99, 40 * cap, 7);
    for seed in 1..=3u64 {
        let c: Cache<u64, u64> = Cache::builder()
            .max_capacity(cap)
            .hasher(ahash::RandomState::with_seeds(seed, 2, 3, 4))
            .build();
        cache_aside(&c, &warm);
        assert!(c.stats().rejections > 0, "the door never closed");
        // Reads only: 200 capacities' worth, spread over the key stream.
        let mut hits = 0u64;
        for i in 0..200 * cap {
            hits += u64::from(c.get(&later[(i * 7) % later.len()]).is_some());
        }
        assert!(hits > 0);
        let before = c.stats().rejections;
        let misses = cache_aside(&c, &later[..5 * cap]);
        let rejected = c.stats().rejections - before;
        println!(
            "seed {seed}: {rejected} of {misses} misses turned away after the read-only phase"
        );
        assert!(
            rejected * 2 >= misses,
            "seed {seed}: the door reopened after a read-only phase: only {rejected} of {misses} misses turned away"
        );
    }
}
