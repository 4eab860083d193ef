//! The async backend adapter: every `CacheBackend` method and its edges on
//! `MemoryCacheBackend` (through `Arc<dyn CacheBackend<_>>` where it
//! matters), shutdown/initialize, real-time TTLs, concurrent counters, and
//! single-flight loading (one load for concurrent callers, cancellation,
//! panics, independent keys, errors, shutdown).
//!
//! The single-flight tests come in two kinds: on a multi-thread tokio
//! runtime, and driven by hand with a no-op waker, where the interleaving
//! (leader registered, waiters queued, leader done) is exact.

use std::collections::HashMap;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use clockcache::quanta::Clock;
use clockcache::{
    Cache, CacheBackend, CacheError, LoadFuture, MemoryCacheBackend, NonCounter, TryGetError,
};
use tokio::sync::Notify;

type Dyn<V> = Arc<dyn CacheBackend<V>>;

fn backend<V: Send + Sync + 'static>(cap: usize) -> MemoryCacheBackend<V> {
    MemoryCacheBackend::new(cap)
}

fn dyn_backend(cap: usize) -> Dyn<String> {
    Arc::new(backend::<String>(cap))
}

/// Fails the test instead of hanging it when something wedges.
async fn within<F: Future>(what: &str, secs: u64, f: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(secs), f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: still pending after {secs} s (wedged?)"),
    }
}

/// Polls once with a no-op waker.
fn poll_once<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

/// A gate a hand-driven loader waits at: pending until opened (re-polled by
/// the test, so it needs no waker).
#[derive(Default)]
struct Gate(AtomicBool);

