//! Shared helpers for the loom models in `tests/`.
//!
//! Build and run only with the loom cfgs (see `.ci/loom.sh`):
//!
//! ```sh
//! CARGO_TARGET_DIR=target/loom \
//! RUSTFLAGS="--cfg clockcache_loom --cfg crossbeam_loom --cfg crossbeam_sanitize" \
//!   LOOM_MAX_PREEMPTIONS=2 cargo test --release -p loom-tests -- --nocapture --test-threads=1
//! ```
//!
//! Without `--cfg clockcache_loom` this crate is empty, so a plain
//! `cargo test --workspace` builds it and runs nothing.
//!
//! What the helpers give the models:
//!
//! - [`Val`]: a cache value whose payload lives in a `loom::cell::UnsafeCell`.
//!   Every read of a value (`Clone`, [`Val::read`]) is a loom-tracked
//!   immutable access, and `Drop` is a loom-tracked mutable access, so loom
//!   panics ("Causality violation") if a value is freed while, or before, a
//!   reader that loaded it is still looking at it, or if a reader sees a value
//!   whose construction does not happen-before the read (bad publication).
//!   Originals carry a `loom::sync::Arc<AtomicUsize>` drop counter that
//!   asserts a second drop; a leaked original also leaks that `Arc`, which
//!   loom reports at the end of the iteration ("Arc leaked").
//! - [`Fixed`]: a deterministic hasher (loom needs every iteration of a model
//!   to be deterministic; ahash's `RandomState` is seeded per process).
//!   `u32` key `k` gets the control-byte tag `k & 0xff`, so keys 1 and 257
//!   share a tag on purpose.
//! - [`check`]: runs a model with a given preemption bound and prints its
//!   iteration count and wall time.
#![cfg(clockcache_loom)]

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use clockcache::{Cache, ManualClock};
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;

/// Preemption bound used when `LOOM_MAX_PREEMPTIONS` is not set (loom's own
/// default is "unbounded", which never finishes for these models).
pub const DEFAULT_PREEMPTIONS: usize = 2;

/// Runs `f` under loom with at most `max_preemptions` preemptions (`None`:
/// `LOOM_MAX_PREEMPTIONS`, or [`DEFAULT_PREEMPTIONS`]; `Some(p)`: the smaller
/// of `p` and the environment's bound). Prints the iteration count and wall
/// time, which the CI log keeps.
pub fn check<F>(name: &str, max_preemptions: Option<usize>, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    check_with(name, max_preemptions, None, f)
}

/// [`check`] with a larger branch budget per iteration (loom's default, 1000,
/// is too small for models that fill a dozen slots before spawning).
pub fn check_with<F>(name: &str, max_preemptions: Option<usize>, max_branches: Option<usize>, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    if let Some(b) = max_branches {
        builder.max_branches = builder.max_branches.max(b);
    }
    let env = builder.preemption_bound.unwrap_or(DEFAULT_PREEMPTIONS);
    let bound = max_preemptions.map_or(env, |p| p.min(env));
    builder.preemption_bound = Some(bound);
    let iterations = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = iterations.clone();
    let start = Instant::now();
    builder.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        f();
    });
    let secs = start.elapsed().as_secs_f64();
    let n = iterations.load(std::sync::atomic::Ordering::Relaxed);
    println!("loom model {name:<40} preemptions={bound} iterations={n:>8} time={secs:>8.2}s");
}

/// Deterministic `BuildHasher` for the models.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fixed;

/// The hasher of [`Fixed`]: integers map to themselves in the low byte (the
/// slot tag) and are spread into the high bits; bytes go through FNV-1a.
#[derive(Debug, Default)]
pub struct FixedHasher(u64);

impl Hasher for FixedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0 ^ 0xcbf2_9ce4_8422_2325;
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n | (n.wrapping_mul(0x9e37_79b9_7f4a_7c15) & !0xff);
    }
}

impl BuildHasher for Fixed {
    type Hasher = FixedHasher;
    fn build_hasher(&self) -> FixedHasher {
        FixedHasher(0)
    }
}

/// A degenerate `BuildHasher`: every key has the same hash, so every key has
/// the same tag and the same two candidate buckets, and the 13th key of a
/// table with more than two buckets is displaced into the overflow run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Constant;

impl BuildHasher for Constant {
    type Hasher = ConstantHasher;
    fn build_hasher(&self) -> ConstantHasher {
        ConstantHasher
    }
}

/// The hasher of [`Constant`].
#[derive(Debug, Default)]
pub struct ConstantHasher;

impl Hasher for ConstantHasher {
    fn finish(&self) -> u64 {
        0x5bd1_e995_5bd1_e995
    }
    fn write(&mut self, _: &[u8]) {}
}

/// A one-shard cache of capacity `cap` whose keys all collide.
pub fn colliding_cache<V: Send + Sync + 'static>(cap: usize) -> Cache<u32, V, Constant> {
    Cache::<u32, V>::builder()
        .max_capacity(cap)
        .shards(1)
        .hasher(Constant)
        .build()
}

