//! The server's run-time state: the layout fixed at start (routing table,
//! admission units, per-route and per-pool counters) and the settings that
//! change while it runs (control API, phases), swapped as a whole.
//!
//! A request loads the current [`Live`] once (one `arc-swap` load: no lock,
//! no shared write) and matches its route once against the [`Layout`]'s
//! precompiled rules. A change builds a new `Live`, resizes the admission
//! units (see `admission`), then swaps it in, under a mutex that only
//! changes take, and records what changed and when.
//!
//! Admission units: index 0 is the top level's slots, then one per named
//! pool (in name order), then one per route with a capacity of its own.
//! Without routes and pools the top level's unit counts in the server's
//! total counters, so a plain server moves one set of counters per step.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use http::{Method, StatusCode};

use crate::admission::Admission;
use crate::config::{patch, Behaviour, ConfigError, Overflow, RouteCapacity, Settings};
use crate::delay::DelayModel;
use crate::routing::Router;
use crate::stats::{Counters, PhaseRecord, Stats, StatsSnapshot};

/// What a request gets, and whether its delay is zero whatever the draw.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) behaviour: Behaviour,
    pub(crate) no_delay: bool,
    /// Index into [`Layout::nth`] and the admission unit.
    pub(crate) unit: usize,
}

/// The refusal policy of one admission unit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnitPolicy {
    pub(crate) overflow: Overflow,
    pub(crate) reject_status: StatusCode,
    pub(crate) retry_after: Duration,
}

/// The settings in force, swapped as a whole.
#[derive(Debug)]
pub(crate) struct Live {
    pub(crate) settings: Settings,
    /// Unmatched requests.
    pub(crate) top: Plan,
    /// One per route, in order.
    pub(crate) routes: Vec<Plan>,
    /// One per admission unit.
    pub(crate) units: Vec<UnitPolicy>,
}

impl Live {
    fn new(settings: Settings, layout: &Layout) -> Live {
        let plan = |behaviour: Behaviour, unit| Plan {
            no_delay: behaviour.delay == DelayModel::Fixed(Duration::ZERO)
                && behaviour.per_in_service.is_zero(),
            behaviour,
            unit,
        };
        let top = plan(settings.behaviour(), 0);
        let routes = settings
            .routes
            .iter()
            .zip(&layout.route_unit)
            .map(|(r, unit)| plan(r.behaviour.clone(), *unit))
            .collect();
        let units = unit_limits(&settings)
            .into_iter()
            .map(|l| l.policy)
            .collect();
        Live {
            settings,
            top,
            routes,
            units,
        }
    }

    /// The plan of route `rule` (`None`: unmatched).
    pub(crate) fn plan(&self, rule: Option<usize>) -> &Plan {
        rule.and_then(|r| self.routes.get(r)).unwrap_or(&self.top)
    }
}

/// One admission unit's limits in a set of settings.
struct UnitLimits {
    capacity: Option<std::num::NonZeroUsize>,
    queue: u64,
    queue_timeout: Duration,
    policy: UnitPolicy,
}

/// Every unit's limits, in unit order (see the module doc).
fn unit_limits(s: &Settings) -> Vec<UnitLimits> {
    let top = UnitLimits {
        capacity: s.capacity,
        queue: s.queue,
        queue_timeout: s.queue_timeout,
        policy: UnitPolicy {
            overflow: s.overflow,
            reject_status: s.reject_status,
            retry_after: s.retry_after,
        },
    };
    let of = |a: &crate::config::AdmitSettings| UnitLimits {
        capacity: Some(a.capacity),
        queue: a.queue,
        queue_timeout: a.queue_timeout,
        policy: UnitPolicy {
            overflow: a.overflow,
            reject_status: a.reject_status,
            retry_after: a.retry_after,
        },
    };
    let pools = s.pools.iter().map(|p| of(&p.admit));
    let own = s.routes.iter().filter_map(|r| match &r.capacity {
        RouteCapacity::Own(a) => Some(of(a)),
        _ => None,
    });
    std::iter::once(top).chain(pools).chain(own).collect()
}

