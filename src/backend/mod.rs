//! The async backend adapter: the [`CacheBackend`] trait that services program
//! against, and [`MemoryCacheBackend`], its implementation over [`Cache`].
//!
//! The trait mirrors the async interface of a Python service's cache backend
//! (`get`, `set`, `delete`, `exists`, the `*_many` variants, `incr`/`decr`,
//! `clear`, `invalidate_pattern`, `initialize`, `shutdown`), so a Rust service
//! can pick its backend at run time and hold it as
//! `Arc<dyn CacheBackend<V>>`.
//!
//! The memory backend is a thin layer: every operation loads the backend's
//! `closed` flag once and makes the core call. Its futures never wait on
//! anything, so they complete on their first poll under any executor; the
//! crate depends on no async runtime. The only thing that can wait is
//! single-flight loading ([`MemoryCacheBackend::get_with`] and
//! [`MemoryCacheBackend::try_get_with`]), where concurrent callers for one
//! missing key await one load.
//!
//! Files: `memory.rs` (the backend and its builder), `flight.rs` (the
//! single-flight registry and its runtime-agnostic notification),
//! `error.rs` ([`TryGetError`]), `value.rs` ([`NonCounter`]).
//!
//! [`Cache`]: crate::Cache

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::CacheError;

mod error;
mod flight;
mod memory;
mod value;

pub use error::TryGetError;
pub use memory::{MemoryCacheBackend, MemoryCacheBackendBuilder};
pub use value::NonCounter;

/// The boxed loader future taken by [`CacheBackend::get_with`] (the trait is
/// used as `dyn CacheBackend`, so it cannot take a generic future).
pub type LoadFuture<'a, V> = Pin<Box<dyn Future<Output = V> + Send + 'a>>;

/// An async cache backend, chosen at run time and shared as
/// `Arc<dyn CacheBackend<V>>`.
///
/// Every method returns a `Result`: after [`shutdown`](Self::shutdown), every
/// operation but `initialize` and `shutdown` gives
/// [`CacheError::Closed`] until [`initialize`](Self::initialize) is called
/// again. Counter, TTL and glob semantics are those of the core
/// [`Cache`](crate::Cache) (see its documentation): a `ttl` of `None` means
/// the backend's default TTL (none unless one was configured), `incr` on a
/// value that is not an integer gives [`CacheError::NotAnInteger`] and leaves
/// it unchanged, and patterns follow Python's `fnmatch.fnmatchcase`.
///
/// The returned futures are `Send`.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use clockcache::{CacheBackend, CacheError, MemoryCacheBackend};
///
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     // The memory backend's futures complete on their first poll.
/// #     let mut f = std::pin::pin!(f);
/// #     let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// #     loop {
/// #         if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
/// #             return v;
/// #         }
/// #     }
/// # }
/// # block_on(async {
/// // Chosen by configuration in a real service.
/// let backend: Arc<dyn CacheBackend<String>> = Arc::new(MemoryCacheBackend::new(10_000));
/// backend.initialize().await?;
///
/// backend.set("user:1", "alice".to_string(), None).await?;
/// backend.set("session:9", "token".to_string(), Some(Duration::from_secs(30))).await?;
/// assert_eq!(backend.get("user:1").await?.as_deref(), Some("alice"));
///
/// // Counters read back as decimal text, as in Redis.
/// assert_eq!(backend.incr("hits", 1, 0, Some(Duration::from_secs(60))).await?, 1);
/// assert_eq!(backend.get("hits").await?.as_deref(), Some("1"));
/// assert_eq!(backend.incr("user:1", 1, 0, None).await, Err(CacheError::NotAnInteger));
///
/// assert_eq!(backend.invalidate_pattern("user:*").await?, 1);
/// backend.shutdown().await?;
/// assert_eq!(backend.get("hits").await, Err(CacheError::Closed));
/// # Ok::<(), CacheError>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait CacheBackend<V>: Send + Sync {
    /// Opens the backend (again, after [`shutdown`](Self::shutdown)).
    /// Idempotent; a new backend is already open.
    async fn initialize(&self) -> Result<(), CacheError>;

    /// Closes the backend and releases every entry. Later calls (other than
    /// `initialize` and `shutdown`, which always succeed) return
    /// [`CacheError::Closed`] until [`initialize`](Self::initialize) is
    /// called; the store then starts empty.
    async fn shutdown(&self) -> Result<(), CacheError>;

    /// The value for `key`, if present and not expired.
    async fn get(&self, key: &str) -> Result<Option<V>, CacheError>;

    /// Stores `value` under `key` with `ttl` (`None`: the backend's default
    /// TTL), replacing any value and TTL. Returns `true`.
    async fn set(&self, key: &str, value: V, ttl: Option<Duration>) -> Result<bool, CacheError>;

    /// Removes `key`; returns whether it existed (and had not expired).
    async fn delete(&self, key: &str) -> Result<bool, CacheError>;

    /// Whether `key` is present and not expired.
    async fn exists(&self, key: &str) -> Result<bool, CacheError>;

    /// The values for `keys`: the map has one entry for every distinct
    /// requested key, `None` for those that are missing.
    async fn get_many(&self, keys: &[&str]) -> Result<HashMap<String, Option<V>>, CacheError>;

    /// Stores every item with `ttl` (`None`: the default TTL), in order (a
    /// later duplicate key wins). Returns `true`.
    async fn set_many(
        &self,
        items: Vec<(String, V)>,
        ttl: Option<Duration>,
    ) -> Result<bool, CacheError>;

    /// Removes `keys`; returns how many existed (a key listed twice counts
    /// once: the second removal finds nothing).
    async fn delete_many(&self, keys: &[&str]) -> Result<usize, CacheError>;

    /// Atomically adds `amount` to the counter at `key` and returns the new
    /// value. A missing key starts at `default` and is created with `ttl`
    /// (`None`: the default TTL); an existing counter keeps its TTL, as
    /// Redis `INCR` does. A value that is not an integer gives
    /// [`CacheError::NotAnInteger`], a result out of range
    /// [`CacheError::Overflow`]; neither changes the stored value.
    async fn incr(
        &self,
        key: &str,
        amount: i64,
        default: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, CacheError>;

    /// Atomically subtracts `amount`; see [`incr`](Self::incr).
    async fn decr(
        &self,
        key: &str,
        amount: i64,
        default: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, CacheError>;

    /// Removes every entry. Returns `true`.
    async fn clear(&self) -> Result<bool, CacheError>;

    /// Removes every key matching the glob `pattern` (Python
    /// `fnmatch.fnmatchcase` rules) and returns how many were removed.
    async fn invalidate_pattern(&self, pattern: &str) -> Result<usize, CacheError>;

    /// The value for `key`, or else the value `init` resolves to, stored with
    /// `ttl` (`None`: the default TTL) and returned.
    ///
    /// The provided implementation is a plain `get`, then `init`, then `set`:
    /// concurrent callers for a missing key may each run their loader.
    /// [`MemoryCacheBackend`] overrides it with single-flight loading (one
    /// load per missing key, see [`MemoryCacheBackend::get_with`], which also
    /// takes an unboxed future).
    async fn get_with(
        &self,
        key: &str,
        ttl: Option<Duration>,
        init: LoadFuture<'_, V>,
    ) -> Result<V, CacheError>
    where
        V: Clone + Send + 'async_trait,
    {
        if let Some(v) = self.get(key).await? {
            return Ok(v);
        }
        let v = init.await;
        self.set(key, v.clone(), ttl).await?;
        Ok(v)
    }
}
