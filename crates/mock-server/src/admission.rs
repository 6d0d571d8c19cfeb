//! Admission control: `capacity` service slots and a bounded wait queue.
//!
//! A request that finds every slot taken waits in the queue if there is
//! room, for at most `queue_timeout`; if the queue is full it is refused at
//! once and the overflow policy decides how. The queue is the `queued`
//! counter itself (see `RequestTracker::try_enter_queue` in the `stats`
//! module), so its bound is exact.
//!
//! Slots are handed over first come, first served, and the hand-over is
//! counted by the request that releases the slot, at the moment it releases
//! it: the first waiter leaves `queued` and enters `in_service` right then,
//! before the releasing request's answer is handed to hyper. (With tokio's
//! semaphore the waiter stayed counted as queued until its task next ran;
//! by then the releasing request's client could have its answer and queue
//! its next request, so `peak_queued` read one above what its clients could
//! cause, and a full queue could refuse a request it had room for.)
//!
//! The capacity, the queue's length and its timeout can change while the
//! server runs (`Admission::resize`). Growing hands the new slots to
//! waiters at once; shrinking takes free slots away and lets the requests
//! in service finish: their slots are retired as they are released (the
//! `free` count runs below zero until then), so nobody is admitted until
//! fewer than the new capacity are in service.
//!
//! A free slot is taken with one compare-and-swap; the waiters sit in a
//! short mutex-guarded list that is touched only when every slot is taken.
//! A waiter that times out or whose client leaves is taken off the list
//! (a linear search, bounded by `queue`, usually near the front).

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use crate::stats::{OwnedCounters, RequestTracker};

/// The slots and the queue's rules.
#[derive(Debug)]
pub struct Admission {
    slots: Option<Arc<Slots>>,
    queue_limit: AtomicU64,
    /// Nanoseconds.
    queue_timeout: AtomicU64,
}

/// A service slot, released when dropped (to the first waiter, if any).
/// Unlimited capacity hands out empty slots.
#[derive(Debug)]
pub struct Slot {
    slots: Option<Arc<Slots>>,
}

