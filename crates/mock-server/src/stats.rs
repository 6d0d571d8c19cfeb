//! Request counters: the live atomic `Stats`, the serializable
//! [`StatsSnapshot`] served at `/__stats`, and the per-request
//! `RequestTracker` that moves a request between counters.
//!
//! Invariant, exact whenever no request is between two steps:
//! `received == served + rejected + dropped + timed_out + cancelled + in_service + queued`.
//! The tracker keeps it: every request is counted as received once, sits in
//! at most one of `queued`/`in_service` at a time, and ends in exactly one
//! final counter. If its future is dropped early (the client went away), the
//! tracker's `Drop` counts it as cancelled. Two hand-offs let the service
//! count a request whose future hyper has not polled yet: an `Arrival`
//! (received, handler not started) and an `Unsent` (answered, answer not
//! taken); whoever holds one counts it as cancelled if the future is
//! dropped first. The reserved endpoints `/__stats`, `/metrics` and
//! `/__admin/...` are not counted.
//!
//! With `routes:` and `pools:` a request is counted in up to three sets of
//! counters at once (`Counters`): the server's total, its route's, and
//! its admission unit's (a named pool, or the top-level slots), and the
//! invariant holds in each. The unit's `queued` counter is its queue.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::admission::Slot;

/// Status codes are counted in a fixed table: 100..=999.
const STATUS_MIN: u16 = 100;
const STATUS_SLOTS: usize = 900;

/// The server's counters at one moment, as served by `/__stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    /// Requests received (reserved endpoints excluded).
    pub received: u64,
    /// Requests answered by the handler: normal answers, httpbin endpoints,
    /// fault answers (`error_rate`), 400, 408 and 413.
    pub served: u64,
    /// Requests in service now.
    pub in_service: u64,
    /// Requests waiting in the queue now.
    pub queued: u64,
    /// Most requests in service at once since start or the last peak reset.
    pub peak_in_service: u64,
    /// Most requests queued at once since start or the last peak reset.
    pub peak_queued: u64,
    /// Requests answered with `reject_status` because the queue was full.
    pub rejected: u64,
    /// Requests whose connection was closed or reset without an answer
    /// (overflow policy `close`/`reset`, or the `reset_rate` fault).
    pub dropped: u64,
    /// Requests answered 503 after waiting `queue_timeout` in the queue.
    pub timed_out: u64,
    /// Requests whose client went away (or half-closed) before the answer
    /// was handed over, and requests cut off at the end of `shutdown_grace`.
    pub cancelled: u64,
    /// Answers sent, by status code (served, rejected and timed out).
    pub statuses: BTreeMap<u16, u64>,
    /// Seconds since the server started.
    pub uptime_seconds: f64,
    /// Delays measured for overshoot: requests whose delay was above zero
    /// and ran to its end.
    #[serde(default)]
    pub delay_overshoot_samples: u64,
    /// Median of how much later than its deadline a delay ended, in
    /// microseconds (an upper bound, 4 µs resolution below 2 ms; 0 without
    /// samples).
    #[serde(default)]
    pub delay_overshoot_p50_us: u64,
    /// 99th percentile of the same, in microseconds.
    #[serde(default)]
    pub delay_overshoot_p99_us: u64,
    /// Connections reset because their client read nothing for
    /// `write_timeout` (a connection counter: the requests on them were
    /// counted when their answers were handed over).
    #[serde(default)]
    pub write_timeouts: u64,
    /// Connections accepted since start (a connection counter, like
    /// `write_timeouts`): with HTTP/2 several requests share one.
    #[serde(default)]
    pub connections_accepted: u64,
    /// The same counters for each configured route, by name (empty for a
    /// route's own entry and without `routes:`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: BTreeMap<String, StatsSnapshot>,
    /// The same counters for each named pool (empty without `pools:`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pools: BTreeMap<String, StatsSnapshot>,
    /// Run-time changes so far: scheduled phases and control-API patches,
    /// oldest first (since start, or since the schedule was restarted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<PhaseRecord>,
}

