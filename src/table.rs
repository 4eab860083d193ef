//! The lock-free, fixed-size, set-associative hash table.
//!
//! The table is an array of 64-byte [`Bucket`]s, each holding [`SLOTS`]
//! pointers to immutable [`Entry`] nodes plus the per-slot metadata that
//! readers and the eviction hand need without touching the nodes:
//!
//! - `ctrl` (one `u64`): a control byte per slot, `EMPTY` or the 1-byte hash
//!   tag of the key that claimed it (`1..=255`); byte 6 holds a "may have a
//!   TTL" hint bit per slot and byte 7 a "displaced" bit per slot (the entry
//!   lives in neither of its two candidate buckets).
//! - `freq`: the CLOCK counter of each slot (owned by `clock.rs`; lossy).
//! - `overflow`: how many entries passed this bucket while probing for a
//!   free slot (F14-style outbound overflow count). A lookup that misses in
//!   a bucket whose count is zero stops there; no tombstones are needed.
//!
//! Each key has two candidate buckets (two independent reductions of its
//! hash) and lives in one of them, so lookups read one cache line, or two.
//! Placement tries the first, then the second. Only when both are full
//! while the cache is not yet full does an entry go further: to the next
//! bucket with room after the second candidate, counted in the overflow
//! counts along the way. Once the cache is full, an insert whose candidates
//! are both full evicts between them instead (see `clock.rs`), so overflow
//! runs drain instead of growing with churn, and no bucket or shard can fill
//! up before the whole table does.
//!
//! ## Slot life cycle and who may write what
//!
//! ```text
//!  EMPTY --claim: CAS ctrl byte to tag--> tag, null --publish--> tag, ptr|PENDING
//!    ^                                                               | commit: CAS ptr
//!    |                                                               v
//!    +--- release: clear ctrl byte <-- tag, null <-- unlink: CAS --- tag, ptr
//!                                                    (or abort of a pending entry)
//! ```
//!
//! - Only the claimer stores a claimed slot's pointer; nobody else can claim
//!   a slot until its byte is `EMPTY` again, so control bytes never go stale
//!   through a delayed store. A claimed slot with a null pointer is skipped
//!   by everyone.
//! - A committed pointer changes only by CAS: to a new node of the same key
//!   (overwrite) or to null (removal). Whoever CASes it to null owns the slot
//!   until it releases the ctrl byte. Readers hold an epoch guard, so a node
//!   they loaded cannot be freed or reused under them (which also rules out
//!   ABA on these CASes).
//! - A new key is first published `PENDING` (invisible to readers), then the
//!   inserter issues a `SeqCst` fence and scans the key's probe path for
//!   rivals; see `Table::scan_rivals`. This is what keeps a key unique when
//!   two threads insert it at once.

use std::borrow::Borrow;

use crate::entry::Entry;
use crate::sync::{Atomic, AtomicU16, AtomicU64, AtomicU8, Guard, Ordering, Shared};

/// Slots per bucket: 6 pointers + 8 ctrl bytes + 6 freq bytes + 2 overflow
/// bytes fill one 64-byte cache line.
pub(crate) const SLOTS: usize = 6;

/// Pointer tag: published but not yet committed (invisible to readers).
pub(crate) const PENDING: usize = 1;
/// Pointer tag: a pending entry that lost a race and must not commit.
pub(crate) const KILLED: usize = 2;

const EMPTY: u8 = 0;
const TTL_SHIFT: u32 = 48;
const DISPLACED_SHIFT: u32 = 56;

/// What a claim writes into a slot's control bits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NewEntry {
    /// The key's hash tag.
    pub(crate) tag: u8,
    /// Whether the entry has a TTL (the sweepers' hint).
    pub(crate) ttl: bool,
}

/// Where an entry lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    pub(crate) bucket: usize,
    pub(crate) index: usize,
}

/// The two candidate buckets of a key. An entry lives in one of them, or,
/// when both were full while the cache was not, in the run of buckets after
/// the second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Home {
    pub(crate) first: usize,
    pub(crate) second: usize,
}

/// One cache line of the table.
#[repr(C, align(64))]
pub(crate) struct Bucket<K, V> {
    ctrl: AtomicU64,
    pub(crate) freq: [AtomicU8; SLOTS],
    overflow: AtomicU16,
    slots: [Atomic<Entry<K, V>>; SLOTS],
}

