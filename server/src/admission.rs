//! Admission control in front of an expensive path: a bounded number of requests at work and a
//! bounded line of requests waiting for their turn, served first come, first served. A request
//! that finds the line full is refused at once (the HTTP layer answers 503 with `Retry-After`)
//! instead of waiting without bound, so under a surge the server keeps answering, quickly, and
//! its memory stays bounded. Password hashing and the seat path (submissions) sit behind one each.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A path's slots and the line in front of them.
#[derive(Debug)]
pub struct Admission {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    max_wait: Duration,
}

/// Why a request was not admitted: the line was full, or its turn did not come in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Every place in the line was taken.
    #[error("every place in the line is taken")]
    LineFull,
    /// The request waited its longest and its turn did not come.
    #[error("the turn did not come in time")]
    TooLong,
}

impl Admission {
    /// `slots` requests at work at once (at least one), `max_waiting` more waiting, none longer
    /// than `max_wait`.
    pub fn new(slots: usize, max_waiting: usize, max_wait: Duration) -> Admission {
        Admission {
            slots: Arc::new(Semaphore::new(slots.max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting,
            max_wait,
        }
    }

    /// Waits for a slot; the slot is held until the permit is dropped. A request that gives up
    /// (its connection closed, its future dropped) leaves the line.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, Refused> {
        if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
            return Ok(permit);
        }
        let _place = Place::take(&self.waiting, self.max_waiting).ok_or(Refused::LineFull)?;
        match tokio::time::timeout(self.max_wait, Arc::clone(&self.slots).acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; a closed one admits nobody.
            Ok(Err(_)) => Err(Refused::LineFull),
            Err(_) => Err(Refused::TooLong),
        }
    }

    /// Requests waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

/// A place in the line, given back when dropped (also when the waiting future is dropped).
struct Place<'a>(&'a AtomicUsize);

impl<'a> Place<'a> {
    fn take(waiting: &'a AtomicUsize, max: usize) -> Option<Place<'a>> {
        let place = Place(waiting);
        (waiting.fetch_add(1, Ordering::SeqCst) < max).then_some(place)
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_line_is_bounded_and_served_in_order() {
        let gate = Arc::new(Admission::new(1, 2, Duration::from_secs(10)));
        let first = gate.enter().await.expect("a free slot");
        let mut line = Vec::new();
        for n in 0..2 {
            let g = Arc::clone(&gate);
            line.push(tokio::spawn(async move { g.enter().await.map(|p| (n, p)) }));
            while gate.waiting() < n + 1 {
                tokio::task::yield_now().await;
            }
        }
        assert_eq!(gate.enter().await.err(), Some(Refused::LineFull), "the third in line is refused at once");
        drop(first);
        let (n, second) = line.remove(0).await.expect("join").expect("admitted");
        assert_eq!(n, 0, "first come, first served");
        drop(second);
        let (n, _third) = line.remove(0).await.expect("join").expect("admitted");
        assert_eq!(n, 1);
        assert_eq!(gate.waiting(), 0);
    }

    #[tokio::test]
    async fn a_request_that_gives_up_leaves_the_line() {
        let gate = Arc::new(Admission::new(1, 1, Duration::from_secs(10)));
        let _busy = gate.enter().await.expect("a free slot");
        let g = Arc::clone(&gate);
        let waiter = tokio::spawn(async move { g.enter().await.map(drop) });
        while gate.waiting() < 1 {
            tokio::task::yield_now().await;
        }
        waiter.abort();
        assert!(waiter.await.is_err(), "aborted");
        assert_eq!(gate.waiting(), 0, "its place was given back");
        let g = Arc::clone(&gate);
        let next = tokio::spawn(async move { g.enter().await.map(drop) });
        while gate.waiting() < 1 {
            tokio::task::yield_now().await;
        }
        assert_eq!(gate.waiting(), 1, "the place is free for the next request");
        next.abort();
    }

    #[tokio::test]
    async fn a_turn_that_does_not_come_in_time_is_refused() {
        let gate = Admission::new(1, 4, Duration::from_millis(50));
        let _busy = gate.enter().await.expect("a free slot");
        assert_eq!(gate.enter().await.err(), Some(Refused::TooLong));
        assert_eq!(gate.waiting(), 0);
    }
}
