//! The queueing model: what a server with mean delay D and capacity C should
//! do under a case, so measurements can be checked against it.
//!
//! Closed loop with N requests in flight: throughput X = min(N, C)/D and
//! latency R = max(D, N·D/C) (Little's law, N = X·R). A count-bounded case
//! of k requests per worker therefore takes k·⌈N/C⌉·D. Open loop at rate λ:
//! utilisation ρ = λ·D/C; below 1 the latency stays D and the throughput is
//! λ, at or above 1 the queue grows without bound and the throughput stops at
//! C/D. A server admits at most C + Q requests (Q the queue bound); the rest
//! are refused at once, so N is capped at C + Q for latency and wall time.
//! Random delays use their mean. The model ignores `per_in_service`
//! slow-down and network time, so it is a floor for latency and a ceiling
//! for throughput.

use std::time::Duration;

use crate::scenario::{Amount, Shape};

/// The server parameters the model needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServerModel {
    /// Mean service time D.
    pub delay: Duration,
    /// Requests served at once C; `None` for unlimited.
    pub capacity: Option<u64>,
    /// Requests that may wait behind a full capacity, Q.
    pub queue: u64,
}

/// What the model expects of one case.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expectation {
    /// Expected throughput, requests per second (infinite when D is zero).
    pub throughput: f64,
    /// Expected mean latency.
    pub latency: Duration,
    /// Expected wall time of a count-bounded case.
    pub wall: Option<Duration>,
    /// Open loop only: utilisation λ·D/C (0 for unlimited capacity).
    pub utilisation: Option<f64>,
}

impl ServerModel {
    /// Throughput at most: C/D (infinite when either is unlimited or zero).
    pub fn saturation_throughput(&self) -> f64 {
        match self.capacity {
            Some(c) if !self.delay.is_zero() => c as f64 / self.delay.as_secs_f64(),
            _ => f64::INFINITY,
        }
    }

    /// Requests the server holds at once (served or queued): C + Q.
    fn admitted(&self, n: u64) -> u64 {
        match self.capacity {
            Some(c) => n.min(c.saturating_add(self.queue)),
            None => n,
        }
    }

    /// Closed loop with `n` requests in flight: (throughput, latency of the
    /// admitted requests).
    pub fn closed(&self, n: u64) -> (f64, Duration) {
        let d = self.delay.as_secs_f64();
        let n = self.admitted(n.max(1)) as f64;
        let (served, stretch) = match self.capacity {
            Some(c) => ((c as f64).min(n), (n / c as f64).max(1.0)),
            None => (n, 1.0),
        };
        let throughput = if d == 0.0 { f64::INFINITY } else { served / d };
        (throughput, self.delay.mul_f64(stretch))
    }

    /// Rounds of service needed for `n` simultaneous requests: ⌈n/C⌉.
    fn waves(&self, n: u64) -> u64 {
        match self.capacity {
            Some(c) => n.div_ceil(c.max(1)),
            None => 1,
        }
    }

    /// The model's expectation for a case shape.
    pub fn expect(&self, shape: &Shape) -> Expectation {
        match *shape {
            Shape::Sequential(amount) | Shape::SingleTask(amount) => self.closed_case(1, amount),
            Shape::Tasks { tasks, per_task } => self.closed_case(u64::from(tasks.get()), per_task),
            Shape::Unbounded { requests } => {
                let n = requests.get();
                let (throughput, _) = self.closed(n);
                Expectation {
                    throughput,
                    latency: self.burst_latency(n),
                    wall: Some(self.delay.mul_f64(self.waves(self.admitted(n)) as f64)),
                    utilisation: None,
                }
            }
            Shape::Rate { rate, .. } => {
                let lambda = rate.per_second();
                let rho = lambda / self.saturation_throughput();
                Expectation {
                    throughput: lambda.min(self.saturation_throughput()),
                    latency: self.delay,
                    wall: None,
                    utilisation: Some(rho),
                }
            }
        }
    }