impl<K, V> Bucket<K, V> {
    #[cfg(clockcache_loom)]
    fn new() -> Self {
        Bucket {
            ctrl: AtomicU64::new(0),
            freq: std::array::from_fn(|_| AtomicU8::new(0)),
            overflow: AtomicU16::new(0),
            slots: std::array::from_fn(|_| Atomic::null()),
        }
    }

    /// The control word (Acquire: a published tag implies its pointer).
    #[inline]
    pub(crate) fn ctrl(&self) -> u64 {
        self.ctrl.load(Ordering::Acquire)
    }

    /// Loads slot `i`'s pointer.
    #[inline]
    pub(crate) fn load<'g>(&self, i: usize, guard: &'g Guard) -> Shared<'g, Entry<K, V>> {
        self.slots[i].load(Ordering::Acquire, guard)
    }
}

/// The control byte of slot `i`.
#[inline]
pub(crate) fn byte(ctrl: u64, i: usize) -> u8 {
    (ctrl >> (8 * i)) as u8
}

/// A mask with the high bit of byte `i` set for every slot `i` whose control
/// byte equals `tag` (exact: no false positives), over the six slot bytes.
#[inline(always)]
fn tag_matches(ctrl: u64, tag: u8) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const SLOT_BYTES: u64 = (1 << (8 * SLOTS)) - 1;
    let x = ctrl ^ (u64::from(tag) * 0x0101_0101_0101_0101);
    // A byte of `x` is zero exactly where the tag matches.
    !(((x & LOW7) + LOW7) | x | LOW7) & SLOT_BYTES
}

/// Whether slot `i` is claimed (its pointer may still be null or pending).
#[inline]
pub(crate) fn is_occupied(ctrl: u64, i: usize) -> bool {
    byte(ctrl, i) != EMPTY
}

/// Whether slot `i`'s entry may have a TTL.
#[inline]
pub(crate) fn may_expire(ctrl: u64, i: usize) -> bool {
    ctrl & (1 << (TTL_SHIFT + i as u32)) != 0
}

#[inline]
fn is_displaced(ctrl: u64, i: usize) -> bool {
    ctrl & (1 << (DISPLACED_SHIFT + i as u32)) != 0
}

/// The 1-byte tag of a hash (never `EMPTY`).
#[inline]
pub(crate) fn tag_of(hash: u64) -> u8 {
    (hash as u8).max(1)
}

/// What `scan_rivals` found on a new key's probe path.
pub(crate) enum Rival<'g, K, V> {
    /// No other live copy: the pending entry may commit.
    None,
    /// A committed copy exists: abort and update it instead.
    Committed(Slot, Shared<'g, Entry<K, V>>),
    /// A pending copy earlier on the probe path wins: abort and retry.
    EarlierPending,
}

#[cfg(not(clockcache_loom))]
type Buckets<K, V> = crate::zeroed::ZeroedSlice<Bucket<K, V>>;
#[cfg(clockcache_loom)]
type Buckets<K, V> = Box<[Bucket<K, V>]>;

/// The fixed array of buckets.
pub(crate) struct Table<K, V> {
    buckets: Buckets<K, V>,
}

impl<K, V> Table<K, V> {
    /// A table of `n` buckets (`n` may be 0 for a zero-capacity cache), or
    /// `None` if the allocation fails.
    ///
    /// The buckets are allocated zeroed: an all-zero bucket is an empty one,
    /// and pages of a large table that are never touched are never committed.
    #[cfg(not(clockcache_loom))]
    pub(crate) fn try_new(n: usize) -> Option<Self> {
        // SAFETY: all-zero bytes are a valid, empty bucket (zero atomics,
        // `EMPTY` control bytes, null `Atomic`s), and buckets are 64-aligned.
        let buckets = unsafe { crate::zeroed::ZeroedSlice::new(n) }?;
        Some(Table { buckets })
    }

    /// Loom's atomics are not plain integers, so buckets are built one by one.
    #[cfg(clockcache_loom)]
    pub(crate) fn try_new(n: usize) -> Option<Self> {
        Some(Table {
            buckets: (0..n).map(|_| Bucket::new()).collect(),
        })
    }