/// One run-time change of the settings, as the server recorded it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseRecord {
    /// Where it came from: `schedule[i]` or `admin`.
    pub source: String,
    /// When it was due, in seconds after the schedule's start (`None` for
    /// a control-API change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_seconds: Option<f64>,
    /// When it took effect, in seconds after the schedule's start (the
    /// server's own clock).
    pub applied_seconds: f64,
    /// The change, as the JSON merge patch that was applied.
    pub set: serde_json::Value,
}

impl StatsSnapshot {
    /// Whether the invariant holds in total and for every route and pool.
    pub fn is_balanced_everywhere(&self) -> bool {
        self.is_balanced()
            && self.routes.values().all(StatsSnapshot::is_balanced)
            && self.pools.values().all(StatsSnapshot::is_balanced)
    }

    /// Whether `received` equals the sum of every other request counter.
    pub fn is_balanced(&self) -> bool {
        self.received
            == self.served
                + self.rejected
                + self.dropped
                + self.timed_out
                + self.cancelled
                + self.in_service
                + self.queued
    }
}

/// Live counters, shared by every connection. Lock-free.
#[derive(Debug)]
pub(crate) struct Stats {
    started: Instant,
    received: AtomicU64,
    served: AtomicU64,
    in_service: AtomicU64,
    queued: AtomicU64,
    peak_in_service: AtomicU64,
    peak_queued: AtomicU64,
    rejected: AtomicU64,
    dropped: AtomicU64,
    timed_out: AtomicU64,
    cancelled: AtomicU64,
    write_timeouts: AtomicU64,
    connections_accepted: AtomicU64,
    statuses: Box<[AtomicU64]>,
    overshoot: OvershootHistogram,
}

impl Stats {
    /// Zeroed counters; uptime starts now.
    pub(crate) fn new() -> Self {
        Stats {
            started: Instant::now(),
            received: AtomicU64::new(0),
            served: AtomicU64::new(0),
            in_service: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            peak_in_service: AtomicU64::new(0),
            peak_queued: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            write_timeouts: AtomicU64::new(0),
            connections_accepted: AtomicU64::new(0),
            statuses: (0..STATUS_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            overshoot: OvershootHistogram::new(),
        }
    }

    /// Reads every counter. Each is read atomically; under load they are not
    /// all read at the same instant, so the invariant may be off by the few
    /// requests that moved meanwhile.
    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        let statuses = self
            .statuses
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                let n = n.load(Relaxed);
                (n > 0).then(|| (STATUS_MIN + i as u16, n))
            })
            .collect();
        let overshoot = self.overshoot.summary();
        StatsSnapshot {
            received: self.received.load(Relaxed),
            served: self.served.load(Relaxed),
            in_service: self.in_service.load(Relaxed),
            queued: self.queued.load(Relaxed),
            peak_in_service: self.peak_in_service.load(Relaxed),
            peak_queued: self.peak_queued.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            timed_out: self.timed_out.load(Relaxed),
            cancelled: self.cancelled.load(Relaxed),
            statuses,
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            delay_overshoot_samples: overshoot.count,
            delay_overshoot_p50_us: overshoot.p50_us,
            delay_overshoot_p99_us: overshoot.p99_us,
            write_timeouts: self.write_timeouts.load(Relaxed),
            connections_accepted: self.connections_accepted.load(Relaxed),
            routes: BTreeMap::new(),
            pools: BTreeMap::new(),
            phases: Vec::new(),
        }
    }

    /// Zeroes the counters (`POST /__admin/reset`). Requests in flight stay
    /// in their gauge and count as received, so the invariant still holds
    /// once they end; the uptime goes on.
    pub(crate) fn reset(&self) {
        let in_flight = self.in_service.load(Relaxed) + self.queued.load(Relaxed);
        self.received.store(in_flight, Relaxed);
        for n in [
            &self.served,
            &self.rejected,
            &self.dropped,
            &self.timed_out,
            &self.cancelled,
            &self.write_timeouts,
            &self.connections_accepted,
        ] {
            n.store(0, Relaxed);
        }
        for n in self.statuses.iter().chain(self.overshoot.buckets.iter()) {
            n.store(0, Relaxed);
        }
        self.reset_peaks();
    }

    /// Sets the peaks back to the current values.
    pub(crate) fn reset_peaks(&self) {
        self.peak_in_service
            .store(self.in_service.load(Relaxed), Relaxed);
        self.peak_queued.store(self.queued.load(Relaxed), Relaxed);
    }

    /// Moves a queued request into service as a released slot is handed to
    /// it; returns the number in service now, this request included. Called
    /// by the releaser (see the `admission` module), right after the
    /// released request left `in_service`, so the count never passes the
    /// capacity.
    pub(crate) fn hand_over(&self) -> u64 {
        self.queued.fetch_sub(1, Relaxed);
        let now = self.in_service.fetch_add(1, Relaxed) + 1;
        self.peak_in_service.fetch_max(now, Relaxed);
        now
    }

    /// Counts a connection cut off by `write_timeout`.
    pub(crate) fn count_write_timeout(&self) {
        self.write_timeouts.fetch_add(1, Relaxed);
    }

    /// Counts an accepted connection.
    pub(crate) fn count_connection(&self) {
        self.connections_accepted.fetch_add(1, Relaxed);
    }

    /// Records how late a delay ended.
    pub(crate) fn record_overshoot(&self, late: Duration) {
        self.overshoot.record(late);
    }

    fn count_status(&self, status: u16) {
        let Some(slot) = status.checked_sub(STATUS_MIN) else {
            return;
        };
        if let Some(n) = self.statuses.get(usize::from(slot)) {
            n.fetch_add(1, Relaxed);
        }
    }
}

