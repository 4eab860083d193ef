//! The eviction policy: S3-FIFO laid over per-shard CLOCK.
//!
//! Each slot has a policy byte (`Bucket::freq`): a 2-bit saturating hit
//! count, a "main" bit, and a 5-bit stamp of where the shard's hand was when
//! the entry was inserted or last aged. A hit bumps the count with one
//! relaxed load and, only if it is not saturated, one relaxed store: lossy on
//! purpose (two racing hits may count once), and a hot entry costs no write.
//!
//! The cache has two parts, as in S3-FIFO (Yang et al., SOSP'23):
//!
//! - **probation** (a small share of the capacity): new keys, once the cache
//!   is full. Each shard queues them in insertion order
//!   ([`crate::probation::Fifo`]). While the queue is longer than the target
//!   share, the evictor pops its head: an entry hit while queued is promoted
//!   to main, one that was not is evicted and its tag remembered in the
//!   ghost ([`crate::ghost`]);
//! - **main**: entries promoted from probation, keys the ghost remembers (a
//!   key that comes back soon after being evicted from probation was not a
//!   one-hit wonder), and the keys that filled the cache (as in
//!   quick_cache: a loop's first pass stays cached). The shard's hand runs
//!   CLOCK over main: expired entries first, an entry is judged once a lap
//!   (its stamp), a zero count is evicted, other counts are decremented.
//!
//! The target share adapts to the workload ([`crate::adapt`]): recency-heavy
//! traces want a long probation, loops and scans a short one.
//!
//! The work per eviction is bounded: at most [`POPS_PER_EVICTION`] queue
//! records, then at most [`SWEEP_BUCKETS`] buckets of the hand, after which
//! the best-ranked candidate seen is taken. Everything the hand reads lives
//! in the bucket line; it dereferences a node only to check a TTL.
//!
//! The table sees only this small interface (`initial`, `on_hit`,
//! `enqueue`, [`sweep`], [`evict_local`], [`sweep_expired`]), so the policy
//! can change without touching the table.

use crate::adapt::Climber;
use crate::door::{Door, PROBE_EVERY};
use crate::entry::Entry;
use crate::expiry::TimeSource;
use crate::ghost::Ghost;
use crate::shard::{Shard, Shards};
use crate::sketch::Sketch;
use crate::sync::{AtomicU8, Guard, Ordering, Shared};
use crate::table::{is_occupied, may_expire, Home, Slot, Table, SLOTS};

/// Saturation value of a CLOCK counter (the low 2 bits of the slot's byte).
pub(crate) const MAX_FREQ: u8 = 3;

const FREQ_MASK: u8 = 0b11;

/// Bit 2 of a slot's byte: the entry is in the main part of the cache (it
/// was hit while on probation, or admitted through the ghost). Without it
/// the entry is on probation.
const MAIN: u8 = 0b100;

const STAMP_SHIFT: u32 = 3;

/// The upper 5 bits of a slot's byte hold a stamp: where the shard's hand
/// was when the entry was inserted or last aged, in units of 1/8 of a lap
/// (modulo 4 laps).
pub(crate) const LAP_UNITS: u64 = 8;
const STAMP_MOD: u64 = 32;

/// A probation entry is not evicted before it is this old (in stamp units):
/// half a lap, so an entry placed just ahead of the hand still gets a chance
/// to be hit before the hand judges it.
const MIN_PROBATION: u64 = LAP_UNITS / 2;

/// Buckets the hand visits before settling for the best candidate seen.
pub(crate) const SWEEP_BUCKETS: usize = 8;

/// Fixed-point one for shares (probation share, its target).
pub(crate) const SHARE_ONE: u32 = 1 << 16;

/// The cache-wide policy state: the ghost and the probation target.
pub(crate) struct Policy {
    pub(crate) ghost: Ghost,
    /// Adapts the target share of probation entries.
    pub(crate) climber: Climber,
    /// Turns new keys away from a full cache while probation yields nothing.
    pub(crate) door: Door,
    /// How often new keys were turned away lately (allocated when the door
    /// first closes).
    pub(crate) sketch: Sketch,
}

impl Policy {
    pub(crate) fn try_new(buckets: usize, capacity: usize, door: bool) -> Option<Self> {
        Some(Policy {
            ghost: Ghost::try_new(buckets)?,
            climber: Climber::new(capacity),
            door: Door::new(door, capacity),
            sketch: Sketch::new(capacity),
        })
    }
}

