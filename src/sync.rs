//! The one place that names atomics, cells, `Arc` and the epoch collector.
//!
//! Every other module of the concurrent core imports its synchronisation
//! primitives from here. Under `--cfg clockcache_loom` (together with
//! `--cfg crossbeam_loom`, which makes crossbeam-epoch itself loom-aware) they
//! map to `loom`'s model-checked versions, so the loom suite in `loom-tests/`
//! explores exactly the code that ships.

#[cfg(not(clockcache_loom))]
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicIsize, AtomicU16, AtomicU64, AtomicU8, AtomicUsize,
};
#[cfg(not(clockcache_loom))]
pub(crate) use std::sync::Arc;

#[cfg(clockcache_loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicIsize, AtomicU16, AtomicU64, AtomicU8, AtomicUsize,
};
#[cfg(clockcache_loom)]
pub(crate) use loom::sync::Arc;

pub(crate) use crossbeam_epoch::{Atomic, Guard, Shared};

/// Atomics that only carry eviction-policy hints (the probation queues, the
/// ghost, the climber): every use is relaxed and lossy by design, and no
/// decision that safety depends on reads them (evictions still go through
/// the table's CAS). Loom builds keep them as plain `std` atomics, outside
/// the model, so that loom's search is spent on the table's protocol
/// instead of on interleavings of hints that cannot break it.
pub(crate) mod hint {
    pub(crate) use std::sync::atomic::{
        AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize,
    };
}
pub(crate) use std::sync::atomic::Ordering;

/// Pins threads to the epoch and says when retired nodes may be reclaimed.
///
/// Normal builds use crossbeam-epoch's global collector: `pin()` is a
/// thread-local counter bump plus one fence, and garbage is freed as the
/// global epoch advances. Loom builds give every cache its own `Collector`
/// (so registration races are explored too) and flush the thread's garbage
/// bag after each retirement, so destructors run *inside* the model and race
/// the readers instead of waiting for the collector to drop after the join.
pub(crate) struct Reclaimer {
    #[cfg(clockcache_loom)]
    collector: crossbeam_epoch::Collector,
}

impl Reclaimer {
    pub(crate) fn new() -> Self {
        Reclaimer {
            #[cfg(clockcache_loom)]
            collector: crossbeam_epoch::Collector::new(),
        }
    }

    /// Pins the current thread: nodes loaded through the returned guard stay
    /// allocated until it is dropped.
    #[inline]
    pub(crate) fn pin(&self) -> Guard {
        #[cfg(not(clockcache_loom))]
        {
            crossbeam_epoch::pin()
        }
        #[cfg(clockcache_loom)]
        {
            self.collector.register().pin()
        }
    }

    /// Called after each retirement (`entry::retire`).
    #[inline]
    pub(crate) fn retired(&self, guard: &Guard) {
        #[cfg(clockcache_loom)]
        guard.flush();
        #[cfg(not(clockcache_loom))]
        let _ = guard;
    }
}

/// A small number that is stable for the calling thread, used to pick a
/// stripe of per-thread counters. Loom models run every thread on one stripe.
#[inline]
pub(crate) fn thread_stripe() -> usize {
    #[cfg(not(clockcache_loom))]
    {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        thread_local! {
            static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        STRIPE.try_with(|s| *s).unwrap_or(0)
    }
    #[cfg(clockcache_loom)]
    {
        0
    }
}
