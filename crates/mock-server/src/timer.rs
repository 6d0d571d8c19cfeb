//! The high-resolution timer behind every async-mode delay.
//!
//! tokio's timer wheel has millisecond ticks: a sleep is rounded up to the
//! next tick and fires when the driver next turns, so a 10 ms delay lasted
//! 10.5 to 11.5 ms. Here a request sleeps with tokio until [`COARSE_MARGIN`]
//! before its deadline (a cheap, cancellable wait that holds nothing), then
//! hands its waker to one dedicated thread per server. That thread keeps a
//! min-heap of (deadline, waker), sleeps on a condition variable until the
//! earliest deadline with a timer slack of one microsecond, and wakes every
//! request that is due. A request is never woken before its deadline, and a
//! cancelled one leaves its entry in the heap for at most the margin.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::time::Instant;

/// How long before the deadline the tokio sleep ends and the precise wait
/// begins: tokio's sleeps end up to a tick (1 ms) plus scheduling late.
pub(crate) const COARSE_MARGIN: Duration = Duration::from_millis(2);

/// Timer slack of the timer thread, in nanoseconds (Linux's default is
/// 50 µs, which would be added to every wake-up).
const TIMER_SLACK_NS: libc::c_ulong = 1_000;

/// The timer thread and its heap of waiting requests.
#[derive(Debug)]
pub(crate) struct PreciseTimer {
    shared: Arc<Heap>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug, Default)]
struct Heap {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    entries: BinaryHeap<Reverse<Entry>>,
    stopped: bool,
}

#[derive(Debug)]
struct Entry {
    at: std::time::Instant,
    waker: Waker,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.at.cmp(&other.at)
    }
}

fn lock(heap: &Heap) -> MutexGuard<'_, State> {
    heap.state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl PreciseTimer {
    /// Starts the timer thread.
    pub(crate) fn start() -> io::Result<Self> {
        let shared = Arc::new(Heap::default());
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("mock-server-timer".into())
                .stack_size(64 * 1024)
                .spawn(move || run(&shared))?
        };
        Ok(PreciseTimer {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Waits until `until`: with tokio until [`COARSE_MARGIN`] before it,
    /// then on the timer thread. Never returns before `until`.
    pub(crate) async fn sleep_until(&self, until: Instant) {
        if let Some(coarse) = until.checked_sub(COARSE_MARGIN) {
            if coarse > Instant::now() {
                tokio::time::sleep_until(coarse).await;
            }
        }
        PreciseWait {
            timer: self,
            until,
            registered: None,
        }
        .await;
    }

    fn register(&self, until: Instant, waker: Waker) {
        let mut state = lock(&self.shared);
        if state.stopped {
            return; // The runtime is going away; the task stays pending.
        }
        let earliest = state
            .entries
            .peek()
            .is_none_or(|Reverse(e)| until.into_std() < e.at);
        state.entries.push(Reverse(Entry {
            at: until.into_std(),
            waker,
        }));
        drop(state);
        if earliest {
            self.shared.changed.notify_one();
        }
    }

    /// Stops the thread and joins it. It is called once the runtime is shut
    /// down, so nothing is waiting any more; waits registered later, if any,
    /// never end.
    pub(crate) fn stop(&self) {
        lock(&self.shared).stopped = true;
        self.shared.changed.notify_one();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for PreciseTimer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The timer thread: wakes what is due, then sleeps until the next deadline
/// or a new earliest one.
fn run(heap: &Heap) {
    // SAFETY: PR_SET_TIMERSLACK only changes this thread's timer slack.
    #[allow(unsafe_code)]
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, TIMER_SLACK_NS, 0, 0, 0);
    }
    let mut due = Vec::new();
    let mut state = lock(heap);
    loop {
        if state.stopped {
            state.entries.clear();
            return;
        }
        let now = std::time::Instant::now();
        while state.entries.peek().is_some_and(|Reverse(e)| e.at <= now) {
            if let Some(Reverse(entry)) = state.entries.pop() {
                due.push(entry.waker);
            }
        }
        if !due.is_empty() {
            drop(state);
            due.drain(..).for_each(Waker::wake);
            state = lock(heap);
            continue;
        }
        state = match state.entries.peek().map(|Reverse(e)| e.at - now) {
            None => heap
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner),
            Some(wait) => heap
                .changed
                .wait_timeout(state, wait)
                .map_or_else(|e| e.into_inner().0, |(s, _)| s),
        };
    }
}

/// The last part of a wait: registered with the timer thread, polled again
/// when it wakes the task.
struct PreciseWait<'a> {
    timer: &'a PreciseTimer,
    until: Instant,
    /// The waker handed to the timer thread, to register again only if the
    /// task's waker changes.
    registered: Option<Waker>,
}

impl Future for PreciseWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if Instant::now() >= this.until {
            return Poll::Ready(());
        }
        if !this
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            this.registered = Some(cx.waker().clone());
            this.timer.register(this.until, cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn never_early_and_rarely_late() {
        let timer = PreciseTimer::start().unwrap();
        let mut late = Vec::new();
        for micros in [0u64, 300, 1_500, 2_500, 7_000] {
            let until = Instant::now() + Duration::from_micros(micros);
            timer.sleep_until(until).await;
            let now = Instant::now();
            assert!(now >= until);
            late.push(now - until);
        }
        late.sort();
        // Generous: the median of five must be well under tokio's 1 ms tick.
        assert!(late[2] < Duration::from_micros(900), "{late:?}");
        timer.stop();
    }

    #[tokio::test]
    async fn stop_joins_the_thread_even_with_waits_pending() {
        let timer = Arc::new(PreciseTimer::start().unwrap());
        let waiting = {
            let timer = Arc::clone(&timer);
            tokio::spawn(async move {
                let until = Instant::now() + Duration::from_secs(3600);
                timer.sleep_until(until).await;
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        timer.stop();
        assert!(!waiting.is_finished());
        waiting.abort();
    }
}