impl Slot {
    /// A slot of an unlimited server (holds nothing).
    pub(crate) fn unlimited() -> Self {
        Slot { slots: None }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(slots) = &self.slots {
            slots.release();
        }
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

/// The free slots and the requests waiting for one.
#[derive(Debug)]
struct Slots {
    /// Slots nobody holds. Above zero only while nobody waits: a released
    /// slot goes to the first waiter, and a request about to wait checks
    /// again under the waiters' lock. Below zero after the capacity shrank
    /// below the number in service: that many released slots are retired.
    free: AtomicI64,
    /// The capacity now (changed under the waiters' lock).
    capacity: AtomicI64,
    /// Waiting requests, first come first served. A slot is released and
    /// a waiter added under this lock, so no waiter is missed.
    waiters: Mutex<VecDeque<Arc<Waiter>>>,
}

/// One queued request, as its releaser sees it.
#[derive(Debug)]
struct Waiter {
    /// 0 while waiting; once a slot is handed over, the number of requests
    /// in service at that moment, this one included.
    granted: AtomicU64,
    woken: Notify,
    /// The counters the hand-over moves.
    counters: OwnedCounters,
}

/// What a request found when it asked for a slot.
enum Ask {
    /// A slot was free.
    Taken(Slot),
    /// Every slot is taken and so is every queue place.
    QueueFull,
    /// Queued (counted in `queued`); wait on this.
    Queued(Arc<Waiter>),
}

impl Slots {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Arc<Waiter>>> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a free slot without waiting.
    fn try_take(self: &Arc<Self>) -> Option<Slot> {
        self.free
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |n| {
                (n > 0).then_some(n - 1)
            })
            .ok()
            .map(|_| Slot {
                slots: Some(Arc::clone(self)),
            })
    }

    /// Takes a free slot, or queues the request if the queue has room.
    fn ask(self: &Arc<Self>, tracker: &mut RequestTracker<'_>, queue_limit: u64) -> Ask {
        if let Some(slot) = self.try_take() {
            return Ask::Taken(slot);
        }
        let mut waiters = self.lock();
        if let Some(slot) = self.try_take() {
            return Ask::Taken(slot); // Released meanwhile, with nobody waiting.
        }
        if !tracker.try_enter_queue(queue_limit) {
            return Ask::QueueFull;
        }
        let waiter = Arc::new(Waiter {
            granted: AtomicU64::new(0),
            woken: Notify::new(),
            counters: tracker.counters().to_owned(),
        });
        waiters.push_back(Arc::clone(&waiter));
        Ask::Queued(waiter)
    }

    /// Gives a released slot to the first waiter, moving it from `queued`
    /// to `in_service` now, or frees the slot if nobody waits.
    fn release(&self) {
        let mut waiters = self.lock();
        if self.free.load(Ordering::Acquire) < 0 {
            // The capacity shrank: this slot is retired.
            self.free.fetch_add(1, Ordering::Release);
            return;
        }
        match waiters.pop_front() {
            Some(waiter) => {
                drop(waiters);
                Self::grant(&waiter);
            }
            None => {
                self.free.fetch_add(1, Ordering::Release);
            }
        }
    }

    /// Hands a slot to a waiter taken off the list.
    fn grant(waiter: &Waiter) {
        let in_service = waiter.counters.hand_over();
        waiter.granted.store(in_service.max(1), Ordering::Release);
        waiter.woken.notify_one();
    }

    /// Changes the capacity: new slots go to the waiters first; fewer
    /// slots are taken from the free ones, then retired as released.
    fn resize(&self, capacity: usize) {
        let capacity = i64::try_from(capacity).unwrap_or(i64::MAX);
        let mut waiters = self.lock();
        let change = capacity - self.capacity.swap(capacity, Ordering::AcqRel);
        let mut free = self.free.fetch_add(change, Ordering::AcqRel) + change;
        let mut granted = Vec::new();
        while free > 0 {
            let Some(waiter) = waiters.pop_front() else {
                break;
            };
            free = self.free.fetch_sub(1, Ordering::AcqRel) - 1;
            granted.push(waiter);
        }
        drop(waiters);
        for waiter in &granted {
            Self::grant(waiter);
        }
    }
}

/// A queued request's wait for a slot. However it ends (a slot handed
/// over, the queue timeout, or the future dropped because the client left),
/// `settle` decides under the waiters' lock: a request that was handed a
/// slot is in service and holds it; otherwise it leaves the waiters' list.
struct Waiting<'t, 'a> {
    slots: Arc<Slots>,
    waiter: Option<Arc<Waiter>>,
    tracker: &'t mut RequestTracker<'a>,
}

impl Waiting<'_, '_> {
    /// Returns once a slot has been handed over.
    async fn granted(&self) {
        let Some(waiter) = &self.waiter else { return };
        while waiter.granted.load(Ordering::Acquire) == 0 {
            waiter.woken.notified().await;
        }
    }

    /// The number in service (this request included) if a slot was handed
    /// over; otherwise the request leaves the list and stays counted as
    /// queued for its caller to settle.
    fn settle(&mut self) -> Option<u64> {
        let waiter = self.waiter.take()?;
        let mut waiters = self.slots.lock();
        match waiter.granted.load(Ordering::Acquire) {
            0 => {
                if let Some(i) = waiters.iter().position(|w| Arc::ptr_eq(w, &waiter)) {
                    waiters.remove(i);
                }
                None
            }
            in_service => {
                drop(waiters);
                let slot = Slot {
                    slots: Some(Arc::clone(&self.slots)),
                };
                self.tracker.handed_service(slot);
                Some(in_service)
            }
        }
    }
}

impl Drop for Waiting<'_, '_> {
    fn drop(&mut self) {
        // The future was dropped while waiting: the tracker's own drop then
        // counts the request as cancelled, from the queue or from service.
        self.settle();
    }
}

impl Admission {
    /// `capacity` slots (`None`: unlimited), a queue of `queue` places and a
    /// longest wait of `queue_timeout`; hand-overs are counted in `stats`.
    pub(crate) fn new(capacity: Option<NonZeroUsize>, queue: u64, queue_timeout: Duration) -> Self {
        Admission {
            slots: capacity.map(|n| {
                let n = i64::try_from(n.get()).unwrap_or(i64::MAX);
                Arc::new(Slots {
                    free: AtomicI64::new(n),
                    capacity: AtomicI64::new(n),
                    waiters: Mutex::new(VecDeque::new()),
                })
            }),
            queue_limit: AtomicU64::new(queue),
            queue_timeout: AtomicU64::new(nanos(queue_timeout)),
        }
    }

    /// Applies new limits to requests admitted from now on: the capacity
    /// (ignored when unlimited), the queue's length and its timeout.
    /// Requests in service keep their slots; requests already queued keep
    /// their place.
    pub(crate) fn resize(&self, capacity: Option<NonZeroUsize>, queue: u64, timeout: Duration) {
        self.queue_limit.store(queue, Ordering::Relaxed);
        self.queue_timeout.store(nanos(timeout), Ordering::Relaxed);
        if let (Some(slots), Some(n)) = (&self.slots, capacity) {
            slots.resize(n.get());
        }
    }

