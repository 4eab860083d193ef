//! The async adapter's overhead: `get`, `set` and `incr` through
//! `Arc<dyn CacheBackend<u64>>` against the same calls on the core `Cache`.
//!
//! The memory backend's futures complete on their first poll, so they are
//! driven by a no-runtime executor (one `poll` with a no-op waker): what is
//! measured is the adapter (the closed-flag check, the boxed `async_trait`
//! future, the dynamic call), not a runtime. The adapter's cost per call is
//! the difference between the `backend` and `core` lines of a group, and is
//! measured directly by the `adapter_overhead` group: it alternates short
//! runs of the core call and of the backend call on the same keys (which
//! runs first alternates too) and reports the backend's extra time per call,
//! so machine load that drifts between the plain groups' runs cancels out.
//!
//! ```sh
//! cargo bench --bench backend -- --warm-up-time 1 --measurement-time 3
//! ```

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use clockcache::{Cache, CacheBackend, MemoryCacheBackend};
use criterion::{criterion_group, criterion_main, Criterion};

/// Distinct keys cycled through (a power of two).
const KEYS: usize = 1 << 14;

/// Drives a future that completes without waiting: poll with a no-op waker
/// until ready (the memory backend's futures are ready on the first poll).
fn run<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn keys() -> Vec<String> {
    (0..KEYS).map(|i| format!("user:{i:08}")).collect()
}

/// One cache, filled, seen both directly and through the adapter.
fn setup() -> (Cache<String, u64>, Arc<dyn CacheBackend<u64>>, Vec<String>) {
    let cache: Cache<String, u64> = Cache::new(KEYS * 4);
    let keys = keys();
    for (i, k) in keys.iter().enumerate() {
        cache.insert(k.clone(), i as u64);
    }
    let backend: Arc<dyn CacheBackend<u64>> = Arc::new(MemoryCacheBackend::from(cache.clone()));
    (cache, backend, keys)
}

fn bench_get(c: &mut Criterion) {
    let (cache, backend, keys) = setup();
    let mut g = c.benchmark_group("get_hit");
    let mut i = 0;
    g.bench_function("core", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            black_box(cache.get(keys[i].as_str()))
        })
    });
    g.bench_function("backend", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            black_box(run(backend.get(keys[i].as_str())))
        })
    });
    g.finish();

    let mut g = c.benchmark_group("get_miss");
    g.bench_function("core", |b| b.iter(|| black_box(cache.get("absent"))));
    g.bench_function("backend", |b| {
        b.iter(|| black_box(run(backend.get("absent"))))
    });
    g.finish();
}

fn bench_set(c: &mut Criterion) {
    let (cache, backend, keys) = setup();
    let mut g = c.benchmark_group("set_overwrite");
    let mut i = 0;
    // Both allocate the owned key, as the core's `insert` needs one.
    g.bench_function("core", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            cache.insert(black_box(keys[i].as_str()).to_owned(), i as u64)
        })
    });
    g.bench_function("backend", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            black_box(run(backend.set(
                black_box(keys[i].as_str()),
                i as u64,
                None,
            )))
        })
    });
    g.finish();
}

fn bench_incr(c: &mut Criterion) {
    let (cache, backend, keys) = setup();
    let mut g = c.benchmark_group("incr");
    let mut i = 0;
    g.bench_function("core", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            black_box(cache.incr(black_box(keys[i].as_str()).to_owned(), 1, 0, None))
        })
    });
    g.bench_function("backend", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            black_box(run(backend.incr(black_box(keys[i].as_str()), 1, 0, None)))
        })
    });
    g.finish();
}

