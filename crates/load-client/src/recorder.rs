//! Where measurements go: HdrHistograms and error counts, one recorder per
//! runtime thread, merged when a case ends.
//!
//! Each runtime thread records into its own shard (chosen by a thread-local
//! index set when the thread starts), so the mutex around a shard is never
//! contended on the hot path; it only exists so the shards can be collected
//! at the end. Memory does not grow with the number of requests: a million
//! requests cost the same as a thousand.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::http::Timing;
use crate::outcome::{ErrorCounts, ErrorKind};

/// Largest latency the histograms track: one hour, in microseconds. Larger
/// values are clamped to it (and show as the maximum).
pub const MAX_TRACKABLE_US: u64 = 3_600_000_000;
/// HdrHistogram precision: three significant digits.
pub const SIGNIFICANT_DIGITS: u8 = 3;

/// A new, empty latency histogram in microseconds.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKABLE_US, SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid")
}

/// Microseconds in a duration, at least 1 (the histogram's lowest value).
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// Per-second histograms are kept for at most this many seconds; later
/// samples go into the last interval, so memory stays bounded.
pub const MAX_INTERVALS: usize = 3600;

/// A histogram for one-second intervals: two significant digits, not the
/// three of [`new_histogram`], because up to [`MAX_INTERVALS`] of them are
/// kept per thread: a finished second spread over 1 ms..2 s encodes to
/// ~1.4 KB instead of ~6.6 KB. The whole case keeps full precision in
/// `Recorder::ok`.
pub fn new_interval_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKABLE_US, 2).expect("constant histogram bounds are valid")
}

/// What one second of the measured phase saw, decoded.
#[derive(Debug, Clone)]
pub struct Interval {
    /// Latency of the successful requests that finished in this second, µs.
    pub ok: Histogram<u64>,
    /// Failed requests that finished in this second.
    pub errors: u64,
}

impl Default for Interval {
    fn default() -> Self {
        Interval {
            ok: new_interval_histogram(),
            errors: 0,
        }
    }
}

/// A finished second, its histogram in HdrHistogram's compact V2 encoding
/// (a few hundred bytes instead of the ~26 KiB of a live histogram).
#[derive(Debug, Clone)]
struct Sealed {
    second: u64,
    ok: Vec<u8>,
    errors: u64,
}

/// Per-second measurements. Only the second being recorded is a live
/// histogram; finished seconds are kept encoded, so a long run costs a few
/// hundred bytes a second.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    current: Option<(u64, Interval)>,
    sealed: Vec<Sealed>,
}

impl Timeline {
    /// Records one finished request in second `second`: its latency when it
    /// succeeded, `None` when it failed.
    pub fn record(&mut self, second: u64, ok_micros: Option<u64>) {
        let second = second.min(MAX_INTERVALS as u64 - 1);
        match &self.current {
            Some((s, _)) if *s == second => {}
            Some((s, _)) if *s > second => return self.record_late(second, ok_micros),
            _ => {
                self.seal();
                self.current = Some((second, Interval::default()));
            }
        }
        if let Some((_, interval)) = self.current.as_mut() {
            add(interval, ok_micros);
        }
    }

    /// A sample for a second already sealed (a request that finished on a
    /// thread whose clock read came just before a newer one): rare, so it
    /// decodes, adds and re-encodes.
    fn record_late(&mut self, second: u64, ok_micros: Option<u64>) {
        let mut interval = self.take_sealed(second).unwrap_or_default();
        add(&mut interval, ok_micros);
        self.push_sealed(second, &interval);
    }

    fn take_sealed(&mut self, second: u64) -> Option<Interval> {
        let at = self.sealed.iter().rposition(|s| s.second == second)?;
        let sealed = self.sealed.remove(at);
        Some(decode(&sealed))
    }

    fn push_sealed(&mut self, second: u64, interval: &Interval) {
        let mut ok = Vec::new();
        // Serialising into memory cannot fail for a valid histogram.
        let _ = hdrhistogram::serialization::Serializer::serialize(
            &mut hdrhistogram::serialization::V2Serializer::new(),
            &interval.ok,
            &mut ok,
        );
        let at = self.sealed.partition_point(|s| s.second < second);
        self.sealed.insert(
            at,
            Sealed {
                second,
                ok,
                errors: interval.errors,
            },
        );
    }

    /// Encodes the live second.
    pub fn seal(&mut self) {
        if let Some((second, interval)) = self.current.take() {
            self.push_sealed(second, &interval);
        }
    }

