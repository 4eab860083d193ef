//! Two threads run two operation lists against one cache; afterwards the
//! invariants that hold for every interleaving are checked:
//!
//! - during the run: a value read for a key was written for that key;
//! - at rest (after `purge_expired`): `len() <= capacity`, no key twice in
//!   `iter()`, `iter().count() == len()`;
//! - counters (keys `c0..c3`, touched only by incr/decr without TTL) hold
//!   exactly the sum of their successful deltas when no eviction was possible
//!   (capacity >= the 12-key space) and no clear/retain/invalidate ran; with
//!   only positive deltas on a key, the results its incrs returned are
//!   distinct (a lost update would repeat one) and the largest is the final;
//! - every key and value is dropped exactly once after the cache is dropped.
#![no_main]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use clockcache::Cache;
use clockcache_fuzz::{pattern_text, Counters, FuzzState, PatPiece, Repr, TKey, TVal};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Clone)]
enum Op {
    Insert(u8),
    InsertTtl(u8, u8),
    Get(u8),
    Remove(u8),
    Incr(u8, u8),
    Decr(u8, u8),
    GetOrInsert(u8),
    Retain(u8),
    InvalidatePattern(Vec<PatPiece>),
    PurgeExpired,
    Clear,
    Advance(u8),
    Iter,
}

#[derive(Debug)]
struct Input {
    capacity: usize,
    shards: usize,
    hash_seed: u64,
    degenerate_hash: bool,
    a: Vec<Op>,
    b: Vec<Op>,
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let capacity = usize::from(u.int_in_range(0..=20u8)?);
        let shards = usize::from(u.int_in_range(1..=4u8)?);
        let hash_seed = u.arbitrary()?;
        let degenerate_hash = u.ratio(1, 8)?;
        // The input split into two lists, one per thread.
        let mut a: Vec<Op> = u.arbitrary()?;
        let mut b: Vec<Op> = u.arbitrary()?;
        a.truncate(64);
        b.truncate(64);
        Ok(Input {
            capacity,
            shards,
            hash_seed,
            degenerate_hash,
            a,
            b,
        })
    }
}

fn kkey(k: u8) -> String {
    format!("k{}", k % 8)
}
fn ckey(k: u8) -> String {
    format!("c{}", k % 4)
}

/// What one thread did to the counters: (key, signed delta, result).
type CounterLog = Vec<(String, i64, i64)>;

fn worker(
    cache: &Cache<TKey, TVal, FuzzState>,
    mock: &clockcache::quanta::Mock,
    counters: &Arc<Counters>,
    ops: &[Op],
    id: i64,
) -> CounterLog {
    let mut log = Vec::new();
    // Values written for key kN are Str("kN:<thread>:<seq>").
    let val = |k: &str, seq: usize| TVal::new(Repr::Str(format!("{k}:{id}:{seq}")), counters);
    let check = |k: &str, v: &TVal, what: &str| match &v.v {
        Repr::Str(s) => assert!(
            s.starts_with(&format!("{k}:")),
            "{what}({k}) returned {s:?}, written for another key"
        ),
        Repr::Int(_) => panic!("{what}({k}) returned a counter"),
    };
    for (seq, op) in ops.iter().enumerate() {
        match op {
            Op::Insert(k) => {
                let k = kkey(*k);
                cache.insert(TKey::new(k.clone(), counters), val(&k, seq));
            }
            Op::InsertTtl(k, ttl) => {
                let k = kkey(*k);
                let ttl = Duration::from_millis(u64::from(*ttl));
                cache.insert_with_ttl(TKey::new(k.clone(), counters), val(&k, seq), ttl);
            }
            Op::Get(k) => {
                let k = kkey(*k);
                if let Some(v) = cache.get(k.as_str()) {
                    check(&k, &v, "get");
                }
            }
            Op::Remove(k) => {
                let k = kkey(*k);
                if let Some(v) = cache.remove(k.as_str()) {
                    check(&k, &v, "remove");
                }
            }
            Op::GetOrInsert(k) => {
                let k = kkey(*k);
                let v = cache.get_or_insert_with(TKey::new(k.clone(), counters), || val(&k, seq));
                check(&k, &v, "get_or_insert_with");
            }
            Op::Incr(k, d) | Op::Decr(k, d) => {
                let k = ckey(*k);
                let d = i64::from(*d);
                let key = TKey::new(k.clone(), counters);
                let (r, signed) = if matches!(op, Op::Incr(..)) {
                    (cache.incr(key, d, 0, None), d)
                } else {
                    (cache.decr(key, d, 0, None), -d)
                };
                let n = r.unwrap_or_else(|e| panic!("counter {k}: {e}"));
                log.push((k, signed, n));
            }
            Op::Retain(mask) => {
                cache.retain(|k, _| {
                    let i = u32::from(k.s.as_bytes()[1] - b'0');
                    let bit = if k.s.starts_with('c') { i + 4 } else { i };
                    mask & (1 << (bit % 8)) != 0
                });
            }
            Op::InvalidatePattern(p) => {
                cache.invalidate_pattern(&pattern_text(p));
            }
            Op::PurgeExpired => {
                cache.purge_expired();
            }
            Op::Clear => cache.clear(),
            Op::Advance(ms) => mock.increment(Duration::from_millis(u64::from(*ms))),
            Op::Iter => {
                for (k, v) in cache.iter() {
                    if k.s.starts_with('k') {
                        check(&k.s, &v, "iter");
                    } else {
                        assert!(matches!(v.v, Repr::Int(_)), "counter {k:?} holds {v:?}");
                    }
                }
            }
        }
    }
    log
}

