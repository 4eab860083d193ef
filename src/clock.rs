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
use crate::shard::{Shard, Shards};
use crate::sync::{AtomicU8, Guard, Ordering, Shared};
use crate::table::{is_occupied, may_expire, Home, Slot, Table, SLOTS};

/// Saturation value of a CLOCK counter (the low 2 bits of the slot's byte).
pub(crate) const MAX_FREQ: u8 = 3;

const FREQ_MASK: u8 = 0b11;

/// The upper 6 bits of a slot's byte hold a stamp: where the shard's hand
/// was when the entry was inserted or last aged, in units of 1/16 of a lap
/// (modulo 4 laps).
pub(crate) const LAP_UNITS: u64 = 16;
const STAMP_MOD: u64 = 64;

/// Buckets the hand visits before settling for the best candidate seen.
pub(crate) const SWEEP_BUCKETS: usize = 8;

/// The hand's position in stamp units (1/16 of a lap, modulo 4 laps), for a
/// running slot count `hand`. A multiplication by the shard's precomputed
/// reciprocal, not a division: the result drifts by one unit every 2^32
/// slots at most, and only differences between stamps matter.
#[inline]
fn stamp_at(shard: &Shard, hand: usize) -> u8 {
    (((hand as u64).wrapping_mul(shard.lap_reciprocal) >> 32) % STAMP_MOD) as u8
}

/// How far the hand has moved since `byte` was stamped, in stamp units.
#[inline]
fn elapsed(byte: u8, now: u8) -> u64 {
    u64::from(now.wrapping_sub(byte >> 2)) % STAMP_MOD
}

/// How soon CLOCK would evict an entry with counter byte `f`, stamped `age`
/// units ago, if it got no more hits: `count + 1` laps after its stamp.
/// Smaller is a better victim (the offset keeps overdue entries positive).
#[inline]
fn remaining(f: u8, age: u64) -> u64 {
    (u64::from(f & FREQ_MASK) + 1) * LAP_UNITS + STAMP_MOD - age
}

/// The counter byte of a new entry in `shard`: count 0, stamped now.
///
/// Slots are placed by hash, not behind the hand as in textbook CLOCK, so a
/// new entry may sit just ahead of the hand. The stamp makes the hand pass
/// over entries it has not had a full lap to see since they were stamped,
/// which restores CLOCK's first-in-first-out order: every entry gets about
/// one lap before its counter is looked at.
#[inline]
pub(crate) fn initial(shard: &Shard) -> u8 {
    stamp_at(shard, shard.hand.load(Ordering::Relaxed)) << 2
}

/// Records a hit on a slot's counter.
#[inline]
pub(crate) fn on_hit(freq: &AtomicU8) {
    let f = freq.load(Ordering::Relaxed);
    if f & FREQ_MASK < MAX_FREQ {
        freq.store(f + 1, Ordering::Relaxed);
    }
}

/// A fallback victim: its rank (lower is better), slot and node.
type Candidate<'g, K, V> = (u64, Slot, Shared<'g, Entry<K, V>>);

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
/// if the shard had no committed entry within the budget. The entry at
/// `spare` (the one just inserted) is never chosen.
pub(crate) fn sweep<'g, K: 'g, V: 'g>(
    table: &Table<K, V>,
    shard: &Shard,
    spare: Option<Slot>,
    time: &TimeSource,
    guard: &'g Guard,
    mut evict: impl FnMut(Slot, Shared<'g, Entry<K, V>>) -> bool,
) -> Option<Reason> {
    let lap = shard.len * SLOTS;
    // The hand counts slots. Racing evictors may look at the same slots
    // (a counter can then lose two counts at once): lossy, like the hits.
    let start = shard.hand.load(Ordering::Relaxed);
    let steps = lap.min(SWEEP_BUCKETS * SLOTS);
    // One stamp for the whole (short) sweep, and no division per slot.
    let now = stamp_at(shard, start);
    let mut at = start % lap;
    // Fallback candidate; a lower rank is a better victim.
    let mut best: Option<Candidate<'g, K, V>> = None;
    let mut ctrl = 0;
    for pos in start..start + steps {
        if pos != start {
            at += 1;
            if at == lap {
                at = 0;
            }
        }
        let (b, i) = (shard.start + at / SLOTS, at % SLOTS);
        let bucket = table.bucket(b);
        if i == 0 || pos == start {
            ctrl = bucket.ctrl();
        }
        if !is_occupied(ctrl, i) {
            continue;
        }
        // Only committed entries are candidates (a claimed slot may still be
        // empty or pending).
        let p = bucket.load(i, guard);
        if p.tag() != 0 || p.is_null() {
            continue;
        }
        let slot = Slot {
            bucket: b,
            index: i,
        };
        if Some(slot) == spare {
            continue;
        }
        let mut victim = |reason| {
            if evict(slot, p) {
                shard.hand.store(pos + 1, Ordering::Relaxed);
                Some(reason)
            } else {
                None
            }
        };
        if may_expire(ctrl, i) && expired(p, time) {
            if let Some(r) = victim(Reason::Expired) {
                return Some(r);
            }
        }
        let f = bucket.freq[i].load(Ordering::Relaxed);
        let age = elapsed(f, now);
        let rank = if age < LAP_UNITS {
            // Seen (or inserted) less than a lap ago: not its turn yet.
            remaining(f, age)
        } else if f & FREQ_MASK == 0 {
            if let Some(r) = victim(Reason::Capacity) {
                return Some(r);
            }
            continue;
        } else {
            // Second chance: one count less, and a lap before the next look.
            let f = (f & FREQ_MASK) - 1;
            bucket.freq[i].store(f | (now << 2), Ordering::Relaxed);
            remaining(f, 0)
        };
        if best.is_none_or(|(r, _, _)| rank < r) {
            best = Some((rank, slot, p));
        }
    }
    shard.hand.store(start + steps, Ordering::Relaxed);
    let (_, slot, p) = best?;
    evict(slot, p).then_some(Reason::Capacity)
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

/// Evicts one entry from the two candidate buckets of a new key when both
/// are full and the cache is at capacity (set-associative fallback, so that
/// entries never drift far from their candidates under churn). Takes an
/// expired entry if there is one, else the lowest counter, oldest first.
pub(crate) fn evict_local<'g, K: 'g, V: 'g>(
    table: &Table<K, V>,
    shards: &Shards,
    home: Home,
    time: &TimeSource,
    guard: &'g Guard,
    mut evict: impl FnMut(Slot, Shared<'g, Entry<K, V>>) -> bool,
) -> Option<Reason> {
    let mut best: Option<Candidate<'g, K, V>> = None;
    for b in [home.first, home.second] {
        let bucket = table.bucket(b);
        let ctrl = bucket.ctrl();
        for i in 0..SLOTS {
            if !is_occupied(ctrl, i) {
                continue;
            }
            let p = bucket.load(i, guard);
            if p.tag() != 0 || p.is_null() {
                continue;
            }
            let slot = Slot {
                bucket: b,
                index: i,
            };
            if may_expire(ctrl, i) && expired(p, time) && evict(slot, p) {
                return Some(Reason::Expired);
            }
            let f = bucket.freq[i].load(Ordering::Relaxed);
            let shard = shards.get(shards.of_bucket(b));
            let now = stamp_at(shard, shard.hand.load(Ordering::Relaxed));
            let rank = remaining(f, elapsed(f, now));
            if best.is_none_or(|(r, _, _)| rank < r) {
                best = Some((rank, slot, p));
            }
        }
    }
    let (_, slot, p) = best?;
    evict(slot, p).then_some(Reason::Capacity)
}
