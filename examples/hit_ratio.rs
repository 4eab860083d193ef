//! Hit-ratio replay: clockcache, quick_cache, moka and mini-moka on the real
//! traces, next to Belady's OPT, exact LRU and plain CLOCK.
//!
//! Replays every trace in `../shared/traces` (or `$CLOCKCACHE_TRACES`)
//! single-threaded at the capacities of its `reference_hit_ratios.csv` rows
//! (get, and insert on a miss), driving the real caches, and prints one
//! markdown row per (trace, capacity), then the means per capacity fraction,
//! then synthetic workloads (Zipf 0.8/0.99 and a Zipf hot set polluted by
//! scans). With `--threads 2` it also replays each trace with two threads
//! taking interleaved halves. The code is `benches/common/hit_ratio.rs`,
//! shared with the comparison runner (`cargo bench --bench compare -- --only
//! hit-ratio`), which prints the same tables.
//!
//! ```text
//! cargo run --release --example hit_ratio                 # everything
//! cargo run --release --example hit_ratio -- --only clockcache --trace lirs
//! cargo run --release --example hit_ratio -- --threads 2  # concurrent replay too
//! cargo run --release --example hit_ratio -- --only clockcache --threads 2 --repeats 8
//! cargo run --release --example hit_ratio -- --quick      # skip the two largest traces
//! ```

#[path = "../benches/common/hit_ratio.rs"]
mod hit_ratio;

const USAGE: &str = "\
options:
  --only LIST        subjects, comma-separated (default: clockcache,quick_cache,moka,moka-exact,mini-moka)
  --trace SUBSTR     only traces whose name contains SUBSTR
  --threads N        also replay each trace with N threads (interleaved requests, at most 32 apart)
  --repeats N        replay each cell N times (fresh cache and hash seed each) and show the mean
  --quick            skip the two largest traces (cache2k-orm-busy, scarab-recs)
  --no-check         skip the LRU/OPT cross-check against the CSV
  --no-synthetic     skip the synthetic workloads
  --synthetic-len N  requests per synthetic Zipf workload (default 1 000 000; the scan workload has 2N hot requests)
  --help             this text
traces: $CLOCKCACHE_TRACES or ../shared/traces";

fn main() {
    let mut cfg = hit_ratio::Config::full(hit_ratio::traces_dir());
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--only" => {
                cfg.subjects = args
                    .next()
                    .map(|v| v.split(',').map(String::from).collect())
                    .unwrap_or_default();
                for s in &cfg.subjects {
                    if !hit_ratio::SUBJECTS.contains(&s.as_str()) {
                        eprintln!("unknown subject {s:?}\n{USAGE}");
                        std::process::exit(2);
                    }
                }
            }
            "--trace" => cfg.trace_filter = args.next(),
            "--threads" => cfg.threads = number(&a, args.next()),
            "--repeats" => cfg.repeats = number(&a, args.next()),
            "--quick" => cfg.skip_largest = 2,
            "--no-check" => cfg.check_references = false,
            "--no-synthetic" => cfg.synthetic_len = 0,
            "--synthetic-len" => cfg.synthetic_len = number(&a, args.next()),
            "--help" | "-h" => {
                println!("{USAGE}");
                return;
            }
            other => {
                eprintln!("unknown option {other}\n{USAGE}");
                std::process::exit(2);
            }
        }
    }
    hit_ratio::run(&cfg);
}

/// The count given to option `opt`; a missing or malformed one ends the
/// program with the usage text.
fn number(opt: &str, value: Option<String>) -> usize {
    match value.as_deref().map(str::parse) {
        Some(Ok(n)) => n,
        _ => {
            let got = value.as_deref().unwrap_or("nothing");
            eprintln!("{opt} needs a count, got {got:?}\n{USAGE}");
            std::process::exit(2);
        }
    }
}