    /// Adds another timeline into this one, second by second.
    pub fn merge(&mut self, other: &Timeline) {
        self.seal();
        let mut other = other.clone();
        other.seal();
        for theirs in &other.sealed {
            let mut interval = self.take_sealed(theirs.second).unwrap_or_default();
            let decoded = decode(theirs);
            let _ = interval.ok.add(&decoded.ok);
            interval.errors += decoded.errors;
            self.push_sealed(theirs.second, &interval);
        }
    }

    /// Adds a whole second's histogram and error count (from an interval
    /// log: `merge` builds the merged timeline this way).
    pub fn add_interval(&mut self, second: u64, ok: &Histogram<u64>, errors: u64) {
        self.seal();
        let second = second.min(MAX_INTERVALS as u64 - 1);
        let mut interval = self.take_sealed(second).unwrap_or_default();
        let _ = interval.ok.add(ok);
        interval.errors += errors;
        self.push_sealed(second, &interval);
    }

    /// Number of seconds from the start to the last one with data.
    pub fn len(&self) -> usize {
        let sealed = self.sealed.last().map(|s| s.second + 1);
        let live = self.current.as_ref().map(|(s, _)| s + 1);
        sealed.max(live).unwrap_or(0) as usize
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every second from 0 to the last, decoded one at a time (seconds with
    /// no data are empty intervals).
    pub fn intervals(&self) -> impl Iterator<Item = Interval> + '_ {
        let mut sealed = self.sealed.iter().peekable();
        (0..self.len() as u64).map(move |second| {
            if let Some((s, live)) = &self.current {
                if *s == second {
                    return live.clone();
                }
            }
            match sealed.peek() {
                Some(next) if next.second == second => decode(sealed.next().expect("peeked")),
                _ => Interval::default(),
            }
        })
    }
}

fn add(interval: &mut Interval, ok_micros: Option<u64>) {
    match ok_micros {
        Some(us) => interval.ok.saturating_record(us),
        None => interval.errors += 1,
    }
}

fn decode(sealed: &Sealed) -> Interval {
    let ok = hdrhistogram::serialization::Deserializer::new()
        .deserialize::<u64, _>(&mut &sealed.ok[..])
        .unwrap_or_else(|_| new_interval_histogram());
    Interval {
        ok,
        errors: sealed.errors,
    }
}

/// Everything measured for one case (or one shard of it).
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Latency of successful requests, µs. In the open loop it is measured
    /// from the intended send time (corrected for coordinated omission).
    pub ok: Histogram<u64>,
    /// Latency of failed requests, µs, kept apart from the successes.
    pub failed: Histogram<u64>,
    /// Open loop only: plain service time (actual send to response) of
    /// successful requests, µs.
    pub service: Histogram<u64>,
    /// Errors by kind.
    pub errors: ErrorCounts,
    /// Responses by HTTP status (successes and HTTP errors).
    pub statuses: BTreeMap<u16, u64>,
    /// Open loop only: sends made more than [`LATE_THRESHOLD`] after their
    /// intended time.
    pub late: u64,
    /// Per-second measurements of the measured phase (by completion time).
    pub timeline: Timeline,
    /// Per entry of a request mix (`requests:`), by the entry's position;
    /// empty for a single request. Grown on first use.
    pub by_request: Vec<RequestRecorder>,
    /// Where the time of requests went, phase by phase.
    pub phases: Phases,
}

/// What one entry of a request mix measured: the parts of a [`Recorder`]
/// that its `summary.csv` row shows. One full-precision histogram, so an
/// entry costs ~190 KB per runtime thread.
#[derive(Debug, Clone)]
pub struct RequestRecorder {
    /// Latency of successful requests, µs (open loop: from the intended time).
    pub ok: Histogram<u64>,
    /// Errors by kind.
    pub errors: ErrorCounts,
    /// Responses by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// Open loop only: sends made late.
    pub late: u64,
}

impl Default for RequestRecorder {
    fn default() -> Self {
        RequestRecorder {
            ok: new_histogram(),
            errors: ErrorCounts::default(),
            statuses: BTreeMap::new(),
            late: 0,
        }
    }
}