/// The cache type of the models.
pub type TestCache<V> = Cache<u32, V, Fixed>;

/// A one-shard cache of capacity `cap` (one bucket of 6 slots for `cap <= 4`).
pub fn cache<V: Send + Sync + 'static>(cap: usize) -> TestCache<V> {
    Cache::<u32, V>::builder()
        .max_capacity(cap)
        .shards(1)
        .hasher(Fixed)
        .build()
}

/// Like [`cache`], driven by a manual clock.
pub fn cache_with_clock<V: Send + Sync + 'static>(cap: usize, clock: &ManualClock) -> TestCache<V> {
    Cache::<u32, V>::builder()
        .max_capacity(cap)
        .shards(1)
        .hasher(Fixed)
        .manual_clock(clock.clone())
        .build()
}

/// Seconds, for TTLs in the models.
pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

const ALIVE: u64 = 0xA11C_E0A1_1CE0_A11C;
const DEAD: u64 = 0xDEAD_DEAD_DEAD_DEAD;

/// `loom::cell::UnsafeCell` is not `Sync`; [`Val`] only reads it through
/// `with` and writes it through `with_mut` in `Drop`, so sharing is sound
/// exactly when loom does not report a race, which is the point.
struct Payload(UnsafeCell<u64>);
// SAFETY: see above; loom checks every access.
unsafe impl Sync for Payload {}

/// A cache value that reports use-after-free, free-while-reading, double
/// drops and leaks (see the crate docs).
#[repr(C)]
pub struct Val {
    id: u64,
    payload: Payload,
    /// `Some` for originals made by [`Tracker::val`]; clones are not counted.
    drops: Option<Arc<AtomicUsize>>,
    /// Last field, away from the allocator's free-list words.
    magic: u64,
}

impl Val {
    /// Reads the value (a loom-tracked access); panics if it was dropped.
    pub fn read(&self) -> u64 {
        assert_eq!(
            self.magic, ALIVE,
            "read of a dropped value (id {})",
            self.id
        );
        // SAFETY: loom checks the access against the drop's `with_mut`.
        let v = self.payload.0.with(|p| unsafe { *p });
        assert_eq!(v, self.id, "read of a dropped value (id {})", self.id);
        v
    }

    /// The value's id (no access to the payload).
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Clone for Val {
    fn clone(&self) -> Self {
        let id = self.read();
        Val {
            id,
            payload: Payload(UnsafeCell::new(id)),
            drops: None,
            magic: ALIVE,
        }
    }
}

impl PartialEq for Val {
    fn eq(&self, other: &Val) -> bool {
        self.read() == other.read()
    }
}

impl std::fmt::Debug for Val {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Val({})", self.id)
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        assert_eq!(
            self.magic, ALIVE,
            "value {} dropped twice (or freed memory)",
            self.id
        );
        // A mutable access: loom panics unless every read happened-before it.
        // SAFETY: loom-checked.
        self.payload.0.with_mut(|p| unsafe { *p = DEAD });
        self.magic = DEAD;
        if let Some(d) = &self.drops {
            let before = d.fetch_add(1, Ordering::SeqCst);
            assert_eq!(before, 0, "value {} dropped twice", self.id);
        }
    }
}

/// Makes one original [`Val`] and observes its drop. Clones share the drop
/// counter: move a clone into the thread that should create the value (so
/// that a reader in another thread must synchronise with its publication).
#[derive(Clone)]
pub struct Tracker {
    id: u64,
    drops: Arc<AtomicUsize>,
}

impl Tracker {
    /// A tracker for a value with this id (use distinct non-zero ids).
    pub fn new(id: u64) -> Self {
        Tracker {
            id,
            drops: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The original value (make it once).
    pub fn val(&self) -> Val {
        Val {
            id: self.id,
            payload: Payload(UnsafeCell::new(self.id)),
            drops: Some(self.drops.clone()),
            magic: ALIVE,
        }
    }

    /// How many times the original was dropped (0 or 1).
    pub fn drops(&self) -> usize {
        self.drops.load(Ordering::SeqCst)
    }

    /// Asserts the original was dropped exactly once.
    #[track_caller]
    pub fn assert_dropped(&self) {
        assert_eq!(
            self.drops(),
            1,
            "value {} dropped {} times",
            self.id,
            self.drops()
        );
    }
}

/// Asserts the cache's `len()` and `iter()` agree, no key is yielded twice,
/// and returns the sorted keys.
#[track_caller]
pub fn keys_at_rest<V, S>(c: &Cache<u32, V, S>) -> Vec<u32>
where
    V: Clone + Send + Sync + 'static,
    S: BuildHasher,
{
    let mut keys: Vec<u32> = c.iter().map(|(k, _)| k).collect();
    let n = keys.len();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), n, "iter() yielded a key twice");
    assert_eq!(c.len(), n, "len() {} != iter().count() {}", c.len(), n);
    keys
}
