//! The door's memory of how often new keys were turned away lately: a
//! count-min sketch (as in TinyLFU) of 4-bit counters.
//!
//! With the door closed (see [`crate::door`]) a turned-away key is
//! remembered in the ghost only if the sketch has seen it turned away before
//! (a count of one lasts until the next halving, at most one climber
//! period), and a key the ghost remembers is let in
//! only if the sketch has seen it. A scan's keys, each seen once, then
//! neither flood the ghost nor ride in on a ghost tag's chance match, and the
//! ghost keeps the records of keys that come back for much longer. Against
//! remembering one turn-away in two at random, over the 16 traces (8 hash
//! seeds, single thread): mean hit ratio +0.6 / +0.2 / +0.1 points at 1 /
//! 5 / 20% capacities, scan + hot set +0.4, Zipf +0.3 (see
//! docs/policy-experiments.md, session 6). The price is one sketch word
//! read and written per turned-away key, a cache miss in a large cache.
//!
//! **Layout.** [`PER_ENTRY`] counters per entry of capacity, 16 to a `u64`
//! word, at least [`MIN_WORDS`] words. A key's four counters are four
//! nibbles of one word picked by its hash, so a count is one load and one
//! store. It increments only the key's smallest counters (conservative
//! update). Every counter is halved once per period of the hill climber
//! ([`crate::adapt`], ten capacities' worth of requests), so the sketch
//! forgets at the pace of the workload, as TinyLFU's does.
//!
//! **Cost.** Nothing until the door first closes: the counters are
//! allocated then (4 bytes per entry of capacity), so an empty cache and a
//! cache whose door stays open pay nothing. Counters are relaxed loads and
//! stores, lossy like every policy hint: a lost update costs a little
//! accuracy, never safety. The halving is one pass over the counters by the
//! thread that closes a climber period (4 MiB at a million entries).

use std::ptr;

use crate::sync::hint::{AtomicBool, AtomicPtr, AtomicU64};
use crate::sync::Ordering;
use crate::zeroed::ZeroedSlice;

/// Counters per entry of capacity (4 bits each). 1 to 32 measured the same
/// mean hit ratios over the traces within 0.1 point; the scan + hot set
/// workload gains with size (46.1 with 4, 46.2 with 8, 46.3 with 16 or 32).
pub(crate) const PER_ENTRY: usize = 8;
/// Fewest words, so that a small cache's sketch is not all collisions
/// (4 KiB; measured +0.15 to +0.7 on the 1% mean against sizing by
/// capacity alone).
pub(crate) const MIN_WORDS: usize = 512;
const COUNTER_MAX: u64 = 15;
/// Keeps the low three bits of every 4-bit counter after a shift right.
const HALF_MASK: u64 = 0x7777_7777_7777_7777;

/// The sketch, allocated on first use.
pub(crate) struct Sketch {
    capacity: usize,
    /// Null until the first count; then a `Box<Counters>` that lives until
    /// the sketch is dropped.
    counters: AtomicPtr<Counters>,
    /// Set when the allocation failed: the door then does without the
    /// sketch, and no later turn-away tries to allocate again.
    failed: AtomicBool,
}

struct Counters {
    /// A power of two in length.
    words: ZeroedSlice<AtomicU64>,
}

