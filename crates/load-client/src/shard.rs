//! Sharding: which part of every case one of N processes runs, so that the
//! N shards together send exactly what one machine would have sent.
//!
//! - Open loop: the one-machine schedule is `start + j/rate` for
//!   `j = 0..planned`; shard I sends the slots with `j mod N = I`
//!   ([`Shard::open_slots`], [`Shard::slot`]). No coordinator is needed:
//!   each shard knows its slots from I, N, the rate and the duration.
//! - Closed loop and `unbounded`: a total R (tasks, requests, warm-up
//!   requests) is cut at the boundaries `floor(i·R/N)`; shard I gets
//!   `floor((I+1)·R/N) - floor(I·R/N)` ([`Shard::share`]), so nothing is
//!   lost or doubled for any R and N. The open loop's `max_in_flight` is
//!   cut the same way (at least 1 per shard), so the shards together hold
//!   no more requests in flight than one machine would. `sequential` and
//!   `single_task` are one worker by definition: shard 0 runs them, the
//!   others record an empty case.
//!
//! The arithmetic is pure; [`shard_case`] applies it to a case.

use std::fmt;
use std::num::{NonZeroU32, NonZeroU64};
use std::str::FromStr;

use crate::scenario::{Case, Shape, Warmup};

/// Shard `index` of `count` (`0 <= index < count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: NonZeroU32,
}

/// The most shards a run can be split into.
pub const MAX_SHARDS: u32 = 10_000;

/// Why a shard could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// `--shard` is not `I/N`.
    #[error("--shard {0:?}: expected I/N with 0 <= I < N <= {MAX_SHARDS}, e.g. 0/4")]
    Syntax(String),
    /// The index is not below the count.
    #[error("{what}: shard index {index} is not below the shard count {count} (indexes run from 0 to {})", count - 1)]
    IndexTooLarge {
        /// Where the index came from (`--shard`, `JOB_COMPLETION_INDEX`).
        what: String,
        /// The index.
        index: u32,
        /// The count.
        count: u32,
    },
    /// The count is 0 or above [`MAX_SHARDS`].
    #[error("{what}: shard count {count} must be between 1 and {MAX_SHARDS}")]
    Count {
        /// Where the count came from.
        what: String,
        /// The count.
        count: u64,
    },
    /// `--shards N` was given without `--shard` and the index variable is
    /// missing or not a number.
    #[error("--shards {count}: the shard index comes from the environment variable {var}, which is {problem}; set it to a number from 0 to {} (a Kubernetes Indexed Job does) or pass --shard I/{count}", count - 1)]
    IndexVariable {
        /// The variable's name.
        var: &'static str,
        /// `not set` or `"x", not a number`.
        problem: String,
        /// The shard count.
        count: u32,
    },
}

/// The environment variable a Kubernetes Indexed Job sets to the pod's index.
pub const INDEX_VARIABLE: &str = "JOB_COMPLETION_INDEX";

impl Shard {
    /// The whole run: shard 0 of 1.
    pub const WHOLE: Shard = Shard {
        index: 0,
        count: NonZeroU32::MIN,
    };

    /// Shard `index` of `count`; `what` names where they came from, for
    /// the error.
    pub fn new(index: u32, count: u64, what: &str) -> Result<Shard, ShardError> {
        let n = u32::try_from(count)
            .ok()
            .filter(|n| (1..=MAX_SHARDS).contains(n))
            .and_then(NonZeroU32::new)
            .ok_or_else(|| ShardError::Count {
                what: what.to_string(),
                count,
            })?;
        if index >= n.get() {
            return Err(ShardError::IndexTooLarge {
                what: what.to_string(),
                index,
                count: n.get(),
            });
        }
        Ok(Shard { index, count: n })
    }

    /// `--shards N` with the index from [`INDEX_VARIABLE`], whose value
    /// (`None` when unset) is passed in.
    pub fn from_index_variable(count: u64, value: Option<&str>) -> Result<Shard, ShardError> {
        let shown = u32::try_from(count).unwrap_or(u32::MAX);
        let bad = |problem: String| ShardError::IndexVariable {
            var: INDEX_VARIABLE,
            problem,
            count: shown,
        };
        let Some(text) = value else {
            // Check the count first: `--shards 0` is wrong whatever the index.
            Shard::new(0, count, "--shards")?;
            return Err(bad("not set".into()));
        };
        let index: u32 = text
            .trim()
            .parse()
            .map_err(|_| bad(format!("{text:?}, not a number")))?;
        Shard::new(
            index,
            count,
            &format!("--shards {count} with {INDEX_VARIABLE}={index}"),
        )
    }

