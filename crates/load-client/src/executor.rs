//! The five executors: how a case turns into requests.
//!
//! * `sequential`: a blocking loop on the calling thread: each send blocks
//!   until its response is read (the same HTTP/1.1 exchange as the others,
//!   driven on a one-thread runtime), nothing overlaps.
//! * `single_task` and `tasks`: closed loop; N tasks each own a connection and
//!   send one request after another.
//! * `unbounded`: every request is spawned at once as its own task, on its
//!   own connection.
//! * `rate`: open loop; requests are due at `start + i/rate`, taken in order
//!   by a pool of connection workers that grows when sends fall behind, and
//!   latency is measured from the due time, so a stalled server shows as
//!   latency, not as fewer samples.
//!
//! "A connection" is a worker's own HTTP/1.1 connection, or with
//! `protocol: http2` a handle on a connection shared with
//! `streams_per_connection - 1` other workers (`crate::http2`); the
//! executors do not tell the two apart (`crate::http::Conn`).
//!
//! A [`Placement`] puts a case among shards (`crate::shard`): the open loop
//! sends only its shard's slots of the one-machine schedule, and every
//! executor can be told to start its measured phase at a wall-clock instant
//! (`--start-at`; an open loop that gets there late still starts at the
//! instant, so the lateness shows as latency).
//!
//! Every async case gets a runtime of its own (`current_thread` or
//! `multi_thread`), dropped at the end of the case with a short grace for
//! in-flight requests. Every loop is bounded by its request count or
//! duration and by the shared [`Stop`] flag.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::http::{Blocking, Conn, Connections, Endpoint, Outcome, Timing};
use crate::mix::{Pick, Prepared};
use crate::outcome::ErrorKind;
use crate::recorder::{assign_thread_shard, Progress, Recorder, Shards, LATE_THRESHOLD};
use crate::scenario::{Amount, Case, Rate, RuntimeKind, Shape, Warmup};
use crate::shard::Shard;

/// How long in-flight requests may finish after a stop before they are
/// abandoned and counted as `aborted`.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// A flag that asks every executor to stop launching requests.
#[derive(Debug, Default)]
pub struct Stop {
    flag: AtomicBool,
    notify: Notify,
}

impl Stop {
    /// Raises the flag and wakes whoever waits on it.
    pub fn trigger(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Whether the flag is raised.
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// Resolves once the flag is raised.
    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}

/// What one case measured.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// Histograms and error counts of the measured phase.
    pub recorder: Recorder,
    /// Wall time of the measured phase.
    pub wall: Duration,
    /// Requests sent in the measured phase.
    pub launched: u64,
    /// Open loop: intended sends never made because the case ended first.
    pub skipped: u64,
    /// Connects delayed by the back-off after a failed connect.
    pub connect_backoffs: u64,
    /// The first error any worker met (warm-up included), in words.
    pub first_error: Option<String>,
    /// Wall-clock time the measured phase started (for interval logs).
    pub started_at: std::time::SystemTime,
    /// With [`Placement::origin`]: how late (positive) or early (negative)
    /// the case was ready for its measured phase against the origin, seconds.
    pub start_skew: Option<f64>,
}

/// Where a case's measured phase sits among shards.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// The open loop sends this shard's slots of the whole schedule
    /// (closed loops are split before they get here: `crate::shard`).
    pub shard: Shard,
    /// When set, the measured phase starts at this wall-clock instant:
    /// closed loops wait for it (or start at once when it is past), the
    /// open loop's schedule starts at it even when it is already past.
    pub origin: Option<std::time::SystemTime>,
}

impl Default for Placement {
    fn default() -> Self {
        Placement {
            shard: Shard::WHOLE,
            origin: None,
        }
    }
}

/// Called once, when a case's warm-up is over and its measured phase is
/// about to start (the runner reads the embedded server's counters there).
pub type StartHook = Box<dyn FnOnce() + Send>;