/// Overshoot buckets 4 µs wide below this many microseconds...
const FINE_LIMIT_US: u64 = 2048;
const FINE_WIDTH_US: u64 = 4;
const FINE_BUCKETS: usize = (FINE_LIMIT_US / FINE_WIDTH_US) as usize;
/// ...then one bucket per power of two, up to 2^(11 + 24) µs.
const COARSE_BUCKETS: usize = 24;

/// A fixed-size histogram of delay overshoot: no allocation per sample,
/// one relaxed increment.
#[derive(Debug)]
struct OvershootHistogram {
    buckets: Box<[AtomicU64]>,
}

/// Count and percentiles of the overshoot histogram.
struct OvershootSummary {
    count: u64,
    p50_us: u64,
    p99_us: u64,
}

impl OvershootHistogram {
    fn new() -> Self {
        OvershootHistogram {
            buckets: (0..FINE_BUCKETS + COARSE_BUCKETS)
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }

    fn record(&self, late: Duration) {
        let us = u64::try_from(late.as_micros()).unwrap_or(u64::MAX);
        let index = if us < FINE_LIMIT_US {
            (us / FINE_WIDTH_US) as usize
        } else {
            let power = (63 - us.leading_zeros() as usize).saturating_sub(11);
            FINE_BUCKETS + power.min(COARSE_BUCKETS - 1)
        };
        self.buckets[index].fetch_add(1, Relaxed);
    }

    /// The upper bound of bucket `index`, in microseconds.
    fn upper_us(index: usize) -> u64 {
        if index < FINE_BUCKETS {
            (index as u64 + 1) * FINE_WIDTH_US
        } else {
            FINE_LIMIT_US << (index - FINE_BUCKETS + 1)
        }
    }

    fn summary(&self) -> OvershootSummary {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let count = counts.iter().sum();
        let quantile = |q: f64| {
            if count == 0 {
                return 0;
            }
            let rank = ((count as f64 * q).ceil() as u64).max(1);
            let mut seen = 0;
            for (i, n) in counts.iter().enumerate() {
                seen += n;
                if seen >= rank {
                    return Self::upper_us(i);
                }
            }
            Self::upper_us(counts.len() - 1)
        };
        OvershootSummary {
            count,
            p50_us: quantile(0.5),
            p99_us: quantile(0.99),
        }
    }
}

/// Where a request stands; decides what its `Drop` undoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Arrived,
    Queued,
    InService,
    Finished,
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Answered by the handler with this status.
    Served(u16),
    /// Refused because the queue was full, answered with this status.
    Rejected(u16),
    /// Waited too long in the queue, answered with this status.
    TimedOut(u16),
    /// Connection closed or reset without an answer.
    Dropped,
}