/// Runs `iters` calls of each of `core(i)` and `backend(i)` in alternating
/// chunks over the same key indices and returns the backend's extra time
/// (at least 1 ns in all).
fn extra_time(iters: u64, mut core: impl FnMut(usize), mut backend: impl FnMut(usize)) -> Duration {
    const CHUNK: u64 = 64;
    let (mut t_core, mut t_backend) = (Duration::ZERO, Duration::ZERO);
    let (mut done, mut start) = (0, 0);
    let time = |f: &mut dyn FnMut(usize), n: u64, start: usize| {
        let t = Instant::now();
        for k in 0..n as usize {
            f((start + k) & (KEYS - 1));
        }
        t.elapsed()
    };
    while done < iters {
        let n = CHUNK.min(iters - done);
        if (done / CHUNK).is_multiple_of(2) {
            t_core += time(&mut core, n, start);
            t_backend += time(&mut backend, n, start);
        } else {
            t_backend += time(&mut backend, n, start);
            t_core += time(&mut core, n, start);
        }
        done += n;
        start = (start + n as usize) & (KEYS - 1);
    }
    // Criterion rejects a zero measurement: a sample where noise made the
    // backend look faster counts as (almost) no overhead.
    t_backend
        .saturating_sub(t_core)
        .max(Duration::from_nanos(1))
}

fn bench_overhead(c: &mut Criterion) {
    let (cache, backend, keys) = setup();
    let mut g = c.benchmark_group("adapter_overhead");
    g.bench_function("get_hit", |b| {
        b.iter_custom(|iters| {
            extra_time(
                iters,
                |i| {
                    black_box(cache.get(keys[i].as_str()));
                },
                |i| {
                    let _ = black_box(run(backend.get(keys[i].as_str())));
                },
            )
        })
    });
    g.bench_function("set", |b| {
        b.iter_custom(|iters| {
            extra_time(
                iters,
                |i| cache.insert(black_box(keys[i].as_str()).to_owned(), i as u64),
                |i| {
                    let _ = black_box(run(backend.set(
                        black_box(keys[i].as_str()),
                        i as u64,
                        None,
                    )));
                },
            )
        })
    });
    g.bench_function("incr", |b| {
        b.iter_custom(|iters| {
            extra_time(
                iters,
                |i| {
                    let _ =
                        black_box(cache.incr(black_box(keys[i].as_str()).to_owned(), 1, 0, None));
                },
                |i| {
                    let _ = black_box(run(backend.incr(black_box(keys[i].as_str()), 1, 0, None)));
                },
            )
        })
    });
    g.finish();
}

/// Sum of the values of `keys` (0 for a miss), one `get` each.
fn sum_of_gets(cache: &Cache<String, u64>, keys: &[String]) -> u64 {
    keys.iter()
        .map(|k| cache.get(k.as_str()).unwrap_or(0))
        .sum()
}

/// Batches of 64 lookups of distinct keys: one `get` call each on the core,
/// the same under one `Cache::pin`, and the adapter's `get_many` (which pins
/// once per batch and builds a `HashMap` of owned keys).
fn bench_batch(c: &mut Criterion) {
    const BATCH: usize = 64;
    let (cache, backend, keys) = setup();
    let mut g = c.benchmark_group("batch_of_64_gets");
    let mut at = 0;
    let mut next = move || {
        at = (at + BATCH) & (KEYS - 1);
        at
    };
    g.bench_function("core_get_each", |b| {
        b.iter(|| {
            let s = next();
            black_box(sum_of_gets(&cache, &keys[s..s + BATCH]))
        })
    });
    g.bench_function("core_under_one_pin", |b| {
        b.iter(|| {
            let s = next();
            black_box(sum_of_gets(&cache.pin(), &keys[s..s + BATCH]))
        })
    });
    g.bench_function("backend_get_many", |b| {
        b.iter(|| {
            let s = next();
            let batch: Vec<&str> = keys[s..s + BATCH].iter().map(String::as_str).collect();
            black_box(run(backend.get_many(&batch)))
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_get,
    bench_set,
    bench_incr,
    bench_overhead,
    bench_batch
);
criterion_main!(benches);