    /// A slot if one is free right now (always, when capacity is
    /// unlimited); `None` if the request would have to queue.
    pub(crate) fn try_now(&self) -> Option<Slot> {
        match &self.slots {
            None => Some(Slot::unlimited()),
            Some(slots) => slots.try_take(),
        }
    }

    /// Waits for a slot, counting the request as queued while it waits, and
    /// moves it into service with the slot. Returns the number of requests
    /// in service, this one included.
    pub(crate) async fn admit(&self, tracker: &mut RequestTracker<'_>) -> Result<u64, Refusal> {
        let Some(slots) = &self.slots else {
            return Ok(tracker.enter_service(Slot::unlimited()));
        };
        let waiter = match slots.ask(tracker, self.queue_limit.load(Ordering::Relaxed)) {
            Ask::Taken(slot) => return Ok(tracker.enter_service(slot)),
            Ask::QueueFull => return Err(Refusal::QueueFull),
            Ask::Queued(waiter) => waiter,
        };
        let mut waiting = Waiting {
            slots: Arc::clone(slots),
            waiter: Some(waiter),
            tracker,
        };
        // A timeout that races a hand-over loses: `settle` decides.
        let timeout = Duration::from_nanos(self.queue_timeout.load(Ordering::Relaxed));
        let _ = tokio::time::timeout(timeout, waiting.granted()).await;
        match waiting.settle() {
            Some(in_service) => Ok(in_service),
            None => {
                waiting.tracker.leave_queue();
                Err(Refusal::TimedOut)
            }
        }
    }
}

/// A duration in nanoseconds, saturated.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Counters, Outcome, Stats};
    use std::future::Future;
    use std::pin::Pin;
    use std::task::Poll;

    fn admission(capacity: usize, queue: u64, timeout_ms: u64) -> (Admission, Arc<Stats>) {
        let stats = Arc::new(Stats::new());
        let admission = Admission::new(
            NonZeroUsize::new(capacity),
            queue,
            Duration::from_millis(timeout_ms),
        );
        (admission, stats)
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
        let (admission, stats) = admission(1, 1, 100);
        let mut first = RequestTracker::arrive(Counters::single(&stats));
        assert_eq!(admission.admit(&mut first).await, Ok(1));
        let mut waiting = RequestTracker::arrive(Counters::single(&stats));
        let mut wait = Box::pin(admission.admit(&mut waiting));
        assert!(poll_once(&mut wait).await.is_none());
        assert_eq!(stats.snapshot().queued, 1);
        let mut third = RequestTracker::arrive(Counters::single(&stats));
        assert_eq!(admission.admit(&mut third).await, Err(Refusal::QueueFull));
        assert_eq!(wait.await, Err(Refusal::TimedOut));
        assert_eq!(stats.snapshot().queued, 0);
        first.finish(Outcome::Served(200));
        assert!(admission.try_now().is_some(), "the slot is free again");
    }

    #[tokio::test]
    async fn finished_request_hands_its_slot_to_the_waiter() {
        let (admission, stats) = admission(1, 5, 5000);
        let mut first = RequestTracker::arrive(Counters::single(&stats));
        admission.admit(&mut first).await.unwrap();
        let mut second = RequestTracker::arrive(Counters::single(&stats));
        let mut wait = Box::pin(admission.admit(&mut second));
        assert!(poll_once(&mut wait).await.is_none());
        first.finish(Outcome::Served(200));
        assert_eq!(wait.await, Ok(1));
        assert_eq!(stats.snapshot().peak_in_service, 1);
    }

    /// Regression (`peak_queued` one above what the clients could cause):
    /// the waiter is counted in service, and its queue place is free, the
    /// moment the slot is released, before its own task runs again.
    #[tokio::test]
    async fn hand_over_is_counted_when_the_slot_is_released() {
        let (admission, stats) = admission(1, 1, 5000);
        let mut first = RequestTracker::arrive(Counters::single(&stats));
        admission.admit(&mut first).await.unwrap();
        let mut second = RequestTracker::arrive(Counters::single(&stats));
        let mut wait = Box::pin(admission.admit(&mut second));
        assert!(poll_once(&mut wait).await.is_none());
        first.finish(Outcome::Served(200));
        let snap = stats.snapshot();
        assert_eq!((snap.in_service, snap.queued), (1, 0), "{snap:?}");
        // The next request finds the queue place free.
        let mut third = RequestTracker::arrive(Counters::single(&stats));
        let mut third_wait = Box::pin(admission.admit(&mut third));
        assert!(poll_once(&mut third_wait).await.is_none());
        let snap = stats.snapshot();
        assert_eq!((snap.peak_in_service, snap.peak_queued), (1, 1));
        assert_eq!(wait.await, Ok(1));
        drop(third_wait);
        drop(third);
        let snap = stats.snapshot();
        assert_eq!((snap.in_service, snap.queued, snap.cancelled), (1, 0, 1));
    }