impl Sketch {
    pub(crate) fn new(capacity: usize) -> Self {
        Sketch {
            capacity,
            counters: AtomicPtr::new(ptr::null_mut()),
            failed: AtomicBool::new(false),
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

    /// Whether the key with `hash` was counted before. `true` while there
    /// are no counters (before the first count, or for good if their
    /// allocation failed): the door then remembers every turned-away key,
    /// as it would without a sketch.
    #[inline]
    pub(crate) fn seen(&self, hash: u64) -> bool {
        self.counters().is_none_or(|c| c.estimate(hash) > 0)
    }

    /// Counts one turn-away (or admission) of the key with `hash`, and says
    /// whether it had been counted before (as [`seen`](Self::seen) would
    /// have, before this count).
    #[inline]
    pub(crate) fn count(&self, hash: u64) -> bool {
        match self.counters().or_else(|| self.install()) {
            Some(c) => c.increment(hash) > 0,
            None => true,
        }
    }

    /// Halves every counter: the sketch's sample ends.
    pub(crate) fn age(&self) {
        if let Some(c) = self.counters() {
            for word in c.words.iter() {
                word.store(
                    (word.load(Ordering::Relaxed) >> 1) & HALF_MASK,
                    Ordering::Relaxed,
                );
            }
        }
    }

    /// Allocates the counters, unless another thread just did; `None` if
    /// the allocation failed.
    #[cold]
    fn install(&self) -> Option<&Counters> {
        if self.failed.load(Ordering::Relaxed) {
            return None;
        }
        let Some(counters) = Counters::try_new(self.capacity) else {
            self.failed.store(true, Ordering::Relaxed);
            return None;
        };
        let new = Box::into_raw(Box::new(counters));
        if self
            .counters
            .compare_exchange(ptr::null_mut(), new, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // SAFETY: `new` came from `Box::into_raw` above and was never
            // published, so this thread owns it.
            drop(unsafe { Box::from_raw(new) });
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
        let words = unsafe { ZeroedSlice::new(words) }?;
        Some(Counters { words })
    }

    /// The key's word and the bit shifts of its four counters in it. The
    /// hash is remixed so that these bits are independent of the bucket
    /// and tag bits; two of the four may coincide.
    #[inline]
    fn cell(&self, hash: u64) -> (usize, [u32; 4]) {
        let h = hash.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let word = (h >> 40) as usize & (self.words.len() - 1);
        (
            word,
            std::array::from_fn(|k| ((h >> (4 * k)) & 15) as u32 * 4),
        )
    }

    #[inline]
    fn estimate(&self, hash: u64) -> u64 {
        let (w, shifts) = self.cell(hash);
        let x = self.words[w].load(Ordering::Relaxed);
        min_of(x, shifts)
    }

    /// Increments the key's smallest counters; returns the estimate from
    /// before.
    #[inline]
    fn increment(&self, hash: u64) -> u64 {
        let (w, shifts) = self.cell(hash);
        let word = &self.words[w];
        let x = word.load(Ordering::Relaxed);
        let min = min_of(x, shifts);
        if min < COUNTER_MAX {
            let mut add = 0u64;
            for s in shifts {
                if (x >> s) & COUNTER_MAX == min {
                    // `|=`: a nibble named twice is incremented once.
                    add |= 1 << s;
                }
            }
            word.store(x + add, Ordering::Relaxed);
        }
        min
    }
}

#[inline]
fn min_of(x: u64, shifts: [u32; 4]) -> u64 {
    shifts
        .into_iter()
        .map(|s| (x >> s) & COUNTER_MAX)
        .min()
        .unwrap_or(0)
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
        assert!(!s.count(hash(1)), "not seen before its first count");
        assert!(s.counters().is_some());
        assert!(s.seen(hash(1)));
        assert!(s.count(hash(1)));
        // Few of 500 other keys collide with one counted key.
        let false_hits = (2..502).filter(|&i| s.seen(hash(i))).count();
        assert!(false_hits < 5, "{false_hits}");
    }

    #[test]
    fn counters_saturate_and_halve_when_aged() {
        let s = Sketch::new(10);
        for _ in 0..100 {
            s.count(hash(7));
        }
        let c = s.counters().unwrap();
        assert_eq!(c.estimate(hash(7)), COUNTER_MAX, "saturates at 15");
        s.age();
        assert_eq!(c.estimate(hash(7)), COUNTER_MAX / 2);
        s.count(hash(8));
        s.age();
        assert!(!s.seen(hash(8)), "a single count is forgotten");
        assert_eq!(c.estimate(hash(7)), COUNTER_MAX / 4);
    }

    #[test]
    fn without_counters_every_key_counts_as_seen() {
        // No sketch can be sized for this capacity (the builder clamps real
        // capacities far below it): the door falls back to remembering
        // every turned-away key, and stops trying to allocate.
        let s = Sketch::new(usize::MAX);
        assert!(s.count(hash(1)), "seen, as without a sketch");
        assert!(s.seen(hash(2)));
        assert!(s.failed.load(Ordering::Relaxed));
        assert!(s.counters().is_none());
        s.age();
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
