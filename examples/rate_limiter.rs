//! A fixed-window rate limiter on `CacheBackend::incr`.
//!
//! Each client's counter is created by its first request of a window with
//! the window as TTL; later increments keep that TTL (as Redis `INCR` does),
//! so the window is fixed, not sliding, and ends when the counter expires.
//! A request is allowed while the count is at most the limit.
//!
//! A burst of requests from several tasks runs through the limiter; then,
//! after the window has passed, a second burst is allowed again.
//!
//! ```sh
//! cargo run --release --example rate_limiter
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clockcache::{CacheBackend, CacheError, MemoryCacheBackend};

/// Requests allowed per client per window.
const LIMIT: i64 = 20;
/// The window length.
const WINDOW: Duration = Duration::from_millis(500);
const CLIENTS: usize = 3;
const TASKS: usize = 8;
const REQUESTS_PER_TASK: usize = 25;

/// A fixed-window limiter over any backend.
struct RateLimiter {
    backend: Arc<dyn CacheBackend<i64>>,
    limit: i64,
    window: Duration,
}

impl RateLimiter {
    /// Counts the request and says whether it is allowed.
    async fn allow(&self, client: &str) -> Result<bool, CacheError> {
        let key = format!("ratelimit:{client}");
        let count = self.backend.incr(&key, 1, 0, Some(self.window)).await?;
        Ok(count <= self.limit)
    }
}

/// Per-client allowed and denied counts.
#[derive(Default)]
struct Tally {
    allowed: [AtomicU64; CLIENTS],
    denied: [AtomicU64; CLIENTS],
}

/// `TASKS` tasks each send `REQUESTS_PER_TASK` requests, spread over the
/// clients, as fast as they can.
async fn burst(limiter: &Arc<RateLimiter>) -> Result<Arc<Tally>, CacheError> {
    let tally = Arc::new(Tally::default());
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (limiter, tally) = (Arc::clone(limiter), Arc::clone(&tally));
            tokio::spawn(async move {
                for r in 0..REQUESTS_PER_TASK {
                    let c = (t + r) % CLIENTS;
                    let counter = if limiter.allow(&format!("client-{c}")).await? {
                        &tally.allowed[c]
                    } else {
                        &tally.denied[c]
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                }
                Ok::<(), CacheError>(())
            })
        })
        .collect();
    for task in tasks {
        match task.await {
            Ok(result) => result?,
            Err(e) => panic!("a request task failed: {e}"),
        }
    }
    Ok(tally)
}

fn print(label: &str, tally: &Tally, elapsed: Duration) {
    println!("{label} ({:.1} ms):", elapsed.as_secs_f64() * 1e3);
    let (mut allowed, mut denied) = (0, 0);
    for c in 0..CLIENTS {
        let a = tally.allowed[c].load(Ordering::Relaxed);
        let d = tally.denied[c].load(Ordering::Relaxed);
        println!("  client-{c}: {a:3} allowed, {d:3} denied");
        allowed += a;
        denied += d;
    }
    println!("  total:    {allowed:3} allowed, {denied:3} denied");
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), CacheError> {
    let backend: Arc<dyn CacheBackend<i64>> = Arc::new(MemoryCacheBackend::new(10_000));
    backend.initialize().await?;
    let limiter = Arc::new(RateLimiter {
        backend: Arc::clone(&backend),
        limit: LIMIT,
        window: WINDOW,
    });
    println!(
        "limit {LIMIT} requests per client per {} ms; {TASKS} tasks x {REQUESTS_PER_TASK} requests over {CLIENTS} clients",
        WINDOW.as_millis()
    );

    let t = Instant::now();
    let first = burst(&limiter).await?;
    print("burst 1", &first, t.elapsed());

    // The counters expire with their window: the next burst starts afresh.
    tokio::time::sleep(WINDOW + Duration::from_millis(100)).await;
    let t = Instant::now();
    let second = burst(&limiter).await?;
    print("burst 2, after the window", &second, t.elapsed());

    backend.shutdown().await?;
    Ok(())
}
