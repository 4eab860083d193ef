//! Regression: with the default hasher (`ahash::RandomState`) a key type
//! whose `Hash` writes exactly what its `Borrow` target's `Hash` writes must
//! be found by a lookup through the borrowed form, on stable and on nightly.
//!
//! ```sh
//! cargo +nightly test -p loom-tests --test borrow_hash
//! ```
//!
//! ahash 0.8's build script enables `cfg(specialize)` on nightly, and then
//! `RandomState::hash_one(&u64)` (or `&str`) takes a specialised path (a
//! different hasher, `AHasherU64` / `AHasherStr`) while `hash_one(&Wrapper)`
//! goes through the generic `Hasher`. When `Cache` hashed with `hash_one`,
//! the stored key and the lookup key hashed differently and `get`, `remove`,
//! `contains_key` missed (98 of 100 keys here); that is what made 5 tests of
//! tests/drops.rs (`TrackedKey: Borrow<u64>`) fail under ASan, which needs
//! nightly. `src/cache.rs` now hashes through `build_hasher()`.
#![cfg(not(clockcache_loom))]

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

use clockcache::Cache;

#[derive(PartialEq, Eq)]
struct Id(u64);

impl Hash for Id {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.hash(h) // exactly what `u64` writes
    }
}

impl Borrow<u64> for Id {
    fn borrow(&self) -> &u64 {
        &self.0
    }
}

#[derive(PartialEq, Eq)]
struct Name(String);

impl Hash for Name {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.as_str().hash(h) // exactly what `str` writes
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

#[test]
fn wrapper_key_found_through_borrowed_integer() {
    let c: Cache<Id, u32> = Cache::new(100);
    for i in 0..100 {
        c.insert(Id(i), 1);
    }
    let missing = (0..100u64).filter(|i| c.get(i).is_none()).count();
    assert_eq!(missing, 0, "{missing} of 100 keys not found through &u64");
}

#[test]
fn wrapper_key_found_through_borrowed_str() {
    let c: Cache<Name, u32> = Cache::new(100);
    for i in 0..100 {
        c.insert(Name(format!("k{i}")), 1);
    }
    let missing = (0..100)
        .filter(|i| c.get(format!("k{i}").as_str()).is_none())
        .count();
    assert_eq!(missing, 0, "{missing} of 100 keys not found through &str");
}