/// Slots and queue of one admission unit, and its counters.
#[derive(Debug)]
pub(crate) struct Unit {
    pub(crate) admission: Admission,
    pub(crate) stats: Arc<Stats>,
}

/// What is fixed once the server runs.
#[derive(Debug)]
pub(crate) struct Layout {
    router: Router,
    /// The admission unit of each route.
    route_unit: Vec<usize>,
    route_names: Vec<String>,
    route_stats: Vec<Arc<Stats>>,
    pool_names: Vec<String>,
    pub(crate) units: Vec<Unit>,
    pub(crate) total: Arc<Stats>,
    /// Requests that reached service, per route and for unmatched ones
    /// (last), for `error_every` and `reset_every`.
    nth: Vec<AtomicU64>,
}

impl Layout {
    fn new(s: &Settings) -> Layout {
        let total = Arc::new(Stats::new());
        let plain = s.routes.is_empty() && s.pools.is_empty();
        let route_stats: Vec<Arc<Stats>> =
            s.routes.iter().map(|_| Arc::new(Stats::new())).collect();
        let mut units = Vec::new();
        let mut route_unit = Vec::new();
        let limits = unit_limits(s);
        let mut limits = limits.iter();
        let mut unit = |stats: Arc<Stats>, limits: Option<&UnitLimits>| {
            let admission = limits.map_or_else(
                || Admission::new(None, 0, Duration::ZERO),
                |l| Admission::new(l.capacity, l.queue, l.queue_timeout),
            );
            units.push(Unit { admission, stats });
            units.len() - 1
        };
        let top_stats = if plain {
            Arc::clone(&total)
        } else {
            Arc::new(Stats::new())
        };
        unit(top_stats, limits.next());
        for _ in &s.pools {
            unit(Arc::new(Stats::new()), limits.next());
        }
        for (route, stats) in s.routes.iter().zip(&route_stats) {
            let index = match &route.capacity {
                RouteCapacity::Shared => 0,
                RouteCapacity::Pool(name) => {
                    1 + s.pools.iter().position(|p| &p.name == name).unwrap_or(0)
                }
                RouteCapacity::Own(_) => unit(Arc::clone(stats), limits.next()),
            };
            route_unit.push(index);
        }
        Layout {
            router: Router::new(
                s.routes
                    .iter()
                    .map(|r| (r.methods.as_slice(), r.path.as_str())),
            ),
            route_unit,
            route_names: s.routes.iter().map(|r| r.name.clone()).collect(),
            route_stats,
            pool_names: s.pools.iter().map(|p| p.name.clone()).collect(),
            units,
            total,
            nth: (0..=s.routes.len()).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The route a request falls under, if any.
    pub(crate) fn find(&self, method: &Method, path: &str) -> Option<usize> {
        self.router.find(method, path)
    }

    /// The counters a request of route `rule` moves.
    pub(crate) fn counters(&self, rule: Option<usize>) -> Counters<'_> {
        if self.route_stats.is_empty() && self.units.len() == 1 {
            return Counters::single(&self.total);
        }
        let unit = rule
            .and_then(|r| self.route_unit.get(r))
            .copied()
            .unwrap_or(0);
        let unit = &self.units.get(unit).unwrap_or(&self.units[0]).stats;
        Counters::new(
            &self.total,
            rule.and_then(|r| self.route_stats.get(r)),
            unit,
        )
    }

    /// The admission unit of route `rule`.
    pub(crate) fn unit(&self, plan: &Plan) -> &Unit {
        self.units.get(plan.unit).unwrap_or(&self.units[0])
    }

    /// The number of the request of route `rule` that reached service,
    /// from 1.
    pub(crate) fn nth(&self, rule: Option<usize>) -> u64 {
        let i = rule.unwrap_or(self.nth.len() - 1);
        self.nth.get(i).map_or(0, |n| n.fetch_add(1, Relaxed) + 1)
    }

    fn snapshot(&self) -> StatsSnapshot {
        let mut snapshot = self.total.snapshot();
        for (name, stats) in self.route_names.iter().zip(&self.route_stats) {
            snapshot.routes.insert(name.clone(), stats.snapshot());
        }
        for (name, unit) in self.pool_names.iter().zip(self.units.iter().skip(1)) {
            snapshot.pools.insert(name.clone(), unit.stats.snapshot());
        }
        snapshot
    }

    fn reset_peaks(&self) {
        self.total.reset_peaks();
        for stats in self
            .route_stats
            .iter()
            .chain(self.units.iter().map(|u| &u.stats))
        {
            stats.reset_peaks();
        }
    }

    fn reset(&self) {
        self.total.reset();
        for stats in self
            .route_stats
            .iter()
            .chain(self.units.iter().map(|u| &u.stats))
        {
            stats.reset();
        }
    }
}

/// The run-time changes so far and the clock they are timed on.
#[derive(Debug)]
struct PhaseLog {
    start: Instant,
    records: Vec<PhaseRecord>,
}

/// The layout, the live settings and the log of changes.
#[derive(Debug)]
pub(crate) struct Runtime {
    pub(crate) layout: Layout,
    live: ArcSwap<Live>,
    /// The settings the server started with (a schedule restart goes back
    /// to them).
    initial: Settings,
    log: Mutex<PhaseLog>,
}

impl Runtime {
    pub(crate) fn new(settings: &Settings) -> Runtime {
        let layout = Layout::new(settings);
        let live = Live::new(settings.clone(), &layout);
        Runtime {
            layout,
            live: ArcSwap::from_pointee(live),
            initial: settings.clone(),
            log: Mutex::new(PhaseLog {
                start: Instant::now(),
                records: Vec::new(),
            }),
        }
    }

