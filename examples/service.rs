//! An async service that picks its cache backend from configuration and
//! caches a slow lookup with single-flight `get_with`.
//!
//! The backend is named by the first argument or the `CACHE_BACKEND`
//! environment variable ("memory" by default; it is the only backend here,
//! but the service only ever sees an `Arc<dyn CacheBackend<String>>`).
//!
//! ```sh
//! cargo run --release --example service            # or: -- memory
//! CACHE_BACKEND=redis cargo run --release --example service   # error: unknown backend
//! ```
//!
//! It runs three phases: a cold-start thundering herd (many concurrent
//! requests for one uncached user: one database load), a skewed workload
//! from several tasks, and a pattern invalidation, then prints hit/miss
//! statistics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clockcache::{CacheBackend, CacheError, MemoryCacheBackend};

/// How long the "database" takes per lookup.
const DB_LATENCY: Duration = Duration::from_millis(20);
const USERS: u64 = 100;
const TASKS: u64 = 16;
const REQUESTS_PER_TASK: u64 = 200;

/// The service's cache settings.
struct CacheConfig {
    backend: String,
    capacity: usize,
    ttl: Duration,
}

impl CacheConfig {
    fn from_env() -> Self {
        let backend = std::env::args()
            .nth(1)
            .or_else(|| std::env::var("CACHE_BACKEND").ok())
            .unwrap_or_else(|| "memory".to_string());
        CacheConfig {
            backend,
            capacity: 10_000,
            ttl: Duration::from_secs(300),
        }
    }
}

/// The backend the configuration names.
fn backend_from_config(config: &CacheConfig) -> Result<Arc<dyn CacheBackend<String>>, String> {
    match config.backend.as_str() {
        "memory" => Ok(Arc::new(
            MemoryCacheBackend::builder()
                .max_capacity(config.capacity)
                .time_to_live(config.ttl)
                .build(),
        )),
        other => Err(format!(
            "unknown cache backend {other:?} (available: memory)"
        )),
    }
}

/// A service with a slow lookup in front of which sits the cache.
struct UserService {
    cache: Arc<dyn CacheBackend<String>>,
    requests: AtomicU64,
    db_loads: AtomicU64,
}

impl UserService {
    /// The slow lookup.
    async fn load_from_db(&self, id: u64) -> String {
        self.db_loads.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(DB_LATENCY).await;
        format!("{{\"id\":{id},\"name\":\"user{id}\"}}")
    }

    /// A user's profile, from the cache or (once per missing key, however
    /// many requests wait for it) from the database.
    async fn profile(&self, id: u64) -> Result<String, CacheError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let key = format!("user:{id}");
        self.cache
            .get_with(&key, None, Box::pin(self.load_from_db(id)))
            .await
    }

    fn counts(&self) -> (u64, u64) {
        (
            self.requests.load(Ordering::Relaxed),
            self.db_loads.load(Ordering::Relaxed),
        )
    }
}

/// Prints the requests and loads made since `before`.
fn report(label: &str, service: &UserService, before: (u64, u64), elapsed: Duration) {
    let (requests, loads) = service.counts();
    let (requests, loads) = (requests - before.0, loads - before.1);
    let hits = requests - loads;
    println!(
        "{label:<34} {requests:5} requests  {hits:5} hits  {loads:4} misses (db loads)  hit ratio {:5.1}%  {:7.1} ms",
        100.0 * hits as f64 / requests.max(1) as f64,
        elapsed.as_secs_f64() * 1e3,
    );
}

/// A user id skewed towards small ids (a few hot users, a long tail), from a
/// small deterministic generator.
fn next_user(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let r = (*state >> 11) as f64 / (1u64 << 53) as f64;
    ((r * r * r) * USERS as f64) as u64
}

type Error = Box<dyn std::error::Error + Send + Sync>;

async fn run(service: Arc<UserService>) -> Result<(), Error> {
    // 1. Cold start: 32 concurrent requests for one user, one load.
    let before = service.counts();
    let t = Instant::now();
    let herd: Vec<_> = (0..32)
        .map(|_| {
            let service = Arc::clone(&service);
            tokio::spawn(async move { service.profile(7).await })
        })
        .collect();
    for request in herd {
        request.await??;
    }
    report("thundering herd on one user", &service, before, t.elapsed());

    // 2. A skewed workload from several tasks.
    let before = service.counts();
    let t = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let service = Arc::clone(&service);
            tokio::spawn(async move {
                let mut rng = task + 1;
                for _ in 0..REQUESTS_PER_TASK {
                    service.profile(next_user(&mut rng)).await?;
                }
                Ok::<(), CacheError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    report(
        &format!("{TASKS} tasks x {REQUESTS_PER_TASK} skewed requests"),
        &service,
        before,
        t.elapsed(),
    );

    // 3. Invalidate users 10-19 (say, after a bulk update): they reload.
    let removed = service.cache.invalidate_pattern("user:1?").await?;
    let before = service.counts();
    let t = Instant::now();
    for id in 0..USERS {
        service.profile(id).await?;
    }
    report(
        &format!("all users after invalidating {removed}"),
        &service,
        before,
        t.elapsed(),
    );
    Ok(())
}

#[tokio::main]
async fn main() {
    let config = CacheConfig::from_env();
    let cache = match backend_from_config(&config) {
        Ok(cache) => cache,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    println!(
        "cache backend: {} (capacity {}, ttl {} s); db latency {} ms",
        config.backend,
        config.capacity,
        config.ttl.as_secs(),
        DB_LATENCY.as_millis()
    );
    let service = Arc::new(UserService {
        cache: Arc::clone(&cache),
        requests: AtomicU64::new(0),
        db_loads: AtomicU64::new(0),
    });
    println!(
        "(a request that waited for another request's load counts as a hit: it made no db call)"
    );
    let result = async {
        cache.initialize().await?;
        let t = Instant::now();
        run(Arc::clone(&service)).await?;
        report("total", &service, (0, 0), t.elapsed());
        cache.shutdown().await?;
        Ok::<(), Error>(())
    }
    .await;
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
