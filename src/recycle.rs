//! Per-thread recycling of node memory.
//!
//! Every stored insert into a full cache allocates a node and retires
//! another, and every overwrite does the same. The epoch collector frees
//! retired nodes later, in bursts of up to a few hundred, usually from cold
//! cache lines; past glibc's 7-deep per-thread cache, each of those frees and
//! the next mallocs take the allocator's locked paths, and each 2 KiB garbage
//! bag the collector allocates sets off a consolidation pass over them. A
//! stored insert spent about a quarter of its time there.
//!
//! So the deferred destructor of a node drops its key and value and then
//! hands the *memory* to a small per-thread pool, binned by size, from which
//! the next node of that size on this thread is carved. Only memory is
//! recycled, never a value, and only after the epoch says no reader can see
//! it: a block enters the pool from the deferred function the collector
//! runs once every thread that could hold the node has unpinned, or when
//! the node was never shared. A pool holds at most 256 blocks per size;
//! past that, and for sizes over 128 bytes or alignments over 8, blocks go
//! straight back to the global allocator. A thread's pool is returned to the
//! allocator when the thread exits; a block released after that (a
//! destructor run during thread teardown) is freed directly.
//!
//! Loom builds allocate and free through `Box` directly: the pool is
//! thread-local bookkeeping with no atomics, nothing for the model to check,
//! and loom's threads share one OS thread.

use std::ptr::NonNull;

/// Allocates a node holding `value`.
#[inline]
pub(crate) fn alloc<T>(value: T) -> NonNull<T> {
    #[cfg(not(clockcache_loom))]
    if let Some(bin) = pool::bin_of::<T>() {
        let p = pool::take(bin).cast::<T>();
        // SAFETY: `take` returns a block of `bin`'s layout, which has the
        // size of `T` and an alignment at least `T`'s, owned by nobody.
        unsafe { p.as_ptr().write(value) };
        return p;
    }
    NonNull::from(Box::leak(Box::new(value)))
}

/// Drops the value at `p` and releases its memory.
///
/// # Safety
///
/// `p` came from [`alloc`], and no thread can reach it any more (it was
/// never shared, or the epoch collector runs this after a grace period). It
/// is not used again.
#[inline]
pub(crate) unsafe fn free<T>(p: NonNull<T>) {
    // SAFETY: the caller's contract: `p` is a live, unreachable value.
    unsafe { std::ptr::drop_in_place(p.as_ptr()) };
    // SAFETY: dropped above; the memory is ours.
    unsafe { release(p) };
}

/// Moves the value out of `p` and releases its memory.
///
/// # Safety
///
/// As for [`free`].
#[inline]
pub(crate) unsafe fn take<T>(p: NonNull<T>) -> T {
    // SAFETY: the caller's contract: `p` is a live, unreachable value, read
    // once and never dropped in place.
    let value = unsafe { p.as_ptr().read() };
    // SAFETY: moved out above; the memory is ours.
    unsafe { release(p) };
    value
}

/// Returns the memory of a dropped (or moved-out) value to the pool.
///
/// # Safety
///
/// `p` came from [`alloc`], holds no live value and is not used again.
#[inline]
unsafe fn release<T>(p: NonNull<T>) {
    #[cfg(not(clockcache_loom))]
    if let Some(bin) = pool::bin_of::<T>() {
        // SAFETY: `alloc` carved `p` from `bin`'s layout (same `T`).
        unsafe { pool::give(bin, p.cast()) };
        return;
    }
    // SAFETY: `alloc` made `p` with `Box::new` (`T` is not pooled); the
    // value is gone, so only the allocation is freed.
    drop(unsafe { Box::from_raw(p.as_ptr().cast::<std::mem::ManuallyDrop<T>>()) });
}

#[cfg(not(clockcache_loom))]
mod pool {
    use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
    use std::cell::RefCell;
    use std::ptr::NonNull;

    /// Blocks of one size kept per thread.
    pub(super) const DEPTH: usize = 256;
    /// The largest block size pooled, in bytes.
    const MAX_POOLED: usize = 128;
    /// Size classes: 8, 16, ..., `MAX_POOLED` bytes.
    const BINS: usize = MAX_POOLED / 8;
    /// Every pooled block is allocated with this alignment.
    const ALIGN: usize = 8;

    /// One thread's free blocks, one stack per size class.
    struct Pool {
        bins: RefCell<[Vec<NonNull<u8>>; BINS]>,
    }

    impl Drop for Pool {
        fn drop(&mut self) {
            for (bin, blocks) in self.bins.get_mut().iter_mut().enumerate() {
                for p in blocks.drain(..) {
                    // SAFETY: every block in bin `bin` was allocated with
                    // `layout(bin)` and is free.
                    unsafe { dealloc(p.as_ptr(), layout(bin)) };
                }
            }
        }
    }

