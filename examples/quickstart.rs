//! Quickstart: a read-through cache shared by four threads, a counter and
//! glob invalidation.
//!
//! A `Cache<u64, String>` of capacity 10 000 with a default TTL is filled,
//! then four threads read a skewed key stream (a few hot keys, many cold
//! ones, more keys than fit) and load the value on every miss. The cache's
//! statistics follow, then `incr` and `invalidate_pattern` on string keys.
//!
//! Run: `cargo run --release --example quickstart`

use std::thread;
use std::time::Duration;

use clockcache::Cache;

const CAPACITY: usize = 10_000;
const KEY_SPACE: u64 = 50_000;
const THREADS: u64 = 4;
const READS_PER_THREAD: u64 = 250_000;

/// Stands in for a slow lookup (a database, a remote service).
fn load(key: u64) -> String {
    format!("value-{key}")
}

/// A skewed key in `0..KEY_SPACE`: rank `r` has probability about `1/r`
/// (a log-uniform draw from a xorshift generator, so no extra crates).
fn skewed_key(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    let u = (*state >> 11) as f64 / (1u64 << 53) as f64; // uniform in [0, 1)
    ((KEY_SPACE as f64).powf(u) - 1.0) as u64
}

fn main() {
    let cache: Cache<u64, String> = Cache::builder()
        .max_capacity(CAPACITY)
        .time_to_live(Duration::from_secs(300))
        .build();
    for key in 0..CAPACITY as u64 / 2 {
        cache.insert(key, load(key));
    }
    println!(
        "filled: {} entries, capacity {}",
        cache.len(),
        cache.capacity()
    );

    // Every thread shares the same store (`&Cache` here; clones work too).
    thread::scope(|s| {
        for t in 0..THREADS {
            let cache = &cache;
            s.spawn(move || {
                let mut rng = 0x9E37_79B9_7F4A_7C15 ^ (t + 1);
                for _ in 0..READS_PER_THREAD {
                    let key = skewed_key(&mut rng);
                    if cache.get(&key).is_none() {
                        cache.insert(key, load(key));
                    }
                }
            });
        }
    });
    let stats = cache.stats();
    println!(
        "after {} reads on {THREADS} threads:",
        THREADS * READS_PER_THREAD
    );
    println!("  hits       {:>9}", stats.hits);
    println!("  misses     {:>9}", stats.misses);
    println!("  hit ratio  {:>8.1}%", 100.0 * stats.hit_ratio());
    println!("  evictions  {:>9}", stats.evictions);
    println!("  len        {:>9}", cache.len());

    // Counters: atomic, created on first use (here with a one-minute window).
    let counters: Cache<String, i64> = Cache::new(1_000);
    let window = Some(Duration::from_secs(60));
    for _ in 0..3 {
        if let Err(e) = counters.incr("requests:alice".to_string(), 1, 0, window) {
            eprintln!("incr failed: {e}");
        }
    }
    match counters.incr("requests:bob".to_string(), 10, 100, window) {
        Ok(n) => println!("requests:bob = {n} (default 100, +10)"),
        Err(e) => eprintln!("incr failed: {e}"),
    }
    println!("requests:alice = {:?}", counters.get("requests:alice"));

    // Glob invalidation on string keys.
    let sessions: Cache<String, String> = Cache::new(1_000);
    for user in ["alice", "bob", "carol"] {
        for n in 0..3 {
            sessions.insert(format!("session:{user}:{n}"), format!("token-{n}"));
        }
    }
    let removed = sessions.invalidate_pattern("session:bob:*");
    println!(
        "invalidate_pattern(\"session:bob:*\"): {removed} removed, {} left",
        sessions.len()
    );
}
