//! Group commit: writers share flushes instead of queueing one fsync each.
//!
//! A write is acknowledged only once it is durable. Flushing after every commit is
//! correct but serialises every writer behind its own fsync, which caps a busy server at about
//! one acknowledged write per fsync. [`GroupFlush`] keeps the rule and lifts the cap: a writer
//! commits (visible, not yet durable), then asks for durability; one flusher thread takes every
//! request queued so far, flushes once, and answers them all. A request made while a flush is
//! running waits for the next one, because that flush may have started before its commit.
//!
//! Under load, flushing as soon as one writer waits still means about one flush per write: the
//! next writer arrives while a flush runs and gets the next one to itself. Every flush costs a
//! log write, a range sync and several thread hand-offs, so when writers arrived during the
//! previous flush the flusher first gathers for [`GATHER`] (PostgreSQL's `commit_delay`, made
//! adaptive): a millisecond of latency buys batches many writers wide. An idle server flushes
//! at once.
//!
//! Nothing committed after a write can become durable before it (the engine's log is
//! sequential), so a reader that acts on a not-yet-durable write and then waits for its own
//! durability never acknowledges something a crash could take back.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::store::{Storage, StorageError};

type Outcome = Result<(), String>;

/// How long the flusher gathers writers before a flush when the previous flush was not alone.
pub const GATHER: Duration = Duration::from_micros(1000);

/// How a waiting writer is answered: a task, or a thread (which may be inside the runtime, e.g.
/// start-up code, so it cannot use the task channel's blocking receive).
enum Reply {
    Task(oneshot::Sender<Outcome>),
    Thread(std::sync::mpsc::SyncSender<Outcome>),
}

impl Reply {
    fn send(self, outcome: Outcome) {
        // A writer that gave up waiting (its receiver was dropped) needs no answer.
        let _ = match self {
            Reply::Task(tx) => tx.send(outcome),
            Reply::Thread(tx) => tx.send(outcome).map_err(|e| e.0),
        };
    }
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Reply>,
    closing: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

/// The flusher: one thread, one flush per batch of waiting writers.
pub struct GroupFlush {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for GroupFlush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupFlush")
    }
}

impl GroupFlush {
    /// Starts the flusher thread for `store`.
    pub fn start(store: Arc<dyn Storage>) -> std::io::Result<GroupFlush> {
        let shared = Arc::new(Shared { queue: Mutex::new(Queue::default()), wake: Condvar::new() });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("group-flush".into())
            .spawn(move || flush_loop(&worker, &*store))?;
        Ok(GroupFlush { shared, thread: Some(thread) })
    }

    fn enqueue(&self, reply: Reply) {
        let mut queue = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
        let first = queue.waiting.is_empty();
        queue.waiting.push(reply);
        drop(queue);
        // Only the first writer can find the flusher asleep: later ones join its batch.
        if first {
            self.shared.wake.notify_one();
        }
    }

    /// Waits until everything committed before this call is durable.
    pub async fn durable(&self) -> Result<(), StorageError> {
        let (tx, rx) = oneshot::channel();
        self.enqueue(Reply::Task(tx));
        settle(rx.await.ok())
    }

    /// [`GroupFlush::durable`] for a thread that may block.
    pub fn durable_blocking(&self) -> Result<(), StorageError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.enqueue(Reply::Thread(tx));
        settle(rx.recv().ok())
    }
}

fn settle(answer: Option<Outcome>) -> Result<(), StorageError> {
    match answer {
        Some(Ok(())) => Ok(()),
        Some(Err(reason)) => Err(StorageError::Engine(reason)),
        None => Err(StorageError::Engine("the flusher stopped".into())),
    }
}

fn flush_loop(shared: &Shared, store: &dyn Storage) {
    let lock = || shared.queue.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let batch = {
            let mut queue = lock();
            // Writers that queued while the last flush ran mean more are on their way.
            let busy = !queue.waiting.is_empty();
            while queue.waiting.is_empty() && !queue.closing {
                queue = shared.wake.wait(queue).unwrap_or_else(|p| p.into_inner());
            }
            if queue.waiting.is_empty() {
                return;
            }
            if busy && !queue.closing {
                drop(queue);
                std::thread::sleep(GATHER);
                queue = lock();
            }
            std::mem::take(&mut queue.waiting)
        };
        let outcome = store.flush().map_err(|e| e.to_string());
        for waiter in batch {
            waiter.send(outcome.clone());
        }
    }
}

impl Drop for GroupFlush {
    fn drop(&mut self) {
        self.shared.queue.lock().unwrap_or_else(|p| p.into_inner()).closing = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            // The thread answers whoever is still queued, then ends and releases the store.
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::store::{CommitError, Entry, Tree, Txn};

    /// A store that counts flushes and takes a while for each, like an fsync.
    #[derive(Default)]
    struct SlowFlush {
        flushes: AtomicUsize,
    }

    impl Storage for SlowFlush {
        fn get(&self, _: Tree, _: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
            Ok(None)
        }
        fn scan_prefix(&self, _: Tree, _: &[u8]) -> Result<Vec<Entry>, StorageError> {
            Ok(Vec::new())
        }
        fn range_from(&self, _: Tree, _: &[u8], _: usize) -> Result<Vec<Entry>, StorageError> {
            Ok(Vec::new())
        }
        fn last(&self, _: Tree) -> Result<Option<Entry>, StorageError> {
            Ok(None)
        }
        fn commit(&self, _: &Txn) -> Result<(), CommitError> {
            Ok(())
        }
        fn flush(&self) -> Result<(), StorageError> {
            std::thread::sleep(std::time::Duration::from_millis(20));
            self.flushes.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_share_flushes_and_each_waits_for_one_after_its_request() {
        let store = Arc::new(SlowFlush::default());
        let flusher = Arc::new(GroupFlush::start(Arc::clone(&store) as Arc<dyn Storage>).expect("start"));
        let writers: Vec<_> = (0..200)
            .map(|_| {
                let (flusher, store) = (Arc::clone(&flusher), Arc::clone(&store));
                tokio::spawn(async move {
                    let before = store.flushes.load(Ordering::SeqCst);
                    flusher.durable().await.expect("durable");
                    // At least one flush completed after the request was made.
                    assert!(store.flushes.load(Ordering::SeqCst) > before);
                })
            })
            .collect();
        for w in writers {
            w.await.expect("writer");
        }
        let flushes = store.flushes.load(Ordering::SeqCst);
        assert!((1..200).contains(&flushes), "200 writers shared {flushes} flushes");
    }

    #[test]
    fn blocking_callers_are_answered_and_drop_releases_the_store() {
        let store = Arc::new(SlowFlush::default());
        let flusher = GroupFlush::start(Arc::clone(&store) as Arc<dyn Storage>).expect("start");
        flusher.durable_blocking().expect("durable");
        assert_eq!(store.flushes.load(Ordering::SeqCst), 1);
        drop(flusher);
        assert_eq!(Arc::strong_count(&store), 1, "the flusher thread let go of the store");
    }
}
