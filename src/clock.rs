//! The eviction policy: per-shard CLOCK with small saturating counters.
//!
//! Each slot has a CLOCK counter (`Bucket::freq`, 0..=[`MAX_FREQ`]). A hit
//! bumps it with one relaxed load and, only if it is not saturated, one
//! relaxed store: lossy on purpose (two racing hits may count once), and a
//! hot entry costs no write at all. A shard's hand visits its buckets in
//! order; for each occupied slot it
//!
//! 1. evicts the entry if it may have a TTL and has expired (expired entries
//!    are the first victims),
//! 2. evicts it if its counter is 0,
//! 3. otherwise decrements the counter (a second chance per unit of count).
//!
//! The work per eviction is bounded: after [`SWEEP_BUCKETS`] buckets without a
//! zero counter the hand takes the lowest-counted entry it saw, so no insert
//! ever walks a whole shard. Everything the hand reads lives in the bucket
//! line; it dereferences a node only to check a TTL.
//!
//! The policy is kept behind this small interface (`on_hit`, `INITIAL_FREQ`,
//! [`sweep`], [`sweep_expired`]) so it can change without touching the table.

use crate::entry::Entry;
use crate::expiry::TimeSource;
use crate::shard::Shard;
use crate::sync::{AtomicU8, Guard, Ordering, Shared};
use crate::table::{is_occupied, may_expire, Slot, Table, SLOTS};

/// Saturation value of a CLOCK counter.
pub(crate) const MAX_FREQ: u8 = 3;

/// Counter of a newly inserted entry: it must earn its second chance.
pub(crate) const INITIAL_FREQ: u8 = 0;

/// Buckets the hand visits before settling for the best candidate seen.
pub(crate) const SWEEP_BUCKETS: usize = 8;

/// Records a hit on a slot's counter.
#[inline]
pub(crate) fn on_hit(freq: &AtomicU8) {
    let f = freq.load(Ordering::Relaxed);
    if f < MAX_FREQ {
        freq.store(f + 1, Ordering::Relaxed);
    }
}

/// Why a victim was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    /// Its counter ran down (or it was the least used of the budget).
    Capacity,
    /// It had expired.
    Expired,
}

/// Whether the committed node at `p` has expired.
fn expired<K, V>(p: Shared<'_, Entry<K, V>>, time: &TimeSource) -> bool {
    // SAFETY: callers load `p` under the guard they hold for this sweep, so
    // the node is not freed before the guard drops; null yields `None`.
    match unsafe { p.as_ref() } {
        Some(e) => time.is_expired(e.deadline),
        None => false,
    }
}

/// Moves `shard`'s hand until one entry is evicted through `evict` (which
/// unlinks it and returns whether its CAS won). Returns the reason, or `None`
/// if the shard had no committed entry within the budget.
pub(crate) fn sweep<'g, K: 'g, V: 'g>(
    table: &Table<K, V>,
    shard: &Shard,
    time: &TimeSource,
    guard: &'g Guard,
    mut evict: impl FnMut(Slot, Shared<'g, Entry<K, V>>) -> bool,
) -> Option<Reason> {
    let mut best: Option<(u8, Slot)> = None;
    for _ in 0..SWEEP_BUCKETS.min(shard.len) {
        let b = shard.start + shard.hand.fetch_add(1, Ordering::Relaxed) % shard.len;
        let bucket = table.bucket(b);
        let ctrl = bucket.ctrl();
        for i in 0..SLOTS {
            if !is_occupied(ctrl, i) {
                continue;
            }
            let slot = Slot {
                bucket: b,
                index: i,
            };
            if may_expire(ctrl, i) {
                let p = bucket.load(i, guard);
                if p.tag() == 0 && expired(p, time) && evict(slot, p) {
                    return Some(Reason::Expired);
                }
            }
            let f = bucket.freq[i].load(Ordering::Relaxed);
            if f == 0 {
                let p = bucket.load(i, guard);
                if p.tag() == 0 && !p.is_null() && evict(slot, p) {
                    return Some(Reason::Capacity);
                }
                continue;
            }
            bucket.freq[i].store(f - 1, Ordering::Relaxed);
            if best.is_none_or(|(bf, _)| f - 1 < bf) {
                best = Some((f - 1, slot));
            }
        }
    }
    let (_, slot) = best?;
    let p = table.bucket(slot.bucket).load(slot.index, guard);
    if p.tag() == 0 && !p.is_null() && evict(slot, p) {
        Some(Reason::Capacity)
    } else {
        None
    }
}

/// The amortised expiry sweep: inspects the next `buckets` buckets of
/// `shard` and reclaims every expired entry there through `reclaim`.
/// Returns how many it reclaimed.
pub(crate) fn sweep_expired<'g, K: 'g, V: 'g>(
    table: &Table<K, V>,
    shard: &Shard,
    buckets: usize,
    time: &TimeSource,
    guard: &'g Guard,
    mut reclaim: impl FnMut(Slot, Shared<'g, Entry<K, V>>) -> bool,
) -> usize {
    let mut n = 0;
    for _ in 0..buckets.min(shard.len) {
        let b = shard.start + shard.sweep.fetch_add(1, Ordering::Relaxed) % shard.len;
        n += expire_bucket(table, b, time, guard, &mut reclaim);
    }
    n
}

/// Reclaims the expired entries of bucket `b`.
pub(crate) fn expire_bucket<'g, K: 'g, V: 'g>(
    table: &Table<K, V>,
    b: usize,
    time: &TimeSource,
    guard: &'g Guard,
    reclaim: &mut impl FnMut(Slot, Shared<'g, Entry<K, V>>) -> bool,
) -> usize {
    let bucket = table.bucket(b);
    let ctrl = bucket.ctrl();
    let mut n = 0;
    for i in 0..SLOTS {
        if is_occupied(ctrl, i) && may_expire(ctrl, i) {
            let p = bucket.load(i, guard);
            if p.tag() == 0
                && expired(p, time)
                && reclaim(
                    Slot {
                        bucket: b,
                        index: i,
                    },
                    p,
                )
            {
                n += 1;
            }
        }
    }
    n
}
