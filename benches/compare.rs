//! Comparison runner: clockcache against what people would pick instead,
//! all measured in one process, interleaved, printed as markdown tables.
//!
//! Subjects: `clockcache::Cache`, `quick_cache::sync::Cache` (0.7),
//! `moka::sync::Cache` (0.12), `mini_moka::sync::Cache` (0.10), and as
//! references `DashMap` (6; unbounded, never evicts: a speed ceiling for a
//! concurrent map, not a cache) and `parking_lot::Mutex<lru::LruCache>` (the
//! naive baseline: every get takes the lock exclusively). All hash with
//! `ahash::RandomState`, so the hasher is not what is compared.
//!
//! Sections (`--only` picks some):
//!
//! * **throughput** — Mops/s for a `u64 -> u64` cache of capacity 100 000,
//!   keys Zipf(s = 0.99) over 1 000 000 distinct keys, pre-warmed, at 1, 2, 4,
//!   ... threads up to `available_parallelism()`, for four mixes: read-only
//!   (gets only), cache-aside (get, insert on a miss), 90/10 (90% get, 10%
//!   insert) and 50/50. Key streams are generated before timing (one per
//!   thread, a Zipf CDF sampled by binary search, ranks scrambled by a
//!   bijective mix). Each cell is timed over a fixed slice per round; the
//!   subjects run round-robin within each round (the starting subject
//!   rotates) and the median over rounds is reported, with every subject's
//!   ratio to clockcache.
//! * **latency** — `get` latency under the 90/10 mix (so under a concurrent
//!   10% insert load), on all cores by default: one get in 16 is timed with
//!   `Instant` into an HDR histogram; p50, p99, p99.9 and max per subject,
//!   and the timer's own cost.
//! * **memory** — a counting global allocator (requested bytes + 8 bytes per
//!   live block, glibc's chunk header) gives the bytes per entry of a cache of
//!   capacity 1 000 000 filled with 1 000 000 distinct keys, for `u64 -> u64`
//!   and for `String -> Vec<u8>` (100-byte values), and the bytes an empty
//!   cache of that capacity allocates.
//! * **hit-ratio** — the replay in `benches/common/hit_ratio.rs` (shared with
//!   `examples/hit_ratio.rs`): every trace in `../shared/traces` at the
//!   capacities of its reference table, next to Belady's OPT, exact LRU and
//!   plain CLOCK, means per capacity fraction, and synthetic workloads.
//!
//! `--plots DIR` also writes `DIR/throughput-90-10.png` and
//! `DIR/hit-ratio.png`. Nothing here asserts on timings.
//!
//! Run:
//!
//! ```text
//! cargo bench --bench compare                     # full run (1 s slices, 5 rounds; ~6 min on 2 cores)
//! cargo bench --bench compare -- --plots docs/    # the same, and the two PNGs
//! cargo bench --bench compare -- --quick          # short run (< 2 min on 2 cores; CI smoke run)
//! cargo bench --bench compare -- --help           # all options
//! cargo bench --bench compare -- --only latency,memory --threads 1,2 --rounds 3
//! ```
//!
//! `cargo test --all-targets` also runs this binary (without `--bench`); it
//! then does a seconds-long smoke run and ignores libtest's flags.

#[path = "common/hit_ratio.rs"]
mod hit_ratio;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hash::Hash;
use std::hint::black_box;
use std::io::Write;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::Relaxed};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

// ---------------------------------------------------------------------------
// Counting allocator
// ---------------------------------------------------------------------------

/// Bytes charged per live block on top of the requested size (glibc chunk header).
const BLOCK_OVERHEAD: isize = 8;
/// Counters are striped per thread so that counting does not add a contended
/// cache line to every allocation in the multi-threaded sections.
const STRIPES: usize = 64;

#[repr(align(128))]
struct Stripe(AtomicIsize);

static LIVE: [Stripe; STRIPES] = [const { Stripe(AtomicIsize::new(0)) }; STRIPES];
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // const-initialised and without a destructor: usable inside the allocator.
    static MY_STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn my_stripe() -> &'static AtomicIsize {
    let i = MY_STRIPE
        .try_with(|s| {
            let mut i = s.get();
            if i == usize::MAX {
                i = NEXT_STRIPE.fetch_add(1, Relaxed) % STRIPES;
                s.set(i);
            }
            i
        })
        .unwrap_or(0);
    &LIVE[i].0
}

/// Live heap bytes (requested sizes plus `BLOCK_OVERHEAD` per block). Exact when
/// no other thread is allocating.
fn live_bytes() -> isize {
    LIVE.iter().map(|s| s.0.load(Relaxed)).sum()
}

