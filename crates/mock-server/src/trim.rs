//! Giving freed memory back to the operating system once many connections
//! have gone.
//!
//! Each connection allocates a few kilobytes (hyper's read and write
//! buffers, its task, its watchdog) from the allocator of the worker thread
//! that runs it. When thousands of connections close, glibc's malloc keeps
//! the freed memory: a per-thread arena only shrinks from its top, and a
//! few chunks still in use near the top pin everything below. Measured: 10
//! 000 idle connections that came and went left 270 MB of RSS of which
//! 0.3 MB was in use, and each new round of them fragmented the arenas a
//! little further (README, "Performance notes"). `malloc_trim(0)` hands
//! every free page of every arena back.
//!
//! [`Connections`] counts open connections and their high-water mark since
//! the last trim. When the count falls to a quarter of a high-water mark of
//! at least [`TRIM_ABOVE`] connections, the connection that closed last
//! asks for a trim, which runs on a blocking thread. A steady churn of
//! connections never triggers it; a crowd that leaves does, once.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// High-water marks below this are not worth a trim (a few megabytes).
pub(crate) const TRIM_ABOVE: usize = 256;

/// Open connections and their high-water mark since the last trim.
#[derive(Debug, Default)]
pub(crate) struct Connections {
    open: AtomicUsize,
    high: AtomicUsize,
}

impl Connections {
    /// Counts an accepted connection.
    pub(crate) fn opened(&self) {
        let open = self.open.fetch_add(1, Relaxed) + 1;
        self.high.fetch_max(open, Relaxed);
    }

    /// Counts a connection that ended; `true` if the memory it and its
    /// crowd used should be given back now (to exactly one caller).
    pub(crate) fn closed(&self) -> bool {
        let open = self.open.fetch_sub(1, Relaxed).saturating_sub(1);
        let high = self.high.load(Relaxed);
        high >= TRIM_ABOVE
            && open <= high / 4
            && self
                .high
                .compare_exchange(high, open, Relaxed, Relaxed)
                .is_ok()
    }
}

/// Returns the allocator's free memory to the operating system (glibc's
/// `malloc_trim`; nothing elsewhere). Takes milliseconds per hundred
/// megabytes freed, each arena locked in turn: run it on a blocking thread.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let started = std::time::Instant::now();
        // SAFETY: malloc_trim only walks and releases the allocator's own
        // free lists; it is thread-safe (it takes each arena's lock).
        #[allow(unsafe_code)]
        let released = unsafe { libc::malloc_trim(0) };
        tracing::debug!(
            released = released != 0,
            "malloc_trim took {:?}",
            started.elapsed()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crowd_that_leaves_asks_for_one_trim() {
        let c = Connections::default();
        for _ in 0..1000 {
            c.opened();
        }
        let trims: Vec<usize> = (0..1000).filter(|_| c.closed()).collect();
        // The 750th close leaves 250 open: a quarter of the peak.
        assert_eq!(trims, vec![749], "once, at a quarter of the peak");
        for _ in 0..100 {
            c.opened();
            assert!(!c.closed(), "a small churn never trims");
        }
    }
}