/// The sets of counters one request is counted in: the server's total
/// first, then its route's and its admission unit's when they are other
/// sets. Every step moves the request in each of them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counters<'a> {
    total: &'a Arc<Stats>,
    layers: [Option<&'a Arc<Stats>>; 3],
    /// Which layer is the admission unit's (its `queued` is the queue).
    unit: usize,
}

impl<'a> Counters<'a> {
    /// One set of counters: the total, also the admission unit's.
    pub(crate) fn single(total: &'a Arc<Stats>) -> Self {
        Counters {
            total,
            layers: [Some(total), None, None],
            unit: 0,
        }
    }

    /// The total, the route's (if any) and the unit's; a set given twice
    /// (a route with capacity of its own is its unit) is counted once.
    pub(crate) fn new(
        total: &'a Arc<Stats>,
        route: Option<&'a Arc<Stats>>,
        unit: &'a Arc<Stats>,
    ) -> Self {
        let mut layers = [Some(total), None, None];
        let mut n = 1;
        if let Some(route) = route {
            if !Arc::ptr_eq(route, total) {
                layers[n] = Some(route);
                n += 1;
            }
        }
        let found = layers[..n]
            .iter()
            .position(|l| l.is_some_and(|l| Arc::ptr_eq(l, unit)));
        let unit = found.unwrap_or_else(|| {
            layers[n] = Some(unit);
            n
        });
        Counters {
            total,
            layers,
            unit,
        }
    }

    fn each(&self, f: impl Fn(&Stats)) {
        for stats in self.layers.iter().flatten() {
            f(stats);
        }
    }

    fn total(&self) -> &Stats {
        self.total
    }

    fn unit(&self) -> &Stats {
        self.layers[self.unit].unwrap_or(self.total)
    }

    /// Owned copies, for a queued request's waiter.
    pub(crate) fn to_owned(self) -> OwnedCounters {
        OwnedCounters {
            layers: self.layers.map(|l| l.cloned()),
            unit: self.unit,
        }
    }

    /// Counts a new request as received.
    pub(crate) fn arrive(&self) -> Arrival {
        let sequence = self.total().received.fetch_add(1, Relaxed);
        for stats in self.layers[1..].iter().flatten() {
            stats.received.fetch_add(1, Relaxed);
        }
        Arrival { sequence }
    }
}

/// [`Counters`] that a queued request's waiter owns, so the request that
/// releases a slot can move the waiter into service in each set.
#[derive(Debug)]
pub(crate) struct OwnedCounters {
    layers: [Option<Arc<Stats>>; 3],
    unit: usize,
}

impl OwnedCounters {
    /// Moves a queued request into service as a released slot is handed to
    /// it; returns the number in service in its unit now, this request
    /// included. Called by the releaser (see the `admission` module), right
    /// after the released request left `in_service`, so the count never
    /// passes the capacity.
    pub(crate) fn hand_over(&self) -> u64 {
        let mut unit = 0;
        for (i, stats) in self.layers.iter().enumerate() {
            if let Some(stats) = stats {
                let now = stats.hand_over();
                if i == self.unit {
                    unit = now;
                }
            }
        }
        unit
    }
}

/// Follows one request through the counters. It also holds the request's
/// service slot, so the `in_service` counter always drops before the slot is
/// released and never exceeds the capacity. Dropping the tracker before
/// [`finish`](Self::finish) counts the request as cancelled.
#[derive(Debug)]
pub(crate) struct RequestTracker<'a> {
    counters: Counters<'a>,
    phase: Phase,
    slot: Option<Slot>,
    /// The request's number in arrival order, from 0.
    pub(crate) sequence: u64,
}

/// A request counted as received that no tracker follows yet (its handler
/// has not started). Hand it to [`RequestTracker::follow`], or count it as
/// cancelled with [`Arrival::cancel`]; dropping it counts nothing.
#[derive(Debug)]
#[must_use]
pub(crate) struct Arrival {
    sequence: u64,
}

impl Arrival {
    /// Counts the request as cancelled: its handler never started.
    pub(crate) fn cancel(self, counters: Counters<'_>) {
        counters.each(|s| {
            s.cancelled.fetch_add(1, Relaxed);
        });
    }
}

