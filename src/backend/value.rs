//! [`NonCounter`]: stores values that are not counters in a
//! [`MemoryCacheBackend`](super::MemoryCacheBackend).

use std::ops::{Deref, DerefMut};

use crate::counter::CounterValue;
use crate::error::CacheError;

/// A value that never holds a counter: `incr` and `decr` on it give
/// [`CacheError::NotAnInteger`] (on a missing key too, since no counter can
/// be stored) and change nothing.
///
/// [`MemoryCacheBackend<V>`](super::MemoryCacheBackend) implements
/// [`CacheBackend<V>`](super::CacheBackend) for values that implement
/// [`CounterValue`]: the integers, `String`, `Box<str>`, `Arc<str>` and
/// `Vec<u8>` do. For another type, either implement `CounterValue` for it
/// (both methods returning `Err(CacheError::NotAnInteger)`), or, for a type
/// you do not own such as `Arc<T>`, wrap it in `NonCounter`.
///
/// ```
/// use std::sync::Arc;
/// use clockcache::{CacheBackend, CacheError, MemoryCacheBackend, NonCounter};
///
/// #[derive(Debug, PartialEq)]
/// struct Profile {
///     name: String,
/// }
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
/// let backend: Arc<dyn CacheBackend<NonCounter<Arc<Profile>>>> =
///     Arc::new(MemoryCacheBackend::new(100));
/// let profile = Arc::new(Profile { name: "alice".into() });
/// backend.set("p:1", NonCounter(profile), None).await?;
/// assert_eq!(backend.get("p:1").await?.unwrap().name, "alice");
/// assert_eq!(backend.incr("p:1", 1, 0, None).await, Err(CacheError::NotAnInteger));
/// # Ok::<(), CacheError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NonCounter<T>(pub T);

impl<T> NonCounter<T> {
    /// The wrapped value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for NonCounter<T> {
    fn from(value: T) -> Self {
        NonCounter(value)
    }
}

impl<T> Deref for NonCounter<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for NonCounter<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// Never an integer.
impl<T> CounterValue for NonCounter<T> {
    fn to_counter(&self) -> Result<i64, CacheError> {
        Err(CacheError::NotAnInteger)
    }

    fn from_counter(_: i64) -> Result<Self, CacheError> {
        Err(CacheError::NotAnInteger)
    }
}
