//! The weakly consistent iterator over a cache's entries.

use std::fmt;

use crate::cache::Inner;
use crate::sync::Arc;
use crate::table::{is_occupied, SLOTS};

/// Iterator over clones of a cache's live entries, from [`Cache::iter`](crate::Cache::iter).
///
/// It walks the table slot by slot, pinning the epoch only while it reads
/// one entry, so it never blocks writers or memory reclamation. Entries
/// inserted, removed or updated during the walk may or may not be seen; an
/// entry that stays put is yielded exactly once.
pub struct Iter<K, V, S> {
    inner: Arc<Inner<K, V, S>>,
    bucket: usize,
    slot: usize,
}

impl<K, V, S> Iter<K, V, S> {
    pub(crate) fn new(inner: Arc<Inner<K, V, S>>) -> Self {
        Iter {
            inner,
            bucket: 0,
            slot: 0,
        }
    }
}

impl<K, V, S> fmt::Debug for Iter<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter")
            .field("bucket", &self.bucket)
            .field("slot", &self.slot)
            .finish_non_exhaustive()
    }
}

impl<K: Clone, V: Clone, S> Iterator for Iter<K, V, S> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        let inner = &*self.inner;
        let guard = inner.reclaim.pin();
        while self.bucket < inner.table.len() {
            let bucket = inner.table.bucket(self.bucket);
            let ctrl = bucket.ctrl();
            while self.slot < SLOTS {
                let i = self.slot;
                self.slot += 1;
                if !is_occupied(ctrl, i) {
                    continue;
                }
                let p = bucket.load(i, &guard);
                if p.tag() != 0 {
                    continue;
                }
                // SAFETY: loaded under `guard`; nodes are freed only after
                // every guard that could have loaded them is dropped.
                if let Some(e) = unsafe { p.as_ref() } {
                    if !inner.time.is_expired(e.deadline) {
                        return Some((e.key.clone(), e.value.clone()));
                    }
                }
            }
            self.bucket += 1;
            self.slot = 0;
        }
        None
    }
}