/// Shared by all workers of one case.
struct Shared {
    endpoint: Arc<Endpoint>,
    /// Makes the workers' connections.
    connections: Connections,
    /// What each send carries, serialised once per case (see `crate::mix`).
    mix: Prepared,
    shards: Shards,
    progress: Arc<Progress>,
    stop: Arc<Stop>,
    /// Open loop: sends the schedule plans (0 for closed loops).
    planned: AtomicU64,
    /// When the measured phase started; set once, by whoever gets there first.
    start: OnceLock<(Instant, std::time::SystemTime)>,
    /// Runs once, just before the measured phase's start is taken.
    on_start: std::sync::Mutex<Option<StartHook>>,
    /// The open loop's slots (`Placement::shard`).
    slots: Shard,
    /// `Placement::origin` on the monotonic clock, with its wall-clock value.
    origin: Option<(Instant, std::time::SystemTime)>,
    /// Set with `start` when there is an origin: seconds late (+) or early (-).
    skew: OnceLock<f64>,
}

impl Shared {
    /// A new worker's connection (not open yet; over HTTP/2 a handle on a
    /// connection shared with `streams_per_connection - 1` other workers;
    /// each send brings its request).
    fn conn(&self) -> Conn {
        self.connections.conn()
    }

    /// Sends the request `pick` names on `conn`.
    async fn send(conn: &mut Conn, pick: Pick) -> Outcome {
        conn.send(pick).await
    }

    /// Sends the mix's next request on `conn`, unmeasured (warm-up).
    async fn warm(&self, conn: &mut Conn) {
        let _ = Self::send(conn, self.mix.pick()).await;
    }

    /// Marks the start of the measured phase (the first call wins; it runs
    /// the start hook first, so the hook's own time is not measured). With
    /// an origin the start is the origin, or now when the origin is past;
    /// the caller waits until the start ([`Shared::wait_for_start`]).
    fn mark_start(&self) -> Instant {
        self.mark_start_from(false)
    }

    /// The open loop's start: the origin even when it is past, so a shard
    /// that got there late sends its overdue slots at once and their
    /// lateness counts as latency.
    fn mark_start_open(&self) -> Instant {
        self.mark_start_from(true)
    }

    fn mark_start_from(&self, even_if_past: bool) -> Instant {
        self.start
            .get_or_init(|| {
                let hook = match self.on_start.lock() {
                    Ok(mut guard) => guard.take(),
                    Err(poisoned) => poisoned.into_inner().take(),
                };
                if let Some(hook) = hook {
                    hook();
                }
                let (now, wall) = (Instant::now(), std::time::SystemTime::now());
                match self.origin {
                    Some((at, at_wall)) => {
                        let late = now.saturating_duration_since(at).as_secs_f64();
                        let early = at.saturating_duration_since(now).as_secs_f64();
                        let _ = self.skew.set(late - early);
                        if even_if_past || at > now {
                            (at, at_wall)
                        } else {
                            (now, wall)
                        }
                    }
                    None => (now, wall),
                }
            })
            .0
    }

    /// Waits until the measured phase's start, when it lies ahead.
    async fn wait_for_start(&self) {
        if let Some((start, _)) = self.start.get() {
            if *start > Instant::now() {
                tokio::time::sleep_until((*start).into()).await;
            }
        }
    }

    /// Open loop: planned sends that never left (0 for closed loops).
    fn skipped(&self) -> u64 {
        let planned = self.planned.load(Ordering::Relaxed);
        planned.saturating_sub(self.progress.launched.load(Ordering::Relaxed))
    }

    /// Time since the measured phase started (zero if it never did).
    fn measured_wall(&self) -> Duration {
        self.start
            .get()
            .map_or(Duration::ZERO, |(at, _)| at.elapsed())
    }

    /// The second of the measured phase that `at` falls in.
    fn second(&self, at: Instant) -> u64 {
        self.start.get().map_or(0, |(start, _)| {
            at.saturating_duration_since(*start).as_secs()
        })
    }

    /// Records one finished request of the measured phase (mix entry
    /// `index`) that was sent at `sent`, with its phases; the clock is read
    /// once, for its latency, its second and its body time.
    fn record(&self, outcome: Outcome, sent: Instant, index: usize, timing: &Timing) {
        let done = Instant::now();
        self.record_with(
            outcome,
            done.saturating_duration_since(sent),
            done,
            index,
            timing,
            |_| {},
        );
    }

