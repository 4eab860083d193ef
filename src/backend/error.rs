//! [`TryGetError`]: why [`MemoryCacheBackend::try_get_with`] gave no value.
//!
//! [`MemoryCacheBackend::try_get_with`]: super::MemoryCacheBackend::try_get_with

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use crate::error::CacheError;

/// The error of [`MemoryCacheBackend::try_get_with`]: the backend refused
/// (it is closed), or the loader failed.
///
/// A loader's error is shared, as an `Arc<E>`, by every caller that was
/// waiting on that load (so `E` need not be `Clone`); it is not cached, and
/// the next call for the key loads again.
///
/// [`MemoryCacheBackend::try_get_with`]: super::MemoryCacheBackend::try_get_with
#[derive(Debug)]
pub enum TryGetError<E> {
    /// The backend's own error ([`CacheError::Closed`] after `shutdown`).
    Cache(CacheError),
    /// The loader's error, shared with the callers that awaited that load.
    Load(Arc<E>),
}

impl<E> TryGetError<E> {
    /// The loader's error, if that is what this is.
    pub fn load_error(&self) -> Option<&Arc<E>> {
        match self {
            TryGetError::Load(e) => Some(e),
            TryGetError::Cache(_) => None,
        }
    }
}

impl<E> Clone for TryGetError<E> {
    fn clone(&self) -> Self {
        match self {
            TryGetError::Cache(e) => TryGetError::Cache(*e),
            TryGetError::Load(e) => TryGetError::Load(Arc::clone(e)),
        }
    }
}

/// Compares cache errors by value and loader errors by identity (the same
/// shared load failure).
impl<E> PartialEq for TryGetError<E> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (TryGetError::Cache(a), TryGetError::Cache(b)) => a == b,
            (TryGetError::Load(a), TryGetError::Load(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl<E> From<CacheError> for TryGetError<E> {
    fn from(e: CacheError) -> Self {
        TryGetError::Cache(e)
    }
}

/// Writes the cache error's message, or "loader failed: " and the loader's.
impl<E: fmt::Display> fmt::Display for TryGetError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryGetError::Cache(e) => e.fmt(f),
            TryGetError::Load(e) => write!(f, "loader failed: {e}"),
        }
    }
}

/// `source()` is the cache error or the loader's error.
impl<E: Error + 'static> Error for TryGetError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            TryGetError::Cache(e) => Some(e),
            TryGetError::Load(e) => Some(&**e),
        }
    }
}
