//! Admission control: `capacity` service slots and a bounded wait queue.
//!
//! Slots are a fair (first come, first served) tokio semaphore. A request
//! that finds every slot taken waits in the queue if there is room, for at
//! most `queue_timeout`; if the queue is full it is refused at once and the
//! overflow policy decides how. The queue is the `queued` counter itself
//! (see `RequestTracker::try_enter_queue` in the `stats` module), so its
//! bound is exact, and waiting costs no memory beyond the waiting request.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::stats::RequestTracker;

/// The slots and the queue's rules.
#[derive(Debug)]
pub struct Admission {
    slots: Option<Arc<Semaphore>>,
    queue_limit: u64,
    queue_timeout: Duration,
}

/// A service slot, released when dropped. Unlimited capacity hands out
/// empty slots.
#[derive(Debug)]
pub struct Slot {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Slot {
    /// A slot of an unlimited server (holds nothing).
    pub(crate) fn unlimited() -> Self {
        Slot { _permit: None }
    }
}

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every slot was taken and the queue was full.
    QueueFull,
    /// The request waited `queue_timeout` without getting a slot.
    TimedOut,
}

impl Admission {
    /// `capacity` slots (`None`: unlimited), a queue of `queue` places and a
    /// longest wait of `queue_timeout`.
    pub fn new(capacity: Option<NonZeroUsize>, queue: u64, queue_timeout: Duration) -> Self {
        let permits = |n: NonZeroUsize| n.get().min(Semaphore::MAX_PERMITS);
        Admission {
            slots: capacity.map(|n| Arc::new(Semaphore::new(permits(n)))),
            queue_limit: queue,
            queue_timeout,
        }
    }

    /// A slot if one is free right now (always, when capacity is
    /// unlimited); `None` if the request would have to queue.
    pub(crate) fn try_now(&self) -> Option<Slot> {
        match &self.slots {
            None => Some(Slot::unlimited()),
            Some(slots) => Arc::clone(slots).try_acquire_owned().ok().map(Slot::from),
        }
    }

    /// Waits for a slot, counting the request as queued while it waits, and
    /// moves it into service with the slot. Returns the number of requests
    /// in service, this one included.
    pub(crate) async fn admit(&self, tracker: &mut RequestTracker<'_>) -> Result<u64, Refusal> {
        let Some(slots) = &self.slots else {
            return Ok(tracker.enter_service(Slot::unlimited()));
        };
        if let Ok(permit) = Arc::clone(slots).try_acquire_owned() {
            return Ok(tracker.enter_service(Slot::from(permit)));
        }
        if !tracker.try_enter_queue(self.queue_limit) {
            return Err(Refusal::QueueFull);
        }
        let wait = Arc::clone(slots).acquire_owned();
        match tokio::time::timeout(self.queue_timeout, wait).await {
            Ok(Ok(permit)) => Ok(tracker.enter_service(Slot::from(permit))),
            // The semaphore is never closed; treat it like a timeout if it were.
            Ok(Err(_)) | Err(_) => {
                tracker.leave_queue();
                Err(Refusal::TimedOut)
            }
        }
    }
}

impl From<OwnedSemaphorePermit> for Slot {
    fn from(permit: OwnedSemaphorePermit) -> Self {
        Slot {
            _permit: Some(permit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Outcome, Stats};
    use std::future::Future;
    use std::pin::Pin;
    use std::task::Poll;

    fn admission(capacity: usize, queue: u64, timeout_ms: u64) -> Admission {
        Admission::new(
            NonZeroUsize::new(capacity),
            queue,
            Duration::from_millis(timeout_ms),
        )
    }

    /// Polls a future once.
    async fn poll_once<F: Future + Unpin>(f: &mut F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            Poll::Ready(match Pin::new(&mut *f).poll(cx) {
                Poll::Ready(v) => Some(v),
                Poll::Pending => None,
            })
        })
        .await
    }

    #[tokio::test]
    async fn full_queue_refuses_and_waiters_time_out() {
        let stats = Stats::new();
        let admission = admission(1, 1, 100);
        let mut first = RequestTracker::arrive(&stats);
        assert_eq!(admission.admit(&mut first).await, Ok(1));
        let mut waiting = RequestTracker::arrive(&stats);
        let mut wait = Box::pin(admission.admit(&mut waiting));
        assert!(poll_once(&mut wait).await.is_none());
        assert_eq!(stats.snapshot().queued, 1);
        let mut third = RequestTracker::arrive(&stats);
        assert_eq!(admission.admit(&mut third).await, Err(Refusal::QueueFull));
        assert_eq!(wait.await, Err(Refusal::TimedOut));
        assert_eq!(stats.snapshot().queued, 0);
        first.finish(Outcome::Served(200));
    }

    #[tokio::test]
    async fn finished_request_hands_its_slot_to_the_waiter() {
        let stats = Stats::new();
        let admission = admission(1, 5, 5000);
        let mut first = RequestTracker::arrive(&stats);
        admission.admit(&mut first).await.unwrap();
        let mut second = RequestTracker::arrive(&stats);
        let mut wait = Box::pin(admission.admit(&mut second));
        assert!(poll_once(&mut wait).await.is_none());
        first.finish(Outcome::Served(200));
        assert_eq!(wait.await, Ok(1));
        assert_eq!(stats.snapshot().peak_in_service, 1);
    }

    #[tokio::test]
    async fn unlimited_capacity_never_waits() {
        let stats = Stats::new();
        let admission = Admission::new(None, 0, Duration::ZERO);
        let mut trackers: Vec<_> = (0..100).map(|_| RequestTracker::arrive(&stats)).collect();
        for t in &mut trackers {
            admission.admit(t).await.unwrap();
        }
        assert_eq!(stats.snapshot().in_service, 100);
    }
}