    /// A waiter dropped (its client left) after a slot was handed to it
    /// counts as cancelled from service, and the slot goes on to the next.
    #[tokio::test]
    async fn waiter_dropped_after_the_hand_over_passes_the_slot_on() {
        let (admission, stats) = admission(1, 2, 5000);
        let mut first = RequestTracker::arrive(Counters::single(&stats));
        admission.admit(&mut first).await.unwrap();
        let mut second = RequestTracker::arrive(Counters::single(&stats));
        let mut third = RequestTracker::arrive(Counters::single(&stats));
        {
            let mut second_wait = Box::pin(admission.admit(&mut second));
            assert!(poll_once(&mut second_wait).await.is_none());
            let mut third_wait = Box::pin(admission.admit(&mut third));
            assert!(poll_once(&mut third_wait).await.is_none());
            first.finish(Outcome::Served(200));
            drop(second_wait);
            drop(second);
            let snap = stats.snapshot();
            assert_eq!((snap.in_service, snap.queued), (1, 0), "{snap:?}");
            assert_eq!(snap.cancelled, 1);
            assert_eq!(third_wait.await, Ok(1));
        }
        third.finish(Outcome::Served(200));
        let snap = stats.snapshot();
        assert_eq!((snap.in_service, snap.queued, snap.served), (0, 0, 2));
        assert!(snap.is_balanced(), "{snap:?}");
        assert!(admission.try_now().is_some(), "the slot is free again");
    }

    /// A capacity cut while requests are in service drops none of them:
    /// they finish, their slots are retired, and nobody is admitted until
    /// fewer than the new capacity are in service. Growing again hands the
    /// new slots to the waiters at once.
    #[tokio::test]
    async fn resizing_keeps_requests_in_service_and_admits_by_the_new_capacity() {
        let (admission, stats) = admission(3, 5, 5000);
        let mut running: Vec<_> = (0..3)
            .map(|_| RequestTracker::arrive(Counters::single(&stats)))
            .collect();
        for t in &mut running {
            admission.admit(t).await.unwrap();
        }
        admission.resize(NonZeroUsize::new(1), 5, Duration::from_secs(5));
        let mut waiter = RequestTracker::arrive(Counters::single(&stats));
        let mut wait = Box::pin(admission.admit(&mut waiter));
        assert!(
            poll_once(&mut wait).await.is_none(),
            "no slot below the new capacity yet"
        );
        running[0].finish(Outcome::Served(200));
        running[1].finish(Outcome::Served(200));
        assert!(
            poll_once(&mut wait).await.is_none(),
            "one still in service: capacity 1 is full"
        );
        running[2].finish(Outcome::Served(200));
        assert_eq!(wait.await, Ok(1));
        let snap = stats.snapshot();
        assert_eq!(
            (snap.served, snap.in_service, snap.dropped, snap.cancelled),
            (3, 1, 0, 0)
        );
        // Growing hands a new slot to a waiter at once.
        let mut second = RequestTracker::arrive(Counters::single(&stats));
        let mut second_wait = Box::pin(admission.admit(&mut second));
        assert!(poll_once(&mut second_wait).await.is_none());
        admission.resize(NonZeroUsize::new(4), 5, Duration::from_secs(5));
        assert_eq!(second_wait.await, Ok(2));
        assert!(admission.try_now().is_some(), "two more free slots");
        assert!(stats.snapshot().is_balanced());
    }

    #[tokio::test]
    async fn unlimited_capacity_never_waits() {
        let stats = Arc::new(Stats::new());
        let admission = Admission::new(None, 0, Duration::ZERO);
        let mut trackers: Vec<_> = (0..100)
            .map(|_| RequestTracker::arrive(Counters::single(&stats)))
            .collect();
        for t in &mut trackers {
            admission.admit(t).await.unwrap();
        }
        assert_eq!(stats.snapshot().in_service, 100);
    }
}
