//! The ghost: tags of keys recently evicted from probation, per bucket.
//!
//! S3-FIFO's lesson: a key that comes back soon after it was evicted as a
//! one-hit wonder was not one; it should skip probation. The ghost remembers
//! the 8-bit tags of the last four keys evicted from probation in
//! each bucket, in one `u32` per bucket (0.7 bytes per slot). A new key is
//! looked up in the ghost words of its two candidate buckets; a match admits
//! it straight into the main part of the cache.
//!
//! It is lossy on purpose: records are a relaxed load and store, so two
//! racing records may keep one, and a tag shared by two keys (about 3% of new
//! keys match some record by chance) admits the other one. Neither can cost
//! more than a slightly worse choice of victim.

use crate::sync::hint::AtomicU32;
use crate::sync::Ordering;
use crate::table::Home;

/// One ghost word per bucket of the table.
pub(crate) struct Ghost {
    words: crate::zeroed::ZeroedSlice<AtomicU32>,
}

impl Ghost {
    /// A ghost for a table of `buckets` buckets, or `None` if the allocation
    /// fails.
    pub(crate) fn try_new(buckets: usize) -> Option<Self> {
        // SAFETY: an all-zero `AtomicU32` is a valid 0 (no record: tags are
        // never 0), and its alignment is 4.
        let words = unsafe { crate::zeroed::ZeroedSlice::new(buckets) }?;
        Some(Ghost { words })
    }

    /// Remembers that a key with `tag` was evicted from `bucket`, forgetting
    /// the oldest record there.
    #[inline]
    pub(crate) fn record(&self, bucket: usize, tag: u8) {
        let w = &self.words[bucket];
        w.store(
            (w.load(Ordering::Relaxed) << 8) | u32::from(tag),
            Ordering::Relaxed,
        );
    }

    /// Whether a key with `tag` and candidate buckets `home` was recently
    /// evicted (or, by chance, another key with the same tag).
    #[inline]
    pub(crate) fn contains(&self, home: Home, tag: u8) -> bool {
        self.contains_in(home.first, tag) || self.contains_in(home.second, tag)
    }

    /// Whether bucket `bucket`'s ghost word has a record of `tag`.
    #[inline]
    pub(crate) fn contains_in(&self, bucket: usize, tag: u8) -> bool {
        has_byte(self.words[bucket].load(Ordering::Relaxed), tag)
    }

    /// Hints the CPU to fetch the ghost words of `home` (an insert looks
    /// them up after its bucket reads).
    #[inline]
    pub(crate) fn prefetch(&self, home: Home) {
        crate::table::prefetch(&self.words[home.first]);
        crate::table::prefetch(&self.words[home.second]);
    }
}

/// Whether any byte of `w` equals `tag` (SWAR; `tag` is never 0).
#[inline]
fn has_byte(w: u32, tag: u8) -> bool {
    let x = w ^ (u32::from(tag) * 0x0101_0101);
    (x.wrapping_sub(0x0101_0101) & !x & 0x8080_8080) != 0
}

#[cfg(all(test, not(clockcache_loom)))]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_four_records_per_bucket() {
        let g = Ghost::try_new(4).unwrap();
        let home = Home {
            first: 1,
            second: 3,
        };
        assert!(!g.contains(home, 7));
        for t in 1..=5u8 {
            g.record(1, t);
        }
        assert!(!g.contains(home, 1), "the oldest record was dropped");
        for t in 2..=5u8 {
            assert!(g.contains(home, t));
        }
        g.record(3, 200);
        assert!(
            g.contains(home, 200),
            "the second candidate is looked up too"
        );
        assert!(!g.contains(
            Home {
                first: 0,
                second: 2
            },
            200
        ));
    }

    #[test]
    fn swar_byte_match_is_exact() {
        for w in [0u32, 0x0102_0304, 0x8080_8080, 0xffff_ff01, 0x0100_0000] {
            for t in 1..=255u8 {
                let expect = w.to_le_bytes().contains(&t);
                assert_eq!(has_byte(w, t), expect, "w={w:#x} t={t}");
            }
        }
    }
}