    thread_local! {
        static POOL: Pool = const {
            Pool {
                bins: RefCell::new([const { Vec::new() }; BINS]),
            }
        };
    }

    /// The size class of `T`, if `T` is pooled.
    #[inline]
    pub(super) fn bin_of<T>() -> Option<usize> {
        let (size, align) = (size_of::<T>(), align_of::<T>());
        (size > 0 && size <= MAX_POOLED && size % ALIGN == 0 && align <= ALIGN)
            .then(|| size / ALIGN - 1)
    }

    fn layout(bin: usize) -> Layout {
        debug_assert!(bin < BINS);
        // SAFETY: `ALIGN` is a power of two, and the size (at most
        // `MAX_POOLED`) is far from overflowing `isize` when rounded up to it.
        unsafe { Layout::from_size_align_unchecked((bin + 1) * ALIGN, ALIGN) }
    }

    /// A free block of class `bin`: this thread's most recently released
    /// one, or a new allocation.
    #[inline]
    pub(super) fn take(bin: usize) -> NonNull<u8> {
        let reused = POOL
            .try_with(|pool| pool.bins.try_borrow_mut().ok()?[bin].pop())
            .ok()
            .flatten();
        reused.unwrap_or_else(|| {
            let layout = layout(bin);
            // SAFETY: `layout` has a non-zero size.
            NonNull::new(unsafe { alloc(layout) }).unwrap_or_else(|| handle_alloc_error(layout))
        })
    }

    /// How many blocks of `T`'s class this thread holds.
    #[cfg(test)]
    pub(super) fn pooled<T>() -> usize {
        bin_of::<T>().map_or(0, |bin| POOL.with(|pool| pool.bins.borrow()[bin].len()))
    }

    /// Keeps the free block `p` of class `bin` for reuse, or frees it if
    /// this thread's pool is full or gone.
    ///
    /// # Safety
    ///
    /// `p` was allocated with `layout(bin)`, holds no live value and is not
    /// used by anyone else.
    #[inline]
    pub(super) unsafe fn give(bin: usize, p: NonNull<u8>) {
        let kept = POOL
            .try_with(|pool| match pool.bins.try_borrow_mut() {
                Ok(mut bins) if bins[bin].len() < DEPTH => {
                    bins[bin].push(p);
                    true
                }
                _ => false,
            })
            .unwrap_or(false);
        if !kept {
            // SAFETY: the caller's contract.
            unsafe { dealloc(p.as_ptr(), layout(bin)) };
        }
    }
}

#[cfg(all(test, not(clockcache_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static DROPS: AtomicUsize = AtomicUsize::new(0);

    struct Counted(#[allow(dead_code)] u64);
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn values_are_dropped_once_and_memory_is_reused() {
        let a = alloc((Counted(1), 7u64));
        let addr = a.as_ptr() as usize;
        // SAFETY: never shared.
        unsafe { free(a) };
        assert_eq!(DROPS.load(Ordering::Relaxed), 1);
        let b = alloc((Counted(2), 8u64));
        assert_eq!(b.as_ptr() as usize, addr, "the freed block is reused");
        // SAFETY: never shared.
        let (c, n) = unsafe { take(b) };
        assert_eq!(n, 8);
        assert_eq!(DROPS.load(Ordering::Relaxed), 1, "take moves, not drops");
        drop(c);
        assert_eq!(DROPS.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn large_and_overaligned_values_bypass_the_pool() {
        #[repr(align(32))]
        struct Wide([u8; 32]);
        assert_eq!(pool::bin_of::<[u8; 4096]>(), None);
        assert_eq!(pool::bin_of::<Wide>(), None);
        assert_eq!(
            pool::bin_of::<[u64; 3]>(),
            Some(2),
            "24 bytes: the third bin"
        );
        let big = alloc([7u8; 4096]);
        let wide = alloc(Wide([1; 32]));
        assert_eq!(wide.as_ptr() as usize % 32, 0);
        // SAFETY: never shared.
        unsafe {
            assert_eq!(take(big)[4095], 7);
            assert_eq!(take(wide).0[31], 1);
        }
    }

    #[test]
    fn a_full_pool_frees_the_rest() {
        type Block = [u64; 3];
        let blocks: Vec<_> = (0..pool::DEPTH as u64 * 2).map(|i| alloc([i; 3])).collect();
        assert_eq!(
            pool::pooled::<Block>(),
            0,
            "allocation drains the pool first"
        );
        for (i, p) in blocks.into_iter().enumerate() {
            // SAFETY: never shared.
            assert_eq!(unsafe { take(p) }, [i as u64; 3]);
        }
        assert_eq!(
            pool::pooled::<Block>(),
            pool::DEPTH,
            "kept up to DEPTH, freed the rest"
        );
        // Other sizes have their own bins.
        assert_eq!(pool::pooled::<[u64; 5]>(), 0);
    }
}
