//! Blocking service mode: a fixed pool of `capacity` OS threads, each one
//! blocked for the whole delay of the request it serves, like the workers of
//! a synchronous server.
//!
//! The handler hands a job (deadline plus its slot) to the pool over a
//! channel and awaits a oneshot answer. The thread blocks on a condition
//! variable until the deadline (a `thread::sleep` that shutdown can cut
//! short), then sends the slot back. If the client went away meanwhile, the
//! thread drops the slot itself: as in a real blocking server, the slot stays
//! busy until the thread is done.

use std::io;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::oneshot;

use crate::admission::Slot;

/// Stack size of a worker thread: it only waits.
const STACK_SIZE: usize = 128 * 1024;

/// The worker threads and the channel that feeds them.
#[derive(Debug)]
pub(crate) struct BlockingPool {
    jobs: Sender<Message>,
    stop: Arc<Stop>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

#[derive(Debug)]
enum Message {
    Run(Job),
    Quit,
}

#[derive(Debug)]
struct Job {
    until: Instant,
    slot: Option<Slot>,
    done: oneshot::Sender<Option<Slot>>,
}

/// The pool has stopped; the job did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stopped;

/// The shutdown flag, with a condition variable that doubles as the
/// workers' interruptible sleep.
#[derive(Debug, Default)]
struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl BlockingPool {
    /// Starts `threads` worker threads.
    pub(crate) fn start(threads: usize) -> io::Result<Self> {
        let (jobs, receiver) = mpsc::channel();
        let receiver = Arc::new(Mutex::new(receiver));
        let pool = BlockingPool {
            jobs,
            stop: Arc::new(Stop::default()),
            threads: Mutex::new(Vec::with_capacity(threads)),
        };
        for i in 0..threads {
            let (receiver, stop) = (Arc::clone(&receiver), Arc::clone(&pool.stop));
            let spawned = std::thread::Builder::new()
                .name(format!("mock-blocking-{i}"))
                .stack_size(STACK_SIZE)
                .spawn(move || work(&receiver, &stop));
            match spawned {
                Ok(handle) => lock(&pool.threads).push(handle),
                Err(e) => {
                    pool.stop();
                    return Err(e);
                }
            }
        }
        Ok(pool)
    }

    /// Blocks a worker thread until `until`, then gives the slot back.
    /// `Err` if the pool has stopped.
    pub(crate) async fn run(
        &self,
        until: Instant,
        slot: Option<Slot>,
    ) -> Result<Option<Slot>, Stopped> {
        let (done, answer) = oneshot::channel();
        let job = Job { until, slot, done };
        self.jobs.send(Message::Run(job)).map_err(|_| Stopped)?;
        answer.await.map_err(|_| Stopped)
    }

    /// Wakes every sleeping worker, tells each to quit, and joins them.
    pub(crate) fn stop(&self) {
        *lock(&self.stop.stopped) = true;
        self.stop.wake.notify_all();
        let threads = std::mem::take(&mut *lock(&self.threads));
        for _ in &threads {
            let _ = self.jobs.send(Message::Quit);
        }
        for handle in threads {
            let _ = handle.join();
        }
    }
}

impl Drop for BlockingPool {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A worker's loop: take a job, block until its deadline, answer.
fn work(receiver: &Mutex<Receiver<Message>>, stop: &Stop) {
    loop {
        let message = lock(receiver).recv();
        let Ok(Message::Run(job)) = message else {
            return;
        };
        stop.sleep_until(job.until);
        // If the handler is gone, the slot comes back here and is dropped.
        let _ = job.done.send(job.slot);
    }
}

impl Stop {
    /// Blocks the calling thread until `until` or until shutdown.
    fn sleep_until(&self, until: Instant) {
        let mut stopped = lock(&self.stopped);
        while !*stopped {
            let Some(left) = until.checked_duration_since(Instant::now()) else {
                return;
            };
            stopped = self
                .wake
                .wait_timeout(stopped, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn threads_block_for_the_delay_and_stop_cleanly() {
        let pool = BlockingPool::start(2).unwrap();
        let start = Instant::now();
        let slot = pool.run(start + Duration::from_millis(50), Some(Slot::unlimited()));
        assert!(matches!(slot.await, Ok(Some(_))));
        assert!(start.elapsed() >= Duration::from_millis(50));
        pool.stop();
        assert_eq!(pool.run(Instant::now(), None).await.unwrap_err(), Stopped);
    }

    #[test]
    fn stop_cuts_a_long_sleep_short() {
        let pool = BlockingPool::start(1).unwrap();
        let stop = Arc::clone(&pool.stop);
        let sleeper = std::thread::spawn(move || {
            stop.sleep_until(Instant::now() + Duration::from_secs(60));
        });
        std::thread::sleep(Duration::from_millis(20));
        let start = Instant::now();
        pool.stop();
        sleeper.join().unwrap();
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