    /// Records one finished request of mix entry `index` that ended at
    /// `done`, with its phases and extra bookkeeping on the shard.
    fn record_with(
        &self,
        outcome: Outcome,
        latency: Duration,
        done: Instant,
        index: usize,
        timing: &Timing,
        extra: impl FnOnce(&mut Recorder),
    ) {
        let per_request = self.mix.per_request();
        let second = self.second(done);
        let micros = crate::recorder::micros(latency);
        match &outcome {
            Ok(_) => self.progress.ok(micros),
            Err((kind, _)) => self.progress.failed(*kind),
        }
        self.shards.with(|r| {
            if per_request {
                r.request(index).record(outcome, latency);
            }
            r.phases.record(timing, done, outcome.is_ok());
            match outcome {
                Ok(status) => {
                    r.ok(status, latency);
                    r.timeline.record(second, Some(micros));
                }
                Err((kind, status)) => {
                    r.failed(kind, status, latency);
                    r.timeline.record(second, None);
                }
            }
            extra(r);
        });
    }
}

/// Runs one case to its end (or until `stop`), returning what it measured.
/// `on_start` runs once, after the warm-up and before the measured phase.
pub fn run_case(
    case: &Case,
    endpoint: Arc<Endpoint>,
    progress: Arc<Progress>,
    stop: Arc<Stop>,
    on_start: Option<StartHook>,
    placement: Placement,
) -> std::io::Result<Measurement> {
    let threads = match case.runtime {
        RuntimeKind::CurrentThread => 1,
        RuntimeKind::MultiThread => std::thread::available_parallelism().map_or(2, |n| n.get()),
    };
    let shared = Arc::new(Shared {
        connections: Connections::new(endpoint.clone())?,
        mix: endpoint.mix.prepare(
            endpoint.scheme(),
            &endpoint.authority,
            endpoint.connection,
            endpoint.protocol,
        )?,
        endpoint,
        shards: Shards::new(threads + 1),
        progress,
        stop,
        planned: AtomicU64::new(0),
        start: OnceLock::new(),
        on_start: std::sync::Mutex::new(on_start),
        slots: placement.shard,
        origin: placement.origin.map(origin_instant),
        skew: OnceLock::new(),
    });
    let (wall, skipped) = match case.shape {
        Shape::Sequential(amount) => sequential(&shared, amount, case.warmup)?,
        shape => {
            let runtime = build_runtime(case.runtime)?;
            let result = runtime.block_on(run_async(shape, case.warmup, shared.clone()));
            // Abandon whatever is still in flight after the grace.
            runtime.shutdown_timeout(Duration::from_millis(100));
            result
        }
    };
    let mut recorder = shared.shards.merged();
    let launched = shared.progress.launched.load(Ordering::SeqCst);
    let finished = recorder.ok_count() + recorder.errors.total();
    let aborted = launched.saturating_sub(finished);
    recorder.errors.add_many(ErrorKind::Aborted, aborted);
    shared.progress.aborted(aborted);
    let started_at = shared
        .start
        .get()
        .map_or_else(std::time::SystemTime::now, |(_, at)| *at);
    Ok(Measurement {
        recorder,
        wall,
        launched,
        skipped,
        connect_backoffs: shared.endpoint.backoffs.load(Ordering::Relaxed),
        first_error: shared.endpoint.first_error.get().cloned(),
        started_at,
        start_skew: shared.skew.get().copied(),
    })
}

/// A wall-clock instant on the monotonic clock (the clocks are read once,
/// together).
fn origin_instant(at: std::time::SystemTime) -> (Instant, std::time::SystemTime) {
    let (now, wall) = (Instant::now(), std::time::SystemTime::now());
    let instant = match at.duration_since(wall) {
        Ok(ahead) => now + ahead,
        Err(past) => now.checked_sub(past.duration()).unwrap_or(now),
    };
    (instant, at)
}

