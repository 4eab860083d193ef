//! Single-flight loading: a registry of the loads in progress, one per key.
//!
//! The first caller for a missing key registers a [`Flight`] and becomes the
//! *leader*: it runs its loader while holding a [`Leader`] guard. Callers
//! that find the flight registered *wait* on it ([`Wait`]) and receive the
//! leader's [`Outcome`]. The guard publishes an outcome however the leader
//! ends: its value or error when it finishes, [`Outcome::Abandoned`] when its
//! future is dropped (cancelled, or unwound by a panic), so waiters are never
//! left hanging; they then start over, and one of them leads the next load.
//!
//! The registry is sharded by key hash; a shard's mutex is held only to look
//! up, insert or remove a flight, never across an `await`, so loads of
//! different keys never wait on each other. Notification is a plain list of
//! wakers per flight, so it works under any executor.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crossbeam_utils::CachePadded;

/// Registry shards. Contention is only among loads that start or end at the
/// same moment, so a small fixed number is plenty.
/// A power of two.
const SHARDS: usize = 16;

/// Locks `m`, recovering from poisoning: no code panics while holding these
/// locks (wakers are woken after release), and the data stays consistent
/// even if one did.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How a load ended, as seen by the callers that waited on it.
pub(super) enum Outcome<V> {
    /// The loaded value (already stored in the cache).
    Value(V),
    /// The loader's error, type-erased: a waiter whose error type differs
    /// (or that has none) loads again instead.
    Failed(Arc<dyn Any + Send + Sync>),
    /// The leader's future was dropped before it finished: load again.
    Abandoned,
    /// The backend was shut down.
    Closed,
}

impl<V: Clone> Clone for Outcome<V> {
    fn clone(&self) -> Self {
        match self {
            Outcome::Value(v) => Outcome::Value(v.clone()),
            Outcome::Failed(e) => Outcome::Failed(Arc::clone(e)),
            Outcome::Abandoned => Outcome::Abandoned,
            Outcome::Closed => Outcome::Closed,
        }
    }
}

/// One load in progress.
struct Flight<V> {
    state: Mutex<FlightState<V>>,
}

struct FlightState<V> {
    /// `None` while the load runs; set once.
    outcome: Option<Outcome<V>>,
    /// The waiters' wakers, by slot (a dropped waiter leaves `None`).
    wakers: Vec<Option<Waker>>,
}

impl<V> Flight<V> {
    fn new() -> Self {
        Flight {
            state: Mutex::new(FlightState {
                outcome: None,
                wakers: Vec::new(),
            }),
        }
    }

    /// Sets the outcome (unless one is set already) and wakes every waiter.
    fn publish(&self, outcome: Outcome<V>) {
        let wakers = {
            let mut st = lock(&self.state);
            if st.outcome.is_some() {
                return;
            }
            st.outcome = Some(outcome);
            std::mem::take(&mut st.wakers)
        };
        // Woken outside the lock: a waker may run arbitrary code.
        for w in wakers.into_iter().flatten() {
            w.wake();
        }
    }
}

type Shard<V> = CachePadded<Mutex<HashMap<String, Arc<Flight<V>>>>>;

/// The per-key registry of loads in progress.
pub(super) struct Flights<V> {
    shards: Box<[Shard<V>]>,
    hasher: ahash::RandomState,
}

impl<V> fmt::Debug for Flights<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loads: usize = self.shards.iter().map(|s| lock(s).len()).sum();
        f.debug_struct("Flights").field("loads", &loads).finish()
    }
}

/// What [`Flights::join`] made of the caller.
pub(super) enum Join<'a, V> {
    /// No load was in progress: the caller must load, holding this guard.
    Leader(Leader<'a, V>),
    /// A load is in progress: await it.
    Waiter(Wait<V>),
}

impl<V> Flights<V> {
    pub(super) fn new() -> Self {
        Flights {
            shards: (0..SHARDS)
                .map(|_| CachePadded::new(Mutex::new(HashMap::new())))
                .collect(),
            hasher: ahash::RandomState::new(),
        }
    }

    fn shard(&self, key: &str) -> &Mutex<HashMap<String, Arc<Flight<V>>>> {
        let h = self.hasher.hash_one(key);
        // The top bits (the low ones pick the HashMap's bucket).
        &self.shards[(h >> (64 - SHARDS.trailing_zeros())) as usize]
    }

    /// Joins the load of `key` in progress, or registers a new one led by
    /// the caller.
    pub(super) fn join<'a>(&'a self, key: &'a str) -> Join<'a, V> {
        let shard = self.shard(key);
        let mut map = lock(shard);
        if let Some(flight) = map.get(key) {
            return Join::Waiter(Wait {
                flight: Arc::clone(flight),
                slot: None,
            });
        }
        let flight = Arc::new(Flight::new());
        map.insert(key.to_owned(), Arc::clone(&flight));
        Join::Leader(Leader {
            shard,
            key,
            flight,
            done: false,
        })
    }

    /// Ends every load in progress with [`Outcome::Closed`] (the leaders
    /// keep running, but their waiters return at once) and empties the
    /// registry.
    pub(super) fn close_all(&self) {
        for shard in self.shards.iter() {
            let flights: Vec<_> = lock(shard).drain().map(|(_, f)| f).collect();
            for f in flights {
                f.publish(Outcome::Closed);
            }
        }
    }
}

/// The leader's handle on its registered flight. Dropping it without
/// [`finish`](Self::finish) (the leader was cancelled or panicked) releases
/// the waiters with [`Outcome::Abandoned`].
pub(super) struct Leader<'a, V> {
    shard: &'a Mutex<HashMap<String, Arc<Flight<V>>>>,
    key: &'a str,
    flight: Arc<Flight<V>>,
    done: bool,
}

impl<V> Leader<'_, V> {
    /// Unregisters the flight (new callers then look in the cache or start a
    /// new load) and hands `outcome` to its waiters.
    pub(super) fn finish(mut self, outcome: Outcome<V>) {
        self.end(outcome);
    }

    fn end(&mut self, outcome: Outcome<V>) {
        self.done = true;
        {
            let mut map = lock(self.shard);
            // After a shutdown the key may name a newer flight: leave it.
            if map
                .get(self.key)
                .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
            {
                map.remove(self.key);
            }
        }
        self.flight.publish(outcome);
    }
}

impl<V> Drop for Leader<'_, V> {
    fn drop(&mut self) {
        if !self.done {
            self.end(Outcome::Abandoned);
        }
    }
}

/// A waiter's future: resolves to the flight's outcome.
pub(super) struct Wait<V> {
    flight: Arc<Flight<V>>,
    /// This waiter's index in the flight's waker list, once registered.
    slot: Option<usize>,
}

impl<V: Clone> Future for Wait<V> {
    type Output = Outcome<V>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome<V>> {
        let this = self.get_mut();
        let mut st = lock(&this.flight.state);
        if let Some(outcome) = &st.outcome {
            return Poll::Ready(outcome.clone());
        }
        match this.slot {
            Some(i) => match &mut st.wakers[i] {
                Some(w) if w.will_wake(cx.waker()) => {}
                w => *w = Some(cx.waker().clone()),
            },
            None => {
                st.wakers.push(Some(cx.waker().clone()));
                this.slot = Some(st.wakers.len() - 1);
            }
        }
        Poll::Pending
    }
}

impl<V> Drop for Wait<V> {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            let mut st = lock(&self.flight.state);
            // Once published, the list was taken and the slot is gone.
            if let Some(w) = st.wakers.get_mut(i) {
                *w = None;
            }
        }
    }
}
