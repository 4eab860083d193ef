//! Single-threaded differential fuzzing of `Cache` against a model.
//!
//! After every operation the whole cache is read back with `iter()` (which
//! does not touch the CLOCK counters) and compared with the model:
//!
//! - every entry the cache holds is the last value written for its key and
//!   has not expired (no stale, wrong or resurrected value);
//! - a key the model holds may be missing only if the cache evicted it: the
//!   number of missing keys is at most the increase of `stats().evictions`,
//!   and a capacity eviction only happens when `len()` was at capacity
//!   before the operation (no early eviction); the model then forgets them;
//! - `len()` never exceeds the capacity, no key is yielded twice;
//! - return values of get / remove / incr / decr / get_or_insert_with /
//!   retain / invalidate_pattern are exactly the model's (an operation's
//!   result depends only on the state before it, which the model knows).
//!
//! At the end the cache is dropped and crossbeam-epoch flushed until every
//! key and value ever created has been dropped exactly once.
#![no_main]

use std::collections::HashMap;
use std::time::Duration;

use arbitrary::Arbitrary;
use clockcache::{Cache, CacheError};
use clockcache_fuzz::{
    pattern_text, redis_parse, reference_match, Counters, FuzzState, PatPiece, Repr, TKey, TVal,
    ValueSpec,
};
use libfuzzer_sys::fuzz_target;

const NEVER: u64 = u64::MAX;

#[derive(Arbitrary, Debug)]
struct Input {
    capacity: u8,
    shards: u8,
    default_ttl_ms: Option<u16>,
    hash_seed: u64,
    degenerate_hash: bool,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Insert(u8, ValueSpec),
    InsertTtl(u8, ValueSpec, u16),
    Get(u8),
    Contains(u8),
    Remove(u8),
    Incr(u8, i64, i64, Option<u16>),
    IncrSmall(u8, i8),
    Decr(u8, i64, i64, Option<u16>),
    GetOrInsert(u8, ValueSpec),
    Retain(u16),
    InvalidatePattern(Vec<PatPiece>),
    PurgeExpired,
    Clear,
    Advance(u16),
}

fn key(k: u8) -> String {
    format!("k{}", k % 16)
}

struct Model {
    map: HashMap<String, (Repr, u64)>,
    now: u64,
    cap: usize,
    default_ttl: Option<u64>,
}

impl Model {
    fn live(&self, k: &str) -> Option<&Repr> {
        match self.map.get(k) {
            Some((v, d)) if *d == NEVER || self.now < *d => Some(v),
            _ => None,
        }
    }
    fn deadline(&self, ttl_ms: Option<u64>) -> u64 {
        match ttl_ms {
            Some(t) => self.now.saturating_add(t),
            None => NEVER,
        }
    }
    fn set(&mut self, k: String, v: Repr, deadline: u64) {
        if self.cap > 0 {
            self.map.insert(k, (v, deadline));
        }
    }
    /// Drops expired entries (the cache hides them at once).
    fn expire(&mut self) {
        let now = self.now;
        self.map.retain(|_, (_, d)| *d == NEVER || now < *d);
    }
    /// What `incr`/`decr` must return, and the entry it leaves.
    fn counter(
        &mut self,
        k: String,
        default: i64,
        ttl_ms: Option<u64>,
        f: impl Fn(i64) -> Option<i64>,
    ) -> Result<i64, CacheError> {
        let (base, deadline) = match self.live(&k) {
            Some(Repr::Int(i)) => (Some(*i), self.map[&k].1),
            Some(Repr::Str(s)) => match redis_parse(s) {
                Some(i) => (Some(i), self.map[&k].1),
                None => return Err(CacheError::NotAnInteger),
            },
            None => (None, self.deadline(ttl_ms.or(self.default_ttl))),
        };
        let n = f(base.unwrap_or(default)).ok_or(CacheError::Overflow)?;
        self.set(k, Repr::Int(n), deadline);
        Ok(n)
    }
}