fn build_runtime(kind: RuntimeKind) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match kind {
        RuntimeKind::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        RuntimeKind::MultiThread => tokio::runtime::Builder::new_multi_thread(),
    };
    builder
        .enable_all()
        .thread_name("load-client-worker")
        .on_thread_start(assign_thread_shard)
        .build()
}

async fn run_async(shape: Shape, warmup: Warmup, shared: Arc<Shared>) -> (Duration, u64) {
    assign_thread_shard();
    let stop = shared.stop.clone();
    let work = async {
        match shape {
            Shape::SingleTask(amount) => (closed_loop(&shared, 1, amount, warmup).await, 0),
            Shape::Tasks { tasks, per_task } => {
                (closed_loop(&shared, tasks.get(), per_task, warmup).await, 0)
            }
            Shape::Unbounded { requests } => (unbounded(&shared, requests.get(), warmup).await, 0),
            Shape::Rate {
                rate,
                duration,
                max_in_flight,
            } => open_loop(&shared, rate, duration, max_in_flight.get(), warmup).await,
            Shape::Sequential(_) => (Duration::ZERO, 0),
        }
    };
    // After a stop, in-flight requests get STOP_GRACE to finish; what the
    // schedule planned but never sent is counted as skipped.
    tokio::select! {
        result = work => result,
        _ = async { stop.wait().await; tokio::time::sleep(STOP_GRACE).await } => {
            (shared.measured_wall(), shared.skipped())
        }
    }
}

/// Worker `index`'s share of a warm-up split over `workers`: requests split
/// exactly (the shares add up to the warm-up, some may be zero), or the
/// warm-up's duration for every worker.
fn warmup_share(warmup: Warmup, workers: u64, index: u64) -> Option<Amount> {
    match warmup {
        Warmup::None => None,
        Warmup::Requests(n) => {
            let n = u128::from(n.get());
            let (w, i) = (u128::from(workers.max(1)), u128::from(index));
            let share = (n * (i + 1) / w - n * i / w) as u64;
            std::num::NonZeroU64::new(share).map(Amount::Requests)
        }
        Warmup::Time(d) => Some(Amount::Time(d)),
    }
}

/// Whether a worker that has sent `sent` requests may send another.
fn may_send(amount: Amount, sent: u64, deadline: Option<Instant>, stop: &Stop) -> bool {
    if stop.is_set() {
        return false;
    }
    match amount {
        Amount::Requests(n) => sent < n.get(),
        Amount::Time(_) => deadline.is_some_and(|d| Instant::now() < d),
    }
}

fn deadline_of(amount: Amount) -> Option<Instant> {
    match amount {
        Amount::Time(d) => Some(Instant::now() + d),
        Amount::Requests(_) => None,
    }
}

/// Closed loop: `tasks` workers, each on its own connection. Without a
/// warm-up the measured phase starts before the first spawn and every task
/// goes straight to its first send, as `unbounded` does. With a warm-up,
/// each task warms its connection and waits at a [`StartGate`]; the last
/// one to arrive starts the measured phase and opens the gate.
async fn closed_loop(shared: &Arc<Shared>, tasks: u32, amount: Amount, warmup: Warmup) -> Duration {
    let gate = match warmup {
        Warmup::None => {
            shared.mark_start();
            shared.wait_for_start().await;
            None
        }
        _ => Some(Arc::new(StartGate::new(tasks))),
    };
    // Spawned from this (the `block_on`) thread while the workers already
    // run the first tasks, and each task closes its own connection: both
    // measured faster than spawning from a worker or closing connections
    // after the case (see ARCHITECTURE.md, "Performance notes").
    let mut handles = Vec::with_capacity(tasks as usize);
    for index in 0..tasks {
        let warm = warmup_share(warmup, u64::from(tasks), u64::from(index));
        let shared = shared.clone();
        let gate = gate.clone();
        handles.push(tokio::spawn(async move {
            let mut conn = shared.conn();
            if let Some(warm) = warm {
                let deadline = deadline_of(warm);
                let mut sent = 0;
                while may_send(warm, sent, deadline, &shared.stop) {
                    shared.warm(&mut conn).await;
                    sent += 1;
                }
            }
            if let Some(gate) = gate {
                gate.arrive(|| {
                    shared.mark_start();
                })
                .await;
                shared.wait_for_start().await;
            }
            let deadline = deadline_of(amount);
            let mut sent = 0;
            while may_send(amount, sent, deadline, &shared.stop) {
                shared.progress.launch();
                let pick = shared.mix.pick();
                let index = pick.index;
                let start = Instant::now();
                let outcome = Shared::send(&mut conn, pick).await;
                shared.record(outcome, start, index, conn.timing());
                sent += 1;
            }
        }));
    }
    for handle in handles {
        let _ = handle.await;
    }
    shared.measured_wall()
}

