//! Single flight: concurrent misses for one token share one run (one STS call).
//!
//! A caller [`join`](Flights::join)s the run for its key, creating it if there is none, and
//! awaits [`Seat::result`]. The first caller's closure runs; the others wait for its result. If
//! the running caller is dropped (its request cancelled), a waiting caller runs its own closure
//! instead (`tokio::sync::OnceCell` semantics). A run leaves the table when a caller leaves it
//! after it has a result, or when its last caller leaves, so a later miss starts afresh.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::OnceCell;

type Hasher = foldhash::fast::RandomState;
type Runs<T> = HashMap<Box<[u8]>, Arc<OnceCell<T>>, Hasher>;

/// The runs in progress, by key.
pub(crate) struct Flights<T> {
    runs: Mutex<Runs<T>>,
}

/// One caller's place in the run for a key. Dropping it leaves the run.
pub(crate) struct Seat<'a, T> {
    flights: &'a Flights<T>,
    key: &'a [u8],
    /// `None` only while the seat is dropped.
    run: Option<Arc<OnceCell<T>>>,
}

impl<T: Clone> Flights<T> {
    pub(crate) fn new() -> Self {
        Self {
            runs: Mutex::new(HashMap::with_hasher(Hasher::default())),
        }
    }

    fn runs(&self) -> MutexGuard<'_, Runs<T>> {
        // The table holds no invariant that a panicking holder could break halfway.
        self.runs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Joins the run for `key`, starting one if there is none.
    pub(crate) fn join<'a>(&'a self, key: &'a [u8]) -> Seat<'a, T> {
        let mut runs = self.runs();
        let run = match runs.get(key) {
            Some(run) => run.clone(),
            None => {
                let run = Arc::new(OnceCell::new());
                runs.insert(key.into(), run.clone());
                run
            }
        };
        Seat {
            flights: self,
            key,
            run: Some(run),
        }
    }

    /// The number of runs in the table.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.runs().len()
    }
}

impl<T: Clone> Seat<'_, T> {
    /// The run's result: `run()`'s, if this caller is the one that runs it, else that of the
    /// caller that did.
    pub(crate) async fn result<F, Fut>(&self, run: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let cell = self.run.as_ref().expect("a seat has its run until dropped");
        cell.get_or_init(run).await.clone()
    }
}

impl<T> Drop for Seat<'_, T> {
    fn drop(&mut self) {
        let mut runs = self.flights.runs.lock().unwrap_or_else(|e| e.into_inner());
        let Some(run) = self.run.take() else { return };
        // Every reference but the table's belongs to a seat, and seats take and drop theirs
        // under this lock: two references (the table's and this one) mean nobody else waits.
        let done = run.initialized() || Arc::strong_count(&run) == 2;
        if done && runs.get(self.key).is_some_and(|r| Arc::ptr_eq(r, &run)) {
            runs.remove(self.key);
        }
        drop(run);
        drop(runs);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn concurrent_callers_share_one_run_and_the_table_empties() {
        let flights = Flights::<u32>::new();
        let runs = AtomicUsize::new(0);
        let call = || async {
            let seat = flights.join(b"token");
            seat.result(|| async {
                runs.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                7
            })
            .await
        };
        let results = tokio::join!(call(), call(), call());
        assert_eq!(results, (7, 7, 7));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(flights.len(), 0);
        // A later miss runs again.
        assert_eq!(flights.join(b"token").result(|| async { 8 }).await, 8);
        assert_eq!(flights.len(), 0);
    }

    #[tokio::test]
    async fn a_cancelled_runner_hands_over_to_a_waiter() {
        let flights = Flights::<u32>::new();
        let first = flights.join(b"token");
        let second = flights.join(b"token");
        // The first caller starts running and is dropped before it finishes.
        let started = tokio::time::timeout(
            Duration::from_millis(10),
            first.result(std::future::pending::<u32>),
        )
        .await;
        assert!(started.is_err());
        drop(first);
        assert_eq!(flights.len(), 1, "the second caller still waits on the run");
        assert_eq!(second.result(|| async { 9 }).await, 9);
        drop(second);
        assert_eq!(flights.len(), 0);
    }

    #[test]
    fn waiters_cancelled_together_leave_no_run_behind() {
        for _ in 0..200 {
            let flights = Flights::<u32>::new();
            let seats = [flights.join(b"token"), flights.join(b"token")];
            std::thread::scope(|scope| {
                for seat in seats {
                    scope.spawn(move || drop(seat));
                }
            });
            assert_eq!(flights.len(), 0);
        }
    }

    #[tokio::test]
    async fn a_run_abandoned_by_its_only_caller_leaves_the_table() {
        let flights = Flights::<u32>::new();
        let seat = flights.join(b"token");
        let _ = tokio::time::timeout(
            Duration::from_millis(1),
            seat.result(std::future::pending::<u32>),
        )
        .await;
        drop(seat);
        assert_eq!(flights.len(), 0);
    }
}
