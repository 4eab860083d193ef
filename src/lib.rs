//! # clockcache
//!
//! A lock-free concurrent in-memory cache: a sharded hash table with
//! epoch-based reclamation, per-shard CLOCK eviction behind an S3-FIFO
//! probation queue, and lazy TTL expiry on a coarse clock, with no
//! background maintenance.
//!
//! ```
//! use clockcache::Cache;
//! use std::time::Duration;
//!
//! let cache: Cache<String, String> = Cache::new(10_000);
//! cache.insert("greeting".into(), "hello".into());
//! cache.insert_with_ttl("token".into(), "abc".into(), Duration::from_secs(60));
//! assert_eq!(cache.get("greeting").as_deref(), Some("hello"));
//! assert_eq!(cache.invalidate_pattern("tok*"), 1);
//! ```
//!
//! ## Architecture
//!
//! **Table** (`table.rs`). One fixed array of 64-byte buckets, sized once at
//! build time for `5/4 × max_capacity` slots (it never resizes, so it needs
//! no lock and no rehash pause). A bucket line holds 6 slot pointers to
//! immutable entry nodes, a control word (a 1-byte hash tag per slot plus
//! "may have a TTL" and "displaced" bits), the slots' CLOCK bytes and an
//! overflow count. Each key has two candidate buckets (two reductions of its
//! hash) and lives in one of them, so a lookup reads one cache line, or two
//! (the second is prefetched). Only while the cache is not yet full can an
//! entry whose candidates are both full go further, to the next bucket with
//! room; the overflow count of each bucket passed tells lookups to keep
//! going, so deletions need no tombstones. Because placement is global, no
//! bucket or shard can fill before the whole cache does: capacity is a
//! global count.
//!
//! **Entry life cycle.** `EMPTY →` claimed (an inserter CASes the slot's
//! control byte from `EMPTY` to the key's tag) `→` pending (the inserter
//! stores the node pointer with a `PENDING` tag bit) `→` committed (a CAS
//! clears the bit) `→` unlinked (CAS to null by whoever removes, evicts or
//! expires it) `→ EMPTY`. An overwrite or counter update CASes the committed
//! pointer to a new node of the same key. Unlinked nodes are retired with
//! `crossbeam_epoch::Guard::defer_unchecked` and dropped once no pinned
//! thread can still see them; their memory then goes to a small per-thread
//! pool that the next node of that size is carved from (`recycle.rs`). Two
//! threads inserting one new key both publish pending, issue a `SeqCst`
//! fence, and scan the key's buckets: a committed
//! copy always wins, otherwise the copy earlier on the probe path wins and
//! marks later ones `KILLED`, so a key never has two committed copies and
//! some inserter always succeeds.
//!
//! **Reads** (`get`, `contains_key`, `view`): hash, pin the epoch, load the
//! home bucket's control word, compare tags, load and dereference the
//! matching pointer, compare the key, check the deadline; on a hit bump the
//! slot's CLOCK counter with one relaxed store if it is not saturated. No
//! lock, no shared write for hot entries. The pin is a locked `cmpxchg` on
//! x86, a full fence that also keeps consecutive gets' cache misses from
//! overlapping, so [`Cache::pin`] hands out a handle that holds one pin for
//! a batch of operations, whose own pins then only count nesting.
//!
//! **Eviction** (`clock.rs`, `probation.rs`, `ghost.rs`, `adapt.rs`,
//! `door.rs`, `shard.rs`, `occupancy.rs`). S3-FIFO over per-shard CLOCK.
//! The bucket array is split into shards. An insert that takes the cache over capacity
//! evicts one entry, after its commit, in the shard of its first bucket.
//! Once the cache is full, new keys enter on *probation*: each shard queues
//! them in a small lossy FIFO of `(slot, tag)` records. While the queue is
//! longer than its target share, the evictor pops the oldest record: an
//! entry hit meanwhile is promoted to *main*, one that was not is evicted
//! and its tag remembered in the *ghost* (one `u32` per bucket holding the
//! tags of the last four such evictions). A new key the ghost remembers, and
//! every key that fills the cache, enters main directly. Main is CLOCK: the
//! shard's hand walks its slots, expired entries go first, an entry is
//! judged once a lap (lap stamps in its policy byte restore CLOCK's
//! first-in-first-out order although slots are placed by hash), a zero
//! count is evicted, other counts are decremented; after 8 buckets without a
//! victim it takes the entry closest to its turn, so an insert's work is
//! bounded. A hill climber moves the probation target (1%–25%) in the
//! direction that raised the hit ratio over the last period of ten
//! capacities' worth of requests, read from the stats on the eviction path
//! (and holds it while the door below is closed, when the share no longer
//! moves the hit ratio). The *door* (`door.rs`) watches what probation
//! yields, judged every three capacities' worth of requests: when fewer than
//! 1 in 64 entries leaving it were read there (a Zipf tail, a loop, a scan),
//! a full cache stops storing new keys on their first insert. A count-min
//! sketch of turn-aways (`sketch.rs`, allocated when the door first
//! closes) decides which keys the ghost remembers: those
//! turned away before; a key is stored when it comes back while remembered
//! (and seen by the sketch, so a ghost tag's chance match is not enough):
//! S3-FIFO with a probation share of zero, at the price of a lookup instead
//! of an allocation, an eviction and a deferred free. One new key in 16 (by
//! hash) still goes on probation as a probe, and the door opens again when
//! at least 1 in 8 probes is read. Counters and overwrites are never turned
//! away.
//! When both candidate buckets of a new key are full and so is the cache, the
//! insert evicts between those two buckets instead (unhit probation entries
//! first), so entries never drift away from their candidates under churn.
//!
//! **Expiry** (`expiry.rs`). Deadlines are nanoseconds since the cache was
//! built, computed on insert with a precise `quanta` read and checked on
//! access against quanta's coarse clock (kept fresh by one process-wide
//! upkeep thread that clockcache starts; near a deadline, or when someone
//! else owns the upkeep thread, the check reads the clock precisely). An
//! expired entry is invisible at once and reclaimed on access, by the hand,
//! by a sweep of one bucket per insert once TTLs are in use, or by
//! [`Cache::purge_expired`]. There is no timer task.
//!
//! **What each atomic guards.** Control word: slot ownership (a byte leaves
//! `EMPTY` only by its claimer's CAS and returns to it only by the releaser
//! that unlinked the entry) and the tag readers filter on. Slot pointer: the truth about which node is current, changed only by
//! CAS. Policy bytes, ghost words, probation queues, the climber and the
//! door:
//! policy hints, lossy (a lost update costs hit ratio, never safety: every
//! eviction goes through the slot's CAS). Overflow count: an upper bound
//! on entries probing past the bucket. `len`: published entries (pending or
//! committed), used to decide when to evict. Hands and sweep cursors: just
//! positions. Stats: per-thread striped counters.
//!
//! **Memory reclamation.** Normal builds pin crossbeam-epoch's global
//! collector. Dropping the last `Cache` handle frees every linked entry at
//! once; entries retired earlier are freed as the global epoch advances
//! (pinning and flushing a few times, `crossbeam_epoch::pin().flush()`,
//! forces that; the drop-count tests do so). Keys and values must be
//! `Send + Sync + 'static` because they may be dropped on another thread,
//! later.
//!
//! **Locks.** None. The only waits are `Backoff` snoozes when two inserters
//! of the same key collide or every slot is momentarily taken.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations)]