/// The hand's position in stamp units (1/8 of a lap, modulo 4 laps), for a
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
    u64::from(now.wrapping_sub(byte >> STAMP_SHIFT)) % STAMP_MOD
}

/// How soon CLOCK would evict an entry with counter byte `f`, stamped `age`
/// units ago, if it got no more hits: `count + 1` laps after its stamp.
/// Smaller is a better victim (the offset keeps overdue entries positive).
#[inline]
fn remaining(f: u8, age: u64) -> u64 {
    (u64::from(f & FREQ_MASK) + 1) * LAP_UNITS + STAMP_MOD - age
}

/// A victim rank for the fallback choice (lower is better): probation
/// entries past their minimum stay come first, then by `remaining`.
#[inline]
fn rank(f: u8, age: u64) -> u64 {
    if f & (MAIN | FREQ_MASK) == 0 && age >= MIN_PROBATION {
        STAMP_MOD - age
    } else {
        STAMP_MOD + remaining(f, age)
    }
}

/// The counter byte of a new entry in `shard`, stamped now: on probation
/// with count 0, or in main if the ghost remembered the key. A remembered
/// key gets count 1 (a lap's grace) while the door is open; with the door
/// closed every admitted key comes through the ghost, most of them from a
/// long tail, and count 0 lets main's hand judge them on its first pass.
///
/// Slots are placed by hash, not behind the hand as in textbook CLOCK, so a
/// new entry may sit just ahead of the hand. The stamp makes the hand pass
/// over entries it has not had time to see since they were stamped.
#[inline]
pub(crate) fn initial(policy: &Policy, shard: &Shard, admit: Admit) -> u8 {
    match admit {
        Admit::Probation => queue_stamp(policy, shard) << STAMP_SHIFT,
        Admit::Filling => {
            (stamp_at(shard, shard.hand.load(Ordering::Relaxed)) << STAMP_SHIFT) | MAIN
        }
        Admit::Remembered => {
            (stamp_at(shard, shard.hand.load(Ordering::Relaxed)) << STAMP_SHIFT)
                | MAIN
                | u8::from(!policy.door.is_closed())
        }
    }
}

/// The probation queue's position in stamp units (1/8 of the queue's target
/// length, modulo 4 lengths). Probation entries are stamped with it, so that
/// their age counts the new keys queued behind them, not the moves of
/// main's hand.
#[inline]
fn queue_stamp(policy: &Policy, shard: &Shard) -> u8 {
    let unit = (probation_limit(policy, shard) / LAP_UNITS as usize).max(1);
    ((shard.probation.pushed() / unit) as u64 % STAMP_MOD) as u8
}

/// Where a new entry starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// On probation (the usual case once the cache is full).
    Probation,
    /// In main, because the cache is not full yet: as in quick_cache, the
    /// first keys fill main, which keeps a loop's first pass cached instead
    /// of cycling everything through probation.
    Filling,
    /// In main with one count, because the ghost remembered the key.
    Remembered,
}

/// Records a hit on a slot's counter.
#[inline]
pub(crate) fn on_hit(freq: &AtomicU8) {
    let f = freq.load(Ordering::Relaxed);
    if f & FREQ_MASK < MAX_FREQ {
        freq.store(f + 1, Ordering::Relaxed);
    }
}

/// A fallback victim: its rank (lower is better), slot, node, and its tag if
/// it is on probation (so that its eviction is remembered in the ghost).
type Candidate<'g, K, V> = (u64, Slot, Shared<'g, Entry<K, V>>, Option<u8>);

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

/// Evicts one entry of `shard` through `evict` (which unlinks it and returns
/// whether its CAS won). Returns the reason, or `None` if the shard had no
/// committed entry within the budget. The entry at `spare` (the one just
/// inserted) is never chosen.
///
/// While the shard's probation queue is longer than the target share, the
/// victim comes from its head (see [`evict_probation`]); otherwise, or if
/// the queue had only stale or promoted records, the hand runs CLOCK over
/// the main entries.
pub(crate) fn sweep<'g, K: 'g, V: 'g>(
    table: &Table<K, V>,
    policy: &Policy,
    shard: &Shard,
    spare: Option<Slot>,
    time: &TimeSource,
    guard: &'g Guard,
    mut evict: impl FnMut(Slot, Shared<'g, Entry<K, V>>) -> bool,
) -> Option<Reason> {
    evict_probation(table, policy, shard, spare, time, guard, &mut evict)
        .or_else(|| sweep_main(table, policy, shard, spare, time, guard, evict))
}

