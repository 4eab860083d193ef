//! The node a slot points to, and how nodes are allocated and freed.

use std::ptr::NonNull;

use crate::recycle;
use crate::sync::{Guard, Shared};

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
    /// Allocates a node (from this thread's pool of recycled node memory,
    /// see `recycle.rs`), owned by the caller until it is linked.
    pub(crate) fn alloc<'g>(key: K, value: V, deadline: u64) -> Shared<'g, Self> {
        let p = recycle::alloc(Entry {
            key,
            value,
            deadline,
        });
        Shared::from(p.as_ptr().cast_const())
    }

    pub(crate) fn has_ttl(&self) -> bool {
        self.deadline != crate::expiry::NEVER
    }
}

/// The node behind `p`, tag bits stripped.
///
/// # Safety
///
/// `p` is not null.
unsafe fn raw<K, V>(p: Shared<'_, Entry<K, V>>) -> NonNull<Entry<K, V>> {
    debug_assert!(!p.is_null());
    // SAFETY: the caller's contract.
    unsafe { NonNull::new_unchecked(p.as_raw().cast_mut()) }
}

/// Drops the node `p` and releases its memory now.
///
/// # Safety
///
/// `p` is a non-null node from [`Entry::alloc`] that no other thread can
/// reach or still hold (never published, or the table is being dropped),
/// and it is not used again.
pub(crate) unsafe fn free<K, V>(p: Shared<'_, Entry<K, V>>) {
    // SAFETY: the caller's contract (which includes "not null").
    unsafe { recycle::free(raw(p)) }
}

/// Frees the node `p` and returns its key.
///
/// # Safety
///
/// As for [`free`].
pub(crate) unsafe fn into_key<K, V>(p: Shared<'_, Entry<K, V>>) -> K {
    // SAFETY: the caller's contract (which includes "not null").
    unsafe { recycle::take(raw(p)) }.key
}

/// Hands the unlinked node `p` to the epoch collector: it is dropped and its
/// memory recycled once no thread pinned now can still hold it.
///
/// # Safety
///
/// `p` is a non-null node from [`Entry::alloc`] that no new reader can load
/// any more (this thread's CAS unlinked it, or it was published pending and
/// then aborted), retired exactly once.
pub(crate) unsafe fn retire<K, V>(p: Shared<'_, Entry<K, V>>, guard: &Guard) {
    // SAFETY: not null (the caller's contract).
    let node = unsafe { raw(p) };
    // SAFETY: the collector runs the closure once, after every thread
    // pinned now has unpinned, so no reader still holds the node (the
    // caller's contract covers new readers). It may run on another thread:
    // the cache requires keys and values to be `Send + 'static`.
    unsafe { guard.defer_unchecked(move || recycle::free(node)) };
}
