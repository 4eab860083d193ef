//! [`MemoryCacheBackend`]: the [`CacheBackend`] over the core [`Cache`], with
//! single-flight loading.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::error::TryGetError;
use super::flight::{Flights, Join, Outcome};
use super::{CacheBackend, LoadFuture};
use crate::builder::CacheBuilder;
use crate::cache::Cache;
use crate::counter::CounterValue;
use crate::error::CacheError;

/// The in-memory [`CacheBackend`]: a [`Cache<String, V>`](Cache) behind an
/// open/closed flag, plus single-flight loading
/// ([`get_with`](Self::get_with), [`try_get_with`](Self::try_get_with)).
///
/// Each operation loads the flag and makes the core call: no lock, and no
/// allocation beyond the core's own (and the boxed future that
/// `#[async_trait]` methods return). Keys are borrowed: `get("k")` allocates
/// no `String`. The futures complete on their first poll, under any
/// executor; only single-flight loading ever waits.
///
/// Values: the trait is implemented for `V: CounterValue + Clone + Send +
/// Sync + 'static`, because `incr`/`decr` go to the core's counters. That
/// covers the integers, `String`, `Box<str>`, `Arc<str>` and `Vec<u8>`; wrap
/// other types in [`NonCounter`](super::NonCounter) (or implement
/// `CounterValue` for them), which makes `incr` give
/// [`CacheError::NotAnInteger`].
///
/// [`shutdown`](CacheBackend::shutdown) sets the flag, ends the loads in
/// progress for their waiters and clears the store; until
/// [`initialize`](CacheBackend::initialize), every operation then gives
/// [`CacheError::Closed`]. A write that overlaps `shutdown` either happens
/// before it (and is cleared) or is undone and gives `Closed`, so a closed
/// backend holds nothing.
///
/// ```
/// use std::time::Duration;
/// use clockcache::MemoryCacheBackend;
///
/// let backend: MemoryCacheBackend<String> = MemoryCacheBackend::builder()
///     .max_capacity(10_000)
///     .time_to_live(Duration::from_secs(300)) // for `ttl: None`
///     .build();
/// assert_eq!(backend.cache().capacity(), 10_000);
/// ```
pub struct MemoryCacheBackend<V, S = ahash::RandomState> {
    cache: Cache<String, V, S>,
    closed: AtomicBool,
    flights: Flights<V>,
}

impl<V, S> fmt::Debug for MemoryCacheBackend<V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryCacheBackend")
            .field("cache", &self.cache)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .field("flights", &self.flights)
            .finish()
    }
}

/// Configures a [`MemoryCacheBackend`]: capacity, default TTL, shards, clock
/// (the settings of [`CacheBuilder`]).
pub struct MemoryCacheBackendBuilder<V> {
    inner: CacheBuilder<String, V>,
}

impl<V> fmt::Debug for MemoryCacheBackendBuilder<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MemoryCacheBackendBuilder")
            .field(&self.inner)
            .finish()
    }
}

impl<V> Default for MemoryCacheBackendBuilder<V> {
    fn default() -> Self {
        MemoryCacheBackendBuilder {
            inner: CacheBuilder::new().always_admit(true),
        }
    }
}

impl<V> MemoryCacheBackendBuilder<V> {
    /// The most entries the backend holds (default
    /// [`DEFAULT_CAPACITY`](crate::DEFAULT_CAPACITY)); see
    /// [`CacheBuilder::max_capacity`].
    pub fn max_capacity(self, max_capacity: usize) -> Self {
        MemoryCacheBackendBuilder {
            inner: self.inner.max_capacity(max_capacity),
        }
    }

    /// The default TTL, used when an operation's `ttl` is `None`; see
    /// [`CacheBuilder::time_to_live`].
    pub fn time_to_live(self, ttl: Duration) -> Self {
        MemoryCacheBackendBuilder {
            inner: self.inner.time_to_live(ttl),
        }
    }

    /// The number of eviction shards; see [`CacheBuilder::shards`].
    pub fn shards(self, shards: usize) -> Self {
        MemoryCacheBackendBuilder {
            inner: self.inner.shards(shards),
        }
    }

    /// The clock for TTLs (such as `quanta::Clock::mock()` in tests); see
    /// [`CacheBuilder::clock`].
    pub fn clock(self, clock: quanta::Clock) -> Self {
        MemoryCacheBackendBuilder {
            inner: self.inner.clock(clock),
        }
    }

