//! The door's memory of how often new keys were turned away lately: a
//! count-min sketch (as in TinyLFU) of 4-bit counters.
//!
//! With the door closed (see [`crate::door`]) a turned-away key is
//! remembered in the ghost only if the sketch has seen it turned away before
//! (within the sketch's sample), and a key the ghost remembers is let in
//! only if the sketch has seen it. A scan's keys, each seen once, then
//! neither flood the ghost nor ride in on a ghost tag's chance match, and the
//! ghost keeps the records of keys that come back for much longer. Against
//! remembering one turn-away in two at random, over the 16 traces (8 hash
//! seeds, single thread): mean hit ratio +0.6 / +0.15 / +0.1 points at 1 /
//! 5 / 20% capacities, scan + hot set +0.3, Zipf +0.2 (see
//! docs/policy-experiments.md, session 6).
//!
//! **Layout.** [`PER_ENTRY`] counters per entry of capacity, 16 to a `u64`
//! word, at least [`MIN_WORDS`] words. A key's four counters lie in one
//! 64-byte block of eight words (one cache line per update), each in a
//! different pair of words. An update increments only the key's smallest
//! counters (conservative update), and after [`SAMPLE_PER_ENTRY`] ×
//! capacity updates every counter is halved, so the sketch forgets at the
//! pace of the workload.
//!
//! **Cost.** Nothing until the door first closes: the counters are
//! allocated then (4 bytes per entry of capacity), so an empty cache and a
//! cache whose door stays open pay nothing. Counters are relaxed loads and
//! stores, lossy like every policy hint: a lost update costs a little
//! accuracy, never safety. The halving is one pass over the counters by the
//! thread whose update completes a sample (once per 8 × capacity
//! turn-aways; about half a millisecond at a million entries).

use std::ptr;

use crate::sync::hint::{AtomicPtr, AtomicU64};
use crate::sync::Ordering;
use crate::zeroed::ZeroedSlice;

/// Counters per entry of capacity (4 bits each).
pub(crate) const PER_ENTRY: usize = 8;
/// Fewest words, so that a small cache's sketch is not all collisions
/// (4 KiB; measured +0.7 on the 1% mean against sizing by capacity alone).
pub(crate) const MIN_WORDS: usize = 512;
/// Updates per entry of capacity between two halvings.
pub(crate) const SAMPLE_PER_ENTRY: u64 = 8;
/// Words per block (one cache line).
const BLOCK: usize = 8;
const COUNTER_MAX: u64 = 15;
/// Keeps the low three bits of every 4-bit counter after a shift right.
const HALF_MASK: u64 = 0x7777_7777_7777_7777;

/// The sketch, allocated on first use.
pub(crate) struct Sketch {
    capacity: usize,
    /// Null until the first update; then a `Box<Counters>` that lives until
    /// the sketch is dropped.
    counters: AtomicPtr<Counters>,
}

struct Counters {
    words: ZeroedSlice<AtomicU64>,
    block_mask: usize,
    sample: u64,
    /// Updates since the last halving (lossy).
    updates: AtomicU64,
}

impl Sketch {
    pub(crate) fn new(capacity: usize) -> Self {
        Sketch {
            capacity,
            counters: AtomicPtr::new(ptr::null_mut()),
        }
    }

    #[inline]
    fn counters(&self) -> Option<&Counters> {
        let p = self.counters.load(Ordering::Acquire);
        // SAFETY: a non-null pointer was published by `install` from
        // `Box::into_raw` (the `Acquire` load pairs with its `AcqRel` CAS, so
        // the counters are initialised), and is freed only by `drop`, which
        // has `&mut self`: it outlives this `&self` borrow.
        unsafe { p.as_ref() }
    }

    /// Whether the key with `hash` was counted before. `true` when the
    /// counters could not be allocated: the door then remembers every
    /// turned-away key, as it would without a sketch.
    #[inline]
    pub(crate) fn seen(&self, hash: u64) -> bool {
        self.counters().is_none_or(|c| c.estimate(hash) > 0)
    }

    /// Counts one turn-away (or admission) of the key with `hash`.
    #[inline]
    pub(crate) fn count(&self, hash: u64) {
        if let Some(c) = self.counters().or_else(|| self.install()) {
            c.increment(hash);
        }
    }

    /// Allocates the counters, unless another thread just did; `None` if
    /// the allocation failed.
    #[cold]
    fn install(&self) -> Option<&Counters> {
        let new = Box::into_raw(Box::new(Counters::try_new(self.capacity)?));
        match self.counters.compare_exchange(
            ptr::null_mut(),
            new,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {}
            Err(_) => {
                // SAFETY: `new` came from `Box::into_raw` above and was never
                // published, so this thread owns it.
                drop(unsafe { Box::from_raw(new) });
            }
        }
        self.counters()
    }
}