    /// Number of buckets.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.buckets.len()
    }

    #[inline]
    pub(crate) fn bucket(&self, b: usize) -> &Bucket<K, V> {
        &self.buckets[b]
    }

    /// The two candidate buckets of a hash (multiply-shift range reduction of
    /// two independent halves, so the bucket count need not be a power of
    /// two). Requires a non-empty table.
    #[inline]
    pub(crate) fn home(&self, hash: u64) -> Home {
        let n = self.buckets.len() as u128;
        let first = ((u128::from(hash) * n) >> 64) as usize;
        let mixed = hash.rotate_left(32).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut second = ((u128::from(mixed) * n) >> 64) as usize;
        if second == first {
            second = self.next(first);
        }
        Home { first, second }
    }

    #[inline]
    fn next(&self, b: usize) -> usize {
        if b + 1 == self.buckets.len() {
            0
        } else {
            b + 1
        }
    }

    /// Position of `s` on the probe path of `home`: the first bucket, the
    /// second, then the overflow run after the second.
    fn rank(&self, home: Home, s: Slot) -> (usize, usize) {
        let n = self.buckets.len();
        let pos = if s.bucket == home.first {
            0
        } else {
            1 + (s.bucket + n - home.second) % n
        };
        (pos, s.index)
    }

    /// Calls `f` on the buckets where a key with these homes may live: both
    /// candidates, then the buckets after the second one for as long as some
    /// entry probed past them. Stops early when `f` returns `Some`.
    #[inline]
    fn probe<R>(
        &self,
        home: Home,
        mut f: impl FnMut(usize, &Bucket<K, V>) -> Option<R>,
    ) -> Option<R> {
        prefetch(&self.buckets[home.second]);
        if let Some(r) = f(home.first, &self.buckets[home.first]) {
            return Some(r);
        }
        let mut b = home.second;
        loop {
            let bucket = &self.buckets[b];
            if b != home.first {
                if let Some(r) = f(b, bucket) {
                    return Some(r);
                }
            }
            if bucket.overflow.load(Ordering::Acquire) == 0 {
                return None;
            }
            b = self.next(b);
            if b == home.second {
                return None;
            }
        }
    }

    /// Whether a slot on the probe path of `hash` carries its tag, i.e. may
    /// hold (or be taking) an entry of that key. Reads only control words
    /// and overflow counts, never a node, so it needs no epoch guard; `false`
    /// means the key had no entry, committed or pending, as it looked.
    #[inline]
    pub(crate) fn tag_on_path(&self, hash: u64) -> bool {
        let tag = tag_of(hash);
        self.probe(self.home(hash), |_, bucket| {
            (tag_matches(bucket.ctrl(), tag) != 0).then_some(())
        })
        .is_some()
    }

    /// Finds the committed entry for `key`. Lock-free: loads only.
    #[inline]
    pub(crate) fn find<'g, Q>(
        &self,
        hash: u64,
        key: &Q,
        guard: &'g Guard,
    ) -> Option<(Slot, Shared<'g, Entry<K, V>>)>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let tag = tag_of(hash);
        let home = self.home(hash);
        prefetch(&self.buckets[home.second]);
        if let Some(found) = self.find_in(home.first, tag, key, guard) {
            return Some(found);
        }
        let mut b = home.second;
        loop {
            if b != home.first {
                if let Some(found) = self.find_in(b, tag, key, guard) {
                    return Some(found);
                }
            }
            if self.buckets[b].overflow.load(Ordering::Acquire) == 0 {
                return None;
            }
            b = self.next(b);
            if b == home.second {
                return None;
            }
        }
    }

    /// Looks for the committed entry of `key` in bucket `b`: the tags are
    /// compared all at once, and only matching slots are dereferenced.
    #[inline(always)]
    fn find_in<'g, Q>(
        &self,
        b: usize,
        tag: u8,
        key: &Q,
        guard: &'g Guard,
    ) -> Option<(Slot, Shared<'g, Entry<K, V>>)>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let bucket = &self.buckets[b];
        let mut matches = tag_matches(bucket.ctrl(), tag);
        while matches != 0 {
            let i = (matches.trailing_zeros() / 8) as usize;
            matches &= matches - 1;
            let p = bucket.load(i, guard);
            if p.tag() != 0 {
                continue;
            }
            // SAFETY: `p` was loaded under `guard`; nodes are retired
            // (`entry::retire`) only after being unlinked, so it stays
            // allocated until the guard is dropped. Null yields `None`.
            if let Some(e) = unsafe { p.as_ref() } {
                if e.key.borrow() == key {
                    return Some((
                        Slot {
                            bucket: b,
                            index: i,
                        },
                        p,
                    ));
                }
            }
        }
        None
    }

    /// Claims an empty slot of bucket `b` for a new entry: one CAS writes the
    /// slot's tag and hint bits. The pointer is still null, so readers and
    /// the hand pass over the slot until the claimer stores it.
    fn claim_in(&self, b: usize, home: Home, new: NewEntry) -> Option<Slot> {
        let bucket = &self.buckets[b];
        let mut ctrl = bucket.ctrl.load(Ordering::Relaxed);
        'retry: loop {
            for i in 0..SLOTS {
                if byte(ctrl, i) == EMPTY {
                    let s = Slot {
                        bucket: b,
                        index: i,
                    };
                    let mut set = u64::from(new.tag) << (8 * i);
                    if new.ttl {
                        set |= 1 << (TTL_SHIFT + i as u32);
                    }
                    if Self::displaced(home, s) {
                        set |= 1 << (DISPLACED_SHIFT + i as u32);
                    }
                    match bucket.ctrl.compare_exchange_weak(
                        ctrl,
                        ctrl | set,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => return Some(s),
                        Err(now) => {
                            ctrl = now;
                            continue 'retry;
                        }
                    }
                }
            }
            return None;
        }
    }

    /// Claims an empty slot in one of the two candidate buckets.
    pub(crate) fn claim_near(&self, home: Home, new: NewEntry) -> Option<Slot> {
        self.claim_in(home.first, home, new)
            .or_else(|| self.claim_in(home.second, home, new))
    }

    /// Claims an empty slot after the second candidate bucket (both are
    /// full), bumping the overflow count of the second and of every full
    /// bucket passed, so lookups know to keep going. Returns `None` (with the
    /// counts restored) if every slot of the table is taken.
    pub(crate) fn claim_far(&self, home: Home, new: NewEntry) -> Option<Slot> {
        let mut b = home.second;
        loop {
            overflow_add(&self.buckets[b].overflow);
            b = self.next(b);
            if b == home.second {
                self.unwind_overflow(home.second, home.second);
                return None;
            }
            // Skipping the first bucket keeps "displaced" (outside both
            // candidates) equivalent to "counted in the overflow run".
            if b != home.first {
                if let Some(s) = self.claim_in(b, home, new) {
                    return Some(s);
                }
            }
        }
    }

    /// Whether another thread may be inserting `key`, or has just done so:
    /// a slot on the key's probe path with the key's tag that is claimed but
    /// not committed, or committed with this very key.
    pub(crate) fn maybe_rival<Q>(&self, hash: u64, key: &Q, guard: &Guard) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let tag = tag_of(hash);
        self.probe(self.home(hash), |_, bucket| {
            let ctrl = bucket.ctrl();
            (0..SLOTS)
                .any(|i| {
                    if byte(ctrl, i) != tag {
                        return false;
                    }
                    let p = bucket.load(i, guard);
                    // SAFETY: loaded under `guard`; see `find`.
                    p.tag() != 0 || unsafe { p.as_ref() }.is_none_or(|e| e.key.borrow() == key)
                })
                .then_some(())
        })
        .is_some()
    }

    /// Whether an entry at `s` lives outside its two candidate buckets.
    fn displaced(home: Home, s: Slot) -> bool {
        s.bucket != home.first && s.bucket != home.second
    }

    /// Drops the overflow counts added on the way from `start` to `end` (all
    /// buckets from `start` up to, not including, `end`; a whole lap when
    /// `end == start` after a failed claim).
    fn unwind_overflow(&self, start: usize, end: usize) {
        let mut b = start;
        loop {
            overflow_sub(&self.buckets[b].overflow);
            b = self.next(b);
            if b == end {
                return;
            }
        }
    }

    /// Publishes a new entry in the slot the caller claimed: resets the
    /// slot's CLOCK byte, then stores the node tagged `PENDING` (Release, so
    /// whoever loads the pointer also sees the node and the CLOCK byte).
    pub(crate) fn publish(&self, s: Slot, node: Shared<'_, Entry<K, V>>, freq: u8) {
        let bucket = &self.buckets[s.bucket];
        bucket.freq[s.index].store(freq, Ordering::Relaxed);
        bucket.slots[s.index].store(node.with_tag(PENDING), Ordering::Release);
    }

    /// Looks for other live copies of `key` on its probe path after the
    /// caller published its own pending copy at `own` and issued a `SeqCst`
    /// fence.
    ///
    /// Two inserters of one key both publish, fence, then scan, so at least
    /// one of them sees the other (the fences are totally ordered). The rule
    /// that keeps exactly one copy: a committed copy always wins (the scanner
    /// aborts); between pending copies the one earlier on the probe path wins:
    /// the scanner aborts if it sees an earlier one and marks later ones
    /// `KILLED`, which makes their commit CAS fail. The earliest pending copy
    /// is never killed, so some insert always completes (lock-free).
    pub(crate) fn scan_rivals<'g, Q>(
        &self,
        hash: u64,
        key: &Q,
        own: Slot,
        guard: &'g Guard,
    ) -> Rival<'g, K, V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let tag = tag_of(hash);
        let home = self.home(hash);
        let own_rank = self.rank(home, own);
        let found = self.probe(home, |b, bucket| {
            let ctrl = bucket.ctrl();
            for i in 0..SLOTS {
                let s = Slot {
                    bucket: b,
                    index: i,
                };
                if byte(ctrl, i) != tag || s == own {
                    continue;
                }
                let mut p = bucket.load(i, guard);
                loop {
                    if p.is_null() || p.tag() & KILLED != 0 {
                        break;
                    }
                    // SAFETY: loaded under `guard`; see `find`.
                    let e = unsafe { p.deref() };
                    if e.key.borrow() != key {
                        break;
                    }
                    if p.tag() == 0 {
                        return Some(Rival::Committed(s, p));
                    }
                    if self.rank(home, s) < own_rank {
                        return Some(Rival::EarlierPending);
                    }
                    match bucket.slots[i].compare_exchange(
                        p,
                        p.with_tag(PENDING | KILLED),
                        Ordering::AcqRel,
                        Ordering::Acquire,
                        guard,
                    ) {
                        Ok(_) => break,
                        // It committed, aborted or was killed meanwhile: look again.
                        Err(err) => p = err.current,
                    }
                }
            }
            None
        });
        found.unwrap_or(Rival::None)
    }

    /// Turns the pending entry at `s` into a committed one. Fails if a rival
    /// killed it.
    pub(crate) fn commit(&self, s: Slot, node: Shared<'_, Entry<K, V>>, guard: &Guard) -> bool {
        self.buckets[s.bucket].slots[s.index]
            .compare_exchange(
                node.with_tag(PENDING),
                node.with_tag(0),
                Ordering::AcqRel,
                Ordering::Acquire,
                guard,
            )
            .is_ok()
    }

    /// Takes back the caller's own pending (possibly killed) entry at `s` and
    /// frees the slot. Only the publisher can do this: others never null a
    /// pending pointer.
    pub(crate) fn abort(&self, s: Slot, home: Home, guard: &Guard) {
        let slot = &self.buckets[s.bucket].slots[s.index];
        slot.store(Shared::null(), Ordering::Release);
        let _ = guard;
        self.release(s, Some(home));
    }

    /// Replaces the committed node `old` at `s` with `new` (same key).
    pub(crate) fn replace<'g>(
        &self,
        s: Slot,
        old: Shared<'g, Entry<K, V>>,
        new: Shared<'g, Entry<K, V>>,
        ttl: bool,
        guard: &'g Guard,
    ) -> bool {
        let bucket = &self.buckets[s.bucket];
        if ttl {
            // A hint only: set before the swap, so the sweeper may look at a
            // node that has no TTL but never misses one that has.
            bucket
                .ctrl
                .fetch_or(1 << (TTL_SHIFT + s.index as u32), Ordering::Relaxed);
        }
        bucket.slots[s.index]
            .compare_exchange(old, new, Ordering::AcqRel, Ordering::Acquire, guard)
            .is_ok()
    }

    /// Unlinks the committed node `old` at `s`. On success the caller owns
    /// the slot, has been told the home bucket is needed to fix overflow
    /// counts (computed lazily by `home_of`, only for displaced entries), and
    /// must retire `old`.
    pub(crate) fn unlink(
        &self,
        s: Slot,
        old: Shared<'_, Entry<K, V>>,
        home_of: impl FnOnce() -> Home,
        guard: &Guard,
    ) -> bool {
        let bucket = &self.buckets[s.bucket];
        if bucket.slots[s.index]
            .compare_exchange(
                old,
                Shared::null(),
                Ordering::AcqRel,
                Ordering::Relaxed,
                guard,
            )
            .is_err()
        {
            return false;
        }
        let home = is_displaced(bucket.ctrl.load(Ordering::Relaxed), s.index).then(home_of);
        self.release(s, home);
        true
    }

    /// Returns slot `s` (whose pointer is already null and owned by the
    /// caller) to `EMPTY`, clearing its hint bits and the overflow counts its
    /// entry added.
    fn release(&self, s: Slot, home: Option<Home>) {
        if let Some(home) = home.filter(|&h| Self::displaced(h, s)) {
            self.unwind_overflow(home.second, s.bucket);
        }
        let bucket = &self.buckets[s.bucket];
        let clear = (0xff << (8 * s.index))
            | (1 << (TTL_SHIFT + s.index as u32))
            | (1 << (DISPLACED_SHIFT + s.index as u32));
        bucket.ctrl.fetch_and(!clear, Ordering::Release);
    }
}