/// Records popped from the probation queue per eviction at most.
const POPS_PER_EVICTION: usize = 8;

/// S3-FIFO's small queue: pops the oldest probation records while the queue
/// is over target; promotes an entry that was hit while queued, evicts (and
/// remembers in the ghost) the first one that was not.
fn evict_probation<'g, K: 'g, V: 'g>(
    table: &Table<K, V>,
    policy: &Policy,
    shard: &Shard,
    spare: Option<Slot>,
    time: &TimeSource,
    guard: &'g Guard,
    evict: &mut impl FnMut(Slot, Shared<'g, Entry<K, V>>) -> bool,
) -> Option<Reason> {
    let mut now = None;
    for _ in 0..POPS_PER_EVICTION {
        if !probation_over(policy, shard) {
            return None;
        }
        let (pos, tag) = shard.probation.pop()?;
        if pos >= shard.len * SLOTS {
            continue;
        }
        let slot = Slot {
            bucket: shard.start + pos / SLOTS,
            index: pos % SLOTS,
        };
        let bucket = table.bucket(slot.bucket);
        let ctrl = bucket.ctrl();
        // Stale unless the slot still holds a committed probation entry
        // with the record's tag.
        if tag_at(ctrl, slot.index) != tag || Some(slot) == spare {
            continue;
        }
        let p = bucket.load(slot.index, guard);
        let f = bucket.freq[slot.index].load(Ordering::Relaxed);
        if p.tag() != 0 || p.is_null() || f & MAIN != 0 {
            continue;
        }
        if may_expire(ctrl, slot.index) && expired(p, time) && evict(slot, p) {
            return Some(Reason::Expired);
        }
        if f & FREQ_MASK != 0 {
            // Hit while on probation: promote, with one count less, and a
            // lap before main's hand judges it.
            let stamp =
                *now.get_or_insert_with(|| stamp_at(shard, shard.hand.load(Ordering::Relaxed)));
            promote(&bucket.freq[slot.index], f, stamp);
            shard.count_departure(true);
            continue;
        }
        if evict(slot, p) {
            shard.count_departure(false);
            policy.ghost.record(slot.bucket, tag);
            return Some(Reason::Capacity);
        }
    }
    None
}

/// Moves a probation entry that was hit (policy byte `f`, count ≥ 1) to
/// main, with one count less and stamped `now`: a lap before main's hand
/// judges it.
#[inline]
fn promote(freq: &AtomicU8, f: u8, now: u8) {
    debug_assert!(f & FREQ_MASK != 0 && f & MAIN == 0);
    freq.store(
        MAIN | ((f & FREQ_MASK) - 1) | (now << STAMP_SHIFT),
        Ordering::Relaxed,
    );
}

/// Whether `shard`'s probation queue is longer than the target share of its
/// capacity.
#[inline]
fn probation_over(policy: &Policy, shard: &Shard) -> bool {
    shard.probation.len() > probation_limit(policy, shard)
}

/// The target length of `shard`'s probation queue.
#[inline]
fn probation_limit(policy: &Policy, shard: &Shard) -> usize {
    let target = u64::from(policy.climber.target.load(Ordering::Relaxed));
    let limit = (shard.capacity as u64 * target) >> 16;
    // With the door closed only probes join the queue: a shorter queue keeps
    // them as many requests as newcomers stayed with the door open.
    if policy.door.is_closed() {
        (limit / PROBE_EVERY) as usize
    } else {
        limit as usize
    }
}

/// Queues a new probation entry at `slot` (with tag `tag`) in its shard.
#[inline]
pub(crate) fn enqueue(shards: &Shards, slot: Slot, tag: u8) {
    let shard = shards.get(shards.of_bucket(slot.bucket));
    shard
        .probation
        .push((slot.bucket - shard.start) * SLOTS + slot.index, tag);
}

/// A probation entry that main's hand finds this old (in queue stamp units:
/// two target lengths of the queue) has outlived any queue position it had.
const ORPHAN_AGE: u64 = 2 * LAP_UNITS;