fn run(input: Input) {
    let counters = Counters::new();
    let cap = usize::from(input.capacity % 9);
    let (clock, mock) = clockcache::quanta::Clock::mock();
    let mut b = Cache::<TKey, TVal>::builder()
        .max_capacity(cap)
        .shards(usize::from(input.shards % 5).max(1))
        .clock(clock);
    let default_ttl = input.default_ttl_ms.map(u64::from);
    if let Some(t) = default_ttl {
        b = b.time_to_live(Duration::from_millis(t));
    }
    let cache = b
        .hasher(FuzzState {
            seed: input.hash_seed,
            degenerate: input.degenerate_hash,
        })
        .build();
    let mut m = Model {
        map: HashMap::new(),
        now: 0,
        cap,
        default_ttl,
    };
    let tk = |k: u8| TKey::new(key(k), &counters);
    let tv = |v: &ValueSpec| TVal::new(v.repr(), &counters);
    let mut evictions = 0;
    let mut rejections = 0;

    // Up to 1 000 operations: the admission door reviews its state once per
    // 512 lookups at the earliest, so shorter runs would never close it.
    for (step, op) in input.ops.iter().take(1_000).enumerate() {
        let len_before = cache.len();
        let live_before = match op {
            Op::Insert(k, _) | Op::InsertTtl(k, ..) | Op::GetOrInsert(k, _) => {
                m.live(&key(*k)).is_some()
            }
            _ => true,
        };
        let mut purged = false;
        match op {
            Op::Insert(k, v) => {
                cache.insert(tk(*k), tv(v));
                let d = m.deadline(default_ttl);
                m.set(key(*k), v.repr(), d);
            }
            Op::InsertTtl(k, v, ttl) => {
                cache.insert_with_ttl(tk(*k), tv(v), Duration::from_millis(u64::from(*ttl)));
                let d = m.deadline(Some(u64::from(*ttl)));
                m.set(key(*k), v.repr(), d);
            }
            Op::Get(k) => {
                let got = cache.get(key(*k).as_str()).map(|v| v.v);
                assert_eq!(
                    got.as_ref(),
                    m.live(&key(*k)),
                    "step {step}: get({})",
                    key(*k)
                );
            }
            Op::Contains(k) => {
                assert_eq!(
                    cache.contains_key(key(*k).as_str()),
                    m.live(&key(*k)).is_some(),
                    "step {step}: contains_key({})",
                    key(*k)
                );
            }
            Op::Remove(k) => {
                let got = cache.remove(key(*k).as_str()).map(|v| v.v);
                assert_eq!(
                    got.as_ref(),
                    m.live(&key(*k)),
                    "step {step}: remove({})",
                    key(*k)
                );
                m.map.remove(&key(*k));
            }
            Op::Incr(k, delta, default, ttl) | Op::Decr(k, delta, default, ttl) => {
                let ttl = ttl.map(u64::from);
                let incr = matches!(op, Op::Incr(..));
                let got = if incr {
                    cache.incr(tk(*k), *delta, *default, ttl.map(Duration::from_millis))
                } else {
                    cache.decr(tk(*k), *delta, *default, ttl.map(Duration::from_millis))
                };
                let delta = *delta;
                let want = if incr {
                    m.counter(key(*k), *default, ttl, |b| b.checked_add(delta))
                } else {
                    m.counter(key(*k), *default, ttl, |b| b.checked_sub(delta))
                };
                assert_eq!(got, want, "step {step}: incr/decr({}, {delta})", key(*k));
            }
            Op::IncrSmall(k, delta) => {
                let delta = i64::from(*delta);
                let got = cache.incr(tk(*k), delta, 0, None);
                let want = m.counter(key(*k), 0, None, |b| b.checked_add(delta));
                assert_eq!(got, want, "step {step}: incr({}, {delta})", key(*k));
            }
            Op::GetOrInsert(k, v) => {
                let got = cache.get_or_insert_with(tk(*k), || tv(v)).v;
                let want = match m.live(&key(*k)) {
                    Some(cur) => cur.clone(),
                    None => {
                        let d = m.deadline(default_ttl);
                        m.set(key(*k), v.repr(), d);
                        v.repr()
                    }
                };
                assert_eq!(got, want, "step {step}: get_or_insert_with({})", key(*k));
            }
            Op::Retain(mask) => {
                let mut offered = Vec::new();
                let removed = cache.retain(|k, v| {
                    offered.push((k.s.clone(), v.v.clone()));
                    let i: u32 = k.s[1..].parse().unwrap();
                    mask & (1 << i) != 0
                });
                for (k, v) in &offered {
                    assert_eq!(Some(v), m.live(k), "step {step}: retain offered {k}={v:?}");
                }
                let mut want = 0;
                let now = m.now;
                m.map.retain(|k, (_, d)| {
                    let live = *d == NEVER || now < *d;
                    let i: u32 = k[1..].parse().unwrap();
                    let keep = mask & (1 << i) != 0;
                    if live && !keep {
                        want += 1;
                    }
                    live && keep
                });
                assert_eq!(removed, want, "step {step}: retain removed");
            }
            Op::InvalidatePattern(pieces) => {
                let p = pattern_text(pieces);
                let removed = cache.invalidate_pattern(&p);
                let mut want = 0;
                let now = m.now;
                m.map.retain(|k, (_, d)| {
                    let live = *d == NEVER || now < *d;
                    let hit = reference_match(&p, k).unwrap_or(false);
                    if live && hit {
                        want += 1;
                    }
                    live && !hit
                });
                assert_eq!(removed, want, "step {step}: invalidate_pattern({p:?})");
            }
            Op::PurgeExpired => {
                cache.purge_expired();
                purged = true;
            }
            Op::Clear => {
                cache.clear();
                m.map.clear();
                assert_eq!(cache.len(), 0, "step {step}: len after clear");
            }
            Op::Advance(ms) => {
                mock.increment(Duration::from_millis(u64::from(*ms)));
                m.now += u64::from(*ms);
                m.expire();
            }
        }

        // Read the whole cache back and reconcile.
        let snap: Vec<(String, Repr)> = cache.iter().map(|(k, v)| (k.s, v.v)).collect();
        let mut seen = std::collections::HashSet::new();
        for (k, v) in &snap {
            assert!(
                seen.insert(k.clone()),
                "step {step}: iter() yielded {k} twice"
            );
            assert_eq!(
                Some(v),
                m.live(k),
                "step {step} ({op:?}): cache holds {k}={v:?}, model {:?}",
                m.map.get(k)
            );
        }
        let len = cache.len();
        assert!(
            len <= cap,
            "step {step} ({op:?}): len {len} > capacity {cap}"
        );
        assert!(
            len >= snap.len(),
            "step {step}: len {len} < {} live entries",
            snap.len()
        );
        if purged {
            assert_eq!(
                len,
                snap.len(),
                "step {step}: expired entries left after purge_expired"
            );
        }
        // A full cache may turn a new key away (the admission door): only on
        // a plain insert or get_or_insert_with of a key with no live entry,
        // one at a time, and the key is then simply absent.
        let rej = cache.stats().rejections;
        if rej != rejections {
            assert_eq!(
                rej - rejections,
                1,
                "step {step} ({op:?}): several rejections"
            );
            assert!(
                !live_before && len_before >= cap,
                "step {step} ({op:?}): rejected an overwrite or below capacity"
            );
            let (Op::Insert(k, _) | Op::InsertTtl(k, ..) | Op::GetOrInsert(k, _)) = op else {
                panic!("step {step} ({op:?}): only inserts may be rejected");
            };
            assert!(
                !seen.contains(&key(*k)),
                "step {step}: a rejected key is cached"
            );
            m.map.remove(&key(*k));
            rejections = rej;
        }
        let ev = cache.stats().evictions;
        let delta = ev - evictions;
        evictions = ev;
        if delta > 0 {
            assert!(
                len_before >= cap,
                "step {step} ({op:?}): evicted with len {len_before} < capacity {cap}"
            );
        }
        let missing: Vec<String> = m
            .map
            .keys()
            .filter(|k| m.live(k).is_some() && !seen.contains(*k))
            .cloned()
            .collect();
        assert!(
            missing.len() as u64 <= delta,
            "step {step} ({op:?}): {missing:?} vanished with {delta} evictions"
        );
        for k in missing {
            m.map.remove(&k);
        }
    }
    drop(cache);
    counters.assert_all_dropped();
}

fuzz_target!(|input: Input| run(input));