    /// Mean latency of `n` requests arriving at once: they are served in
    /// ⌈n/C⌉ waves, so on average they wait (waves + 1)/2 delays.
    pub fn burst_latency(&self, n: u64) -> Duration {
        let waves = self.waves(self.admitted(n.max(1)));
        self.delay.mul_f64((waves as f64 + 1.0) / 2.0)
    }

    fn closed_case(&self, n: u64, amount: Amount) -> Expectation {
        let (throughput, mut latency) = self.closed(n);
        if amount == Amount::Requests(std::num::NonZeroU64::MIN) {
            // One request per worker is a burst, not a steady state.
            latency = self.burst_latency(n);
        }
        let wall = match amount {
            Amount::Requests(k) => {
                let rounds = k.get().saturating_mul(self.waves(self.admitted(n)));
                Some(self.delay.mul_f64(rounds as f64))
            }
            Amount::Time(d) => Some(d),
        };
        Expectation {
            throughput,
            latency,
            wall,
            utilisation: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Rate;
    use std::num::{NonZeroU32, NonZeroU64};

    fn model(ms: u64, capacity: Option<u64>) -> ServerModel {
        ServerModel {
            delay: Duration::from_millis(ms),
            capacity,
            queue: 1000,
        }
    }

    #[test]
    fn the_queue_bound_caps_what_is_admitted() {
        // The seed's unbounded case: C = 100, Q = 1000, 5000 at once.
        let m = model(200, Some(100));
        let e = m.expect(&Shape::Unbounded {
            requests: NonZeroU64::new(5000).unwrap(),
        });
        assert_eq!(e.wall, Some(Duration::from_millis(2200)));
        assert_eq!(e.throughput, 500.0);
        // 11 waves: on average a request waits 6 delays.
        assert_eq!(e.latency, Duration::from_millis(1200));
    }

    #[test]
    fn closed_loop_below_and_above_capacity() {
        let m = model(200, Some(100));
        assert_eq!(m.closed(5), (25.0, Duration::from_millis(200)));
        assert_eq!(m.closed(100), (500.0, Duration::from_millis(200)));
        // 500 in flight against 100 slots: 5 waves, R = 1 s, X stuck at 500/s.
        assert_eq!(m.closed(500), (500.0, Duration::from_secs(1)));
    }

    #[test]
    fn unlimited_capacity_never_queues() {
        let m = model(100, None);
        assert_eq!(m.closed(10_000), (100_000.0, Duration::from_millis(100)));
        assert_eq!(m.saturation_throughput(), f64::INFINITY);
    }

    #[test]
    fn wall_time_of_count_bounded_cases() {
        let m = model(200, Some(2));
        let seq = m.expect(&Shape::Sequential(Amount::Requests(
            NonZeroU64::new(5).unwrap(),
        )));
        assert_eq!(seq.wall, Some(Duration::from_secs(1)));
        let tasks = m.expect(&Shape::Tasks {
            tasks: NonZeroU32::new(10).unwrap(),
            per_task: Amount::Requests(NonZeroU64::new(1).unwrap()),
        });
        assert_eq!(tasks.wall, Some(Duration::from_secs(1)));
        assert_eq!(tasks.latency, Duration::from_millis(600));
        let unbounded = m.expect(&Shape::Unbounded {
            requests: NonZeroU64::new(3).unwrap(),
        });
        assert_eq!(unbounded.wall, Some(Duration::from_millis(400)));
    }

    #[test]
    fn open_loop_utilisation() {
        let m = model(20, Some(100)); // C/D = 5000/s
        let at = |r: f64| {
            m.expect(&Shape::Rate {
                rate: Rate::new(r).unwrap(),
                duration: Duration::from_secs(1),
                max_in_flight: NonZeroU32::new(10).unwrap(),
            })
        };
        assert_eq!(at(2500.0).utilisation, Some(0.5));
        assert_eq!(at(2500.0).throughput, 2500.0);
        assert_eq!(at(10_000.0).utilisation, Some(2.0));
        assert_eq!(at(10_000.0).throughput, 5000.0);
    }
}
