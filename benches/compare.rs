//! Comparison runner: `clockcache` vs `quick_cache::sync::Cache` (0.7) vs
//! `moka::sync::Cache` (0.12), all measured in one process, interleaved.
//!
//! What it measures (each section prints a markdown table):
//!
//! * **throughput** — Mops/s for a `u64 -> u64` cache of capacity 100 000 under a
//!   Zipf(s = 0.99) key distribution over 1 000 000 distinct keys, for two mixes:
//!   `read-only` (get, and insert on a miss: the cache-aside loop) and `90/10`
//!   (90% get without insert on miss, 10% insert). Thread counts 1, 2, then
//!   doubling up to `available_parallelism()`. Key streams are generated before
//!   timing (one per thread, a Zipf CDF sampled by binary search with `SmallRng`,
//!   ranks scrambled by a bijective mix). Each cell is timed over a fixed slice per
//!   round; subjects run round-robin within each round and the median over rounds is
//!   reported, with the ratios clockcache/quick_cache and clockcache/moka.
//! * **latency** — get latency under the 90/10 mix (2 threads by default): one get
//!   in 16 is timed with `Instant` into an HDR histogram; prints p50, p99, p99.9 and
//!   max per subject and the clockcache/quick_cache p99.9 ratio.
//! * **memory** — a counting global allocator (requested bytes + 8 bytes per live
//!   block, glibc's chunk header) gives the bytes per entry of a cache of capacity
//!   1 000 000 filled with 1 000 000 distinct keys, and the bytes an empty cache of
//!   that capacity reserves.
//!
//! All three subjects hash with `ahash::RandomState`, so the hasher is not what is
//! compared. Nothing here asserts on timings.
//!
//! Run:
//!
//! ```text
//! cargo bench --bench compare                     # full run (1 s slices, 5 rounds)
//! cargo bench --bench compare -- --quick          # short run (< 2 min on 2 cores)
//! cargo bench --bench compare -- --help           # all options
//! cargo bench --bench compare -- --only latency --threads 1,2,4 --rounds 3
//! ```
//!
//! `cargo test --all-targets` also runs this binary (without `--bench`); it then
//! does a seconds-long smoke run and ignores libtest's flags.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::io::Write;
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
/// Default latency thread count.
const LATENCY_THREADS: usize = 2;
/// One get in this many is timed in the latency section.
const LATENCY_SAMPLE_EVERY: u32 = 16;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Section {
    Throughput,
    Latency,
    Memory,
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
    only: Option<Section>,
    /// Keys per pre-generated stream (power of two).
    stream_len: usize,
    /// Capacity (and number of keys filled) in the memory section.
    mem_capacity: usize,
}

const USAGE: &str = "\
clockcache comparison benchmark (clockcache vs quick_cache vs moka)

USAGE: cargo bench --bench compare -- [OPTIONS]

OPTIONS:
  --help                 print this help and exit
  --quick                short run: 200 ms slices, 1 round, 2^20-key streams
  --duration-ms N        time slice per cell and round, in ms (default 1000, quick 200)
  --rounds N             rounds per cell; the median is reported (default 5, quick 1)
  --threads LIST         comma-separated thread counts, e.g. 1,2,4
                         (default: throughput 1,2,4,.. up to the core count; latency 2)
  --only SECTION         run one section: throughput | latency | memory
  --bench*               ignored (cargo passes --bench to harness = false benches)

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
    let mut only = None;

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
                only = Some(match v.as_str() {
                    "throughput" => Section::Throughput,
                    "latency" => Section::Latency,
                    "memory" => Section::Memory,
                    _ => usage_error(&format!("unknown section {v:?}")),
                });
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
    }
}

