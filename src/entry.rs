//! The node a slot points to.

/// One cached key/value pair with its deadline.
///
/// A node is immutable once it is reachable from the table: an overwrite or
/// a counter update installs a new node and retires the old one through the
/// epoch collector. That is what lets readers use a node without any lock.
pub(crate) struct Entry<K, V> {
    pub(crate) key: K,
    pub(crate) value: V,
    /// Nanoseconds since the cache was built; `expiry::NEVER` for no TTL.
    pub(crate) deadline: u64,
}

impl<K, V> Entry<K, V> {
    pub(crate) fn new(key: K, value: V, deadline: u64) -> Self {
        Entry {
            key,
            value,
            deadline,
        }
    }

    pub(crate) fn has_ttl(&self) -> bool {
        self.deadline != crate::expiry::NEVER
    }
}