/// Where closed-loop tasks wait after their warm-up: the last of them to
/// arrive marks the start of the measured phase and lets all of them go.
/// Cheaper than a `Barrier` of N + 1 parties (one atomic decrement per task;
/// one wake-up of all waiters).
struct StartGate {
    /// Tasks that have not arrived yet.
    remaining: AtomicU64,
    open: AtomicBool,
    notify: Notify,
}

impl StartGate {
    fn new(tasks: u32) -> StartGate {
        StartGate {
            remaining: AtomicU64::new(u64::from(tasks)),
            open: AtomicBool::new(false),
            notify: Notify::new(),
        }
    }

    /// Arrives at the gate and waits until every task has arrived; the last
    /// one runs `on_last` (marks the start of the measured phase) before it
    /// opens the gate.
    async fn arrive(&self, on_last: impl FnOnce()) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            on_last();
            self.open.store(true, Ordering::Release);
            self.notify.notify_waiters();
            return;
        }
        loop {
            let notified = self.notify.notified();
            if self.open.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

/// Warms `workers` connections with `warmup` (split between them) and
/// returns them, open and ready.
async fn warm_connections(shared: &Arc<Shared>, workers: u64, warmup: Warmup) -> Vec<Conn> {
    let mut set = tokio::task::JoinSet::new();
    let mut cold = Vec::new();
    for index in 0..workers {
        let mut conn = shared.conn();
        let Some(amount) = warmup_share(warmup, workers, index) else {
            cold.push(conn);
            continue;
        };
        let shared = shared.clone();
        set.spawn(async move {
            let deadline = deadline_of(amount);
            let mut sent = 0;
            while may_send(amount, sent, deadline, &shared.stop) {
                shared.warm(&mut conn).await;
                sent += 1;
            }
            conn
        });
    }
    let mut warmed = Vec::new();
    while let Some(conn) = set.join_next().await {
        if let Ok(conn) = conn {
            warmed.push(conn);
        }
    }
    warmed.extend(cold);
    warmed
}

async fn unbounded(shared: &Arc<Shared>, requests: u64, warmup: Warmup) -> Duration {
    // Warm connections serve the first requests; the rest open their own.
    let mut warm = warm_connections(shared, requests.min(64), warmup).await;
    // Opened connections go first (pop takes from the end).
    warm.reverse();
    let start = shared.mark_start();
    shared.wait_for_start().await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..requests {
        if shared.stop.is_set() {
            break;
        }
        shared.progress.launch();
        let mut conn = warm.pop().unwrap_or_else(|| shared.conn());
        let shared = shared.clone();
        set.spawn(async move {
            let pick = shared.mix.pick();
            let index = pick.index;
            let sent = Instant::now();
            let outcome = Shared::send(&mut conn, pick).await;
            shared.record(outcome, sent, index, conn.timing());
        });
    }
    while set.join_next().await.is_some() {}
    start.elapsed()
}

/// The open loop's arithmetic: the interval between sends and how many
/// sends fit in `duration`. Validation bounds rate and duration so that
/// both, and every due time `start + i * interval`, fit their types.
pub(crate) fn plan(rate: Rate, duration: Duration) -> (Duration, u64) {
    let interval = Duration::from_secs_f64(1.0 / rate.per_second());
    let planned = (rate.per_second() * duration.as_secs_f64()).floor() as u64;
    (interval, planned)
}

/// Granularity of tokio's timer: open-loop sends aim this much early.
const TIMER_SLACK: Duration = Duration::from_millis(1);

/// The open loop's schedule: ticket `i` is due at `start + i/rate`.
struct Schedule {
    start: Instant,
    interval: Duration,
    end: Instant,
    planned: u64,
    /// Which slots of the whole schedule are this shard's.
    slots: Shard,
    next: AtomicU64,
    /// Workers alive (or reserved by `grow` and about to start).
    workers: AtomicU64,
    /// The pool never grows past this (`max_in_flight`)...
    max_workers: u64,
    /// ...nor retires below this (the workers it started with).
    min_workers: u64,
    /// Woken when the last worker ends.
    all_done: Notify,
}

/// A worker that waited longer than this for its ticket's due time retires
/// after the send, unless the pool is back at its starting size: after a
/// stall the pool shrinks again instead of keeping idle connections.
const RETIRE_AFTER_IDLE: Duration = Duration::from_millis(100);

impl Schedule {
    /// The next ticket's due time, or `None` when the schedule is done (all
    /// tickets taken, the send window closed, or a stop).
    fn take(&self, stop: &Stop) -> Option<Instant> {
        if stop.is_set() || Instant::now() >= self.end {
            return None;
        }
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        let j = self.slots.slot(k);
        (k < self.planned).then(|| self.start + self.interval.mul_f64(j as f64))
    }

    /// Reserves a slot for one more worker, if the cap allows.
    fn grow(&self) -> bool {
        self.workers
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                (w < self.max_workers).then_some(w + 1)
            })
            .is_ok()
    }

    /// Gives up one worker's slot, if the pool is above its starting size.
    fn shrink(&self) -> bool {
        self.workers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                (w > self.min_workers).then_some(w - 1)
            })
            .is_ok()
    }

    /// Waits until every worker has ended.
    async fn drained(&self) {
        while self.workers.load(Ordering::Acquire) > 0 {
            self.all_done.notified().await;
        }
    }
}