impl Opts {
    fn runs(&self, s: Section) -> bool {
        self.only.is_none_or(|o| o == s)
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
        self.threads
            .clone()
            .unwrap_or_else(|| vec![LATENCY_THREADS])
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

trait Subject: Sync + Sized {
    const NAME: &'static str;
    fn with_capacity(cap: usize) -> Self;
    fn get(&self, k: u64) -> Option<u64>;
    fn insert(&self, k: u64, v: u64);
    /// Finish deferred bookkeeping (moka's pending maintenance).
    fn settle(&self) {}
    fn entries(&self) -> usize;
}

struct Clock(clockcache::Cache<u64, u64>);
struct Quick(quick_cache::sync::Cache<u64, u64, quick_cache::UnitWeighter, ahash::RandomState>);
struct Moka(moka::sync::Cache<u64, u64, ahash::RandomState>);

impl Subject for Clock {
    const NAME: &'static str = "clockcache";
    fn with_capacity(cap: usize) -> Self {
        Clock(clockcache::Cache::new(cap))
    }
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        self.0.get(&k)
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) {
        self.0.insert(k, v);
    }
    fn entries(&self) -> usize {
        self.0.len()
    }
}

impl Subject for Quick {
    const NAME: &'static str = "quick_cache";
    fn with_capacity(cap: usize) -> Self {
        Quick(quick_cache::sync::Cache::with(
            cap,
            cap as u64,
            quick_cache::UnitWeighter,
            ahash::RandomState::new(),
            Default::default(),
        ))
    }
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        self.0.get(&k)
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) {
        self.0.insert(k, v);
    }
    fn entries(&self) -> usize {
        self.0.len()
    }
}

