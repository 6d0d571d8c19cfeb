//! Admission control: `capacity` service slots and a bounded wait queue.
//!
//! Slots are a fair (first come, first served) tokio semaphore. A request
//! that finds every slot taken waits in the queue if there is room, for at
//! most `queue_timeout`; if the queue is full it is refused at once and the
//! overflow policy decides how. The queue length is an atomic counter, so the
//! bound is exact and waiting costs no memory beyond the waiting request.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::stats::RequestTracker;

/// The slots and the queue.
#[derive(Debug)]
pub struct Admission {
    slots: Option<Arc<Semaphore>>,
    waiting: AtomicU64,
    queue_limit: u64,
    queue_timeout: Duration,
}

/// A service slot, released when dropped. Unlimited capacity hands out
/// empty slots.
#[derive(Debug)]
pub struct Slot {
    _permit: Option<OwnedSemaphorePermit>,
}

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every slot was taken and the queue was full.
    QueueFull,
    /// The request waited `queue_timeout` without getting a slot.
    TimedOut,
}

/// A place in the queue, given back when dropped.
struct QueuePlace<'a>(&'a AtomicU64);

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

impl Admission {
    /// `capacity` slots (`None`: unlimited), a queue of `queue` places and a
    /// longest wait of `queue_timeout`.
    pub fn new(capacity: Option<NonZeroUsize>, queue: u64, queue_timeout: Duration) -> Self {
        let slots = capacity.map(|n| Arc::new(Semaphore::new(n.get().min(Semaphore::MAX_PERMITS))));
        Admission {
            slots,
            waiting: AtomicU64::new(0),
            queue_limit: queue,
            queue_timeout,
        }
    }

    /// Waits for a slot, counting the request as queued while it waits.
    /// The caller moves the request into service once this returns `Ok`.
    pub(crate) async fn admit(&self, tracker: &mut RequestTracker<'_>) -> Result<Slot, Refusal> {
        let Some(slots) = &self.slots else {
            return Ok(Slot { _permit: None });
        };
        if let Ok(permit) = slots.clone().try_acquire_owned() {
            return Ok(Slot {
                _permit: Some(permit),
            });
        }
        let _place = self.take_place().ok_or(Refusal::QueueFull)?;
        tracker.enter_queue();
        match tokio::time::timeout(self.queue_timeout, slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Slot {
                _permit: Some(permit),
            }),
            // The semaphore is never closed; treat it like a timeout if it were.
            Ok(Err(_)) | Err(_) => Err(Refusal::TimedOut),
        }
    }

    /// Takes a place in the queue if one is free.
    fn take_place(&self) -> Option<QueuePlace<'_>> {
        self.waiting
            .fetch_update(Relaxed, Relaxed, |n| (n < self.queue_limit).then_some(n + 1))
            .ok()
            .map(|_| QueuePlace(&self.waiting))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Stats;

    fn admission(capacity: usize, queue: u64, timeout_ms: u64) -> Admission {
        Admission::new(
            NonZeroUsize::new(capacity),
            queue,
            Duration::from_millis(timeout_ms),
        )
    }

    #[tokio::test]
    async fn full_queue_refuses_and_waiters_time_out() {
        let stats = Stats::new();
        let admission = admission(1, 1, 100);
        let mut first = RequestTracker::arrive(&stats);
        let slot = admission.admit(&mut first).await.unwrap();
        let mut waiting = RequestTracker::arrive(&stats);
        let wait = admission.admit(&mut waiting);
        tokio::pin!(wait);
        // Polling once puts the second request in the queue.
        assert!(futures_poll(&mut wait).await.is_none());
        let mut third = RequestTracker::arrive(&stats);
        assert_eq!(admission.admit(&mut third).await.unwrap_err(), Refusal::QueueFull);
        assert_eq!(wait.await.unwrap_err(), Refusal::TimedOut);
        drop(slot);
        assert_eq!(admission.waiting.load(Relaxed), 0);
    }

    #[tokio::test]
    async fn released_slot_goes_to_the_waiter() {
        let stats = Stats::new();
        let admission = admission(1, 5, 1000);
        let mut first = RequestTracker::arrive(&stats);
        let slot = admission.admit(&mut first).await.unwrap();
        let mut second = RequestTracker::arrive(&stats);
        let wait = admission.admit(&mut second);
        tokio::pin!(wait);
        assert!(futures_poll(&mut wait).await.is_none());
        drop(slot);
        assert!(wait.await.is_ok());
    }

    #[tokio::test]
    async fn unlimited_capacity_never_waits() {
        let stats = Stats::new();
        let admission = Admission::new(None, 0, Duration::ZERO);
        let mut slots = Vec::new();
        for _ in 0..100 {
            let mut t = RequestTracker::arrive(&stats);
            slots.push(admission.admit(&mut t).await.unwrap());
        }
    }

    /// Polls a future once.
    async fn futures_poll<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut *f).poll(cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