/// A request whose answer is made but not yet taken by hyper. It stays in
/// its gauge and holds its slot until [`sent`](Self::sent) counts it as
/// served, or [`abandon`](Self::abandon) as cancelled; dropping it counts
/// nothing.
#[derive(Debug)]
#[must_use]
pub(crate) struct Unsent {
    phase: Phase,
    /// Released when the `Unsent` is consumed, after the counters.
    _slot: Option<Slot>,
    status: u16,
}

impl Unsent {
    /// Counts the answer as served, then releases the slot.
    pub(crate) fn sent(self, counters: Counters<'_>) {
        counters.each(|s| {
            leave(s, self.phase);
            s.served.fetch_add(1, Relaxed);
            s.count_status(self.status);
        });
    }

    /// Counts the request as cancelled (hyper dropped the answer: the
    /// client went away first), then releases the slot.
    pub(crate) fn abandon(self, counters: Counters<'_>) {
        counters.each(|s| {
            leave(s, self.phase);
            s.cancelled.fetch_add(1, Relaxed);
        });
    }
}

impl<'a> RequestTracker<'a> {
    /// Counts a new request as received.
    pub(crate) fn arrive(counters: Counters<'a>) -> Self {
        Self::follow(counters, counters.arrive())
    }

    /// Follows a request already counted as received.
    pub(crate) fn follow(counters: Counters<'a>, arrival: Arrival) -> Self {
        RequestTracker {
            counters,
            phase: Phase::Arrived,
            slot: None,
            sequence: arrival.sequence,
        }
    }

    /// The counters this request moves.
    pub(crate) fn counters(&self) -> Counters<'a> {
        self.counters
    }

    /// Moves an arrived request into the queue if fewer than `limit` wait
    /// in its unit; the unit's `queued` counter itself is the queue, so the
    /// bound is exact.
    pub(crate) fn try_enter_queue(&mut self, limit: u64) -> bool {
        let taken = self
            .counters
            .unit()
            .queued
            .fetch_update(Relaxed, Relaxed, |n| (n < limit).then_some(n + 1));
        let Ok(before) = taken else {
            return false;
        };
        self.leave_phase();
        self.phase = Phase::Queued;
        let unit = self.counters.unit;
        for (i, stats) in self.counters.layers.iter().enumerate() {
            let Some(stats) = stats else { continue };
            let now = if i == unit {
                before + 1
            } else {
                stats.queued.fetch_add(1, Relaxed) + 1
            };
            stats.peak_queued.fetch_max(now, Relaxed);
        }
        true
    }

    /// Takes a queued request out of the queue without an outcome yet.
    pub(crate) fn leave_queue(&mut self) {
        if self.phase == Phase::Queued {
            self.leave_phase();
            self.phase = Phase::Arrived;
        }
    }

    /// Moves the request into service, holding `slot`; returns the number
    /// in service in its unit now, this request included.
    pub(crate) fn enter_service(&mut self, slot: Slot) -> u64 {
        self.leave_phase();
        self.phase = Phase::InService;
        self.slot = Some(slot);
        let mut unit = 0;
        for (i, stats) in self.counters.layers.iter().enumerate() {
            let Some(stats) = stats else { continue };
            let now = stats.in_service.fetch_add(1, Relaxed) + 1;
            stats.peak_in_service.fetch_max(now, Relaxed);
            if i == self.counters.unit {
                unit = now;
            }
        }
        unit
    }

    /// Takes the slot handed to this queued request: the releaser has
    /// already moved it from `queued` to `in_service`
    /// ([`OwnedCounters::hand_over`]).
    pub(crate) fn handed_service(&mut self, slot: Slot) {
        debug_assert_eq!(self.phase, Phase::Queued);
        self.phase = Phase::InService;
        self.slot = Some(slot);
    }

    /// Lends the slot out (to a blocking-mode thread).
    pub(crate) fn take_slot(&mut self) -> Option<Slot> {
        self.slot.take()
    }

    /// Takes a lent slot back.
    pub(crate) fn put_slot(&mut self, slot: Slot) {
        self.slot = Some(slot);
    }

    /// Counts the request's end, then releases its slot.
    pub(crate) fn finish(&mut self, outcome: Outcome) {
        if self.phase == Phase::Finished {
            return;
        }
        self.leave_phase();
        self.phase = Phase::Finished;
        self.counters.each(|s| match outcome {
            Outcome::Served(status) => {
                s.served.fetch_add(1, Relaxed);
                s.count_status(status);
            }
            Outcome::Rejected(status) => {
                s.rejected.fetch_add(1, Relaxed);
                s.count_status(status);
            }
            Outcome::TimedOut(status) => {
                s.timed_out.fetch_add(1, Relaxed);
                s.count_status(status);
            }
            Outcome::Dropped => {
                s.dropped.fetch_add(1, Relaxed);
            }
        });
        self.slot = None;
    }

    /// Ends the request with an answer (`status`) that hyper has not taken
    /// yet; the returned [`Unsent`] counts it once hyper has.
    pub(crate) fn answer_later(mut self, status: u16) -> Unsent {
        let unsent = Unsent {
            phase: self.phase,
            _slot: self.slot.take(),
            status,
        };
        self.phase = Phase::Finished; // Counted by `unsent` from now on.
        unsent
    }

    /// Takes the request out of the gauge it is counted in.
    fn leave_phase(&mut self) {
        let phase = self.phase;
        self.counters.each(|s| leave(s, phase));
    }
}