struct CountingAlloc;

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            my_stripe().fetch_add(layout.size() as isize + BLOCK_OVERHEAD, Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            my_stripe().fetch_add(layout.size() as isize + BLOCK_OVERHEAD, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's contract.
        unsafe { System.dealloc(ptr, layout) };
        my_stripe().fetch_sub(layout.size() as isize + BLOCK_OVERHEAD, Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            my_stripe().fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

const DISTINCT_KEYS: usize = 1_000_000;
const ZIPF_S: f64 = 0.99;
const CAPACITY: usize = 100_000;
const MEMORY_CAPACITY: usize = 1_000_000;
/// Bytes of each value in the `String -> Vec<u8>` memory measurement.
const VALUE_BYTES: usize = 100;
/// One get in this many is timed in the latency section.
const LATENCY_SAMPLE_EVERY: u32 = 16;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Section {
    Throughput,
    Latency,
    Memory,
    HitRatio,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Full,
    Quick,
    /// Started without `--bench` and without options, i.e. by `cargo test
    /// --benches` / `--all-targets`: a seconds-long smoke run.
    Smoke,
}

#[derive(Debug)]
struct Opts {
    mode: Mode,
    duration: Duration,
    rounds: usize,
    /// Explicit `--threads` list (used by throughput and latency).
    threads: Option<Vec<usize>>,
    /// Sections to run; `None` runs all.
    only: Option<Vec<Section>>,
    /// Keys per pre-generated stream (power of two).
    stream_len: usize,
    /// Capacity (and number of keys filled) in the memory section.
    mem_capacity: usize,
    /// Where to write the PNG plots.
    plots: Option<PathBuf>,
    /// Only traces whose name contains this (hit-ratio section).
    trace_filter: Option<String>,
}

const USAGE: &str = "\
clockcache comparison benchmark: clockcache vs quick_cache, moka, mini-moka,
DashMap (unbounded reference) and Mutex<lru::LruCache> (naive baseline)

USAGE: cargo bench --bench compare -- [OPTIONS]

OPTIONS:
  --help                 print this help and exit
  --quick                short run (< 2 min on 2 cores): 200 ms slices, 1 round,
                         2^20-key streams; hit ratio without the two largest traces
  --duration-ms N        time slice per cell and round, in ms (default 1000, quick 200)
  --rounds N             rounds per cell; the median is reported (default 5, quick 1)
  --threads LIST         comma-separated thread counts, e.g. 1,2,4 (default: throughput
                         1,2,4,.. up to the core count; latency the core count)
  --only LIST            sections to run, comma-separated:
                         throughput,latency,memory,hit-ratio (default: all)
  --trace SUBSTR         hit-ratio: only traces whose name contains SUBSTR
  --plots DIR            write DIR/throughput-90-10.png and DIR/hit-ratio.png
  --bench*               ignored (cargo passes --bench to harness = false benches)

Traces are read from $CLOCKCACHE_TRACES or ../shared/traces; the hit-ratio
section prints a note and moves on when they are absent.

Without a --bench flag (e.g. run by `cargo test --all-targets`), unknown arguments
are ignored, and with no options at all a seconds-long smoke run is done.
";

fn usage_error(msg: &str) -> ! {
    eprintln!("error: {msg}\n\n{USAGE}");
    std::process::exit(2);
}

fn parse_num<T: std::str::FromStr>(flag: &str, v: Option<String>) -> T {
    let v = v.unwrap_or_else(|| usage_error(&format!("{flag} needs a value")));
    v.trim()
        .parse()
        .unwrap_or_else(|_| usage_error(&format!("bad value for {flag}: {v:?}")))
}

fn parse_opts() -> Opts {
    let mut quick = false;
    let mut duration_ms: Option<u64> = None;
    let mut rounds: Option<usize> = None;
    let mut threads: Option<Vec<usize>> = None;
    let mut only: Option<Vec<Section>> = None;
    let mut plots = None;
    let mut trace_filter = None;

    let all: Vec<String> = std::env::args().skip(1).collect();
    // cargo bench passes --bench; cargo test (which also runs harness = false
    // benches) passes libtest's flags, which are ignored then.
    let under_cargo_bench = all.iter().any(|a| a.starts_with("--bench"));
    let mut recognised = 0;
    let mut args = all.into_iter();
    while let Some(arg) = args.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, mut inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || inline.take().or_else(|| args.next());
        recognised += 1;
        match flag.as_str() {
            "--help" | "-h" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            "--quick" => quick = true,
            "--duration-ms" => duration_ms = Some(parse_num(&flag, value())),
            "--rounds" => rounds = Some(parse_num(&flag, value())),
            "--threads" => {
                let v = value().unwrap_or_else(|| usage_error("--threads needs a value"));
                let list: Vec<usize> = v
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| parse_num("--threads", Some(s.to_string())))
                    .collect();
                if list.is_empty() || list.contains(&0) {
                    usage_error("--threads needs positive thread counts, e.g. 1,2,4");
                }
                threads = Some(list);
            }
            "--only" => {
                let v = value().unwrap_or_else(|| usage_error("--only needs a value"));
                let list = v
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| match s.trim() {
                        "throughput" => Section::Throughput,
                        "latency" => Section::Latency,
                        "memory" => Section::Memory,
                        "hit-ratio" | "hit_ratio" | "hitratio" => Section::HitRatio,
                        other => usage_error(&format!("unknown section {other:?}")),
                    })
                    .collect();
                only = Some(list);
            }
            "--trace" => {
                trace_filter = Some(value().unwrap_or_else(|| usage_error("--trace needs a value")))
            }
            "--plots" => {
                plots = Some(PathBuf::from(
                    value().unwrap_or_else(|| usage_error("--plots needs a directory")),
                ))
            }
            f if f.starts_with("--bench") => recognised -= 1,
            _ if !under_cargo_bench => {
                recognised -= 1;
                eprintln!("ignoring argument {arg:?} (not run by cargo bench)");
            }
            _ => usage_error(&format!("unknown argument {arg:?}")),
        }
    }

    let mode = if quick {
        Mode::Quick
    } else if !under_cargo_bench && recognised == 0 {
        Mode::Smoke
    } else {
        Mode::Full
    };
    if mode == Mode::Smoke {
        threads.get_or_insert_with(|| vec![1, 2]);
    }
    let rounds = rounds.unwrap_or(if mode == Mode::Full { 5 } else { 1 });
    if rounds == 0 {
        usage_error("--rounds must be at least 1");
    }
    let duration_ms = duration_ms.unwrap_or(match mode {
        Mode::Full => 1000,
        Mode::Quick => 200,
        Mode::Smoke => 20,
    });
    if duration_ms == 0 {
        usage_error("--duration-ms must be at least 1");
    }
    Opts {
        mode,
        duration: Duration::from_millis(duration_ms),
        rounds,
        threads,
        only,
        stream_len: match mode {
            Mode::Full => 1 << 21,
            Mode::Quick => 1 << 20,
            Mode::Smoke => 1 << 16,
        },
        mem_capacity: if mode == Mode::Smoke {
            100_000
        } else {
            MEMORY_CAPACITY
        },
        plots,
        trace_filter,
    }
}

impl Opts {
    fn runs(&self, s: Section) -> bool {
        self.only.as_ref().is_none_or(|o| o.contains(&s))
    }

    fn throughput_threads(&self) -> Vec<usize> {
        if let Some(t) = &self.threads {
            return t.clone();
        }
        let max = cores();
        let mut v = vec![1];
        let mut t = 2;
        while t <= max {
            v.push(t);
            t *= 2;
        }
        if *v.last().unwrap() != max {
            v.push(max);
        }
        v
    }

    fn latency_threads(&self) -> Vec<usize> {
        self.threads.clone().unwrap_or_else(|| vec![cores()])
    }
}

fn cores() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

// ---------------------------------------------------------------------------
// Workload: Zipf key streams
// ---------------------------------------------------------------------------

/// splitmix64 finaliser: a bijection on u64, so distinct ranks stay distinct keys
/// and hot keys are spread over the key space.
fn scramble(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Normalised CDF of Zipf(s) over ranks 0..n (rank r has weight 1/(r+1)^s).
fn zipf_cdf(n: usize, s: f64) -> Vec<f64> {
    let mut cdf = Vec::with_capacity(n);
    let mut acc = 0.0;
    for r in 0..n {
        acc += 1.0 / ((r + 1) as f64).powf(s);
        cdf.push(acc);
    }
    for c in &mut cdf {
        *c /= acc;
    }
    cdf
}

fn zipf_stream(cdf: &[f64], len: usize, seed: u64) -> Vec<u64> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..len)
        .map(|_| {
            let u: f64 = rng.random();
            let rank = cdf.partition_point(|&c| c < u).min(cdf.len() - 1);
            scramble(rank as u64)
        })
        .collect()
}