    /// Whether every `set` is stored (default `true`, as the seed's LRU
    /// stored every write). `false` lets a full backend turn a new key away
    /// on its first `set` while new keys are rarely read again; see
    /// [`CacheBuilder::always_admit`].
    pub fn always_admit(self, always: bool) -> Self {
        MemoryCacheBackendBuilder {
            inner: self.inner.always_admit(always),
        }
    }

    /// Builds the backend (open, empty).
    pub fn build(self) -> MemoryCacheBackend<V>
    where
        V: Send + Sync + 'static,
    {
        MemoryCacheBackend::from(self.inner.build())
    }
}

impl<V> MemoryCacheBackend<V>
where
    V: Send + Sync + 'static,
{
    /// A backend holding at most `max_size` entries, with no default TTL.
    pub fn new(max_size: usize) -> Self {
        Self::builder().max_capacity(max_size).build()
    }

    /// A builder for a backend with a default TTL, a shard count or a clock.
    pub fn builder() -> MemoryCacheBackendBuilder<V> {
        MemoryCacheBackendBuilder::default()
    }
}

/// Wraps an existing cache (open; its entries are kept).
impl<V, S> From<Cache<String, V, S>> for MemoryCacheBackend<V, S> {
    fn from(cache: Cache<String, V, S>) -> Self {
        MemoryCacheBackend {
            cache,
            closed: AtomicBool::new(false),
            flights: Flights::new(),
        }
    }
}

impl<V, S> MemoryCacheBackend<V, S> {
    /// The underlying cache, for what the trait does not offer (statistics,
    /// `len`, iteration). It does not check the closed flag.
    pub fn cache(&self) -> &Cache<String, V, S> {
        &self.cache
    }

    /// Whether [`shutdown`](CacheBackend::shutdown) was called and not yet
    /// undone by [`initialize`](CacheBackend::initialize).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// `Err(Closed)` if the backend is closed: the one check on the hot path.
    #[inline]
    fn check_open(&self) -> Result<(), CacheError> {
        if self.closed.load(Ordering::Acquire) {
            Err(CacheError::Closed)
        } else {
            Ok(())
        }
    }

    /// After a write: whether a `shutdown` may have run since `check_open`
    /// without seeing the write. The fence pairs with the one in `shutdown`:
    /// either this load sees the flag, or `shutdown`'s `clear` sees (and
    /// removes) the written entry.
    #[inline]
    fn closed_after_write(&self) -> bool {
        fence(Ordering::SeqCst);
        self.closed.load(Ordering::Relaxed)
    }
}

