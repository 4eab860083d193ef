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
/// struct Profile { name: String }
///
/// let backend: MemoryCacheBackend<NonCounter<Arc<Profile>>> = MemoryCacheBackend::new(100);
/// let profile = NonCounter(Arc::new(Profile { name: "alice".into() }));
/// backend.cache().insert("p:1".into(), profile);
/// assert_eq!(backend.cache().get("p:1").unwrap().name, "alice");
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