/// Held by a running worker; gives its place in `workers` back when the
/// worker ends, unless `shrink` already took it (a retiring worker, never
/// the last one).
struct WorkerSlot {
    schedule: Arc<Schedule>,
    /// Set when the worker already gave its slot up (`shrink`).
    released: bool,
}

impl Drop for WorkerSlot {
    fn drop(&mut self) {
        if !self.released && self.schedule.workers.fetch_sub(1, Ordering::AcqRel) == 1 {
            // A permit is stored if nobody waits yet, so no wake-up is lost.
            self.schedule.all_done.notify_one();
        }
    }
}

/// Open loop. Workers, each with its own connection, take tickets from the
/// schedule in order; a worker that finds its ticket already overdue adds
/// another worker (up to `max_in_flight`), so the pool grows to whatever
/// concurrency the rate needs, and a worker that finds itself idle retires
/// (down to the starting size). Latency is measured from the ticket's due
/// time, so time spent waiting for a free worker counts.
async fn open_loop(
    shared: &Arc<Shared>,
    rate: Rate,
    duration: Duration,
    max_in_flight: u32,
    warmup: Warmup,
) -> (Duration, u64) {
    let initial = u64::from(max_in_flight).min(16);
    let conns = warm_connections(shared, initial, warmup).await;
    let start = shared.mark_start_open();
    let (interval, planned) = plan(rate, duration);
    let schedule = Arc::new(Schedule {
        start,
        interval,
        end: start + duration,
        planned: shared.slots.open_slots(planned),
        slots: shared.slots,
        next: AtomicU64::new(0),
        workers: AtomicU64::new(conns.len() as u64),
        max_workers: u64::from(max_in_flight),
        min_workers: conns.len() as u64,
        all_done: Notify::new(),
    });
    shared.planned.store(schedule.planned, Ordering::Relaxed);
    for conn in conns {
        spawn_rate_worker(shared, &schedule, conn);
    }
    schedule.drained().await;
    (start.elapsed(), shared.skipped())
}