impl<V, S> MemoryCacheBackend<V, S>
where
    V: Clone + Send + Sync + 'static,
    S: BuildHasher,
{
    /// Insert with `ttl`, or the default TTL for `None`.
    #[inline]
    fn put(&self, key: String, value: V, ttl: Option<Duration>) {
        match ttl {
            Some(ttl) => self.cache.insert_with_ttl(key, value, ttl),
            None => self.cache.insert(key, value),
        }
    }

    /// The value for `key`, loading it with `init` if it is missing: the
    /// loaded value is stored with `ttl` (`None`: the default TTL) and
    /// returned.
    ///
    /// Single flight: concurrent callers for the same missing key await one
    /// load, the first caller's `init`, and all receive its value; the other
    /// callers' `init` futures are dropped unpolled. Loads of different keys
    /// never wait on each other. If the loading caller's future is dropped
    /// (cancelled, or unwound by a panic in `init`), the callers waiting on
    /// it start over and one of them loads with its own `init`: nothing
    /// wedges. (A loading future that is leaked with `mem::forget`, or
    /// parked forever, does keep its waiters waiting.)
    ///
    /// Gives [`CacheError::Closed`] if the backend is closed when called or
    /// when the load ends, and to callers waiting when `shutdown` runs.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use clockcache::MemoryCacheBackend;
    ///
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let mut f = std::pin::pin!(f);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop {
    /// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
    /// #             return v;
    /// #         }
    /// #     }
    /// # }
    /// # block_on(async {
    /// let backend: MemoryCacheBackend<String> = MemoryCacheBackend::new(1_000);
    /// let loads = AtomicUsize::new(0);
    /// let load_user = || async {
    ///     loads.fetch_add(1, Ordering::Relaxed);
    ///     "alice".to_string() // a database query, say
    /// };
    /// assert_eq!(backend.get_with("user:1", None, load_user()).await?, "alice");
    /// assert_eq!(backend.get_with("user:1", None, load_user()).await?, "alice");
    /// assert_eq!(loads.load(Ordering::Relaxed), 1, "the second call hit the cache");
    /// # Ok::<(), clockcache::CacheError>(())
    /// # }).unwrap();
    /// ```
    pub async fn get_with(
        &self,
        key: &str,
        ttl: Option<Duration>,
        init: impl Future<Output = V>,
    ) -> Result<V, CacheError> {
        let loaded = self
            .load(key, ttl, async { Ok::<V, Infallible>(init.await) })
            .await;
        match loaded {
            Ok(v) => Ok(v),
            Err(TryGetError::Cache(e)) => Err(e),
            Err(TryGetError::Load(never)) => match *never {},
        }
    }

    /// Like [`get_with`](Self::get_with), for a loader that can fail.
    ///
    /// A loader's `Err(e)` is not cached: it is returned as
    /// [`TryGetError::Load`]`(Arc<e>)` to the loading caller and to every
    /// caller that was waiting on that load (one shared `Arc`, so `E` need
    /// not be `Clone`), and the next call loads again. A waiting caller
    /// whose error type differs from the loader's (or a
    /// [`get_with`](Self::get_with) caller) loads again instead.
    ///
    /// ```
    /// use clockcache::{MemoryCacheBackend, TryGetError};
    ///
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     let mut f = std::pin::pin!(f);
    /// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #     loop {
    /// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
    /// #             return v;
    /// #         }
    /// #     }
    /// # }
    /// # block_on(async {
    /// let backend: MemoryCacheBackend<u64> = MemoryCacheBackend::new(100);
    /// let failed = backend
    ///     .try_get_with("n", None, async { "0x2a".parse::<u64>() })
    ///     .await;
    /// assert!(matches!(failed, Err(TryGetError::Load(_))));
    /// let ok = backend.try_get_with("n", None, async { "42".parse::<u64>() }).await;
    /// assert_eq!(ok, Ok(42));
    /// # });
    /// ```
    pub async fn try_get_with<E>(
        &self,
        key: &str,
        ttl: Option<Duration>,
        init: impl Future<Output = Result<V, E>>,
    ) -> Result<V, TryGetError<E>>
    where
        E: Send + Sync + 'static,
    {
        self.load(key, ttl, init).await
    }

    /// The single-flight loop behind `get_with` and `try_get_with`.
    async fn load<E, F>(
        &self,
        key: &str,
        ttl: Option<Duration>,
        init: F,
    ) -> Result<V, TryGetError<E>>
    where
        E: Send + Sync + 'static,
        F: Future<Output = Result<V, E>>,
    {
        let leader = loop {
            self.check_open()?;
            if let Some(v) = self.cache.get(key) {
                return Ok(v);
            }
            match self.flights.join(key) {
                Join::Leader(leader) => break leader,
                Join::Waiter(wait) => match wait.await {
                    Outcome::Value(v) => return Ok(v),
                    Outcome::Closed => return Err(CacheError::Closed.into()),
                    Outcome::Failed(e) => match e.downcast::<E>() {
                        Ok(e) => return Err(TryGetError::Load(e)),
                        Err(_) => continue,
                    },
                    Outcome::Abandoned => continue,
                },
            }
        };
        // A load that ended between the miss above and the registration has
        // stored its value by now (it stores before unregistering).
        // `contains_key` first, so that a load counts one miss, not two.
        if self.cache.contains_key(key) {
            if let Some(v) = self.cache.get(key) {
                leader.finish(Outcome::Value(v.clone()));
                return Ok(v);
            }
        }
        // If this future is dropped here, `leader`'s drop releases the waiters.
        match init.await {
            Ok(v) => {
                if self.check_open().is_err() {
                    leader.finish(Outcome::Closed);
                    return Err(CacheError::Closed.into());
                }
                self.put(key.to_owned(), v.clone(), ttl);
                if self.closed_after_write() {
                    self.cache.remove(key);
                    leader.finish(Outcome::Closed);
                    return Err(CacheError::Closed.into());
                }
                leader.finish(Outcome::Value(v.clone()));
                Ok(v)
            }
            Err(e) => {
                let e = Arc::new(e);
                leader.finish(Outcome::Failed(Arc::clone(&e) as _));
                Err(TryGetError::Load(e))
            }
        }
    }
}

#[async_trait]
impl<V, S> CacheBackend<V> for MemoryCacheBackend<V, S>
where
    V: CounterValue + Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    async fn initialize(&self) -> Result<(), CacheError> {
        self.closed.store(false, Ordering::SeqCst);
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), CacheError> {
        self.closed.store(true, Ordering::SeqCst);
        // Pairs with the fence in `closed_after_write`.
        fence(Ordering::SeqCst);
        self.flights.close_all();
        self.cache.clear();
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<V>, CacheError> {
        self.check_open()?;
        Ok(self.cache.get(key))
    }

    async fn set(&self, key: &str, value: V, ttl: Option<Duration>) -> Result<bool, CacheError> {
        self.check_open()?;
        self.put(key.to_owned(), value, ttl);
        if self.closed_after_write() {
            self.cache.remove(key);
            return Err(CacheError::Closed);
        }
        Ok(true)
    }

    async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        self.check_open()?;
        Ok(self.cache.remove(key).is_some())
    }

    async fn exists(&self, key: &str) -> Result<bool, CacheError> {
        self.check_open()?;
        Ok(self.cache.contains_key(key))
    }

    async fn get_many(&self, keys: &[&str]) -> Result<HashMap<String, Option<V>>, CacheError> {
        self.check_open()?;
        let mut out = HashMap::with_capacity(keys.len());
        // One epoch pin for the whole batch (see `Cache::pin`).
        let cache = self.cache.pin();
        for &key in keys {
            if !out.contains_key(key) {
                out.insert(key.to_owned(), cache.get(key));
            }
        }
        Ok(out)
    }

    async fn set_many(
        &self,
        items: Vec<(String, V)>,
        ttl: Option<Duration>,
    ) -> Result<bool, CacheError> {
        self.check_open()?;
        if items.is_empty() {
            return Ok(true);
        }
        // The keys are kept only to undo the writes if a shutdown overlaps.
        let mut keys = Vec::with_capacity(items.len());
        // One epoch pin for the whole batch: the inserts' own pins nest.
        let pinned = self.cache.pin();
        for (key, value) in items {
            keys.push(key.clone());
            self.put(key, value, ttl);
        }
        drop(pinned);
        if self.closed_after_write() {
            for key in &keys {
                self.cache.remove(key.as_str());
            }
            return Err(CacheError::Closed);
        }
        Ok(true)
    }

    async fn delete_many(&self, keys: &[&str]) -> Result<usize, CacheError> {
        self.check_open()?;
        let cache = self.cache.pin();
        Ok(keys
            .iter()
            .filter(|&&key| cache.remove(key).is_some())
            .count())
    }

    async fn incr(
        &self,
        key: &str,
        amount: i64,
        default: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, CacheError> {
        self.check_open()?;
        let n = self.cache.incr(key.to_owned(), amount, default, ttl)?;
        if self.closed_after_write() {
            self.cache.remove(key);
            return Err(CacheError::Closed);
        }
        Ok(n)
    }

    async fn decr(
        &self,
        key: &str,
        amount: i64,
        default: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, CacheError> {
        self.check_open()?;
        let n = self.cache.decr(key.to_owned(), amount, default, ttl)?;
        if self.closed_after_write() {
            self.cache.remove(key);
            return Err(CacheError::Closed);
        }
        Ok(n)
    }

    async fn clear(&self) -> Result<bool, CacheError> {
        self.check_open()?;
        self.cache.clear();
        Ok(true)
    }

    async fn invalidate_pattern(&self, pattern: &str) -> Result<usize, CacheError> {
        self.check_open()?;
        Ok(self.cache.invalidate_pattern(pattern))
    }

    /// Single-flight: see [`MemoryCacheBackend::get_with`].
    async fn get_with(
        &self,
        key: &str,
        ttl: Option<Duration>,
        init: LoadFuture<'_, V>,
    ) -> Result<V, CacheError>
    where
        V: Clone + Send + 'async_trait,
    {
        MemoryCacheBackend::get_with(self, key, ttl, init).await
    }
}