/// Takes a request in `phase` out of the gauge it is counted in.
fn leave(stats: &Stats, phase: Phase) {
    match phase {
        Phase::Queued => stats.queued.fetch_sub(1, Relaxed),
        Phase::InService => stats.in_service.fetch_sub(1, Relaxed),
        Phase::Arrived | Phase::Finished => 0,
    };
}

impl Drop for RequestTracker<'_> {
    fn drop(&mut self) {
        if self.phase != Phase::Finished {
            self.leave_phase();
            self.phase = Phase::Finished;
            self.counters.each(|s| {
                s.cancelled.fetch_add(1, Relaxed);
            });
        }
        // The slot field is dropped after this, once the counters are right.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_keeps_the_invariant() {
        let stats = Arc::new(Stats::new());
        let c = Counters::single(&stats);
        {
            let mut served = RequestTracker::arrive(c);
            assert!(served.try_enter_queue(1));
            served.enter_service(Slot::unlimited());
            served.finish(Outcome::Served(200));
            let mut rejected = RequestTracker::arrive(c);
            rejected.finish(Outcome::Rejected(503));
            let mut timed_out = RequestTracker::arrive(c);
            assert!(timed_out.try_enter_queue(1));
            timed_out.leave_queue();
            timed_out.finish(Outcome::TimedOut(503));
            let mut dropped = RequestTracker::arrive(c);
            dropped.enter_service(Slot::unlimited());
            dropped.finish(Outcome::Dropped);
            let mut cancelled = RequestTracker::arrive(c);
            cancelled.enter_service(Slot::unlimited());
            let mut live = RequestTracker::arrive(c);
            assert!(live.try_enter_queue(1));
            let mut refused = RequestTracker::arrive(c);
            assert!(!refused.try_enter_queue(1));
            refused.finish(Outcome::Rejected(503));
            let snap = stats.snapshot();
            assert_eq!((snap.in_service, snap.queued), (1, 1));
            assert!(snap.is_balanced(), "{snap:?}");
        }
        let snap = stats.snapshot();
        assert_eq!(snap.received, 7);
        assert_eq!(
            (
                snap.served,
                snap.rejected,
                snap.timed_out,
                snap.dropped,
                snap.cancelled
            ),
            (1, 2, 1, 1, 2)
        );
        assert_eq!((snap.in_service, snap.queued), (0, 0));
        assert_eq!((snap.peak_in_service, snap.peak_queued), (1, 1));
        assert_eq!(snap.statuses, BTreeMap::from([(200, 1), (503, 3)]));
        assert!(snap.is_balanced());
    }

    #[test]
    fn hand_offs_count_each_end_once_and_release_the_slot() {
        use crate::admission::Admission;
        use std::num::NonZeroUsize;
        let stats = Arc::new(Stats::new());
        let c = Counters::single(&stats);
        let slots = Admission::new(NonZeroUsize::new(1), 0, Duration::ZERO);
        c.arrive().cancel(c);
        let mut sent = RequestTracker::follow(c, c.arrive());
        sent.enter_service(slots.try_now().unwrap());
        let unsent = sent.answer_later(200);
        assert_eq!(stats.snapshot().in_service, 1, "counted until sent");
        assert!(slots.try_now().is_none(), "the slot is held until sent");
        unsent.sent(c);
        let mut abandoned = RequestTracker::arrive(c);
        abandoned.enter_service(slots.try_now().unwrap());
        abandoned.answer_later(200).abandon(c);
        assert!(slots.try_now().is_some());
        let snap = stats.snapshot();
        assert_eq!((snap.received, snap.served, snap.cancelled), (3, 1, 2));
        assert_eq!(snap.statuses, BTreeMap::from([(200, 1)]));
        assert_eq!(snap.in_service, 0);
        assert!(snap.is_balanced(), "{snap:?}");
    }

    #[test]
    fn reset_peaks_goes_back_to_the_current_values() {
        let stats = Arc::new(Stats::new());
        let c = Counters::single(&stats);
        let mut a = RequestTracker::arrive(c);
        a.enter_service(Slot::unlimited());
        let mut b = RequestTracker::arrive(c);
        b.enter_service(Slot::unlimited());
        b.finish(Outcome::Served(200));
        assert_eq!(stats.snapshot().peak_in_service, 2);
        stats.reset_peaks();
        assert_eq!(stats.snapshot().peak_in_service, 1);
        a.finish(Outcome::Served(200));
    }

    /// A request of a route in a pool is counted in the total, the route
    /// and the pool, each balanced; the pool's queue is the bound.
    #[test]
    fn layers_count_each_step_in_each_set() {
        let (total, route, pool) = (
            Arc::new(Stats::new()),
            Arc::new(Stats::new()),
            Arc::new(Stats::new()),
        );
        let c = Counters::new(&total, Some(&route), &pool);
        let other = Counters::new(&total, None, &total);
        let mut a = RequestTracker::arrive(c);
        assert!(a.try_enter_queue(1));
        let mut b = RequestTracker::arrive(c);
        assert!(!b.try_enter_queue(1), "the pool's queue is full");
        b.finish(Outcome::Rejected(503));
        a.enter_service(Slot::unlimited());
        let mut o = RequestTracker::arrive(other);
        o.enter_service(Slot::unlimited());
        o.finish(Outcome::Served(200));
        for (stats, received) in [(&total, 3), (&route, 2), (&pool, 2)] {
            let snap = stats.snapshot();
            assert_eq!(
                (snap.received, snap.in_service, snap.rejected),
                (received, 1, 1)
            );
            assert!(snap.is_balanced(), "{snap:?}");
        }
        drop(a);
        assert_eq!(route.snapshot().cancelled, 1);
        total.reset();
        assert_eq!(total.snapshot().received, 0);
        assert!(total.snapshot().is_balanced());
    }

    #[test]
    fn overshoot_percentiles_are_bucket_upper_bounds() {
        let stats = Stats::new();
        assert_eq!(stats.snapshot().delay_overshoot_p50_us, 0);
        for us in (0..98).map(|_| 10).chain([3_000, 1 << 40]) {
            stats.record_overshoot(Duration::from_micros(us));
        }
        let snap = stats.snapshot();
        assert_eq!(snap.delay_overshoot_samples, 100);
        assert_eq!(snap.delay_overshoot_p50_us, 12);
        assert_eq!(snap.delay_overshoot_p99_us, 4096);
        stats.record_overshoot(Duration::MAX);
        assert_eq!(stats.snapshot().delay_overshoot_samples, 101);
    }

    #[test]
    fn odd_statuses_are_counted_or_ignored_without_panic() {
        let stats = Stats::new();
        stats.count_status(999);
        stats.count_status(0);
        stats.count_status(u16::MAX);
        assert_eq!(stats.snapshot().statuses, BTreeMap::from([(999, 1)]));
    }
}