impl Subject for Moka {
    const NAME: &'static str = "moka";
    fn with_capacity(cap: usize) -> Self {
        Moka(
            moka::sync::Cache::builder()
                .max_capacity(cap as u64)
                .build_with_hasher(ahash::RandomState::new()),
        )
    }
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        self.0.get(&k)
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) {
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

const NAMES: [&str; 3] = [Clock::NAME, Quick::NAME, Moka::NAME];
const CLOCK: usize = 0;
const QUICK: usize = 1;
const MOKA: usize = 2;

/// The three caches used by the throughput and latency sections (capacity 100 000).
struct Subjects {
    clock: Clock,
    quick: Quick,
    moka: Moka,
}

impl Subjects {
    /// Creates the caches and pre-warms each by running the cache-aside loop once,
    /// untimed, over the first two key streams.
    fn new_warm(streams: &[Vec<u64>]) -> Subjects {
        let t0 = Instant::now();
        let s = Subjects {
            clock: Clock::with_capacity(CAPACITY),
            quick: Quick::with_capacity(CAPACITY),
            moka: Moka::with_capacity(CAPACITY),
        };
        fn warm<C: Subject>(c: &C, streams: &[Vec<u64>]) {
            for stream in streams.iter().take(2) {
                for &k in stream {
                    if c.get(k).is_none() {
                        c.insert(k, k);
                    }
                }
            }
            c.settle();
        }
        warm(&s.clock, streams);
        warm(&s.quick, streams);
        warm(&s.moka, streams);
        eprintln!(
            "warmed the three caches in {:.2} s (len: clockcache {}, quick_cache {}, moka {})",
            t0.elapsed().as_secs_f64(),
            s.clock.entries(),
            s.quick.entries(),
            s.moka.entries()
        );
        s
    }
}

// ---------------------------------------------------------------------------
// Throughput
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mix {
    /// get, insert on miss
    ReadOnly,
    /// 90% get (no insert on miss), 10% insert
    NinetyTen,
}

impl Mix {
    fn label(self) -> &'static str {
        match self {
            Mix::ReadOnly => "read-only (get, insert on miss)",
            Mix::NinetyTen => "90/10 (90% get, 10% insert)",
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Counts {
    ops: u64,
    gets: u64,
    hits: u64,
}

/// One thread's timed loop. `RW` selects the 90/10 mix; `SAMPLE` times one get in
/// `LATENCY_SAMPLE_EVERY` into `hist`.
fn worker<C: Subject, const RW: bool, const SAMPLE: bool>(
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
            if RW {
                mix_ctr += 1;
                if mix_ctr == 10 {
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
                    let r = black_box(c.get(black_box(k)));
                    let ns = t.elapsed().as_nanos() as u64;
                    hist.saturating_record(ns);
                    r
                } else {
                    c.get(k)
                }
            } else {
                c.get(k)
            };
            if black_box(r).is_some() {
                n.hits += 1;
            } else if !RW {
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

/// Runs `threads` workers for one slice; returns (Mops/s, counts, merged histogram).
fn run_slice<C: Subject, const RW: bool, const SAMPLE: bool>(
    c: &C,
    streams: &[Vec<u64>],
    threads: usize,
    round: usize,
    dur: Duration,
) -> (f64, Counts, Histogram<u64>) {
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
                    let (n, el) = worker::<C, RW, SAMPLE>(c, keys, start_at, dur, barrier, &mut h);
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

fn run_subject_slice<const RW: bool, const SAMPLE: bool>(
    s: &Subjects,
    which: usize,
    streams: &[Vec<u64>],
    threads: usize,
    round: usize,
    dur: Duration,
) -> (f64, Counts, Histogram<u64>) {
    match which {
        CLOCK => run_slice::<_, RW, SAMPLE>(&s.clock, streams, threads, round, dur),
        QUICK => run_slice::<_, RW, SAMPLE>(&s.quick, streams, threads, round, dur),
        _ => run_slice::<_, RW, SAMPLE>(&s.moka, streams, threads, round, dur),
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}×", a / b)
    } else {
        "n/a".to_string()
    }
}

fn pct(hits: u64, gets: u64) -> f64 {
    if gets == 0 {
        0.0
    } else {
        100.0 * hits as f64 / gets as f64
    }
}

fn throughput(opts: &Opts, subjects: &Subjects, streams: &[Vec<u64>]) {
    let threads = opts.throughput_threads();
    println!(
        "## Throughput (Mops/s, median of {} round(s) × {} ms)\n",
        opts.rounds,
        opts.duration.as_millis()
    );
    println!(
        "Zipf(s = {ZIPF_S}) over {DISTINCT_KEYS} keys, capacity {CAPACITY}, pre-warmed; \
         subjects run round-robin within each round. \
         hit % = hits / gets over all rounds.\n"
    );
    for mix in [Mix::ReadOnly, Mix::NinetyTen] {
        println!("### {}\n", mix.label());
        println!(
            "| threads | clockcache | quick_cache | moka | clockcache/quick_cache | clockcache/moka | hit % cc / qc / moka |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|");
        flush();
        for &t in &threads {
            let mut mops: [Vec<f64>; 3] = Default::default();
            let mut counts = [Counts::default(); 3];
            for round in 0..opts.rounds {
                for j in 0..3 {
                    let which = (round + j) % 3;
                    let (m, n, _) = match mix {
                        Mix::ReadOnly => run_subject_slice::<false, false>(
                            subjects,
                            which,
                            streams,
                            t,
                            round,
                            opts.duration,
                        ),
                        Mix::NinetyTen => run_subject_slice::<true, false>(
                            subjects,
                            which,
                            streams,
                            t,
                            round,
                            opts.duration,
                        ),
                    };
                    mops[which].push(m);
                    counts[which].gets += n.gets;
                    counts[which].hits += n.hits;
                }
            }
            let med: Vec<f64> = mops.iter_mut().map(|v| median(v)).collect();
            println!(
                "| {t} | {:.2} | {:.2} | {:.2} | {} | {} | {:.1} / {:.1} / {:.1} |",
                med[CLOCK],
                med[QUICK],
                med[MOKA],
                ratio(med[CLOCK], med[QUICK]),
                ratio(med[CLOCK], med[MOKA]),
                pct(counts[CLOCK].hits, counts[CLOCK].gets),
                pct(counts[QUICK].hits, counts[QUICK].gets),
                pct(counts[MOKA].hits, counts[MOKA].gets),
            );
            flush();
        }
        println!();
    }
}

// ---------------------------------------------------------------------------
// Latency
// ---------------------------------------------------------------------------

fn latency(opts: &Opts, subjects: &Subjects, streams: &[Vec<u64>]) {
    println!(
        "## Get latency under the 90/10 mix (ns; 1 get in {LATENCY_SAMPLE_EVERY} timed with Instant, \
         {} round(s) × {} ms merged)\n",
        opts.rounds,
        opts.duration.as_millis()
    );
    println!("Timings include one `Instant::now()` call (~20 ns with the vDSO clock).\n");
    println!("| threads | subject | samples | p50 | p99 | p99.9 | max |");
    println!("|---:|---|---:|---:|---:|---:|---:|");
    flush();
    let mut p999_ratios = Vec::new();
    for t in opts.latency_threads() {
        let mut hists: Vec<Histogram<u64>> = (0..3).map(|_| new_hist()).collect();
        for round in 0..opts.rounds {
            for j in 0..3 {
                let which = (round + j) % 3;
                let (_, _, h) = run_subject_slice::<true, true>(
                    subjects,
                    which,
                    streams,
                    t,
                    round,
                    opts.duration,
                );
                hists[which].add(&h).expect("histogram add");
            }
        }
        for (which, h) in hists.iter().enumerate() {
            println!(
                "| {t} | {} | {} | {} | {} | {} | {} |",
                NAMES[which],
                h.len(),
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
                h.max()
            );
        }
        flush();
        p999_ratios.push((
            t,
            hists[CLOCK].value_at_quantile(0.999) as f64,
            hists[QUICK].value_at_quantile(0.999) as f64,
        ));
    }
    println!();
    println!("| threads | clockcache p99.9 / quick_cache p99.9 |");
    println!("|---:|---:|");
    for (t, cc, qc) in p999_ratios {
        println!("| {t} | {} |", ratio(cc, qc));
    }
    println!();
}

// ---------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------

struct MemResult {
    filled_bytes: isize,
    filled_len: usize,
    empty_bytes: isize,
}

fn measure_memory<C: Subject>(cap: usize, n: usize) -> MemResult {
    // Empty cache of capacity `cap`.
    let before = live_bytes();
    let c = C::with_capacity(cap);
    c.settle();
    let empty_bytes = live_bytes() - before;
    drop(c);

    // Filled with `n` distinct keys.
    let before = live_bytes();
    let c = C::with_capacity(cap);
    for i in 0..n as u64 {
        c.insert(scramble(i), i);
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

fn memory(opts: &Opts) {
    let cap = opts.mem_capacity;
    // Untimed, unreported pass so that one-time global allocations (hasher seeds,
    // epoch collectors, thread-locals) are not charged to the first subject.
    let _ = measure_memory::<Clock>(1000, 1000);
    let _ = measure_memory::<Quick>(1000, 1000);
    let _ = measure_memory::<Moka>(1000, 1000);

    println!("## Memory (`u64 -> u64`, capacity {cap})\n");
    println!(
        "Live heap bytes from a counting global allocator: requested size + {BLOCK_OVERHEAD} B per \
         live block. bytes/entry = (live after filling with {cap} distinct keys − live before \
         creating the cache) / len(). Payload is 16 B per entry.\n"
    );
    println!("| subject | len after fill | bytes/entry (filled) | filled total | empty cache reserves | note |");
    println!("|---|---:|---:|---:|---:|---|");
    flush();
    let t0 = Instant::now();
    let results = [
        measure_memory::<Clock>(cap, cap),
        measure_memory::<Quick>(cap, cap),
        measure_memory::<Moka>(cap, cap),
    ];
    for (which, r) in results.iter().enumerate() {
        let per = if r.filled_len > 0 {
            r.filled_bytes as f64 / r.filled_len as f64
        } else {
            f64::NAN
        };
        let note = if r.filled_len < cap {
            format!(
                "evicted during fill: divided by len {} (< {cap})",
                r.filled_len
            )
        } else {
            String::new()
        };
        println!(
            "| {} | {} | {:.1} | {} | {} ({} B) | {} |",
            NAMES[which],
            r.filled_len,
            per,
            human(r.filled_bytes),
            human(r.empty_bytes),
            r.empty_bytes,
            note
        );
    }
    println!();
    eprintln!("memory section took {:.2} s", t0.elapsed().as_secs_f64());
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

fn main() {
    let opts = parse_opts();
    let t_start = Instant::now();

    println!("# clockcache vs quick_cache 0.7 vs moka 0.12\n");
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
    println!("- subjects: clockcache::Cache, quick_cache::sync::Cache, moka::sync::Cache; all with ahash::RandomState");
    println!("- a counting global allocator (per-thread striped relaxed counters) is active for all sections\n");
    flush();

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
            throughput(&opts, &subjects, &streams);
        }
        if opts.runs(Section::Latency) {
            latency(&opts, &subjects, &streams);
        }
    }
    if opts.runs(Section::Memory) {
        memory(&opts);
    }
    eprintln!("total {:.1} s", t_start.elapsed().as_secs_f64());
}
