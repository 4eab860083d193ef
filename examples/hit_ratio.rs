//! Hit-ratio replay: clockcache, quick_cache and moka on the real traces.
//!
//! Replays every trace in `../shared/traces` (or `$CLOCKCACHE_TRACES`)
//! single-threaded at the capacities of its `reference_hit_ratios.csv` rows
//! (get, and insert on a miss), driving the real caches, and prints one
//! table row per (trace, capacity) next to the exact LRU and Belady OPT
//! references from the CSV, then the means per capacity fraction. It also
//! runs two synthetic workloads (a Zipf hot set polluted by scans, and Zipf
//! 0.8/0.99) and, with `--threads 2`, replays each trace with two threads
//! taking interleaved halves.
//!
//! ```text
//! cargo run --release --example hit_ratio                 # everything
//! cargo run --release --example hit_ratio -- --only clockcache --trace lirs
//! cargo run --release --example hit_ratio -- --threads 2  # concurrent replay too
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// A cache under test, seen through the replay loop.
trait Subject: Sync {
    fn get(&self, k: u64) -> bool;
    fn insert(&self, k: u64);
}

struct Clock(clockcache::Cache<u64, u64>);
struct Quick(quick_cache::sync::Cache<u64, u64>);
struct Moka(moka::sync::Cache<u64, u64>);

impl Subject for Clock {
    fn get(&self, k: u64) -> bool {
        self.0.get(&k).is_some()
    }
    fn insert(&self, k: u64) {
        self.0.insert(k, k);
    }
}
impl Subject for Quick {
    fn get(&self, k: u64) -> bool {
        self.0.get(&k).is_some()
    }
    fn insert(&self, k: u64) {
        self.0.insert(k, k);
    }
}
impl Subject for Moka {
    fn get(&self, k: u64) -> bool {
        self.0.get(&k).is_some()
    }
    fn insert(&self, k: u64) {
        self.0.insert(k, k);
    }
}

const SUBJECTS: [&str; 3] = ["clockcache", "quick_cache", "moka"];

fn make(name: &str, cap: usize) -> Box<dyn Subject> {
    match name {
        "clockcache" => Box::new(Clock(clockcache::Cache::new(cap))),
        "quick_cache" => Box::new(Quick(quick_cache::sync::Cache::new(cap))),
        _ => Box::new(Moka(moka::sync::Cache::new(cap as u64))),
    }
}

/// Hit ratio in percent of `keys` replayed on `threads` threads, thread `t`
/// taking requests `t, t + threads, ...` (interleaved halves for 2).
fn replay(s: &dyn Subject, keys: &[u64], threads: usize) -> f64 {
    let hits: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut hits = 0;
                    for &k in keys.iter().skip(t).step_by(threads) {
                        if s.get(k) {
                            hits += 1;
                        } else {
                            s.insert(k);
                        }
                    }
                    hits
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    100.0 * hits as f64 / keys.len().max(1) as f64
}

fn traces_dir() -> PathBuf {
    std::env::var_os("CLOCKCACHE_TRACES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/traces"))
}

fn load(path: &Path) -> std::io::Result<Vec<u64>> {
    let f = std::fs::File::open(path)?;
    let r = BufReader::new(flate2::read::GzDecoder::new(f));
    let mut keys = Vec::new();
    for line in r.lines() {
        if let Ok(k) = line?.trim().parse() {
            keys.push(k);
        }
    }
    Ok(keys)
}

/// One CSV row: trace, capacity, fraction, OPT %, LRU %.
struct Row {
    trace: String,
    capacity: usize,
    fraction: String,
    opt: f64,
    lru: f64,
}

fn rows(dir: &Path) -> Vec<Row> {
    let Ok(text) = std::fs::read_to_string(dir.join("reference_hit_ratios.csv")) else {
        return Vec::new();
    };
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (Some(t), Some(c), Some(f), Some(o), Some(l)) = (
        col("trace"),
        col("capacity"),
        col("fraction"),
        col("opt_hit_ratio"),
        col("lru_hit_ratio"),
    ) else {
        return Vec::new();
    };
    lines
        .filter_map(|line| {
            let v: Vec<&str> = line.split(',').collect();
            Some(Row {
                trace: v.get(t)?.to_string(),
                capacity: v.get(c)?.parse().ok()?,
                fraction: v.get(f)?.to_string(),
                opt: v.get(o)?.parse::<f64>().ok()? * 100.0,
                lru: v.get(l)?.parse::<f64>().ok()? * 100.0,
            })
        })
        .collect()
}

/// Zipf(s) ranks over `n` keys, `len` samples, deterministic.
fn zipf(n: usize, s: f64, len: usize, seed: u64) -> Vec<u64> {
    let mut cdf = Vec::with_capacity(n);
    let mut acc = 0.0;
    for r in 0..n {
        acc += 1.0 / ((r + 1) as f64).powf(s);
        cdf.push(acc);
    }
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64 * acc;
            cdf.partition_point(|&c| c < u) as u64
        })
        .collect()
}

