//! Micro benchmarks of the core `Cache` operations, single-threaded, so that
//! regressions show up in `cargo bench`:
//!
//! * `get/hit`, `get/miss`, `get/hit_str` (a `String`-keyed cache read with a
//!   `&str`), `get/hit_ttl` (entries with a TTL on a mock clock: the deadline
//!   check included) and `get/expired` (the entry has expired: the get
//!   reports a miss and unlinks it);
//! * `insert/new_evicting` (a new key into a full cache: one eviction per
//!   insert) and `insert/overwrite` (an existing key);
//! * `incr` (an existing counter) and `remove` (a present key);
//! * `batch/get_each` and `batch/under_one_pin`: 64 gets of scattered keys
//!   in a cache of 131 072 entries (more than the CPU's L2 holds), one call
//!   each, and the same through one [`Cache::pin`] handle.
//!
//! `u64 -> u64` unless noted, capacity 65 536, 16 384 resident keys cycled
//! through (scrambled, so they spread over the table). All setup (filling,
//! inserting the keys a `remove` or `get/expired` batch consumes, advancing
//! the mock clock) runs outside the timed region: those benches use
//! `iter_custom` and time only the operation. Results are criterion's
//! estimates; nothing asserts on them.
//!
//! ```sh
//! cargo bench --bench core                                           # ~1 minute
//! cargo bench --bench core -- --warm-up-time 1 --measurement-time 2  # quicker
//! cargo bench --bench core -- get/                                   # one group
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use clockcache::quanta::Clock;
use clockcache::Cache;
use criterion::{criterion_group, criterion_main, Criterion};

/// Capacity of every cache here.
const CAP: usize = 1 << 16;
/// Resident keys cycled through by the hit benches (a power of two).
const KEYS: usize = 1 << 14;

/// splitmix64 finaliser: a bijection, so distinct inputs stay distinct keys.
fn scramble(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn keys(offset: u64) -> Vec<u64> {
    (0..KEYS as u64).map(|i| scramble(offset + i)).collect()
}

fn filled() -> (Cache<u64, u64>, Vec<u64>) {
    let cache = Cache::new(CAP);
    let ks = keys(0);
    for &k in &ks {
        cache.insert(k, k);
    }
    (cache, ks)
}

fn get(c: &mut Criterion) {
    let mut g = c.benchmark_group("get");

    let (cache, ks) = filled();
    let mut i = 0;
    g.bench_function("hit", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            black_box(cache.get(black_box(&ks[i])))
        })
    });

    let absent = keys(1 << 40);
    let mut i = 0;
    g.bench_function("miss", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            black_box(cache.get(black_box(&absent[i])))
        })
    });
    drop(cache);

    let strings: Cache<String, u64> = Cache::new(CAP);
    let names: Vec<String> = ks.iter().map(|k| format!("user:{k:016x}")).collect();
    for (n, &k) in names.iter().zip(&ks) {
        strings.insert(n.clone(), k);
    }
    let mut i = 0;
    g.bench_function("hit_str", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            black_box(strings.get(black_box(names[i].as_str())))
        })
    });
    drop(strings);

    let (clock, _mock) = Clock::mock();
    let ttl_cache: Cache<u64, u64> = Cache::builder().max_capacity(CAP).clock(clock).build();
    for &k in &ks {
        ttl_cache.insert_with_ttl(k, k, Duration::from_secs(3600));
    }
    let mut i = 0;
    g.bench_function("hit_ttl", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            black_box(ttl_cache.get(black_box(&ks[i])))
        })
    });
    drop(ttl_cache);

    // Each timed get finds an expired entry (and unlinks it), so every batch
    // inserts fresh entries and advances the mock clock past their TTL first.
    let (clock, mock) = Clock::mock();
    let cache: Cache<u64, u64> = Cache::builder().max_capacity(CAP).clock(clock).build();
    let mut next = 0u64;
    g.bench_function("expired", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(KEYS as u64);
                left -= n;
                let batch: Vec<u64> = (next..next + n).map(scramble).collect();
                next += n;
                for &k in &batch {
                    cache.insert_with_ttl(k, k, Duration::from_secs(1));
                }
                mock.increment(Duration::from_secs(2));
                let t = Instant::now();
                for k in &batch {
                    black_box(cache.get(black_box(k)));
                }
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
}