/// The phases of a request, each in a histogram of its own (µs), and the
/// connections opened. Connect and TLS times are those of every connection
/// opened in the measured phase (whatever became of its request); time to
/// first byte and body are those of successful requests.
#[derive(Debug, Clone)]
pub struct Phases {
    /// TCP connect.
    pub connect: Histogram<u64>,
    /// TLS handshake.
    pub tls: Histogram<u64>,
    /// From the request's first byte written to the response's first byte.
    pub ttfb: Histogram<u64>,
    /// From the response's first byte to its end.
    pub body: Histogram<u64>,
    /// Connections opened (TCP connected, and TLS done for `https://`).
    pub connections_opened: u64,
}

impl Default for Phases {
    fn default() -> Self {
        Phases {
            connect: new_histogram(),
            tls: new_histogram(),
            ttfb: new_histogram(),
            body: new_histogram(),
            connections_opened: 0,
        }
    }
}

impl RequestRecorder {
    /// Records one finished request: its status on success, or why it failed.
    pub fn record(&mut self, outcome: Result<u16, (ErrorKind, Option<u16>)>, latency: Duration) {
        let status = match outcome {
            Ok(status) => {
                self.ok.saturating_record(micros(latency));
                Some(status)
            }
            Err((kind, status)) => {
                self.errors.add(kind);
                status
            }
        };
        if let Some(status) = status {
            *self.statuses.entry(status).or_default() += 1;
        }
    }

    /// Successful requests recorded.
    pub fn ok_count(&self) -> u64 {
        self.ok.len()
    }

    /// Adds another entry recorder's measurements into this one.
    pub fn merge(&mut self, other: &RequestRecorder) {
        let _ = self.ok.add(&other.ok);
        self.errors.merge(&other.errors);
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        self.late += other.late;
    }
}

impl Phases {
    /// Records one request's phases; it ended at `done`.
    pub fn record(&mut self, timing: &Timing, done: std::time::Instant, ok: bool) {
        if timing.opened > 0 {
            self.connections_opened += u64::from(timing.opened);
            if let Some(d) = timing.connect {
                self.connect.saturating_record(micros(d));
            }
            if let Some(d) = timing.tls {
                self.tls.saturating_record(micros(d));
            }
        }
        if ok {
            if let (Some(ttfb), Some(first)) = (timing.ttfb, timing.first_byte) {
                self.ttfb.saturating_record(micros(ttfb));
                self.body
                    .saturating_record(micros(done.saturating_duration_since(first)));
            }
        }
    }

    /// Adds another set of phases into this one.
    pub fn merge(&mut self, other: &Phases) {
        // Same bounds everywhere, so adding cannot fail.
        let _ = self.connect.add(&other.connect);
        let _ = self.tls.add(&other.tls);
        let _ = self.ttfb.add(&other.ttfb);
        let _ = self.body.add(&other.body);
        self.connections_opened += other.connections_opened;
    }
}

/// An open-loop send counts as late when it leaves this much after its
/// intended time.
pub const LATE_THRESHOLD: Duration = Duration::from_millis(5);

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            ok: new_histogram(),
            failed: new_histogram(),
            service: new_histogram(),
            errors: ErrorCounts::default(),
            statuses: BTreeMap::new(),
            late: 0,
            timeline: Timeline::default(),
            by_request: Vec::new(),
            phases: Phases::default(),
        }
    }
}

impl Recorder {
    /// Records a successful request.
    pub fn ok(&mut self, status: u16, latency: Duration) {
        self.ok.saturating_record(micros(latency));
        *self.statuses.entry(status).or_default() += 1;
    }

    /// Records a failed request; `status` when the server did answer.
    pub fn failed(&mut self, kind: ErrorKind, status: Option<u16>, latency: Duration) {
        self.failed.saturating_record(micros(latency));
        self.errors.add(kind);
        if let Some(status) = status {
            *self.statuses.entry(status).or_default() += 1;
        }
    }

    /// Successful requests recorded.
    pub fn ok_count(&self) -> u64 {
        self.ok.len()
    }

    /// The recorder of mix entry `index`, created on first use.
    pub fn request(&mut self, index: usize) -> &mut RequestRecorder {
        if self.by_request.len() <= index {
            self.by_request
                .resize_with(index + 1, RequestRecorder::default);
        }
        &mut self.by_request[index]
    }

    /// Adds another recorder's measurements into this one.
    pub fn merge(&mut self, other: &Recorder) {
        // Both histograms share bounds, so adding cannot fail.
        let _ = self.ok.add(&other.ok);
        let _ = self.failed.add(&other.failed);
        let _ = self.service.add(&other.service);
        self.errors.merge(&other.errors);
        for (status, n) in &other.statuses {
            *self.statuses.entry(*status).or_default() += n;
        }
        self.late += other.late;
        self.timeline.merge(&other.timeline);
        for (index, theirs) in other.by_request.iter().enumerate() {
            self.request(index).merge(theirs);
        }
        self.phases.merge(&other.phases);
    }
}

