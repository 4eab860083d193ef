//! The error type shared by fallible cache operations.

use std::fmt;

/// Errors returned by cache operations.
///
/// The enum is `#[non_exhaustive]`: new failure kinds may be added in minor
/// releases, so a `match` on it needs a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CacheError {
    /// The stored value is not an integer (counter operations).
    ///
    /// For text values this also covers text that is a well-formed decimal
    /// integer but lies outside the `i64` range, as Redis does.
    NotAnInteger,
    /// The counter operation would overflow the i64 range or the value type's range.
    Overflow,
    /// The backend has been shut down.
    Closed,
}

impl fmt::Display for CacheError {
    /// Writes a short lowercase message in the style of Redis error replies.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = match self {
            CacheError::NotAnInteger => "value is not an integer",
            CacheError::Overflow => "increment or decrement would overflow",
            CacheError::Closed => "cache backend is closed",
        };
        f.write_str(msg)
    }
}

/// `CacheError` has no underlying cause, so `source()` is always `None`.
impl std::error::Error for CacheError {}