/// A Zipf hot set of 10 000 keys, interrupted every 20 000 requests by a
/// scan of 20 000 keys never seen before.
fn scan_polluted(len: usize) -> Vec<u64> {
    let hot = zipf(10_000, 0.99, len, 7);
    let mut out = Vec::with_capacity(len * 2);
    let mut fresh = 1u64 << 40;
    for chunk in hot.chunks(20_000) {
        out.extend_from_slice(chunk);
        for _ in 0..20_000 {
            out.push(fresh);
            fresh += 1;
        }
    }
    out
}

struct Opts {
    only: Vec<String>,
    trace: Option<String>,
    threads: usize,
}

fn opts() -> Opts {
    let mut o = Opts {
        only: SUBJECTS.iter().map(|s| s.to_string()).collect(),
        trace: None,
        threads: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--only" => {
                o.only = args
                    .next()
                    .map(|v| v.split(',').map(String::from).collect())
                    .unwrap_or_default()
            }
            "--trace" => o.trace = args.next(),
            "--threads" => o.threads = args.next().and_then(|v| v.parse().ok()).unwrap_or(1),
            "--help" | "-h" => {
                println!("options: --only clockcache,quick_cache,moka  --trace <name substring>  --threads <n>");
                std::process::exit(0);
            }
            other => eprintln!("ignoring unknown option {other}"),
        }
    }
    o
}

fn main() {
    let o = opts();
    let dir = traces_dir();
    let all = rows(&dir);
    if all.is_empty() {
        println!("skipping traces: none found at {}", dir.display());
    }
    let subjects: Vec<&str> = SUBJECTS
        .iter()
        .copied()
        .filter(|s| o.only.iter().any(|x| x == s))
        .collect();
    let mut header = String::from("| trace | capacity | OPT | LRU |");
    for s in &subjects {
        header.push_str(&format!(" {s} |"));
        if o.threads > 1 {
            header.push_str(&format!(" {s} ×{} |", o.threads));
        }
    }
    println!("{header}");
    println!("|{}", "---|".repeat(header.matches('|').count() - 1));
    // fraction -> subject -> (sum, count); also LRU/OPT sums.
    let mut means: BTreeMap<String, BTreeMap<String, (f64, usize)>> = BTreeMap::new();
    let mut current: Option<(String, Vec<u64>)> = None;
    for row in all.iter().filter(|r| {
        o.trace
            .as_ref()
            .is_none_or(|t| r.trace.contains(t.as_str()))
    }) {
        if current.as_ref().is_none_or(|(name, _)| *name != row.trace) {
            let keys = load(&dir.join(format!("{}.txt.gz", row.trace))).unwrap_or_default();
            current = Some((row.trace.clone(), keys));
        }
        let Some((_, keys)) = &current else { continue };
        let mut line = format!(
            "| {} | {} | {:.2} | {:.2} |",
            row.trace, row.capacity, row.opt, row.lru
        );
        let m = means.entry(row.fraction.clone()).or_default();
        for (name, v) in [("OPT", row.opt), ("LRU", row.lru)] {
            let e = m.entry(name.to_string()).or_insert((0.0, 0));
            e.0 += v;
            e.1 += 1;
        }
        for s in &subjects {
            let h = replay(make(s, row.capacity).as_ref(), keys, 1);
            line.push_str(&format!(" {h:.2} |"));
            let e = m.entry(s.to_string()).or_insert((0.0, 0));
            e.0 += h;
            e.1 += 1;
            if o.threads > 1 {
                let h2 = replay(make(s, row.capacity).as_ref(), keys, o.threads);
                line.push_str(&format!(" {h2:.2} |"));
                let e = m.entry(format!("{s} ×{}", o.threads)).or_insert((0.0, 0));
                e.0 += h2;
                e.1 += 1;
            }
        }
        println!("{line}");
    }
    if !means.is_empty() {
        println!(
            "\n| mean over traces | {} |",
            means
                .keys()
                .map(|f| format!("@{f}"))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        println!("|---|{}", "---:|".repeat(means.len()));
        let names: Vec<String> = means
            .values()
            .next()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        for n in names {
            let cells: Vec<String> = means
                .values()
                .map(|m| {
                    m.get(&n)
                        .map_or("-".into(), |(s, c)| format!("{:.2}", s / *c as f64))
                })
                .collect();
            println!("| {n} | {} |", cells.join(" | "));
        }
    }
    println!("\n| synthetic (capacity) | {} |", subjects.join(" | "));
    println!("|---|{}", "---:|".repeat(subjects.len()));
    let synthetic: [(&str, Vec<u64>, usize); 3] = [
        ("scan + hot set (10 000)", scan_polluted(400_000), 10_000),
        (
            "Zipf 0.8, 100k keys (10 000)",
            zipf(100_000, 0.8, 1_000_000, 11),
            10_000,
        ),
        (
            "Zipf 0.99, 100k keys (10 000)",
            zipf(100_000, 0.99, 1_000_000, 13),
            10_000,
        ),
    ];
    for (name, keys, cap) in synthetic {
        let cells: Vec<String> = subjects
            .iter()
            .map(|s| format!("{:.2}", replay(make(s, cap).as_ref(), &keys, 1)))
            .collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
}