thread_local! {
    static SHARD: Cell<usize> = const { Cell::new(0) };
}

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

/// Gives the calling thread its own shard index; call from a runtime's
/// `on_thread_start`.
pub fn assign_thread_shard() {
    SHARD.with(|s| s.set(NEXT_SHARD.fetch_add(1, Ordering::Relaxed)));
}

/// One recorder per thread, merged at the end.
#[derive(Debug)]
pub struct Shards {
    shards: Vec<Mutex<Recorder>>,
}

impl Shards {
    /// `n` shards (at least one).
    pub fn new(n: usize) -> Shards {
        Shards {
            shards: (0..n.max(1))
                .map(|_| Mutex::new(Recorder::default()))
                .collect(),
        }
    }

    /// Runs `f` on the calling thread's shard.
    pub fn with<R>(&self, f: impl FnOnce(&mut Recorder) -> R) -> R {
        let index = SHARD.with(Cell::get) % self.shards.len();
        let mut guard = match self.shards[index].lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    /// Merges every shard into one recorder.
    pub fn merged(&self) -> Recorder {
        let mut total = Recorder::default();
        for shard in &self.shards {
            let guard = match shard.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            total.merge(&guard);
        }
        total
    }
}

/// Upper bounds (µs, inclusive) of the live latency histogram's buckets
/// (Prometheus' `le`); a last bucket takes everything above.
pub const LIVE_BUCKETS_US: [u64; 14] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];

/// Live counters of one case's measured phase, read while it runs (the
/// progress bar, `--metrics-listen`): relaxed atomics, never locked.
///
/// The progress bar needs `done` and `errors`; the rest (errors by kind,
/// the latency buckets) is counted only when the progress was made
/// [`Progress::detailed`], so a run without live metrics pays for two
/// counters per request, as before.
#[derive(Debug, Default)]
pub struct Progress {
    /// Requests finished (ok or error) in the measured phase.
    pub done: AtomicU64,
    /// Of those, errors.
    pub errors: AtomicU64,
    /// Requests sent in the measured phase (`launched - done` are in flight).
    pub launched: AtomicU64,
    detailed: bool,
    by_kind: [AtomicU64; ErrorKind::ALL.len()],
    /// Successful requests by latency bucket ([`LIVE_BUCKETS_US`], then
    /// everything above), not cumulative.
    buckets: [AtomicU64; LIVE_BUCKETS_US.len() + 1],
    latency_sum_us: AtomicU64,
}

/// A consistent-enough copy of a [`Progress`] (each counter read once).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// Requests finished.
    pub done: u64,
    /// Requests sent.
    pub launched: u64,
    /// Failed requests by kind, in [`ErrorKind::ALL`] order.
    pub by_kind: [u64; ErrorKind::ALL.len()],
    /// Successful requests per latency bucket, not cumulative.
    pub buckets: [u64; LIVE_BUCKETS_US.len() + 1],
    /// Sum of the successful requests' latencies, µs.
    pub latency_sum_us: u64,
}

impl Progress {
    /// Progress that also counts errors by kind and latency buckets.
    pub fn detailed() -> Progress {
        Progress {
            detailed: true,
            ..Progress::default()
        }
    }

    /// Counts one request sent in the measured phase.
    pub fn launch(&self) {
        self.launched.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one successful request and its latency.
    pub fn ok(&self, micros: u64) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if self.detailed {
            let at = LIVE_BUCKETS_US.partition_point(|&le| le < micros);
            self.buckets[at].fetch_add(1, Ordering::Relaxed);
            self.latency_sum_us.fetch_add(micros, Ordering::Relaxed);
        }
    }