fn run(input: Input) {
    let counters = Counters::new();
    let (clock, mock) = clockcache::quanta::Clock::mock();
    let cache = Cache::<TKey, TVal>::builder()
        .max_capacity(input.capacity)
        .shards(input.shards)
        .clock(clock)
        .hasher(FuzzState {
            seed: input.hash_seed,
            degenerate: input.degenerate_hash,
        })
        .build();
    let barrier = Barrier::new(2);
    let (la, lb) = std::thread::scope(|s| {
        let ta = s.spawn(|| {
            barrier.wait();
            worker(&cache, &mock, &counters, &input.a, 0)
        });
        barrier.wait();
        let lb = worker(&cache, &mock, &counters, &input.b, 1);
        (ta.join().unwrap(), lb)
    });

    // At rest.
    cache.purge_expired();
    let snap: Vec<(String, Repr)> = cache.iter().map(|(k, v)| (k.s, v.v)).collect();
    let mut seen = HashSet::new();
    for (k, _) in &snap {
        assert!(seen.insert(k.clone()), "iter() yielded {k} twice");
    }
    let len = cache.len();
    assert!(
        len <= input.capacity,
        "len {len} > capacity {} at rest",
        input.capacity
    );
    assert_eq!(snap.len(), len, "iter().count() != len() at rest");

    let bulk = input
        .a
        .iter()
        .chain(&input.b)
        .any(|op| matches!(op, Op::Clear | Op::Retain(_) | Op::InvalidatePattern(_)));
    if input.capacity >= 12 && !bulk {
        let mut sums: HashMap<String, i64> = HashMap::new();
        let mut results: HashMap<String, Vec<i64>> = HashMap::new();
        let mut all_positive: HashMap<String, bool> = HashMap::new();
        for (k, d, n) in la.iter().chain(&lb) {
            *sums.entry(k.clone()).or_default() += d;
            results.entry(k.clone()).or_default().push(*n);
            *all_positive.entry(k.clone()).or_insert(true) &= *d > 0;
        }
        let stored: HashMap<&str, &Repr> = snap.iter().map(|(k, v)| (k.as_str(), v)).collect();
        for (k, sum) in &sums {
            assert_eq!(
                stored.get(k.as_str()),
                Some(&&Repr::Int(*sum)),
                "counter {k}: lost update (sum of deltas {sum})"
            );
            if all_positive[k] {
                let r = &results[k];
                let distinct: HashSet<_> = r.iter().collect();
                assert_eq!(
                    distinct.len(),
                    r.len(),
                    "counter {k}: repeated result in {r:?}"
                );
                assert_eq!(r.iter().max(), Some(sum), "counter {k}: results {r:?}");
            }
        }
        for c in 0..4u8 {
            let k = ckey(c);
            if !sums.contains_key(&k) {
                assert!(
                    !stored.contains_key(k.as_str()),
                    "counter {k} appeared from nowhere"
                );
            }
        }
    }
    drop(cache);
    counters.assert_all_dropped();
}

fuzz_target!(|input: Input| run(input));