impl Drop for Sketch {
    fn drop(&mut self) {
        let p = *self.counters.get_mut();
        if !p.is_null() {
            // SAFETY: `p` came from `Box::into_raw` in `install`, and `&mut
            // self` means no borrow of it from `counters()` is alive.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

impl Counters {
    fn try_new(capacity: usize) -> Option<Self> {
        let words = capacity
            .max(1)
            .checked_mul(PER_ENTRY)?
            .div_ceil(16)
            .checked_next_power_of_two()?
            .max(MIN_WORDS);
        // SAFETY: all-zero bytes are a valid `AtomicU64` (zero), and its
        // alignment is 8.
        let slice = unsafe { ZeroedSlice::new(words) }?;
        Some(Counters {
            words: slice,
            block_mask: words / BLOCK - 1,
            sample: SAMPLE_PER_ENTRY.saturating_mul(capacity.max(1) as u64),
            updates: AtomicU64::new(0),
        })
    }

    /// The key's four counters, as (word index, bit shift). Hash bits are
    /// remixed so that they are independent of the bucket and tag bits.
    #[inline]
    fn cells(&self, hash: u64) -> [(usize, u32); 4] {
        let h = hash.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let block = ((h >> 40) as usize & self.block_mask) * BLOCK;
        std::array::from_fn(|k| {
            let word = block + 2 * k + ((h >> k) & 1) as usize;
            let nibble = ((h >> (8 + 4 * k)) & 15) as u32;
            (word, 4 * nibble)
        })
    }

    #[inline]
    fn read(&self, (w, s): (usize, u32)) -> u64 {
        (self.words[w].load(Ordering::Relaxed) >> s) & COUNTER_MAX
    }

    fn estimate(&self, hash: u64) -> u64 {
        self.cells(hash)
            .into_iter()
            .map(|c| self.read(c))
            .min()
            .unwrap_or(0)
    }

    fn increment(&self, hash: u64) {
        let cells = self.cells(hash);
        let values = cells.map(|c| self.read(c));
        let min = values.into_iter().min().unwrap_or(COUNTER_MAX);
        if min == COUNTER_MAX {
            return;
        }
        for ((w, s), v) in cells.into_iter().zip(values) {
            if v == min {
                let word = &self.words[w];
                word.store(word.load(Ordering::Relaxed) + (1 << s), Ordering::Relaxed);
            }
        }
        let n = self.updates.load(Ordering::Relaxed) + 1;
        if n < self.sample {
            self.updates.store(n, Ordering::Relaxed);
        } else if self
            .updates
            .compare_exchange(n - 1, 0, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            // This thread completed the sample: halve every counter.
            for word in self.words.iter() {
                word.store(
                    (word.load(Ordering::Relaxed) >> 1) & HALF_MASK,
                    Ordering::Relaxed,
                );
            }
        }
    }
}

#[cfg(all(test, not(clockcache_loom)))]
mod tests {
    use super::*;

    fn hash(i: u64) -> u64 {
        i.wrapping_mul(0xD6E8_FEB8_6659_FD93).rotate_left(29) ^ i
    }

    #[test]
    fn allocates_on_first_count_and_remembers_counted_keys() {
        let s = Sketch::new(1_000);
        assert!(s.counters().is_none(), "nothing allocated before use");
        s.count(hash(1));
        assert!(s.counters().is_some());
        assert!(s.seen(hash(1)));
        // Few of 500 other keys collide with one counted key.
        let false_hits = (2..502).filter(|&i| s.seen(hash(i))).count();
        assert!(false_hits < 5, "{false_hits}");
    }

    #[test]
    fn counters_saturate_and_halve_after_a_sample() {
        let s = Sketch::new(10);
        for _ in 0..100 {
            s.count(hash(7));
        }
        let c = s.counters().unwrap();
        assert_eq!(c.estimate(hash(7)), COUNTER_MAX, "saturates at 15");
        // Each count of a fresh key is one update; the sample is 80.
        let before = c.updates.load(Ordering::Relaxed);
        for i in 0..(c.sample - before) {
            s.count(hash(1_000 + i));
        }
        assert_eq!(c.estimate(hash(7)), COUNTER_MAX / 2, "halved once");
        assert_eq!(c.updates.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn sizes_by_capacity_with_a_floor() {
        let small = Counters::try_new(1).unwrap();
        assert_eq!(small.words.len(), MIN_WORDS);
        let large = Counters::try_new(1 << 20).unwrap();
        assert_eq!(large.words.len(), (1 << 20) * PER_ENTRY / 16);
        assert!(Counters::try_new(usize::MAX).is_none(), "no overflow");
    }
}