    /// Counts one failed request.
    pub fn failed(&self, kind: ErrorKind) {
        self.done.fetch_add(1, Ordering::Relaxed);
        self.errors.fetch_add(1, Ordering::Relaxed);
        if self.detailed {
            self.by_kind[kind.index()].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts requests abandoned when the case ended (`aborted`) as done.
    pub fn aborted(&self, n: u64) {
        if n == 0 {
            return;
        }
        self.done.fetch_add(n, Ordering::Relaxed);
        self.errors.fetch_add(n, Ordering::Relaxed);
        if self.detailed {
            self.by_kind[ErrorKind::Aborted.index()].fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The counters now.
    pub fn snapshot(&self) -> ProgressSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ProgressSnapshot {
            done: load(&self.done),
            launched: load(&self.launched),
            by_kind: std::array::from_fn(|i| load(&self.by_kind[i])),
            buckets: std::array::from_fn(|i| load(&self.buckets[i])),
            latency_sum_us: load(&self.latency_sum_us),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detailed_progress_counts_kinds_and_buckets() {
        let p = Progress::detailed();
        p.launch();
        p.launch();
        p.launch();
        p.ok(500);
        p.ok(501);
        p.ok(u64::MAX);
        p.failed(ErrorKind::Reset);
        p.aborted(2);
        let s = p.snapshot();
        assert_eq!((s.done, s.launched), (6, 3));
        assert_eq!(s.by_kind[ErrorKind::Reset.index()], 1);
        assert_eq!(s.by_kind[ErrorKind::Aborted.index()], 2);
        assert_eq!(
            (s.buckets[0], s.buckets[1], s.buckets[LIVE_BUCKETS_US.len()]),
            (1, 1, 1)
        );
        let plain = Progress::default();
        plain.ok(10);
        plain.failed(ErrorKind::Reset);
        let s = plain.snapshot();
        assert_eq!(
            (
                s.done,
                s.buckets.iter().sum::<u64>(),
                s.by_kind.iter().sum::<u64>()
            ),
            (2, 0, 0)
        );
    }

    #[test]
    fn merge_keeps_every_count() {
        let mut a = Recorder::default();
        a.ok(200, Duration::from_millis(10));
        a.failed(ErrorKind::Http5xx, Some(503), Duration::from_millis(1));
        let mut b = Recorder::default();
        b.ok(200, Duration::from_millis(20));
        b.failed(ErrorKind::Reset, None, Duration::from_millis(2));
        a.merge(&b);
        assert_eq!(a.ok_count(), 2);
        assert_eq!(a.errors.total(), 2);
        assert_eq!(a.statuses[&200], 2);
        assert_eq!(a.statuses[&503], 1);
        assert!((19_900..=20_100).contains(&a.ok.max()));
    }

    #[test]
    fn timelines_merge_by_second_and_stay_bounded() {
        let mut a = Timeline::default();
        a.record(0, None);
        a.record(2, Some(100));
        let mut b = Timeline::default();
        b.record(2, Some(300));
        b.record(10_000_000, None);
        a.merge(&b);
        let seconds: Vec<Interval> = a.intervals().collect();
        assert_eq!(seconds.len(), MAX_INTERVALS);
        assert_eq!(seconds[0].errors, 1);
        assert_eq!(seconds[1].ok.len(), 0);
        assert_eq!(seconds[2].ok.len(), 2);
        assert_eq!(seconds[MAX_INTERVALS - 1].errors, 1);
    }

    #[test]
    fn late_samples_land_in_their_second() {
        let mut t = Timeline::default();
        t.record(0, Some(10));
        t.record(1, Some(20));
        t.record(0, Some(30));
        let seconds: Vec<Interval> = t.intervals().collect();
        assert_eq!(seconds[0].ok.len(), 2);
        assert_eq!(seconds[1].ok.len(), 1);
    }

    #[test]
    fn a_sealed_second_is_small() {
        let mut t = Timeline::default();
        for us in 0..5_000u64 {
            t.record(0, Some(20_000 + us % 3_000));
        }
        t.seal();
        let bytes: usize = t.sealed.iter().map(|s| s.ok.len()).sum();
        assert!(bytes < 2_000, "{bytes} bytes for one second");
    }

    #[test]
    fn huge_latencies_are_clamped_not_lost() {
        let mut r = Recorder::default();
        r.ok(200, Duration::from_secs(100_000));
        assert_eq!(r.ok_count(), 1);
        assert!(r.ok.max() >= MAX_TRACKABLE_US - MAX_TRACKABLE_US / 1000);
    }

    #[test]
    fn shards_merge_from_many_threads() {
        let shards = std::sync::Arc::new(Shards::new(3));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let s = shards.clone();
                std::thread::spawn(move || {
                    assign_thread_shard();
                    for _ in 0..1000 {
                        s.with(|r| r.ok(200, Duration::from_micros(50)));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(shards.merged().ok_count(), 4000);
    }
}