/// Rank of a probation entry met by main's hand: only a last resort (its
/// record may have been lost), oldest first.
const ORPHAN_RANK: u64 = 4 * STAMP_MOD;

/// CLOCK over main: moves `shard`'s hand until one main entry is evicted.
/// Expired entries go first; an entry is judged once a lap (its stamp);
/// a zero count is evicted, other counts are decremented. After
/// [`SWEEP_BUCKETS`] buckets the best-ranked candidate seen is taken.
fn sweep_main<'g, K: 'g, V: 'g>(
    table: &Table<K, V>,
    policy: &Policy,
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
    let mut queued = None;
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
        if may_expire(ctrl, i) && expired(p, time) && evict(slot, p) {
            shard.hand.store(pos + 1, Ordering::Relaxed);
            return Some(Reason::Expired);
        }
        let f = bucket.freq[i].load(Ordering::Relaxed);
        let age = if f & MAIN == 0 {
            elapsed(f, *queued.get_or_insert_with(|| queue_stamp(policy, shard)))
        } else {
            elapsed(f, now)
        };
        let rank = if f & MAIN == 0 {
            if age >= ORPHAN_AGE {
                // A probation entry the queue has lost track of (its record
                // was overwritten or raced): judge it like main's entries.
                if f & FREQ_MASK != 0 {
                    promote(&bucket.freq[i], f, now);
                    shard.count_departure(true);
                    continue;
                }
                if evict(slot, p) {
                    shard.count_departure(false);
                    policy.ghost.record(b, tag_at(ctrl, i));
                    shard.hand.store(pos + 1, Ordering::Relaxed);
                    return Some(Reason::Capacity);
                }
                continue;
            }
            ORPHAN_RANK + STAMP_MOD - age
        } else if age < LAP_UNITS {
            // Seen (or promoted) less than a lap ago: not its turn yet.
            remaining(f, age)
        } else if f & FREQ_MASK == 0 {
            if evict(slot, p) {
                shard.hand.store(pos + 1, Ordering::Relaxed);
                return Some(Reason::Capacity);
            }
            continue;
        } else {
            // Second chance: one count less, and a lap before the next look.
            let f = ((f & FREQ_MASK) - 1) | MAIN;
            bucket.freq[i].store(f | (now << STAMP_SHIFT), Ordering::Relaxed);
            remaining(f, 0)
        };
        if best.is_none_or(|(r, ..)| rank < r) {
            best = Some((rank, slot, p, (f & MAIN == 0).then(|| tag_at(ctrl, i))));
        }
    }
    shard.hand.store(start + steps, Ordering::Relaxed);
    let (_, slot, p, tag) = best?;
    evict_candidate(policy, slot, p, tag, evict)
}

/// Evicts a fallback candidate, remembering it in the ghost if it was on
/// probation.
fn evict_candidate<'g, K: 'g, V: 'g>(
    policy: &Policy,
    slot: Slot,
    p: Shared<'g, Entry<K, V>>,
    tag: Option<u8>,
    mut evict: impl FnMut(Slot, Shared<'g, Entry<K, V>>) -> bool,
) -> Option<Reason> {
    if !evict(slot, p) {
        return None;
    }
    if let Some(tag) = tag {
        policy.ghost.record(slot.bucket, tag);
    }
    Some(Reason::Capacity)
}

/// The tag byte of slot `i` in a control word.
#[inline]
fn tag_at(ctrl: u64, i: usize) -> u8 {
    crate::table::byte(ctrl, i)
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
/// expired entry if there is one, else the best [`rank`]: a probation entry
/// past its minimum stay that was never hit, else the main entry closest to
/// its turn.
pub(crate) fn evict_local<'g, K: 'g, V: 'g>(
    table: &Table<K, V>,
    policy: &Policy,
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
        let shard = shards.get(shards.of_bucket(b));
        let now = stamp_at(shard, shard.hand.load(Ordering::Relaxed));
        let queued = queue_stamp(policy, shard);
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
            let age = elapsed(f, if f & MAIN == 0 { queued } else { now });
            let r = rank(f, age);
            if best.is_none_or(|(b, ..)| r < b) {
                best = Some((
                    r,
                    slot,
                    p,
                    (f & (MAIN | FREQ_MASK) == 0).then(|| tag_at(ctrl, i)),
                ));
            }
        }
    }
    let (_, slot, p, tag) = best?;
    evict_candidate(policy, slot, p, tag, evict)
}