impl Gate {
    fn open(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    async fn pass(&self) {
        std::future::poll_fn(|_| {
            if self.0.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

/// A waker that counts its wakes.
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------
// Plain operations
// ---------------------------------------------------------------------------

#[tokio::test]
async fn new_backend_is_open_and_initialize_is_idempotent() {
    let b = dyn_backend(100);
    b.set("k", "v".into(), None).await.unwrap();
    assert_eq!(b.initialize().await, Ok(()));
    assert_eq!(b.initialize().await, Ok(()));
    assert_eq!(
        b.get("k").await.unwrap().as_deref(),
        Some("v"),
        "initialize keeps data"
    );
}

#[tokio::test]
async fn get_set_delete_exists() {
    let b = dyn_backend(100);
    assert_eq!(b.get("a").await, Ok(None));
    assert_eq!(b.exists("a").await, Ok(false));
    assert_eq!(b.set("a", "1".into(), None).await, Ok(true));
    assert_eq!(b.get("a").await, Ok(Some("1".to_string())));
    assert_eq!(b.exists("a").await, Ok(true));
    assert_eq!(b.set("a", "2".into(), None).await, Ok(true));
    assert_eq!(b.get("a").await, Ok(Some("2".to_string())));
    assert_eq!(b.delete("a").await, Ok(true));
    assert_eq!(b.delete("a").await, Ok(false));
    assert_eq!(b.exists("a").await, Ok(false));
    assert_eq!(b.get("a").await, Ok(None));
    // The empty key is a key like any other.
    assert_eq!(b.set("", "empty".into(), None).await, Ok(true));
    assert_eq!(b.get("").await, Ok(Some("empty".to_string())));
}

#[tokio::test]
async fn ttl_expiry_in_real_time() {
    let b = dyn_backend(100);
    let start = Instant::now();
    b.set("short", "x".into(), Some(Duration::from_millis(50)))
        .await
        .unwrap();
    b.set("long", "y".into(), Some(Duration::from_secs(60)))
        .await
        .unwrap();
    b.set("forever", "z".into(), None).await.unwrap();
    let seen = b.get("short").await.unwrap();
    if start.elapsed() < Duration::from_millis(40) {
        assert_eq!(seen.as_deref(), Some("x"), "live before its TTL");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.get("short").await, Ok(None));
    assert_eq!(b.exists("short").await, Ok(false));
    assert_eq!(
        b.delete("short").await,
        Ok(false),
        "an expired key did not exist"
    );
    assert_eq!(b.get("long").await.unwrap().as_deref(), Some("y"));
    assert_eq!(b.get("forever").await.unwrap().as_deref(), Some("z"));
}

#[tokio::test]
async fn set_overwrites_ttl_too() {
    let b = dyn_backend(100);
    b.set("k", "1".into(), Some(Duration::from_millis(50)))
        .await
        .unwrap();
    b.set("k", "2".into(), None).await.unwrap(); // no default TTL: never expires
    b.set("j", "1".into(), None).await.unwrap();
    b.set("j", "2".into(), Some(Duration::from_millis(50)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.get("k").await.unwrap().as_deref(), Some("2"));
    assert_eq!(b.get("j").await, Ok(None));
}

#[tokio::test]
async fn default_ttl_applies_when_ttl_is_none() {
    let b: Dyn<String> = Arc::new(
        MemoryCacheBackend::builder()
            .max_capacity(100)
            .time_to_live(Duration::from_millis(50))
            .build(),
    );
    b.set("default", "x".into(), None).await.unwrap();
    b.set("own", "y".into(), Some(Duration::from_secs(60)))
        .await
        .unwrap();
    b.set_many(vec![("many".into(), "z".into())], None)
        .await
        .unwrap();
    b.incr("counter", 1, 0, None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.get("default").await, Ok(None));
    assert_eq!(b.get("many").await, Ok(None));
    assert_eq!(b.get("counter").await, Ok(None));
    assert_eq!(b.get("own").await.unwrap().as_deref(), Some("y"));
}

#[tokio::test]
async fn builder_settings_and_mock_clock() {
    let (clock, mock) = Clock::mock();
    let b: MemoryCacheBackend<u64> = MemoryCacheBackend::builder()
        .max_capacity(1_000)
        .shards(4)
        .time_to_live(Duration::from_secs(10))
        .clock(clock)
        .build();
    assert_eq!(b.cache().capacity(), 1_000);
    b.set("a", 1, None).await.unwrap();
    b.set("b", 2, Some(Duration::from_secs(100))).await.unwrap();
    mock.increment(Duration::from_secs(11));
    assert_eq!(b.get("a").await, Ok(None));
    assert_eq!(b.get("b").await, Ok(Some(2)));
    mock.increment(Duration::from_secs(100));
    assert_eq!(b.get("b").await, Ok(None));
}

#[tokio::test]
async fn from_cache_keeps_its_entries() {
    let cache: Cache<String, u64> = Cache::new(100);
    cache.insert("pre".into(), 7);
    let b = MemoryCacheBackend::from(cache.clone());
    assert_eq!(b.get("pre").await, Ok(Some(7)));
    b.set("post", 8, None).await.unwrap();
    assert_eq!(cache.get("post"), Some(8), "one store");
}

#[tokio::test]
async fn get_many_empty_duplicates_missing() {
    let b = dyn_backend(100);
    assert_eq!(b.get_many(&[]).await, Ok(HashMap::new()));
    b.set("a", "1".into(), None).await.unwrap();
    b.set("b", "2".into(), None).await.unwrap();
    let got = b.get_many(&["a", "missing", "a", "b", "b"]).await.unwrap();
    let want: HashMap<String, Option<String>> = [
        ("a".to_string(), Some("1".to_string())),
        ("b".to_string(), Some("2".to_string())),
        ("missing".to_string(), None),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
    // Duplicates are looked up once.
    let hits = b.get_many(&["x", "x", "x"]).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits["x"], None);
}

#[tokio::test]
async fn get_many_does_not_look_up_a_duplicate_twice() {
    let b = backend::<u32>(100);
    b.set("a", 1, None).await.unwrap();
    let before = b.cache().stats();
    b.get_many(&["a", "a", "a", "z", "z"]).await.unwrap();
    let after = b.cache().stats();
    assert_eq!(after.hits - before.hits, 1);
    assert_eq!(after.misses - before.misses, 1);
}

#[tokio::test]
async fn set_many_stores_all_and_accepts_empty() {
    let b = dyn_backend(100);
    assert_eq!(b.set_many(Vec::new(), None).await, Ok(true));
    let items = vec![
        ("a".to_string(), "1".to_string()),
        ("b".to_string(), "2".to_string()),
        ("a".to_string(), "3".to_string()), // a later duplicate wins
    ];
    assert_eq!(b.set_many(items, None).await, Ok(true));
    assert_eq!(b.get("a").await.unwrap().as_deref(), Some("3"));
    assert_eq!(b.get("b").await.unwrap().as_deref(), Some("2"));
    let short = vec![("s".to_string(), "x".to_string())];
    b.set_many(short, Some(Duration::from_millis(50)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.get("s").await, Ok(None));
    assert_eq!(b.get("a").await.unwrap().as_deref(), Some("3"));
}

#[tokio::test]
async fn delete_many_empty_duplicates_missing() {
    let b = dyn_backend(100);
    assert_eq!(b.delete_many(&[]).await, Ok(0));
    for k in ["a", "b", "c"] {
        b.set(k, k.into(), None).await.unwrap();
    }
    assert_eq!(b.delete_many(&["a", "a", "missing", "b"]).await, Ok(2));
    assert_eq!(b.get("a").await, Ok(None));
    assert_eq!(b.get("b").await, Ok(None));
    assert_eq!(b.get("c").await.unwrap().as_deref(), Some("c"));
    assert_eq!(b.delete_many(&["a", "b"]).await, Ok(0));
}

// ---------------------------------------------------------------------------
// Counters
// ---------------------------------------------------------------------------

#[tokio::test]
async fn incr_decr_on_integers() {
    let b: Dyn<i64> = Arc::new(backend(100));
    assert_eq!(b.incr("n", 1, 0, None).await, Ok(1));
    assert_eq!(b.incr("n", 5, 0, None).await, Ok(6));
    assert_eq!(b.decr("n", 2, 0, None).await, Ok(4));
    assert_eq!(b.get("n").await, Ok(Some(4)));
    assert_eq!(b.incr("m", 1, 10, None).await, Ok(11), "starts at default");
    assert_eq!(b.decr("d", 1, 10, None).await, Ok(9));
    assert_eq!(b.incr("neg", -3, 0, None).await, Ok(-3));
    // Overflow leaves the value unchanged.
    b.set("max", i64::MAX, None).await.unwrap();
    assert_eq!(b.incr("max", 1, 0, None).await, Err(CacheError::Overflow));
    assert_eq!(b.get("max").await, Ok(Some(i64::MAX)));
    // A type narrower than i64.
    let small: Dyn<u8> = Arc::new(backend(10));
    assert_eq!(small.incr("u", 255, 0, None).await, Ok(255));
    assert_eq!(small.incr("u", 1, 0, None).await, Err(CacheError::Overflow));
    assert_eq!(small.decr("v", 1, 0, None).await, Err(CacheError::Overflow));
    assert_eq!(small.get("u").await, Ok(Some(255)));
    assert_eq!(small.get("v").await, Ok(None));
}

#[tokio::test]
async fn counters_on_text_read_back_as_decimal() {
    let b = dyn_backend(100);
    assert_eq!(b.incr("hits", 1, 0, None).await, Ok(1));
    assert_eq!(b.incr("hits", 41, 0, None).await, Ok(42));
    assert_eq!(b.get("hits").await.unwrap().as_deref(), Some("42"));
    b.set("t", "-7".into(), None).await.unwrap();
    assert_eq!(b.decr("t", 3, 0, None).await, Ok(-10));
    assert_eq!(b.get("t").await.unwrap().as_deref(), Some("-10"));

    let bytes: Dyn<Vec<u8>> = Arc::new(backend(10));
    assert_eq!(bytes.incr("c", 7, 100, None).await, Ok(107));
    assert_eq!(bytes.get("c").await, Ok(Some(b"107".to_vec())));
    bytes.set("d", b"9".to_vec(), None).await.unwrap();
    assert_eq!(bytes.incr("d", 1, 0, None).await, Ok(10));
    assert_eq!(bytes.get("d").await, Ok(Some(b"10".to_vec())));
}

#[tokio::test]
async fn incr_on_a_non_integer_is_an_error_and_changes_nothing() {
    let b = dyn_backend(100);
    for text in [
        "abc",
        "",
        " 1",
        "1.5",
        "+1",
        "01",
        "-0",
        "99999999999999999999",
    ] {
        b.set("k", text.into(), None).await.unwrap();
        assert_eq!(
            b.incr("k", 1, 0, None).await,
            Err(CacheError::NotAnInteger),
            "{text:?}"
        );
        assert_eq!(
            b.decr("k", 1, 0, None).await,
            Err(CacheError::NotAnInteger),
            "{text:?}"
        );
        assert_eq!(b.get("k").await.unwrap().as_deref(), Some(text));
    }
    let bytes: Dyn<Vec<u8>> = Arc::new(backend(10));
    bytes.set("k", vec![0xff, b'1'], None).await.unwrap();
    assert_eq!(
        bytes.incr("k", 1, 0, None).await,
        Err(CacheError::NotAnInteger)
    );
    assert_eq!(bytes.get("k").await, Ok(Some(vec![0xff, b'1'])));
}

#[tokio::test]
async fn values_that_are_not_counters() {
    #[derive(Debug, Clone, PartialEq)]
    struct Profile {
        name: String,
    }
    let b: Dyn<NonCounter<Arc<Profile>>> = Arc::new(backend(10));
    let p = NonCounter(Arc::new(Profile { name: "a".into() }));
    b.set("p", p.clone(), None).await.unwrap();
    assert_eq!(b.get("p").await, Ok(Some(p.clone())));
    assert_eq!(b.incr("p", 1, 0, None).await, Err(CacheError::NotAnInteger));
    assert_eq!(b.decr("p", 1, 0, None).await, Err(CacheError::NotAnInteger));
    assert_eq!(b.get("p").await, Ok(Some(p)));
    assert_eq!(
        b.incr("new", 1, 0, None).await,
        Err(CacheError::NotAnInteger),
        "no counter can be created"
    );
    assert_eq!(b.exists("new").await, Ok(false));
}

#[tokio::test]
async fn counter_keeps_its_ttl_like_redis() {
    let b = dyn_backend(100);
    let window = Some(Duration::from_millis(100));
    assert_eq!(b.incr("rl", 1, 0, window).await, Ok(1));
    // Later increments, whatever their ttl, keep the first expiry.
    assert_eq!(
        b.incr("rl", 1, 0, Some(Duration::from_secs(60))).await,
        Ok(2)
    );
    assert_eq!(b.incr("rl", 1, 0, None).await, Ok(3));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(b.get("rl").await, Ok(None));
    assert_eq!(b.incr("rl", 1, 0, window).await, Ok(1), "a new window");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_increments_are_exact() {
    const TASKS: usize = 8;
    const PER_TASK: usize = 10_000;
    let b: Dyn<String> = dyn_backend(1_000);
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let b = Arc::clone(&b);
            tokio::spawn(async move {
                for i in 0..PER_TASK {
                    b.incr("hits", 1, 0, None).await.unwrap();
                    if i.is_multiple_of(10) {
                        b.incr("mixed", 3, 0, None).await.unwrap();
                        b.decr("mixed", 2, 0, None).await.unwrap();
                    }
                    if i.is_multiple_of(1_000) {
                        tokio::task::yield_now().await;
                    }
                }
                t
            })
        })
        .collect();
    for t in tasks {
        within("incr task", 30, t).await.unwrap();
    }
    let total = TASKS * PER_TASK;
    assert_eq!(b.get("hits").await.unwrap(), Some(total.to_string()));
    assert_eq!(
        b.get("mixed").await.unwrap(),
        Some((total / 10).to_string())
    );
}

// ---------------------------------------------------------------------------
// clear, invalidate_pattern
// ---------------------------------------------------------------------------

#[tokio::test]
async fn clear_removes_everything() {
    let b = dyn_backend(100);
    for i in 0..50 {
        b.set(&format!("k{i}"), i.to_string(), None).await.unwrap();
    }
    assert_eq!(b.clear().await, Ok(true));
    assert_eq!(b.exists("k0").await, Ok(false));
    assert_eq!(b.get_many(&["k1", "k49"]).await.unwrap()["k49"], None);
    assert_eq!(b.clear().await, Ok(true), "clearing an empty backend");
    b.set("after", "x".into(), None).await.unwrap();
    assert_eq!(b.get("after").await.unwrap().as_deref(), Some("x"));
}

#[tokio::test]
async fn invalidate_pattern_uses_fnmatch_globs() {
    let b = dyn_backend(100);
    for k in [
        "user:1",
        "user:2",
        "user:10",
        "session:1",
        "user*",
        "[x]",
        "x",
        "User:3",
    ] {
        b.set(k, "v".into(), None).await.unwrap();
    }
    assert_eq!(b.invalidate_pattern("user:?").await, Ok(2));
    assert_eq!(b.exists("user:10").await, Ok(true));
    assert_eq!(b.invalidate_pattern("[!s]ser:*").await, Ok(2)); // user:10, User:3
    assert_eq!(
        b.invalidate_pattern("[x]").await,
        Ok(1),
        "a set, not a literal"
    );
    assert_eq!(b.exists("[x]").await, Ok(true));
    assert_eq!(b.invalidate_pattern("nothing*").await, Ok(0));
    assert_eq!(b.invalidate_pattern("*").await, Ok(3)); // user*, [x], session:1
    assert_eq!(b.exists("session:1").await, Ok(false));
}

// ---------------------------------------------------------------------------
// shutdown / initialize
// ---------------------------------------------------------------------------

#[tokio::test]
async fn shutdown_initialize_cycle() {
    let mem = Arc::new(backend::<String>(100));
    let b: Dyn<String> = mem.clone();
    b.set("a", "1".into(), None).await.unwrap();
    b.incr("n", 1, 0, None).await.unwrap();
    assert_eq!(b.shutdown().await, Ok(()));
    assert!(mem.is_closed());
    assert!(mem.cache().is_empty(), "shutdown releases every entry");

    let closed = CacheError::Closed;
    assert_eq!(b.get("a").await.unwrap_err(), closed);
    assert_eq!(b.set("a", "2".into(), None).await.unwrap_err(), closed);
    assert_eq!(b.delete("a").await.unwrap_err(), closed);
    assert_eq!(b.exists("a").await.unwrap_err(), closed);
    assert_eq!(b.get_many(&["a"]).await.unwrap_err(), closed);
    assert_eq!(b.get_many(&[]).await.unwrap_err(), closed);
    assert_eq!(
        b.set_many(vec![("a".into(), "2".into())], None)
            .await
            .unwrap_err(),
        closed
    );
    assert_eq!(b.delete_many(&["a"]).await.unwrap_err(), closed);
    assert_eq!(b.incr("n", 1, 0, None).await.unwrap_err(), closed);
    assert_eq!(b.decr("n", 1, 0, None).await.unwrap_err(), closed);
    assert_eq!(b.clear().await.unwrap_err(), closed);
    assert_eq!(b.invalidate_pattern("*").await.unwrap_err(), closed);
    assert_eq!(
        b.get_with("a", None, Box::pin(async { "x".to_string() }))
            .await
            .unwrap_err(),
        closed
    );
    assert_eq!(
        mem.try_get_with("a", None, async { Ok::<_, ()>("x".to_string()) })
            .await,
        Err(TryGetError::Cache(CacheError::Closed))
    );
    assert!(mem.cache().is_empty(), "nothing was written while closed");
    assert_eq!(b.shutdown().await, Ok(()), "shutdown is idempotent");

    assert_eq!(b.initialize().await, Ok(()));
    assert!(!mem.is_closed());
    assert_eq!(b.get("a").await, Ok(None), "the data is gone");
    assert_eq!(b.incr("n", 1, 0, None).await, Ok(1));
    b.set("a", "3".into(), None).await.unwrap();
    assert_eq!(b.get("a").await.unwrap().as_deref(), Some("3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_racing_shutdown_leave_nothing_behind() {
    for _ in 0..20 {
        let mem = Arc::new(backend::<u64>(10_000));
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let (mem, stop) = (Arc::clone(&mem), Arc::clone(&stop));
                tokio::spawn(async move {
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let key = format!("w{w}:{}", i % 500);
                        let _ = mem.set(&key, i, None).await;
                        let _ = mem.incr("n", 1, 0, None).await;
                        i += 1;
                        if i.is_multiple_of(64) {
                            tokio::task::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(2)).await;
        mem.shutdown().await.unwrap();
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.await.unwrap();
        }
        assert_eq!(mem.cache().iter().count(), 0, "a write survived shutdown");
    }
}

// ---------------------------------------------------------------------------
// Single-flight loading, on a real runtime
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn get_with_runs_the_loader_once_for_16_callers() {
    let b = Arc::new(backend::<String>(100));
    let loads = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Notify::new());
    let callers: Vec<_> = (0..16)
        .map(|_| {
            let (b, loads, gate) = (b.clone(), loads.clone(), gate.clone());
            tokio::spawn(async move {
                b.get_with("hot", None, async {
                    loads.fetch_add(1, Ordering::SeqCst);
                    gate.notified().await;
                    "value".to_string()
                })
                .await
            })
        })
        .collect();
    // Let the leader start and the others queue behind it.
    within("leader start", 10, async {
        while loads.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    gate.notify_one();
    for c in callers {
        let got = within("caller", 10, c).await.unwrap();
        assert_eq!(got.as_deref(), Ok("value"));
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1, "one load for 16 callers");
    assert_eq!(b.get("hot").await.unwrap().as_deref(), Some("value"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn get_with_through_dyn_is_single_flight_too() {
    let b = dyn_backend(100);
    let loads = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..16)
        .map(|_| {
            let (b, loads) = (b.clone(), loads.clone());
            tokio::spawn(async move {
                let load = async move {
                    loads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    "v".to_string()
                };
                b.get_with("k", None, Box::pin(load)).await
            })
        })
        .collect();
    for c in callers {
        assert_eq!(within("caller", 10, c).await.unwrap().as_deref(), Ok("v"));
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn get_with_returns_a_cached_value_without_loading() {
    let b = backend::<u64>(100);
    b.set("k", 1, None).await.unwrap();
    let got = b
        .get_with("k", None, async { panic!("must not load") })
        .await;
    assert_eq!(got, Ok(1));
}

#[tokio::test]
async fn get_with_stores_with_the_ttl() {
    let b = backend::<u64>(100);
    assert_eq!(
        b.get_with("short", Some(Duration::from_millis(50)), async { 1 })
            .await,
        Ok(1)
    );
    assert_eq!(b.get_with("long", None, async { 2 }).await, Ok(2));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.get("short").await, Ok(None));
    assert_eq!(b.get("long").await, Ok(Some(2)));
    assert_eq!(
        b.get_with("short", None, async { 3 }).await,
        Ok(3),
        "reloaded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_loader_does_not_wedge_later_callers() {
    let b = backend::<String>(100);
    let never = Notify::new();
    let cancelled = tokio::time::timeout(
        Duration::from_millis(50),
        b.get_with("k", None, async {
            never.notified().await;
            "never".to_string()
        }),
    )
    .await;
    assert!(cancelled.is_err(), "the first load was cancelled");
    assert_eq!(b.get("k").await, Ok(None));
    let got = within(
        "after cancel",
        5,
        b.get_with("k", None, async { "v".into() }),
    )
    .await;
    assert_eq!(got.as_deref(), Ok("v"));

    // The same with select!.
    tokio::select! {
        _ = b.get_with("s", None, async { never.notified().await; "never".to_string() }) => {
            panic!("the loader cannot finish")
        }
        _ = tokio::time::sleep(Duration::from_millis(20)) => {}
    }
    let got = within(
        "after select",
        5,
        b.get_with("s", None, async { "w".into() }),
    )
    .await;
    assert_eq!(got.as_deref(), Ok("w"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waiters_take_over_when_the_leader_is_cancelled() {
    let b = Arc::new(backend::<String>(100));
    let started = Arc::new(Notify::new());
    let leader = {
        let (b, started) = (b.clone(), started.clone());
        tokio::spawn(async move {
            b.get_with("k", None, async move {
                started.notify_one();
                std::future::pending::<String>().await
            })
            .await
        })
    };
    within("leader start", 10, started.notified()).await;
    let loads = Arc::new(AtomicUsize::new(0));
    let waiters: Vec<_> = (0..8)
        .map(|_| {
            let (b, loads) = (b.clone(), loads.clone());
            tokio::spawn(async move {
                b.get_with("k", None, async {
                    loads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    "taken over".to_string()
                })
                .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    for w in waiters {
        assert_eq!(
            within("waiter", 10, w).await.unwrap().as_deref(),
            Ok("taken over")
        );
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1, "one waiter loaded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_panicking_loader_does_not_wedge_later_callers() {
    let b = Arc::new(backend::<String>(100));
    let gate = Arc::new(Notify::new());
    let started = Arc::new(Notify::new());
    let leader = {
        let (b, gate, started) = (b.clone(), gate.clone(), started.clone());
        tokio::spawn(async move {
            b.get_with("k", None, async move {
                started.notify_one();
                gate.notified().await;
                panic!("loader failed (expected by the test)");
            })
            .await
        })
    };
    within("leader start", 10, started.notified()).await;
    let loads = Arc::new(AtomicUsize::new(0));
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let (b, loads) = (b.clone(), loads.clone());
            tokio::spawn(async move {
                b.get_with("k", None, async {
                    loads.fetch_add(1, Ordering::SeqCst);
                    "ok".to_string()
                })
                .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    gate.notify_one();
    assert!(leader.await.unwrap_err().is_panic());
    for w in waiters {
        assert_eq!(within("waiter", 10, w).await.unwrap().as_deref(), Ok("ok"));
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    // And a caller after all that.
    let got = within("later", 5, b.get_with("k2", None, async { "ok2".into() })).await;
    assert_eq!(got.as_deref(), Ok("ok2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_of_different_keys_do_not_wait_on_each_other() {
    let b = Arc::new(backend::<String>(100));
    let gate = Arc::new(Notify::new());
    let started = Arc::new(Notify::new());
    let slow = {
        let (b, gate, started) = (b.clone(), gate.clone(), started.clone());
        tokio::spawn(async move {
            b.get_with("slow", None, async move {
                started.notify_one();
                gate.notified().await;
                "slow".to_string()
            })
            .await
        })
    };
    within("slow start", 10, started.notified()).await;
    let t = Instant::now();
    let fast = within(
        "fast key",
        5,
        b.get_with("fast", None, async { "fast".into() }),
    )
    .await;
    assert_eq!(fast.as_deref(), Ok("fast"));
    assert!(!slow.is_finished(), "the slow load is still running");
    assert!(t.elapsed() < Duration::from_secs(5));
    // Also through try_get_with, and for many keys at once.
    for i in 0..100 {
        let key = format!("other:{i}");
        let got = b
            .try_get_with(&key, None, async { Ok::<_, ()>(i.to_string()) })
            .await;
        assert_eq!(got, Ok(i.to_string()));
    }
    gate.notify_one();
    assert_eq!(
        within("slow", 10, slow).await.unwrap().as_deref(),
        Ok("slow")
    );
}

#[tokio::test]
async fn try_get_with_errors_are_returned_and_not_cached() {
    #[derive(Debug, PartialEq)]
    struct DbDown;
    let b = backend::<u64>(100);
    let err = b
        .try_get_with("k", None, async { Err::<u64, _>(DbDown) })
        .await;
    match err {
        Err(TryGetError::Load(e)) => assert_eq!(*e, DbDown),
        other => panic!("{other:?}"),
    }
    assert_eq!(b.exists("k").await, Ok(false));
    assert_eq!(
        b.try_get_with("k", None, async { Ok::<_, DbDown>(5) })
            .await,
        Ok(5)
    );
    assert_eq!(
        b.try_get_with("k", None, async { Err::<u64, _>(DbDown) })
            .await,
        Ok(5),
        "a cached value wins over the loader"
    );
}

#[tokio::test]
async fn waiters_and_errors_are_send() {
    fn assert_send<T: Send>(t: T) -> T {
        t
    }
    let b = backend::<String>(10);
    let f = assert_send(b.get_with("k", None, async { "v".to_string() }));
    assert_eq!(f.await.as_deref(), Ok("v"));
    let f = assert_send(b.try_get_with("j", None, async { Ok::<_, String>("w".to_string()) }));
    assert_eq!(f.await.as_deref(), Ok("w"));
}

// ---------------------------------------------------------------------------
// Single-flight loading, driven by hand (exact interleavings)
// ---------------------------------------------------------------------------

#[test]
fn hand_driven_single_flight_wakes_every_waiter_with_the_value() {
    let b = backend::<String>(100);
    let gate = Gate::default();
    let loads = AtomicUsize::new(0);
    let load = |v: &'static str| {
        let (gate, loads) = (&gate, &loads);
        async move {
            loads.fetch_add(1, Ordering::SeqCst);
            gate.pass().await;
            v.to_string()
        }
    };
    let mut leader = pin!(b.get_with("k", None, load("leader's")));
    assert!(poll_once(leader.as_mut()).is_pending());
    let waker = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let mut waiters: Vec<_> = (0..5)
        .map(|_| Box::pin(b.get_with("k", None, load("waiter's"))))
        .collect();
    for w in &mut waiters {
        let w = w.as_mut();
        assert!(w
            .poll(&mut Context::from_waker(&Waker::from(waker.clone())))
            .is_pending());
    }
    gate.open();
    assert_eq!(
        poll_once(leader.as_mut()),
        Poll::Ready(Ok("leader's".into()))
    );
    assert_eq!(waker.0.load(Ordering::SeqCst), 5, "each waiter woken once");
    for w in &mut waiters {
        assert_eq!(poll_once(w.as_mut()), Poll::Ready(Ok("leader's".into())));
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    let stats = b.cache().stats();
    assert_eq!(stats.misses, 6, "one miss per caller, none counted twice");
}

#[test]
fn hand_driven_cancelled_leader_hands_over_to_a_waiter() {
    let b = backend::<String>(100);
    let gate = Gate::default();
    let mut leader = Box::pin(b.get_with("k", None, async {
        gate.pass().await;
        "leader".to_string()
    }));
    assert!(poll_once(leader.as_mut()).is_pending());
    let mut w1 = Box::pin(b.get_with("k", None, async { "w1".to_string() }));
    let mut w2 = Box::pin(b.get_with("k", None, async { "w2".to_string() }));
    assert!(poll_once(w1.as_mut()).is_pending());
    assert!(poll_once(w2.as_mut()).is_pending());
    drop(leader); // cancelled
                  // w1 starts over, finds no load, and loads with its own init.
    assert_eq!(poll_once(w1.as_mut()), Poll::Ready(Ok("w1".into())));
    // w2 starts over and finds w1's value in the cache.
    assert_eq!(poll_once(w2.as_mut()), Poll::Ready(Ok("w1".into())));
}

#[test]
fn hand_driven_cancelled_waiter_does_not_disturb_the_load() {
    let b = backend::<u32>(100);
    let gate = Gate::default();
    let mut leader = Box::pin(b.get_with("k", None, async {
        gate.pass().await;
        1
    }));
    assert!(poll_once(leader.as_mut()).is_pending());
    let mut w = Box::pin(b.get_with("k", None, async { 2 }));
    assert!(poll_once(w.as_mut()).is_pending());
    drop(w);
    gate.open();
    assert_eq!(poll_once(leader.as_mut()), Poll::Ready(Ok(1)));
}

#[test]
fn hand_driven_panicking_leader_hands_over_to_a_waiter() {
    let b = backend::<String>(100);
    let gate = Gate::default();
    let mut leader = Box::pin(b.get_with("k", None, async {
        gate.pass().await;
        panic!("loader failed (expected by the test)");
    }));
    assert!(poll_once(leader.as_mut()).is_pending());
    let mut w = Box::pin(b.get_with("k", None, async { "w".to_string() }));
    assert!(poll_once(w.as_mut()).is_pending());
    gate.open();
    let unwound = catch_unwind(AssertUnwindSafe(|| poll_once(leader.as_mut())));
    assert!(unwound.is_err());
    // Until the panicked future is dropped its guard is alive: the executor
    // drops it (tokio does, as does any block_on unwinding).
    drop(leader);
    assert_eq!(poll_once(w.as_mut()), Poll::Ready(Ok("w".into())));
}

#[test]
fn hand_driven_loader_error_is_shared_with_waiters_of_its_type() {
    #[derive(Debug)]
    struct DbDown;
    let b = backend::<u32>(100);
    let gate = Gate::default();
    let mut leader = Box::pin(b.try_get_with("k", None, async {
        gate.pass().await;
        Err::<u32, _>(DbDown)
    }));
    assert!(poll_once(leader.as_mut()).is_pending());
    let mut same = Box::pin(b.try_get_with("k", None, async { Ok::<_, DbDown>(1) }));
    let mut other = Box::pin(b.try_get_with("k", None, async { Ok::<_, String>(2) }));
    let mut plain = Box::pin(b.get_with("k", None, async { 3 }));
    assert!(poll_once(same.as_mut()).is_pending());
    assert!(poll_once(other.as_mut()).is_pending());
    assert!(poll_once(plain.as_mut()).is_pending());
    gate.open();
    let Poll::Ready(Err(TryGetError::Load(e1))) = poll_once(leader.as_mut()) else {
        panic!("the leader's load failed")
    };
    let Poll::Ready(Err(TryGetError::Load(e2))) = poll_once(same.as_mut()) else {
        panic!("a waiter of the same error type shares the error")
    };
    assert!(Arc::ptr_eq(&e1, &e2), "one shared error");
    // A waiter that cannot take the error loads again itself.
    assert_eq!(poll_once(other.as_mut()), Poll::Ready(Ok(2)));
    assert_eq!(poll_once(plain.as_mut()), Poll::Ready(Ok(2)));
}

#[test]
fn hand_driven_shutdown_releases_waiters_and_discards_the_load() {
    let b = backend::<u32>(100);
    let gate = Gate::default();
    let mut leader = Box::pin(b.get_with("k", None, async {
        gate.pass().await;
        1
    }));
    assert!(poll_once(leader.as_mut()).is_pending());
    let waker = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let mut w = Box::pin(b.get_with("k", None, async { 2 }));
    assert!(w
        .as_mut()
        .poll(&mut Context::from_waker(&Waker::from(waker.clone())))
        .is_pending());
    assert!(poll_once(pin!(b.shutdown())).is_ready());
    assert_eq!(
        waker.0.load(Ordering::SeqCst),
        1,
        "shutdown woke the waiter"
    );
    assert_eq!(poll_once(w.as_mut()), Poll::Ready(Err(CacheError::Closed)));
    gate.open();
    assert_eq!(
        poll_once(leader.as_mut()),
        Poll::Ready(Err(CacheError::Closed))
    );
    assert!(b.cache().is_empty(), "the late load was not stored");
    assert!(poll_once(pin!(b.initialize())).is_ready());
    assert_eq!(
        poll_once(pin!(b.get_with("k", None, async { 3 }))),
        Poll::Ready(Ok(3))
    );
}

// ---------------------------------------------------------------------------
// Runtime independence and the trait's provided get_with
// ---------------------------------------------------------------------------

#[test]
fn futures_complete_on_their_first_poll_without_a_runtime() {
    let b: Dyn<String> = dyn_backend(100);
    macro_rules! ready {
        ($f:expr) => {
            match poll_once(pin!($f)) {
                Poll::Ready(v) => v,
                Poll::Pending => panic!("{} was pending", stringify!($f)),
            }
        };
    }
    assert_eq!(ready!(b.initialize()), Ok(()));
    assert_eq!(ready!(b.set("k", "1".into(), None)), Ok(true));
    assert_eq!(ready!(b.get("k")), Ok(Some("1".into())));
    assert_eq!(ready!(b.exists("k")), Ok(true));
    assert_eq!(ready!(b.incr("n", 2, 0, None)), Ok(2));
    assert_eq!(ready!(b.decr("n", 1, 0, None)), Ok(1));
    assert_eq!(
        ready!(b.set_many(vec![("a".into(), "x".into())], None)),
        Ok(true)
    );
    assert_eq!(ready!(b.get_many(&["a", "k"])).map(|m| m.len()), Ok(2));
    assert_eq!(ready!(b.delete_many(&["a"])), Ok(1));
    assert_eq!(ready!(b.delete("k")), Ok(true));
    assert_eq!(ready!(b.invalidate_pattern("*")), Ok(1));
    assert_eq!(
        ready!(b.get_with("g", None, Box::pin(async { "v".to_string() }))),
        Ok("v".into())
    );
    assert_eq!(ready!(b.clear()), Ok(true));
    assert_eq!(ready!(b.shutdown()), Ok(()));
}

/// A backend that delegates everything but `get_with`, to test the trait's
/// provided `get_with`.
struct Delegating(MemoryCacheBackend<String>);

#[async_trait]
impl CacheBackend<String> for Delegating {
    async fn initialize(&self) -> Result<(), CacheError> {
        self.0.initialize().await
    }
    async fn shutdown(&self) -> Result<(), CacheError> {
        self.0.shutdown().await
    }
    async fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        self.0.get(key).await
    }
    async fn set(&self, key: &str, v: String, ttl: Option<Duration>) -> Result<bool, CacheError> {
        self.0.set(key, v, ttl).await
    }
    async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        self.0.delete(key).await
    }
    async fn exists(&self, key: &str) -> Result<bool, CacheError> {
        self.0.exists(key).await
    }
    async fn get_many(&self, keys: &[&str]) -> Result<HashMap<String, Option<String>>, CacheError> {
        self.0.get_many(keys).await
    }
    async fn set_many(
        &self,
        items: Vec<(String, String)>,
        ttl: Option<Duration>,
    ) -> Result<bool, CacheError> {
        self.0.set_many(items, ttl).await
    }
    async fn delete_many(&self, keys: &[&str]) -> Result<usize, CacheError> {
        self.0.delete_many(keys).await
    }
    async fn incr(
        &self,
        key: &str,
        amount: i64,
        default: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, CacheError> {
        self.0.incr(key, amount, default, ttl).await
    }
    async fn decr(
        &self,
        key: &str,
        amount: i64,
        default: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, CacheError> {
        self.0.decr(key, amount, default, ttl).await
    }
    async fn clear(&self) -> Result<bool, CacheError> {
        self.0.clear().await
    }
    async fn invalidate_pattern(&self, pattern: &str) -> Result<usize, CacheError> {
        self.0.invalidate_pattern(pattern).await
    }
}

#[tokio::test]
async fn the_provided_get_with_loads_and_stores() {
    let b: Dyn<String> = Arc::new(Delegating(backend(100)));
    let load =
        |v: &'static str| -> LoadFuture<'static, String> { Box::pin(async move { v.to_string() }) };
    assert_eq!(b.get_with("k", None, load("1")).await.as_deref(), Ok("1"));
    assert_eq!(b.get_with("k", None, load("2")).await.as_deref(), Ok("1"));
    assert_eq!(b.get("k").await.unwrap().as_deref(), Some("1"));
    b.get_with("t", Some(Duration::from_millis(50)), load("3"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.get("t").await, Ok(None));
    b.shutdown().await.unwrap();
    assert_eq!(
        b.get_with("k", None, load("4")).await,
        Err(CacheError::Closed)
    );
}

/// The seed's LRU stored every write, and services rely on reading back
/// what they just set: a full backend stores every `set`, even after a
/// flood of keys that are never read again (the workload that closes a
/// plain cache's admission door), unless built with `always_admit(false)`.
#[tokio::test]
async fn every_set_is_readable_right_after_it_even_in_a_full_backend() {
    async fn flood_then_set_and_read(b: &MemoryCacheBackend<String>) -> usize {
        for i in 0..20_000 {
            let key = format!("flood{i}");
            assert_eq!(b.get(&key).await.unwrap(), None);
            b.set(&key, String::new(), None).await.unwrap();
        }
        let mut readable = 0;
        for i in 0..1_000 {
            let key = format!("k{i}");
            b.set(&key, i.to_string(), None).await.unwrap();
            if b.get(&key).await.unwrap() == Some(i.to_string()) {
                readable += 1;
            }
        }
        readable
    }
    let b: MemoryCacheBackend<String> = backend(100);
    assert_eq!(flood_then_set_and_read(&b).await, 1_000);
    assert_eq!(b.cache().stats().rejections, 0);
    // Opting in to admission: the flood closes the door and most of it is
    // turned away.
    let lean: MemoryCacheBackend<String> = MemoryCacheBackend::builder()
        .max_capacity(100)
        .always_admit(false)
        .build();
    let readable = flood_then_set_and_read(&lean).await;
    assert!(lean.cache().stats().rejections > 10_000, "{readable}");
}