impl<K, V> Table<K, V> {
    /// Frees every node still linked. Called when the cache is dropped (and
    /// skipped when it holds nothing, so dropping a huge, mostly untouched
    /// table does not fault in all its pages).
    pub(crate) fn free_all(&mut self) {
        // SAFETY: `&mut self` means no thread can reach the table any more,
        // so no guard can hold one of its nodes; nodes still linked were
        // never retired, so each is freed exactly once, here.
        let guard = unsafe { crossbeam_epoch::unprotected() };
        for bucket in self.buckets.iter() {
            for slot in &bucket.slots {
                let p = slot.load(Ordering::Relaxed, guard);
                if !p.is_null() {
                    slot.store(Shared::null(), Ordering::Relaxed);
                    // SAFETY: see above (`free` strips the tag bits).
                    unsafe { crate::entry::free(p) };
                }
            }
        }
    }
}

/// Saturating increment: a count stuck at the maximum only makes lookups
/// probe further than needed, never less.
fn overflow_add(c: &AtomicU16) {
    let _ = c.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |v| v.checked_add(1));
}

/// Decrement that leaves a saturated count alone.
fn overflow_sub(c: &AtomicU16) {
    let _ = c.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |v| {
        if v == u16::MAX || v == 0 {
            None
        } else {
            Some(v - 1)
        }
    });
}