    /// The settings in force, for one request's synchronous part.
    pub(crate) fn load(&self) -> arc_swap::Guard<Arc<Live>> {
        self.live.load()
    }

    /// The settings in force, to keep across awaits.
    pub(crate) fn load_full(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// The phases of the schedule.
    pub(crate) fn schedule(&self) -> &[crate::config::Phase] {
        &self.initial.schedule
    }

    fn log(&self) -> std::sync::MutexGuard<'_, PhaseLog> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies a merge patch; refused patches change nothing. `source` and
    /// `due` are recorded with it.
    pub(crate) fn patch(
        &self,
        patch: &serde_json::Value,
        source: String,
        due: Option<Duration>,
    ) -> Result<(), ConfigError> {
        let mut log = self.log();
        let next = patch::apply(&self.live.load().settings, patch)?;
        self.install(next);
        let applied = log.start.elapsed();
        log.records.push(PhaseRecord {
            source,
            due_seconds: due.map(|d| d.as_secs_f64()),
            applied_seconds: applied.as_secs_f64(),
            set: patch.clone(),
        });
        Ok(())
    }

    /// Goes back to the initial settings and restarts the schedule's clock
    /// (and the log of changes) now; returns the new start.
    pub(crate) fn restart(&self) -> Instant {
        let mut log = self.log();
        self.install(self.initial.clone());
        log.start = Instant::now();
        log.records.clear();
        log.start
    }

    /// When the schedule's clock started.
    pub(crate) fn started(&self) -> Instant {
        self.log().start
    }

    /// Resizes the units, then swaps the settings in.
    fn install(&self, next: Settings) {
        for (unit, limits) in self.layout.units.iter().zip(unit_limits(&next)) {
            unit.admission
                .resize(limits.capacity, limits.queue, limits.queue_timeout);
        }
        self.live.store(Arc::new(Live::new(next, &self.layout)));
    }

    /// Every counter, per route and pool, and the changes so far.
    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        let mut snapshot = self.layout.snapshot();
        snapshot.phases = self.log().records.clone();
        snapshot
    }

    /// Sets every peak back to the current value.
    pub(crate) fn reset_peaks(&self) {
        self.layout.reset_peaks();
    }

    /// Zeroes every counter (requests in flight stay counted).
    pub(crate) fn reset(&self) {
        self.layout.reset();
    }
}