    /// This shard's index, from 0.
    pub fn index(self) -> u32 {
        self.index
    }

    /// The number of shards.
    pub fn count(self) -> u32 {
        self.count.get()
    }

    /// Whether this is the whole run (1 shard).
    pub fn is_whole(self) -> bool {
        self.count.get() == 1
    }

    /// This shard's part of a total `r` cut at `floor(i·r/N)`.
    pub fn share(self, r: u64) -> u64 {
        let (r, n, i) = (
            u128::from(r),
            u128::from(self.count.get()),
            u128::from(self.index),
        );
        // At most r, so it fits.
        ((i + 1) * r / n - i * r / n) as u64
    }

    /// How many of the slots `j = 0..planned` are this shard's
    /// (`j mod N = I`).
    pub fn open_slots(self, planned: u64) -> u64 {
        let (i, n) = (u64::from(self.index), u64::from(self.count.get()));
        if planned <= i {
            0
        } else {
            (planned - i - 1) / n + 1
        }
    }

    /// The one-machine slot number of this shard's `k`-th send.
    pub fn slot(self, k: u64) -> u64 {
        u64::from(self.index).saturating_add(k.saturating_mul(u64::from(self.count.get())))
    }
}

impl Default for Shard {
    fn default() -> Self {
        Shard::WHOLE
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    /// Parses `I/N`.
    fn from_str(text: &str) -> Result<Shard, ShardError> {
        let syntax = || ShardError::Syntax(text.to_string());
        let (i, n) = text.split_once('/').ok_or_else(syntax)?;
        let index: u32 = i.trim().parse().map_err(|_| syntax())?;
        let count: u64 = n.trim().parse().map_err(|_| syntax())?;
        Shard::new(index, count, &format!("--shard {text}"))
    }
}

/// This shard's part of a case, or `None` when it has none (then the
/// shard records the case as empty). The open loop keeps its shape: the
/// executor takes the shard's slots of the whole schedule.
pub fn shard_case(case: &Case, shard: Shard) -> Option<Case> {
    if shard.is_whole() {
        return Some(case.clone());
    }
    let mut part = case.clone();
    part.warmup = match case.warmup {
        Warmup::Requests(n) => {
            NonZeroU64::new(shard.share(n.get())).map_or(Warmup::None, Warmup::Requests)
        }
        other => other,
    };
    part.shape = match case.shape {
        Shape::Sequential(_) | Shape::SingleTask(_) => {
            if shard.index() != 0 {
                return None;
            }
            case.shape
        }
        Shape::Tasks { tasks, per_task } => {
            let share = shard.share(u64::from(tasks.get()));
            let tasks = NonZeroU32::new(u32::try_from(share).ok()?)?;
            Shape::Tasks { tasks, per_task }
        }
        Shape::Unbounded { requests } => Shape::Unbounded {
            requests: NonZeroU64::new(shard.share(requests.get()))?,
        },
        Shape::Rate {
            rate,
            duration,
            max_in_flight,
        } => Shape::Rate {
            rate,
            duration,
            // The cap is the case's total too; a shard keeps at least one.
            max_in_flight: NonZeroU32::new(shard.share(u64::from(max_in_flight.get())) as u32)
                .unwrap_or(NonZeroU32::MIN),
        },
    };
    Some(part)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_refuses_shards() {
        assert_eq!("1/4".parse::<Shard>().unwrap().to_string(), "1/4");
        assert_eq!("0/1".parse::<Shard>().unwrap(), Shard::WHOLE);
        let err = |t: &str| t.parse::<Shard>().unwrap_err().to_string();
        assert!(err("4/4").contains("index 4 is not below the shard count 4"));
        assert!(err("0/0").contains("shard count 0 must be between 1 and 10000"));
        assert!(err("1").contains("expected I/N"));
        assert!(err("-1/4").contains("expected I/N"));
    }

    #[test]
    fn the_index_variable_is_checked_and_named() {
        let s = Shard::from_index_variable(4, Some("3")).unwrap();
        assert_eq!((s.index(), s.count()), (3, 4));
        let err = |n, v| Shard::from_index_variable(n, v).unwrap_err().to_string();
        assert!(err(4, None).contains("JOB_COMPLETION_INDEX, which is not set"));
        assert!(err(4, Some("x")).contains("JOB_COMPLETION_INDEX, which is \"x\", not a number"));
        assert!(err(4, Some("4")).contains("JOB_COMPLETION_INDEX=4"));
        assert!(err(0, Some("0")).contains("shard count 0"));
        assert!(err(0, None).contains("shard count 0"));
    }

    /// Each case's parts over 4 shards add up to the case: tasks,
    /// requests, warm-up and in-flight cap; one-worker cases go to shard 0.
    #[test]
    fn a_case_is_cut_into_parts_that_add_up() {
        let text = "url: http://127.0.0.1:1/\ndefaults: {warmup: 7}\ncases:\n\
            \x20 - {name: t, executor: tasks, tasks: 3, requests_per_task: 5}\n\
            \x20 - {name: u, executor: unbounded, requests: 10}\n\
            \x20 - {name: r, executor: rate, rate: 10/s, duration: 1s, max_in_flight: 10}\n\
            \x20 - {name: s, executor: single_task, requests: 4}\n";
        let scenario =
            crate::scenario::parse(std::path::Path::new("s.yaml"), text, &[], &[]).unwrap();
        let parts = |case: &Case| -> Vec<Option<Case>> {
            (0..4)
                .map(|i| shard_case(case, Shard::new(i, 4, "t").unwrap()))
                .collect()
        };
        let warm = |c: &Case| match c.warmup {
            Warmup::Requests(n) => n.get(),
            _ => 0,
        };
        for case in &scenario.cases {
            let parts = parts(case);
            let some: Vec<&Case> = parts.iter().flatten().collect();
            match case.shape {
                Shape::Tasks { .. } => {
                    assert!(parts[0].is_none(), "3 tasks over 4: shard 0 has none");
                    let tasks: u64 = some.iter().filter_map(|c| c.shape.concurrency()).sum();
                    assert_eq!(tasks, 3);
                }
                Shape::Unbounded { .. } => {
                    let n: u64 = some.iter().filter_map(|c| c.shape.concurrency()).sum();
                    assert_eq!(n, 10);
                    assert_eq!(some.iter().map(|c| warm(c)).sum::<u64>(), 7);
                }
                Shape::Rate { .. } => {
                    assert_eq!(some.len(), 4);
                    let cap: u32 = some
                        .iter()
                        .map(|c| match c.shape {
                            Shape::Rate { max_in_flight, .. } => max_in_flight.get(),
                            _ => 0,
                        })
                        .sum();
                    assert_eq!(cap, 10);
                    assert!(some.iter().all(|c| c.shape.rate() == case.shape.rate()));
                }
                _ => {
                    assert_eq!(some.len(), 1);
                    assert!(parts[0].is_some());
                    assert_eq!(some[0].shape, case.shape);
                }
            }
        }
    }

    proptest! {
        /// For any rate, duration and N, the shards' send slots (their
        /// due times) are exactly the one-machine schedule: every slot
        /// once, none twice.
        #[test]
        fn open_loop_slots_partition_the_schedule(
            rate in 0.5f64..5_000.0,
            millis in 1u64..3_000,
            n in 1u32..40,
        ) {
            let planned = (rate * millis as f64 / 1000.0).floor() as u64;
            let mut seen = vec![0u32; planned as usize];
            for i in 0..n {
                let shard = Shard::new(i, u64::from(n), "test").unwrap();
                for k in 0..shard.open_slots(planned) {
                    let j = shard.slot(k);
                    prop_assert!(j < planned, "slot {j} past the schedule");
                    prop_assert_eq!(j % u64::from(n), u64::from(i));
                    seen[j as usize] += 1;
                }
                prop_assert!(shard.slot(shard.open_slots(planned)) >= planned);
            }
            prop_assert!(seen.iter().all(|&c| c == 1), "{:?}", seen);
        }

        /// For any total R and N, the closed-loop split loses and doubles
        /// nothing, and the parts differ by at most one.
        #[test]
        fn closed_loop_split_loses_and_doubles_nothing(
            r in prop_oneof![0u64..1000, Just(u64::MAX), any::<u64>()],
            n in 1u32..=MAX_SHARDS,
        ) {
            let parts: Vec<u64> = (0..n)
                .map(|i| Shard::new(i, u64::from(n), "test").unwrap().share(r))
                .collect();
            let total: u128 = parts.iter().map(|&p| u128::from(p)).sum();
            prop_assert_eq!(total, u128::from(r));
            let (lo, hi) = (parts.iter().min().unwrap(), parts.iter().max().unwrap());
            prop_assert!(hi - lo <= 1);
        }
    }
}