/// One stream per thread, generated in parallel before any timing.
fn make_streams(count: usize, len: usize) -> Vec<Vec<u64>> {
    let t0 = Instant::now();
    let cdf = zipf_cdf(DISTINCT_KEYS, ZIPF_S);
    let workers = cores().max(1);
    let mut streams: Vec<Vec<u64>> = vec![Vec::new(); count];
    thread::scope(|s| {
        for (w, chunk) in streams.chunks_mut(count.div_ceil(workers)).enumerate() {
            let cdf = &cdf;
            let base = w * count.div_ceil(workers);
            s.spawn(move || {
                for (j, slot) in chunk.iter_mut().enumerate() {
                    *slot = zipf_stream(cdf, len, 0xC0FF_EE00 + (base + j) as u64);
                }
            });
        }
    });
    eprintln!(
        "generated {count} Zipf stream(s) of {len} keys in {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    streams
}

// ---------------------------------------------------------------------------
// Subjects
// ---------------------------------------------------------------------------

type Hasher = ahash::RandomState;

/// A cache (or map) under test, generic over key and value so the memory
/// section can measure `String -> Vec<u8>` too.
trait Subject<K, V>: Sync + Sized {
    fn with_capacity(cap: usize) -> Self;
    fn get(&self, k: &K) -> Option<V>;
    fn insert(&self, k: K, v: V);
    /// Finish deferred bookkeeping (moka's and mini-moka's pending maintenance).
    fn settle(&self) {}
    fn entries(&self) -> usize;
}

/// What every subject needs of a key.
trait Key: Hash + Eq + Clone + Send + Sync + 'static {}
impl<T: Hash + Eq + Clone + Send + Sync + 'static> Key for T {}
/// What every subject needs of a value.
trait Val: Clone + Send + Sync + 'static {}
impl<T: Clone + Send + Sync + 'static> Val for T {}

struct Clock<K, V>(clockcache::Cache<K, V, Hasher>);
struct Quick<K, V>(quick_cache::sync::Cache<K, V, quick_cache::UnitWeighter, Hasher>);
struct Moka<K, V>(moka::sync::Cache<K, V, Hasher>);
struct MiniMoka<K, V>(mini_moka::sync::Cache<K, V, Hasher>);
struct Dash<K, V>(dashmap::DashMap<K, V, Hasher>);
struct Lru<K, V>(parking_lot::Mutex<lru::LruCache<K, V, Hasher>>);

impl<K: Key, V: Val> Subject<K, V> for Clock<K, V> {
    fn with_capacity(cap: usize) -> Self {
        Clock(
            clockcache::Cache::builder()
                .max_capacity(cap)
                .hasher(Hasher::new())
                .build(),
        )
    }
    #[inline]
    fn get(&self, k: &K) -> Option<V> {
        self.0.get(k)
    }
    #[inline]
    fn insert(&self, k: K, v: V) {
        self.0.insert(k, v);
    }
    fn entries(&self) -> usize {
        self.0.len()
    }
}

impl<K: Key, V: Val> Subject<K, V> for Quick<K, V> {
    fn with_capacity(cap: usize) -> Self {
        Quick(quick_cache::sync::Cache::with(
            cap,
            cap as u64,
            quick_cache::UnitWeighter,
            Hasher::new(),
            Default::default(),
        ))
    }
    #[inline]
    fn get(&self, k: &K) -> Option<V> {
        self.0.get(k)
    }
    #[inline]
    fn insert(&self, k: K, v: V) {
        self.0.insert(k, v);
    }
    fn entries(&self) -> usize {
        self.0.len()
    }
}

impl<K: Key, V: Val> Subject<K, V> for Moka<K, V> {
    fn with_capacity(cap: usize) -> Self {
        Moka(
            moka::sync::Cache::builder()
                .max_capacity(cap as u64)
                .build_with_hasher(Hasher::new()),
        )
    }
    #[inline]
    fn get(&self, k: &K) -> Option<V> {
        self.0.get(k)
    }
    #[inline]
    fn insert(&self, k: K, v: V) {
        self.0.insert(k, v);
    }
    fn settle(&self) {
        self.0.run_pending_tasks();
    }
    fn entries(&self) -> usize {
        self.0.run_pending_tasks();
        self.0.entry_count() as usize
    }
}

impl<K: Key, V: Val> Subject<K, V> for MiniMoka<K, V> {
    fn with_capacity(cap: usize) -> Self {
        MiniMoka(
            mini_moka::sync::Cache::builder()
                .max_capacity(cap as u64)
                .build_with_hasher(Hasher::new()),
        )
    }
    #[inline]
    fn get(&self, k: &K) -> Option<V> {
        self.0.get(k)
    }
    #[inline]
    fn insert(&self, k: K, v: V) {
        self.0.insert(k, v);
    }
    fn settle(&self) {
        use mini_moka::sync::ConcurrentCacheExt;
        self.0.sync();
    }
    fn entries(&self) -> usize {
        self.settle();
        self.0.entry_count() as usize
    }
}

impl<K: Key, V: Val> Subject<K, V> for Dash<K, V> {
    fn with_capacity(cap: usize) -> Self {
        Dash(dashmap::DashMap::with_capacity_and_hasher(
            cap,
            Hasher::new(),
        ))
    }
    #[inline]
    fn get(&self, k: &K) -> Option<V> {
        self.0.get(k).map(|r| r.value().clone())
    }
    #[inline]
    fn insert(&self, k: K, v: V) {
        self.0.insert(k, v);
    }
    fn entries(&self) -> usize {
        self.0.len()
    }
}

impl<K: Key, V: Val> Subject<K, V> for Lru<K, V> {
    fn with_capacity(cap: usize) -> Self {
        Lru(parking_lot::Mutex::new(lru::LruCache::with_hasher(
            NonZeroUsize::new(cap.max(1)).expect("non-zero"),
            Hasher::new(),
        )))
    }
    #[inline]
    fn get(&self, k: &K) -> Option<V> {
        self.0.lock().get(k).cloned()
    }
    #[inline]
    fn insert(&self, k: K, v: V) {
        self.0.lock().put(k, v);
    }
    fn entries(&self) -> usize {
        self.0.lock().len()
    }
}

/// Number of subjects.
const N: usize = 6;
const CLOCK: usize = 0;
const DASH: usize = 4;
const NAMES: [&str; N] = [
    "clockcache",
    "quick_cache",
    "moka",
    "mini-moka",
    "DashMap",
    "Mutex<LruCache>",
];
/// Table headers, with the footnote marks explained by [`FOOTNOTES`].
const HEADERS: [&str; N] = [
    "clockcache",
    "quick_cache",
    "moka",
    "mini-moka",
    "DashMap ¹",
    "Mutex\\<LruCache\\> ²",
];
const FOOTNOTES: &str = "¹ DashMap is unbounded (never evicts): a speed ceiling for a \
concurrent map, not a cache; it holds every key ever inserted, so its hit ratio and size are not \
comparable. ² `parking_lot::Mutex<lru::LruCache>`: exact LRU, every get takes the lock \
exclusively (a hit moves the entry to the front).";

/// Runs `$body` with `$c` bound to subject number `$which` of `$s` (any
/// struct with one field per subject).
macro_rules! with_subject {
    ($s:expr, $which:expr, |$c:ident| $body:expr) => {
        match $which {
            0 => {
                let $c = &$s.clock;
                $body
            }
            1 => {
                let $c = &$s.quick;
                $body
            }
            2 => {
                let $c = &$s.moka;
                $body
            }
            3 => {
                let $c = &$s.mini;
                $body
            }
            4 => {
                let $c = &$s.dash;
                $body
            }
            _ => {
                let $c = &$s.lru;
                $body
            }
        }
    };
}

/// The caches used by the throughput and latency sections (capacity 100 000).
struct Subjects {
    clock: Clock<u64, u64>,
    quick: Quick<u64, u64>,
    moka: Moka<u64, u64>,
    mini: MiniMoka<u64, u64>,
    dash: Dash<u64, u64>,
    lru: Lru<u64, u64>,
}

impl Subjects {
    /// Creates the caches and pre-warms each by running the cache-aside loop once,
    /// untimed, over the first two key streams.
    fn new_warm(streams: &[Vec<u64>]) -> Subjects {
        let t0 = Instant::now();
        let s = Subjects {
            clock: Subject::with_capacity(CAPACITY),
            quick: Subject::with_capacity(CAPACITY),
            moka: Subject::with_capacity(CAPACITY),
            mini: Subject::with_capacity(CAPACITY),
            dash: Subject::with_capacity(CAPACITY),
            lru: Subject::with_capacity(CAPACITY),
        };
        fn warm<C: Subject<u64, u64>>(c: &C, streams: &[Vec<u64>]) {
            for stream in streams.iter().take(2) {
                for &k in stream {
                    if c.get(&k).is_none() {
                        c.insert(k, k);
                    }
                }
            }
            c.settle();
        }
        for which in 0..N {
            with_subject!(s, which, |c| warm(c, streams));
        }
        eprintln!(
            "warmed the caches in {:.2} s (len: {})",
            t0.elapsed().as_secs_f64(),
            (0..N)
                .map(|w| format!("{} {}", NAMES[w], s.entries(w)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        s
    }

    fn entries(&self, which: usize) -> usize {
        with_subject!(self, which, |c| Subject::<u64, u64>::entries(c))
    }
}

// ---------------------------------------------------------------------------
// Throughput
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mix {
    /// gets only
    ReadOnly,
    /// get, insert on miss
    CacheAside,
    /// 90% get (no insert on miss), 10% insert
    NinetyTen,
    /// 50% get, 50% insert
    FiftyFifty,
}

impl Mix {
    const ALL: [Mix; 4] = [
        Mix::ReadOnly,
        Mix::CacheAside,
        Mix::NinetyTen,
        Mix::FiftyFifty,
    ];

    fn label(self) -> &'static str {
        match self {
            Mix::ReadOnly => "read-only (100% get, no insert)",
            Mix::CacheAside => "cache-aside (get, insert on a miss)",
            Mix::NinetyTen => "90/10 (90% get, 10% insert)",
            Mix::FiftyFifty => "50/50 (50% get, 50% insert)",
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Counts {
    ops: u64,
    gets: u64,
    hits: u64,
}

/// One thread's timed loop. Every `INSERT_EVERY`-th operation is an insert
/// (0: none); `ASIDE` inserts after a missed get; `SAMPLE` times one get in
/// `LATENCY_SAMPLE_EVERY` into `hist`.
fn worker<C: Subject<u64, u64>, const INSERT_EVERY: u32, const ASIDE: bool, const SAMPLE: bool>(
    c: &C,
    keys: &[u64],
    start_at: usize,
    dur: Duration,
    barrier: &Barrier,
    hist: &mut Histogram<u64>,
) -> (Counts, Duration) {
    debug_assert!(keys.len().is_power_of_two());
    let mask = keys.len() - 1;
    let mut i = start_at & mask;
    let mut n = Counts::default();
    let mut mix_ctr = 0u32;
    let mut sample_ctr = 0u32;
    barrier.wait();
    let start = Instant::now();
    loop {
        for _ in 0..1024 {
            let k = keys[i];
            i = (i + 1) & mask;
            if INSERT_EVERY > 0 {
                mix_ctr += 1;
                if mix_ctr == INSERT_EVERY {
                    mix_ctr = 0;
                    c.insert(k, k);
                    continue;
                }
            }
            n.gets += 1;
            let r = if SAMPLE {
                sample_ctr += 1;
                if sample_ctr == LATENCY_SAMPLE_EVERY {
                    sample_ctr = 0;
                    let t = Instant::now();
                    let r = black_box(c.get(black_box(&k)));
                    let ns = t.elapsed().as_nanos() as u64;
                    hist.saturating_record(ns);
                    r
                } else {
                    c.get(&k)
                }
            } else {
                c.get(&k)
            };
            if black_box(r).is_some() {
                n.hits += 1;
            } else if ASIDE {
                c.insert(k, k);
            }
        }
        n.ops += 1024;
        let elapsed = start.elapsed();
        if elapsed >= dur {
            return (n, elapsed);
        }
    }
}

fn new_hist() -> Histogram<u64> {
    // 1 ns .. 100 s, 3 significant digits.
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("histogram bounds")
}

/// One slice: Mops/s summed over threads, counts, merged histogram.
type SliceResult = (f64, Counts, Histogram<u64>);

/// Runs `threads` workers for one slice.
fn run_slice<
    C: Subject<u64, u64>,
    const INSERT_EVERY: u32,
    const ASIDE: bool,
    const SAMPLE: bool,
>(
    c: &C,
    streams: &[Vec<u64>],
    threads: usize,
    round: usize,
    dur: Duration,
) -> SliceResult {
    let barrier = Barrier::new(threads);
    let results: Vec<(Counts, Duration, Histogram<u64>)> = thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                let keys = &streams[t][..];
                // Start each round at a different place in the stream.
                let start_at = round.wrapping_mul(0x9E37_79B9);
                s.spawn(move || {
                    let mut h = if SAMPLE {
                        new_hist()
                    } else {
                        Histogram::new(1).expect("histogram")
                    };
                    let (n, el) = worker::<C, INSERT_EVERY, ASIDE, SAMPLE>(
                        c, keys, start_at, dur, barrier, &mut h,
                    );
                    (n, el, h)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker panicked"))
            .collect()
    });
    let mut total = Counts::default();
    let mut mops = 0.0;
    let mut hist = if SAMPLE {
        new_hist()
    } else {
        Histogram::new(1).expect("histogram")
    };
    for (n, el, h) in results {
        mops += n.ops as f64 / el.as_secs_f64() / 1e6;
        total.ops += n.ops;
        total.gets += n.gets;
        total.hits += n.hits;
        if SAMPLE {
            hist.add(&h).expect("histogram add");
        }
    }
    (mops, total, hist)
}

fn run_mix<C: Subject<u64, u64>>(
    c: &C,
    mix: Mix,
    sample: bool,
    streams: &[Vec<u64>],
    threads: usize,
    round: usize,
    dur: Duration,
) -> SliceResult {
    match (mix, sample) {
        (Mix::ReadOnly, false) => run_slice::<C, 0, false, false>(c, streams, threads, round, dur),
        (Mix::CacheAside, false) => run_slice::<C, 0, true, false>(c, streams, threads, round, dur),
        (Mix::NinetyTen, false) => {
            run_slice::<C, 10, false, false>(c, streams, threads, round, dur)
        }
        (Mix::FiftyFifty, false) => {
            run_slice::<C, 2, false, false>(c, streams, threads, round, dur)
        }
        (Mix::NinetyTen, true) => run_slice::<C, 10, false, true>(c, streams, threads, round, dur),
        (m, true) => unimplemented!("latency sampling is only wired for 90/10, not {m:?}"),
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn pct(hits: u64, gets: u64) -> f64 {
    if gets == 0 {
        0.0
    } else {
        100.0 * hits as f64 / gets as f64
    }
}

/// Medians per (mix, thread count), for the plots.
struct ThroughputResult {
    threads: Vec<usize>,
    /// One entry per mix run: the mix and, per thread count, Mops/s per subject.
    mixes: Vec<(Mix, Vec<[f64; N]>)>,
}

fn table_header() {
    println!("| threads | {} |", HEADERS.join(" | "));
    println!("|---:|{}", "---:|".repeat(N));
}

fn throughput(opts: &Opts, subjects: &Subjects, streams: &[Vec<u64>]) -> ThroughputResult {
    let threads = opts.throughput_threads();
    println!(
        "## Throughput (Mops/s, median of {} round(s) × {} ms)\n",
        opts.rounds,
        opts.duration.as_millis()
    );
    println!(
        "`u64 -> u64`, Zipf(s = {ZIPF_S}) over {DISTINCT_KEYS} keys, capacity {CAPACITY}, \
         pre-warmed; the subjects run round-robin within each round. In parentheses: the \
         subject's throughput / clockcache's (above 1× the subject is faster). Last row: hits / \
         gets over all cells.\n"
    );
    let mut result = ThroughputResult {
        threads: threads.clone(),
        mixes: Vec::new(),
    };
    for mix in Mix::ALL {
        println!("### {}\n", mix.label());
        table_header();
        flush();
        let mut rows = Vec::new();
        let mut counts = [Counts::default(); N];
        for &t in &threads {
            let mut mops: [Vec<f64>; N] = Default::default();
            for round in 0..opts.rounds {
                for j in 0..N {
                    let which = (round + j) % N;
                    let (m, n, _) = with_subject!(subjects, which, |c| run_mix(
                        c,
                        mix,
                        false,
                        streams,
                        t,
                        round,
                        opts.duration
                    ));
                    mops[which].push(m);
                    counts[which].gets += n.gets;
                    counts[which].hits += n.hits;
                }
            }
            let mut med = [0.0; N];
            for (m, v) in med.iter_mut().zip(mops.iter_mut()) {
                *m = median(v);
            }
            let cells: Vec<String> = (0..N)
                .map(|w| {
                    if w == CLOCK {
                        format!("**{:.2}**", med[w])
                    } else {
                        format!("{:.2} ({:.2}×)", med[w], med[w] / med[CLOCK])
                    }
                })
                .collect();
            println!("| {t} | {} |", cells.join(" | "));
            flush();
            rows.push(med);
        }
        let hits: Vec<String> = (0..N)
            .map(|w| format!("{:.1}", pct(counts[w].hits, counts[w].gets)))
            .collect();
        println!("| hit % | {} |", hits.join(" | "));
        println!(
            "\nDashMap held {} keys after this mix (the others at most {CAPACITY}).\n",
            subjects.entries(DASH)
        );
        result.mixes.push((mix, rows));
    }
    println!("{FOOTNOTES}\n");
    result
}

// ---------------------------------------------------------------------------
// Latency
// ---------------------------------------------------------------------------

/// The cost of the timing itself: `Instant::now()` then `elapsed()` around nothing.
fn timer_floor() -> Histogram<u64> {
    let mut h = new_hist();
    for _ in 0..200_000 {
        let t = Instant::now();
        let ns = black_box(t).elapsed().as_nanos() as u64;
        h.saturating_record(ns);
    }
    h
}

fn latency(opts: &Opts, subjects: &Subjects, streams: &[Vec<u64>]) {
    println!(
        "## Get latency under the 90/10 mix (ns; 1 get in {LATENCY_SAMPLE_EVERY} timed, \
         {} round(s) × {} ms merged)\n",
        opts.rounds,
        opts.duration.as_millis()
    );
    let floor = timer_floor();
    println!(
        "Every thread runs the 90/10 mix (so gets run under a concurrent 10% insert load) and \
         times one get in {LATENCY_SAMPLE_EVERY} with `Instant`; the timer itself costs p50 {} ns, \
         p99 {} ns here (included in every sample). In parentheses: the subject's value / \
         clockcache's.\n",
        floor.value_at_quantile(0.5),
        floor.value_at_quantile(0.99)
    );
    for t in opts.latency_threads() {
        let mut hists: Vec<Histogram<u64>> = (0..N).map(|_| new_hist()).collect();
        for round in 0..opts.rounds {
            for j in 0..N {
                let which = (round + j) % N;
                let (_, _, h) = with_subject!(subjects, which, |c| run_mix(
                    c,
                    Mix::NinetyTen,
                    true,
                    streams,
                    t,
                    round,
                    opts.duration
                ));
                hists[which].add(&h).expect("histogram add");
            }
        }
        println!("### {t} thread(s)\n");
        println!("| subject | samples | p50 | p99 | p99.9 | max |");
        println!("|---|---:|---:|---:|---:|---:|");
        let q = |h: &Histogram<u64>| {
            [
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
                h.max(),
            ]
        };
        let base = q(&hists[CLOCK]);
        for (which, h) in hists.iter().enumerate() {
            let v = q(h);
            let cells: Vec<String> = (0..4)
                .map(|i| {
                    if which == CLOCK {
                        format!("**{}**", v[i])
                    } else {
                        format!("{} ({:.2}×)", v[i], v[i] as f64 / base[i].max(1) as f64)
                    }
                })
                .collect();
            println!(
                "| {} | {} | {} |",
                HEADERS[which],
                h.len(),
                cells.join(" | ")
            );
        }
        println!();
        flush();
    }
    println!("{FOOTNOTES}\n");
}

// ---------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------

struct MemResult {
    filled_bytes: isize,
    filled_len: usize,
    empty_bytes: isize,
}

fn measure_memory<C: Subject<K, V>, K, V>(
    cap: usize,
    n: usize,
    make: &dyn Fn(u64) -> (K, V),
) -> MemResult {
    // Empty cache of capacity `cap`.
    let before = live_bytes();
    let c = C::with_capacity(cap);
    c.settle();
    let empty_bytes = live_bytes() - before;
    drop(c);

    // Filled with `n` distinct keys (their heap parts move into the cache and
    // are counted).
    let before = live_bytes();
    let c = C::with_capacity(cap);
    for i in 0..n as u64 {
        let (k, v) = make(i);
        c.insert(k, v);
    }
    c.settle();
    let filled_len = c.entries();
    let filled_bytes = live_bytes() - before;
    drop(c);
    MemResult {
        filled_bytes,
        filled_len,
        empty_bytes,
    }
}

/// Bytes per `(K, V)` pair in a plain `Vec` (inline size plus the pair's own
/// heap blocks): the payload the caches' overhead is measured against.
fn payload_bytes<K, V>(n: usize, make: &dyn Fn(u64) -> (K, V)) -> f64 {
    let before = live_bytes();
    let v: Vec<(K, V)> = (0..n as u64).map(make).collect();
    let bytes = live_bytes() - before - BLOCK_OVERHEAD;
    drop(v);
    bytes as f64 / n as f64
}

fn human(bytes: isize) -> String {
    let b = bytes as f64;
    if b.abs() >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else if b.abs() >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

fn memory_table<K: Key, V: Val>(title: &str, cap: usize, make: &dyn Fn(u64) -> (K, V)) {
    // Untimed, unreported pass so that one-time global allocations (hasher seeds,
    // epoch collectors, thread-locals) are not charged to the first subject.
    let _ = measure_memory::<Clock<K, V>, K, V>(1000, 1000, make);
    let _ = measure_memory::<Quick<K, V>, K, V>(1000, 1000, make);
    let _ = measure_memory::<Moka<K, V>, K, V>(1000, 1000, make);
    let _ = measure_memory::<MiniMoka<K, V>, K, V>(1000, 1000, make);
    let _ = measure_memory::<Dash<K, V>, K, V>(1000, 1000, make);
    let _ = measure_memory::<Lru<K, V>, K, V>(1000, 1000, make);

    let payload = payload_bytes(cap, make);
    println!("### {title}\n");
    println!(
        "Payload: {payload:.1} B per entry (the key and value inline plus their own heap \
         blocks); overhead = bytes/entry − payload.\n"
    );
    println!(
        "| subject | len after fill | bytes/entry | overhead/entry | filled total | empty cache allocates |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    flush();
    let results = [
        measure_memory::<Clock<K, V>, K, V>(cap, cap, make),
        measure_memory::<Quick<K, V>, K, V>(cap, cap, make),
        measure_memory::<Moka<K, V>, K, V>(cap, cap, make),
        measure_memory::<MiniMoka<K, V>, K, V>(cap, cap, make),
        measure_memory::<Dash<K, V>, K, V>(cap, cap, make),
        measure_memory::<Lru<K, V>, K, V>(cap, cap, make),
    ];
    for (which, r) in results.iter().enumerate() {
        let per = if r.filled_len > 0 {
            r.filled_bytes as f64 / r.filled_len as f64
        } else {
            f64::NAN
        };
        let len = if r.filled_len < cap {
            format!("{} (evicted while filling)", r.filled_len)
        } else {
            r.filled_len.to_string()
        };
        println!(
            "| {} | {} | {:.1} | {:.1} | {} | {} |",
            HEADERS[which],
            len,
            per,
            per - payload,
            human(r.filled_bytes),
            human(r.empty_bytes),
        );
    }
    println!();
    flush();
}

fn memory(opts: &Opts) {
    let t0 = Instant::now();
    let cap = opts.mem_capacity;
    println!("## Memory (capacity {cap}, filled with {cap} distinct keys)\n");
    println!(
        "Live heap bytes from a counting global allocator: requested size + {BLOCK_OVERHEAD} B per \
         live block. bytes/entry = (live after filling − live before creating the cache) / len(). \
         \"empty cache allocates\": live bytes right after building an empty cache of capacity \
         {cap} (allocated, not necessarily touched: clockcache's table is zeroed lazily by the OS).\n"
    );
    memory_table::<u64, u64>("`u64 -> u64`", cap, &|i| (scramble(i), i));
    memory_table::<String, Vec<u8>>(
        &format!("`String -> Vec<u8>` ({VALUE_BYTES}-byte values, 17-byte keys)"),
        cap,
        &|i| (format!("user:{i:012}"), vec![i as u8; VALUE_BYTES]),
    );
    println!("{FOOTNOTES}\n");
    eprintln!("memory section took {:.2} s", t0.elapsed().as_secs_f64());
}

// ---------------------------------------------------------------------------
// Plots
// ---------------------------------------------------------------------------

mod plots {
    use std::error::Error;
    use std::path::Path;

    use plotters::prelude::*;

    use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};

    type Res = Result<(), Box<dyn Error>>;

    /// A linear `f64` axis whose ticks are exactly `keys` (plotters'
    /// `with_key_points` lacks a default label formatter).
    struct Ticks {
        lo: f64,
        hi: f64,
        keys: Vec<f64>,
    }

    impl Ranged for Ticks {
        type FormatOption = DefaultFormatting;
        type ValueType = f64;
        fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
            let r = (v - self.lo) / (self.hi - self.lo);
            limit.0 + (r * f64::from(limit.1 - limit.0)).round() as i32
        }
        fn key_points<H: KeyPointHint>(&self, _hint: H) -> Vec<f64> {
            self.keys.clone()
        }
        fn range(&self) -> std::ops::Range<f64> {
            self.lo..self.hi
        }
    }

    /// Series colours: clockcache first (red), then the peers.
    pub const COLORS: [RGBColor; 6] = [
        RGBColor(214, 39, 40),
        RGBColor(31, 119, 180),
        RGBColor(44, 160, 44),
        RGBColor(255, 127, 14),
        RGBColor(127, 127, 127),
        RGBColor(148, 103, 189),
    ];

    /// The font comes from the `dejavu` crate, so no system fonts are needed.
    fn fonts() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let _ = plotters::style::register_font(
                "sans-serif",
                FontStyle::Normal,
                dejavu::sans::regular(),
            );
            let _ =
                plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
        });
    }

    /// Throughput against threads, one line per subject.
    pub fn throughput(
        path: &Path,
        title: &str,
        threads: &[usize],
        names: &[&str],
        mops: &[Vec<f64>],
    ) -> Res {
        fonts();
        let root = BitMapBackend::new(path, (1200, 700)).into_drawing_area();
        root.fill(&WHITE)?;
        let root = root.titled(title, ("sans-serif", 24))?;
        let (plot, legend) = root.split_horizontally(930);
        let n = threads.len();
        let ymax = mops
            .iter()
            .flatten()
            .copied()
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max)
            * 1.08;
        let keys: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let mut chart = ChartBuilder::on(&plot)
            .margin(20)
            .x_label_area_size(55)
            .y_label_area_size(80)
            .build_cartesian_2d(
                Ticks {
                    lo: -0.35,
                    hi: n as f64 - 0.65,
                    keys,
                },
                0f64..ymax.max(1.0),
            )?;
        chart
            .configure_mesh()
            .x_desc("threads")
            .y_desc("Mops/s (median of rounds)")
            .x_label_formatter(&|x| {
                threads
                    .get(x.round().max(0.0) as usize)
                    .map(|t| t.to_string())
                    .unwrap_or_default()
            })
            .y_label_formatter(&|y| format!("{y:.0}"))
            .light_line_style(WHITE)
            .label_style(("sans-serif", 18))
            .axis_desc_style(("sans-serif", 20))
            .draw()?;
        let style = ("sans-serif", 19).into_font().color(&BLACK);
        for (j, name) in names.iter().enumerate() {
            let color = COLORS[j % COLORS.len()];
            let pts: Vec<(f64, f64)> = mops[j]
                .iter()
                .enumerate()
                .map(|(i, &v)| (i as f64, v))
                .collect();
            let width = if j == 0 { 4 } else { 2 };
            chart.draw_series(LineSeries::new(pts.clone(), color.stroke_width(width)))?;
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 5, color.filled())))?;
            let y = 60 + 34 * j as i32;
            legend.draw(&PathElement::new(
                vec![(10, y), (46, y)],
                color.stroke_width(width),
            ))?;
            legend.draw(&Circle::new((28, y), 5, color.filled()))?;
            legend.draw(&Text::new(name.to_string(), (56, y - 11), style.clone()))?;
        }
        root.present()?;
        Ok(())
    }

    /// One panel per capacity fraction; per trace, a bar per subject and
    /// OPT and LRU as vertical marks.
    pub struct HitPanel {
        pub title: String,
        /// Per trace: (name, OPT, LRU, one value per subject).
        pub rows: Vec<(String, f64, f64, Vec<f64>)>,
    }

    pub fn hit_ratio(path: &Path, title: &str, subjects: &[String], panels: &[HitPanel]) -> Res {
        fonts();
        let traces = panels.first().map_or(0, |p| p.rows.len());
        let height = 170 + 46 * traces as u32;
        let label_w = 230u32;
        let panel_w = 520u32;
        let width = label_w + panel_w * panels.len() as u32 + 20;
        let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let root = root.titled(title, ("sans-serif", 26))?;
        let (body, legend) = root.split_vertically(root.dim_in_pixel().1 - 50);
        let mut rest = body;
        let n = traces as f64;
        let k = subjects.len().max(1) as f64;
        for (p, panel) in panels.iter().enumerate() {
            let w = if p == 0 { label_w + panel_w } else { panel_w };
            let (area, r) = rest.split_horizontally(w);
            rest = r;
            let names: Vec<String> = panel.rows.iter().map(|r| r.0.clone()).collect();
            let centres: Vec<f64> = (0..traces).map(|i| i as f64).collect();
            let mut chart = ChartBuilder::on(&area)
                .caption(&panel.title, ("sans-serif", 22))
                .margin(8)
                .x_label_area_size(45)
                .y_label_area_size(if p == 0 { label_w } else { 8 })
                .build_cartesian_2d(
                    0f64..100f64,
                    Ticks {
                        lo: -0.5,
                        hi: n - 0.5,
                        keys: centres,
                    },
                )?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .x_desc("hit ratio, % of requests")
                .x_labels(6)
                .x_label_formatter(&|x| format!("{x:.0}"))
                .light_line_style(WHITE)
                .y_label_formatter(&|y| {
                    let i = y.round();
                    if p == 0 && i >= 0.0 && (i as usize) < names.len() {
                        // Top to bottom in table order.
                        names[names.len() - 1 - i as usize].clone()
                    } else {
                        String::new()
                    }
                })
                .label_style(("sans-serif", 16))
                .axis_desc_style(("sans-serif", 17))
                .draw()?;
            let h = 0.84 / k;
            for (j, _) in subjects.iter().enumerate() {
                let color = COLORS[j % COLORS.len()];
                chart.draw_series(panel.rows.iter().enumerate().map(|(i, r)| {
                    let yc = n - 1.0 - i as f64;
                    let top = yc + 0.42 - j as f64 * h;
                    Rectangle::new([(0.0, top - h * 0.92), (r.3[j], top)], color.filled())
                }))?;
            }
            for (which, color, width) in [(0, BLACK, 3), (1, RGBColor(90, 90, 90), 2)] {
                chart.draw_series(panel.rows.iter().enumerate().map(|(i, r)| {
                    let yc = n - 1.0 - i as f64;
                    let x = if which == 0 { r.1 } else { r.2 };
                    PathElement::new(
                        vec![(x, yc - 0.47), (x, yc + 0.47)],
                        color.stroke_width(width),
                    )
                }))?;
            }
        }
        // Legend strip.
        let style = ("sans-serif", 18).into_font().color(&BLACK);
        let mut x = 20i32;
        let y = 18i32;
        for (j, s) in subjects.iter().enumerate() {
            let c = COLORS[j % COLORS.len()];
            legend.draw(&Rectangle::new([(x, y - 8), (x + 22, y + 8)], c.filled()))?;
            legend.draw(&Text::new(s.clone(), (x + 28, y - 10), style.clone()))?;
            x += 60 + 11 * s.len() as i32;
        }
        for (label, color, width) in [
            ("OPT (Belady, the limit)", BLACK, 3),
            ("exact LRU", RGBColor(90, 90, 90), 2),
        ] {
            legend.draw(&PathElement::new(
                vec![(x + 10, y - 11), (x + 10, y + 11)],
                color.stroke_width(width),
            ))?;
            legend.draw(&Text::new(label, (x + 20, y - 10), style.clone()))?;
            x += 50 + 11 * label.len() as i32;
        }
        root.present()?;
        Ok(())
    }
}

fn write_plots(
    dir: &Path,
    tp: Option<&ThroughputResult>,
    hr: Option<&hit_ratio::Report>,
    opts: &Opts,
) {
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        return;
    }
    let mode = if opts.mode == Mode::Full {
        String::new()
    } else {
        " [quick run]".to_string()
    };
    match tp.and_then(|t| {
        t.mixes
            .iter()
            .find(|(m, _)| *m == Mix::NinetyTen)
            .map(|m| (t, m))
    }) {
        Some((t, (_, rows))) => {
            let path = dir.join("throughput-90-10.png");
            let series: Vec<Vec<f64>> = (0..N)
                .map(|w| rows.iter().map(|r| r[w]).collect())
                .collect();
            let names: Vec<&str> = NAMES
                .iter()
                .map(|&n| {
                    if n == "DashMap" {
                        "DashMap (unbounded)"
                    } else {
                        n
                    }
                })
                .collect();
            let title = format!(
                "90% get / 10% insert, Zipf 0.99, 1M keys, capacity 100k ({} cores){mode}",
                cores()
            );
            match plots::throughput(&path, &title, &t.threads, &names, &series) {
                Ok(()) => println!("Plot: `{}`\n", path.display()),
                Err(e) => eprintln!("plot {} failed: {e}", path.display()),
            }
        }
        None => eprintln!("no throughput-90-10 plot: the 90/10 mix was not run"),
    }
    match hr.filter(|r| !r.traces.is_empty()) {
        Some(r) => {
            let mut fractions: Vec<f64> = r.traces.iter().map(|t| t.fraction).collect();
            fractions.sort_by(f64::total_cmp);
            fractions.dedup();
            let panels: Vec<plots::HitPanel> = fractions
                .iter()
                .map(|&f| plots::HitPanel {
                    title: format!("capacity {}% of distinct keys", (f * 100.0).round()),
                    rows: r
                        .traces
                        .iter()
                        .filter(|t| t.fraction == f)
                        .map(|t| (t.trace.clone(), t.opt, t.lru, t.subjects.clone()))
                        .collect(),
                })
                .collect();
            let path = dir.join("hit-ratio.png");
            let title = format!("Hit ratio per trace, single-threaded replay{mode}");
            match plots::hit_ratio(&path, &title, &r.subjects, &panels) {
                Ok(()) => println!("Plot: `{}`\n", path.display()),
                Err(e) => eprintln!("plot {} failed: {e}", path.display()),
            }
        }
        None => eprintln!("no hit-ratio plot: no trace was replayed"),
    }
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

fn flush() {
    let _ = std::io::stdout().flush();
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| {
            l.starts_with("model name") || l.starts_with("Model") || l.starts_with("CPU part")
        })
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

/// The 1, 5 and 15 minute load averages.
fn load_average() -> Option<String> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    let v: Vec<&str> = s.split_whitespace().take(3).collect();
    (v.len() == 3).then(|| v.join(" "))
}