/// Starts one open-loop worker; its slot in `schedule.workers` is already
/// counted.
fn spawn_rate_worker(shared: &Arc<Shared>, schedule: &Arc<Schedule>, conn: Conn) {
    let (shared, schedule) = (shared.clone(), schedule.clone());
    tokio::spawn(async move {
        let mut slot = WorkerSlot {
            schedule: schedule.clone(),
            released: false,
        };
        let mut conn = conn;
        while let Some(due) = schedule.take(&shared.stop) {
            let now = Instant::now();
            let idle = due.saturating_duration_since(now);
            if due > now + TIMER_SLACK {
                // The timer wakes up to a millisecond late; aim that much
                // early and measure from the send when it is early, so
                // timer lateness never shows up as server latency.
                tokio::time::sleep_until((due - TIMER_SLACK).into()).await;
            } else if now.saturating_duration_since(due) > TIMER_SLACK && schedule.grow() {
                let fresh = shared.conn();
                spawn_rate_worker(&shared, &schedule, fresh);
            }
            shared.progress.launch();
            let pick = shared.mix.pick();
            let index = pick.index;
            let send_at = Instant::now();
            let outcome = Shared::send(&mut conn, pick).await;
            let done = Instant::now();
            let late = send_at.saturating_duration_since(due) > LATE_THRESHOLD;
            let succeeded = outcome.is_ok();
            let from = due.min(send_at);
            let per_request = shared.mix.per_request();
            let latency = done.saturating_duration_since(from);
            let timing = *conn.timing();
            shared.record_with(outcome, latency, done, index, &timing, |r| {
                r.late += u64::from(late);
                if per_request {
                    r.request(index).late += u64::from(late);
                }
                if succeeded {
                    r.service
                        .saturating_record(crate::recorder::micros(done - send_at));
                }
            });
            if idle > RETIRE_AFTER_IDLE && schedule.shrink() {
                slot.released = true;
                break;
            }
        }
        drop(slot);
    });
}