fn insert(c: &mut Criterion) {
    let mut g = c.benchmark_group("insert");

    // A full cache: every new key evicts one entry.
    let cache: Cache<u64, u64> = Cache::new(CAP);
    for i in 0..CAP as u64 {
        cache.insert(scramble(i), i);
    }
    let mut next = CAP as u64;
    g.bench_function("new_evicting", |b| {
        b.iter(|| {
            let k = scramble(next);
            next += 1;
            cache.insert(black_box(k), next);
        })
    });
    drop(cache);

    let (cache, ks) = filled();
    let mut i = 0;
    g.bench_function("overwrite", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            cache.insert(black_box(ks[i]), i as u64);
        })
    });
    g.finish();
}

fn incr(c: &mut Criterion) {
    let cache: Cache<u64, i64> = Cache::new(CAP);
    let ks = keys(0);
    for &k in &ks {
        cache.insert(k, 0);
    }
    let mut i = 0;
    c.bench_function("incr", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            black_box(cache.incr(black_box(ks[i]), 1, 0, None))
        })
    });
}

fn remove(c: &mut Criterion) {
    // Each timed remove finds its key: every batch inserts fresh keys first.
    let cache: Cache<u64, u64> = Cache::new(CAP);
    let mut next = 0u64;
    c.bench_function("remove", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(KEYS as u64);
                left -= n;
                let batch: Vec<u64> = (next..next + n).map(scramble).collect();
                next += n;
                for &k in &batch {
                    cache.insert(k, k);
                }
                let t = Instant::now();
                for k in &batch {
                    black_box(cache.remove(black_box(k)));
                }
                total += t.elapsed();
            }
            total
        })
    });
}

/// Sum of the values of `keys` (0 for a miss), one `get` each.
fn sum_of_gets(cache: &Cache<u64, u64>, keys: &[u64]) -> u64 {
    keys.iter()
        .map(|k| cache.get(k).unwrap_or(0))
        .fold(0, u64::wrapping_add)
}

/// 64 gets per iteration over 131 072 resident keys, in scrambled order, so
/// that most lines come from beyond the L2. Without a pin handle every get's
/// epoch pin is a full fence, which keeps one get's misses from overlapping
/// the next's.
fn batch(c: &mut Criterion) {
    const BIG: usize = 1 << 17;
    const BATCH: usize = 64;
    let cache: Cache<u64, u64> = Cache::new(BIG);
    let ks: Vec<u64> = (0..BIG as u64).map(scramble).collect();
    for &k in &ks {
        cache.insert(k, k);
    }
    // Looked up in another order than inserted, so that neither the buckets
    // nor the nodes (allocated in insertion order) are read sequentially.
    let ks: Vec<u64> = (0..BIG as u64)
        .map(|i| ks[scramble(!i) as usize & (BIG - 1)])
        .collect();
    let mut g = c.benchmark_group("batch");
    let mut at = 0;
    let mut next = move || {
        at = (at + BATCH) & (BIG - 1);
        at
    };
    g.bench_function("get_each", |b| {
        b.iter(|| {
            let s = next();
            black_box(sum_of_gets(&cache, &ks[s..s + BATCH]))
        })
    });
    g.bench_function("under_one_pin", |b| {
        b.iter(|| {
            let s = next();
            black_box(sum_of_gets(&cache.pin(), &ks[s..s + BATCH]))
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = get, insert, incr, remove, batch
}
criterion_main!(benches);