/// Starts loading a bucket's cache line, so that a lookup that misses in its
/// first candidate finds the second one on its way (the two memory accesses
/// overlap instead of following each other).
#[inline(always)]
pub(crate) fn prefetch<T>(line: &T) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    // SAFETY: a prefetch is only a hint; it never faults and changes no
    // state that the program can observe, and `line` is a valid reference.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            (line as *const T).cast(),
        );
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = line;
}

#[cfg(all(test, not(clockcache_loom)))]
mod tests {
    use super::*;

    #[test]
    fn tag_matches_is_exact() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        // Fewer rounds under Miri (200 000 take about 4 minutes there).
        let rounds = if cfg!(miri) { 2_000 } else { 200_000 };
        for round in 0..rounds {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mix random words with words built from few distinct bytes, so
            // that equal and neighbouring byte values (0, 1, tag-1, tag+1)
            // sit next to each other.
            let tag = (x >> 56) as u8 | 1;
            let ctrl = if round % 2 == 0 {
                x
            } else {
                (0..8).fold(0u64, |w, i| {
                    let pick = [0, 1, tag, tag.wrapping_sub(1), tag.wrapping_add(1), 0x80]
                        [((x >> (i * 3)) % 6) as usize];
                    w | (u64::from(pick) << (8 * i))
                })
            };
            let expect = (0..SLOTS)
                .filter(|&i| byte(ctrl, i) == tag)
                .fold(0u64, |m, i| m | (0x80 << (8 * i)));
            assert_eq!(
                tag_matches(ctrl, tag),
                expect,
                "ctrl {ctrl:#018x} tag {tag:#04x}"
            );
        }
    }

    #[test]
    fn tags_are_never_empty() {
        for h in [0u64, 1, 0x100, u64::MAX, 0xff00] {
            assert_ne!(tag_of(h), EMPTY);
        }
    }
}