fn sequential(
    shared: &Arc<Shared>,
    amount: Amount,
    warmup: Warmup,
) -> std::io::Result<(Duration, u64)> {
    assign_thread_shard();
    let mut client = Blocking::new(shared.conn())?;
    if let Some(warm) = warmup_share(warmup, 1, 0) {
        let deadline = deadline_of(warm);
        let mut sent = 0;
        while may_send(warm, sent, deadline, &shared.stop) {
            let pick = shared.mix.pick();
            let _ = client.send(pick);
            sent += 1;
        }
    }
    let start = shared.mark_start();
    // Wait for a `--start-at` origin, in short naps so Ctrl-C still stops it.
    while let Some(ahead) = start.checked_duration_since(Instant::now()) {
        if shared.stop.is_set() {
            break;
        }
        std::thread::sleep(ahead.min(Duration::from_millis(50)));
    }
    let deadline = deadline_of(amount);
    let mut sent = 0;
    while may_send(amount, sent, deadline, &shared.stop) {
        shared.progress.launch();
        let pick = shared.mix.pick();
        let index = pick.index;
        let t0 = Instant::now();
        let outcome = client.send(pick);
        shared.record(outcome, t0, index, client.timing());
        sent += 1;
    }
    Ok((start.elapsed(), 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Nobody passes the start gate before the last task arrives; the last
    /// one starts the measured phase once, and then everybody passes.
    #[tokio::test]
    async fn the_start_gate_opens_when_the_last_task_arrives() {
        let gate = Arc::new(StartGate::new(3));
        let opened = Arc::new(AtomicU64::new(0));
        let passed = Arc::new(AtomicU64::new(0));
        let mut early = Vec::new();
        for _ in 0..2 {
            let (gate, opened, passed) = (gate.clone(), opened.clone(), passed.clone());
            early.push(tokio::spawn(async move {
                gate.arrive(|| {
                    opened.fetch_add(1, Ordering::SeqCst);
                })
                .await;
                passed.fetch_add(1, Ordering::SeqCst);
            }));
        }
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        assert_eq!(passed.load(Ordering::SeqCst), 0, "passed a closed gate");
        assert_eq!(opened.load(Ordering::SeqCst), 0, "opened before the last");
        gate.arrive(|| {
            opened.fetch_add(1, Ordering::SeqCst);
        })
        .await;
        for handle in early {
            handle.await.unwrap();
        }
        assert_eq!(passed.load(Ordering::SeqCst), 2);
        assert_eq!(opened.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn warmup_shares_add_up_exactly() {
        for (n, workers) in [
            (10u64, 64u64),
            (10, 3),
            (64, 64),
            (1, 1),
            (1000, 7),
            (5, 100_000),
        ] {
            let warmup = Warmup::Requests(std::num::NonZeroU64::new(n).unwrap());
            let total: u64 = (0..workers)
                .map(|i| match warmup_share(warmup, workers, i) {
                    Some(Amount::Requests(k)) => k.get(),
                    _ => 0,
                })
                .sum();
            assert_eq!(total, n, "{n} over {workers} workers");
        }
    }

    /// A schedule's tickets for one shard, as due times.
    fn due_times(rate: f64, duration: Duration, shard: Shard, start: Instant) -> Vec<Instant> {
        let rate: Rate = format!("{rate}/s").parse().unwrap();
        let (interval, planned) = plan(rate, duration);
        let schedule = Schedule {
            start,
            interval,
            end: start + Duration::from_secs(3600),
            planned: shard.open_slots(planned),
            slots: shard,
            next: AtomicU64::new(0),
            workers: AtomicU64::new(0),
            max_workers: 1,
            min_workers: 0,
            all_done: Notify::new(),
        };
        let stop = Stop::default();
        std::iter::from_fn(|| schedule.take(&stop)).collect()
    }

    proptest! {
        /// The shards' schedules, taken ticket by ticket as workers take
        /// them, are exactly the one-machine schedule's due times.
        #[test]
        fn sharded_schedules_partition_the_whole_schedule(
            rate in 1f64..2_000.0,
            millis in 1u64..2_000,
            n in 1u32..12,
        ) {
            let start = Instant::now();
            let duration = Duration::from_millis(millis);
            let whole = due_times(rate, duration, Shard::WHOLE, start);
            let mut union: Vec<Instant> = (0..n)
                .flat_map(|i| due_times(rate, duration, Shard::new(i, u64::from(n), "t").unwrap(), start))
                .collect();
            union.sort();
            prop_assert_eq!(union, whole);
        }

        /// Whatever numbers a scenario holds, once validated the executors'
        /// schedule arithmetic cannot panic or overflow.
        #[test]
        fn validated_numbers_keep_the_schedule_arithmetic_in_range(
            rate in prop_oneof![Just(1e-30f64), Just(1e30), 1e-6f64..1e8],
            seconds in prop_oneof![Just(1e-9f64), Just(1e12), 1e-4f64..2e5],
            warmup in prop_oneof![Just(u64::MAX), 0u64..2_000_000_000],
            warm_seconds in 0f64..1e7,
        ) {
            let text = format!(
                "url: http://127.0.0.1:1/\ndefaults: {{warmup: {warmup}}}\ncases:\n\
                 \x20 - {{name: r, executor: rate, rate: {rate}/s, duration: {seconds}s}}\n\
                 \x20 - {{name: w, executor: tasks, tasks: 3, duration: {seconds}s, warmup: {warm_seconds}s}}\n"
            );
            let Ok(scenario) = crate::scenario::parse(std::path::Path::new("p.yaml"), &text, &[], &[]) else {
                return Ok(());
            };
            let start = Instant::now();
            for case in &scenario.cases {
                match case.shape {
                    Shape::Rate { rate, duration, .. } => {
                        let (interval, planned) = plan(rate, duration);
                        let last = start + interval.mul_f64(planned.saturating_sub(1) as f64);
                        prop_assert!(last <= start + duration + interval);
                        prop_assert!(case.shape.planned_requests().is_some());
                    }
                    Shape::Tasks { tasks, per_task } => {
                        let _ = deadline_of(per_task);
                        for i in 0..u64::from(tasks.get()) {
                            if let Some(amount) = warmup_share(case.warmup, u64::from(tasks.get()), i) {
                                let _ = deadline_of(amount);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}