/// Version of a package in the workspace's Cargo.lock (the first whose
/// version starts with `major`, since some crates appear twice).
fn locked_version(name: &str, major: &str) -> String {
    const LOCK: &str = include_str!("../Cargo.lock");
    let needle = format!("name = \"{name}\"\nversion = \"");
    LOCK.match_indices(&needle)
        .filter_map(|(i, _)| {
            let rest = &LOCK[i + needle.len()..];
            rest.split('"').next()
        })
        .find(|v| v.starts_with(major))
        .unwrap_or("?")
        .to_string()
}

/// `YYYY-MM-DD HH:MM UTC` from the system clock.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

fn main() {
    let opts = parse_opts();
    let t_start = Instant::now();

    println!("# clockcache comparison\n");
    println!("- date: {}", utc_now());
    match load_average() {
        Some(l) => println!(
            "- load average at start (/proc/loadavg, 1/5/15 min): {l} on {} core(s){}",
            cores(),
            if l.split(' ')
                .next()
                .and_then(|x| x.parse::<f64>().ok())
                .is_some_and(|x| x > 0.75 * cores() as f64)
            {
                " — other work is competing for the cores: timings are noisy"
            } else {
                ""
            }
        ),
        None => println!("- load average at start: unknown (no /proc/loadavg)"),
    }
    println!("- cores (available_parallelism): {}", cores());
    println!(
        "- arch / os: {} / {}",
        std::env::consts::ARCH,
        std::env::consts::OS
    );
    if let Some(m) = cpu_model() {
        println!("- cpu: {m}");
    }
    println!(
        "- build: debug_assertions {}",
        if cfg!(debug_assertions) {
            "ON (numbers not representative)"
        } else {
            "off"
        }
    );
    println!(
        "- mode: {}; slice {} ms, {} round(s), {} keys per thread stream",
        match opts.mode {
            Mode::Full => "full",
            Mode::Quick => "--quick",
            Mode::Smoke => "smoke run (no --bench flag, e.g. cargo test; not a benchmark)",
        },
        opts.duration.as_millis(),
        opts.rounds,
        opts.stream_len
    );
    println!(
        "- subjects: clockcache {}, quick_cache {}, moka {} (sync), mini-moka {} (sync), \
         DashMap {} (unbounded), `parking_lot::Mutex<lru::LruCache>` (parking_lot {}, lru {}); \
         all with ahash {}",
        env!("CARGO_PKG_VERSION"),
        locked_version("quick_cache", "0.7"),
        locked_version("moka", "0.12"),
        locked_version("mini-moka", "0.10"),
        locked_version("dashmap", "6"),
        locked_version("parking_lot", "0.12"),
        locked_version("lru", ""),
        locked_version("ahash", "0.8"),
    );
    println!("- a counting global allocator (per-thread striped relaxed counters) is active for all sections\n");
    flush();

    let mut tp_result = None;
    let need_caches = opts.runs(Section::Throughput) || opts.runs(Section::Latency);
    if need_caches {
        let mut n_streams = 2;
        if opts.runs(Section::Throughput) {
            n_streams = n_streams.max(opts.throughput_threads().into_iter().max().unwrap_or(1));
        }
        if opts.runs(Section::Latency) {
            n_streams = n_streams.max(opts.latency_threads().into_iter().max().unwrap_or(1));
        }
        let streams = make_streams(n_streams, opts.stream_len);
        let subjects = Subjects::new_warm(&streams);
        if opts.runs(Section::Throughput) {
            tp_result = Some(throughput(&opts, &subjects, &streams));
        }
        if opts.runs(Section::Latency) {
            latency(&opts, &subjects, &streams);
        }
    }
    if opts.runs(Section::Memory) {
        memory(&opts);
    }
    let mut hr_result = None;
    if opts.runs(Section::HitRatio) {
        let mut cfg = hit_ratio::Config::full(hit_ratio::traces_dir());
        cfg.trace_filter = opts.trace_filter.clone();
        match opts.mode {
            Mode::Full => {}
            Mode::Quick => cfg.skip_largest = 2,
            Mode::Smoke => {
                cfg.max_requests = Some(20_000);
                cfg.synthetic_len = 50_000;
            }
        }
        hr_result = Some(hit_ratio::run(&cfg));
    }
    if let Some(dir) = &opts.plots {
        write_plots(dir, tp_result.as_ref(), hr_result.as_ref(), &opts);
    }
    println!(
        "Finished in {:.0} s; load average at the end (1/5/15 min): {}.",
        t_start.elapsed().as_secs_f64(),
        load_average().unwrap_or_else(|| "unknown".into())
    );
    eprintln!("total {:.1} s", t_start.elapsed().as_secs_f64());
}