#[cfg(all(clockcache_loom, not(crossbeam_loom)))]
compile_error!(
    "--cfg clockcache_loom needs --cfg crossbeam_loom too, or crossbeam-epoch is not modelled and every loom test passes after one iteration"
);

mod adapt;
#[cfg(feature = "async")]
mod backend;
mod builder;
mod cache;
mod clock;
mod counter;
mod door;
mod entry;
mod error;
mod expiry;
mod ghost;
pub mod glob;
mod iter;
mod occupancy;
mod pinned;
mod probation;
mod recycle;
mod shard;
mod sketch;
mod stats;
mod sync;
mod table;
mod zeroed;

#[cfg(feature = "async")]
pub use backend::{
    CacheBackend, LoadFuture, MemoryCacheBackend, MemoryCacheBackendBuilder, NonCounter,
    TryGetError,
};
pub use builder::{CacheBuilder, DEFAULT_CAPACITY, MAX_CAPACITY};
pub use cache::Cache;
pub use counter::CounterValue;
pub use error::CacheError;
#[cfg(clockcache_loom)]
#[doc(hidden)]
pub use expiry::ManualClock;
pub use glob::Pattern;
pub use iter::Iter;
pub use pinned::Pinned;
pub use quanta;
pub use stats::CacheStats;

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
